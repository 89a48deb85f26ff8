"""REST for technicians: register devices, pair and unpair them, list them with status and last reading time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from core.errors import Conflict, InvalidIdentifier, NotFound
from core.types import Device
from dashboard_api.access import ApiContext, Ctx, audit
from dashboard_api.auth import DEVICE_ROLES, Principal, authorise_site, require_roles
from dashboard_api.bodies import DeviceIn, PairIn
from dashboard_api.schemas import DeviceOut, PairingOut
from dashboard_api.snapshot import device_facts, device_out
from devices import registry

__all__ = ["router"]

router = APIRouter(prefix="/devices")

Technician = Annotated[Principal, Depends(require_roles(*DEVICE_ROLES))]


@contextmanager
def _registry_errors() -> Iterator[None]:
    """The registry's errors as HTTP answers; their messages already say what to fix."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc).capitalize()) from None
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except InvalidIdentifier as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


async def _authorised_device(ctx: ApiContext, principal: Principal, device_id: str) -> Device:
    with _registry_errors():
        device = await ctx.store.get_device(device_id)
    authorise_site(principal, device.site_id)
    return device


@router.get("", response_model=list[DeviceOut], summary="Devices of a site (or all the token's sites)")
async def list_devices(
    ctx: Ctx, principal: Technician, site_id: Annotated[str | None, Query(max_length=64)] = None
) -> list[DeviceOut]:
    if site_id is not None:
        authorise_site(principal, site_id)
        site_ids: list[str] | None = [site_id]
    else:
        site_ids = None if principal.all_sites else list(principal.site_ids)
    facts = await device_facts(ctx.store, site_ids=site_ids, at=ctx.clock())
    return [device_out(d, facts) for d in facts.devices]


@router.post("", response_model=DeviceOut, status_code=status.HTTP_201_CREATED, summary="Register (onboard) a device")
async def register_device(body: DeviceIn, ctx: Ctx, principal: Technician) -> DeviceOut:
    authorise_site(principal, body.site_id)
    now = ctx.clock()
    with _registry_errors():
        device = await registry.register_device(
            ctx.store, device_id=body.device_id, site_id=body.site_id, kind=body.kind, model=body.model, at=now
        )
    await audit(ctx, principal, "register.device", device.device_id, f"site {device.site_id}")
    facts = await device_facts(ctx.store, site_ids=[device.site_id], at=now)
    return device_out(device, facts)


@router.post("/{device_id}/pair", response_model=PairingOut, summary="Attribute the device's readings to a patient")
async def pair_device(device_id: str, body: PairIn, ctx: Ctx, principal: Technician) -> PairingOut:
    await _authorised_device(ctx, principal, device_id)
    with _registry_errors():
        pairing = await registry.pair_device(
            ctx.store, device_id=device_id, patient_id=body.patient_id, bed_id=body.bed_id, at=ctx.clock()
        )
    await audit(ctx, principal, "pair.device", body.patient_id, f"device {device_id} bed {pairing.bed_id}")
    return PairingOut.of(pairing)


@router.post("/{device_id}/unpair", response_model=PairingOut, summary="End the device's current pairing")
async def unpair_device(device_id: str, ctx: Ctx, principal: Technician) -> PairingOut:
    await _authorised_device(ctx, principal, device_id)
    with _registry_errors():
        pairing = await registry.unpair_device(ctx.store, device_id=device_id, at=ctx.clock())
    await audit(ctx, principal, "unpair.device", pairing.patient_id, f"device {device_id}")
    return PairingOut.of(pairing)
