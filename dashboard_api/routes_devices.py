"""REST for technicians: register devices with their own broker credentials (shown once), rotate, revoke and
decommission them, pair and unpair them (corrections backdated only over time without attributed readings), list
them with status and last reading time. Every change is audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from alerts.lifecycle import acknowledge
from core.errors import AlertAlreadyAcknowledged, AlertAlreadyResolved, Conflict, InvalidIdentifier, NotFound
from core.types import AlertKind, Device
from dashboard_api import ws_devices
from dashboard_api.access import ApiContext, Ctx, announce_alert, audit
from dashboard_api.auth import DEVICE_ROLES, Principal, authorise_site, require_roles
from dashboard_api.change_audit import audited_change
from dashboard_api.id_params import RowId
from dashboard_api.schemas import DeviceOut, PairingOut
from dashboard_api.schemas_devices import (
    CredentialsOut,
    DeviceCardOut,
    DeviceRegisteredOut,
    PairAtIn,
    ProblemOut,
    RegisterDeviceIn,
    UnpairAtIn,
)
from dashboard_api.snapshot import device_facts, device_out
from devices import onboarding, registry
from devices.broker_accounts import BrokerAccountError, BrokerAccounts, StoreReadAccounts
from devices.fleet import heard_from

__all__ = ["router"]

router = APIRouter(prefix="/devices")
router.include_router(ws_devices.router)  # /devices/live: the technician's page, live

_DEVICE_ALERTS = (AlertKind.DEVICE_SILENT, AlertKind.DEVICE_BATTERY_LOW)

Technician = Annotated[Principal, Depends(require_roles(*DEVICE_ROLES))]


def _accounts(request: Request) -> BrokerAccounts:
    """Where device accounts are applied: set by the API node (vaktrom/parts.py); the embedded broker reads the
    store itself."""
    accounts: BrokerAccounts = getattr(request.app.state, "device_accounts", None) or StoreReadAccounts()
    return accounts


Accounts = Annotated[BrokerAccounts, Depends(_accounts)]


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
    except BrokerAccountError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{exc}; nothing was changed, try again") from None


async def _authorised_device(ctx: ApiContext, principal: Principal, device_id: str) -> Device:
    with _registry_errors():
        device = await ctx.store.get_device(device_id)
    authorise_site(principal, device.site_id)
    return device


async def _card(ctx: ApiContext, device: Device) -> DeviceCardOut:
    ids = [device.device_id]
    store = ctx.store
    profile = (await store.device_profiles(ids)).get(device.device_id)
    paired = await registry.current_pairing(store, device.device_id) is not None
    heard = device.device_id in await heard_from(store, ids, now=ctx.clock())
    return DeviceCardOut.of(
        device, profile=profile, lifecycle=onboarding.lifecycle(profile, paired=paired, heard_from=heard),
        credential=(await store.current_credentials(ids)).get(device.device_id),
        history=await store.device_events(device.device_id),
    )  # fmt: skip


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


@router.post(
    "",
    response_model=DeviceRegisteredOut,
    status_code=status.HTTP_201_CREATED,
    summary="Register (onboard) a device and issue its broker credentials, shown this once",
)
async def register_device(
    body: RegisterDeviceIn, ctx: Ctx, principal: Technician, accounts: Accounts
) -> DeviceRegisteredOut:
    authorise_site(principal, body.site_id)
    device = Device(body.device_id, body.site_id, body.kind, body.model, ctx.clock())
    with _registry_errors():
        issued = await onboarding.onboard_device(
            ctx.store, accounts, device=device, serial=body.serial, firmware=body.firmware,
            calibration_due_at=body.calibration_due_at, actor=principal.user_id,
        )  # fmt: skip
    await audit(ctx, principal, "register.device", device.device_id, f"site {device.site_id}; credentials issued")
    return DeviceRegisteredOut(device=await _card(ctx, device), credentials=CredentialsOut.of(issued))


@router.get("/{device_id}", response_model=DeviceCardOut, summary="A device: onboarding state, credential, history")
async def show_device(device_id: str, ctx: Ctx, principal: Technician) -> DeviceCardOut:
    return await _card(ctx, await _authorised_device(ctx, principal, device_id))


@router.post(
    "/{device_id}/rotate", response_model=CredentialsOut, summary="New credentials (shown once); old ones stop"
)
async def rotate_credentials(device_id: str, ctx: Ctx, principal: Technician, accounts: Accounts) -> CredentialsOut:
    await _authorised_device(ctx, principal, device_id)
    with _registry_errors():
        issued = await onboarding.rotate_credentials(
            ctx.store, accounts, device_id=device_id, actor=principal.user_id, at=ctx.clock()
        )
    await audit(ctx, principal, "rotate.device", device_id, "new credentials issued; old ones revoked")
    return CredentialsOut.of(issued)


@router.post("/{device_id}/revoke", response_model=DeviceCardOut, summary="Revoke: disconnected at once, cannot log in")
async def revoke_device(device_id: str, ctx: Ctx, principal: Technician, accounts: Accounts) -> DeviceCardOut:
    device = await _authorised_device(ctx, principal, device_id)
    with _registry_errors():
        await onboarding.revoke_device(
            ctx.store, accounts, device_id=device_id, actor=principal.user_id, at=ctx.clock()
        )
    await audit(ctx, principal, "revoke.device", device_id, "credentials revoked")
    return await _card(ctx, device)


@router.post("/{device_id}/decommission", response_model=DeviceCardOut, summary="Retire for good (history kept)")
async def decommission_device(device_id: str, ctx: Ctx, principal: Technician, accounts: Accounts) -> DeviceCardOut:
    device = await _authorised_device(ctx, principal, device_id)
    with _registry_errors():
        await onboarding.decommission_device(
            ctx.store, accounts, device_id=device_id, actor=principal.user_id, at=ctx.clock()
        )
    await audit(ctx, principal, "decommission.device", device_id, "retired")
    return await _card(ctx, device)


@router.post("/{device_id}/pair", response_model=PairingOut, summary="Attribute the device's readings to a patient")
async def pair_device(device_id: str, body: PairAtIn, ctx: Ctx, principal: Technician) -> PairingOut:
    await _authorised_device(ctx, principal, device_id)
    now = ctx.clock()
    with _registry_errors():
        pairing = await onboarding.pair_device(
            ctx.store, device_id=device_id, patient_id=body.patient_id, bed_id=body.bed_id, actor=principal.user_id,
            at=body.at or now, now=now,
        )  # fmt: skip
    detail = f"device {device_id} bed {pairing.bed_id}"
    await audit(ctx, principal, "pair.device", body.patient_id, detail, patient_id=body.patient_id)
    return PairingOut.of(pairing)


@router.post("/{device_id}/unpair", response_model=PairingOut, summary="End the device's current pairing")
async def unpair_device(device_id: str, ctx: Ctx, principal: Technician, body: UnpairAtIn | None = None) -> PairingOut:
    await _authorised_device(ctx, principal, device_id)
    now = ctx.clock()
    at = body.at if body is not None and body.at is not None else now
    with _registry_errors():
        pairing = await onboarding.unpair_device(
            ctx.store, device_id=device_id, actor=principal.user_id, at=at, now=now
        )
    await audit(
        ctx, principal, "unpair.device", pairing.patient_id, f"device {device_id}", patient_id=pairing.patient_id
    )
    return PairingOut.of(pairing)


@router.post(
    "/{device_id}/alerts/{alert_id}/ack", response_model=ProblemOut, summary="Acknowledge one of the device's alerts"
)
async def acknowledge_device_alert(device_id: str, alert_id: RowId, ctx: Ctx, principal: Technician) -> ProblemOut:
    device = await _authorised_device(ctx, principal, device_id)
    with _registry_errors():
        alert = await ctx.store.get_alert(alert_id)
    if alert.device_id != device_id or alert.kind not in _DEVICE_ALERTS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Device {device_id} has no alert {alert_id}")
    at = ctx.clock()
    detail, patient_id = f"device {device_id}", alert.patient_id
    # grant None: the technician's role (a device's site, not a patient grant), as before
    async with audited_change(
        ctx, principal, "ack.device_alert", str(alert_id), detail, patient_id=patient_id, grant=None
    ):
        try:
            change = await ctx.store.update_alert_by_id(alert_id, lambda a: acknowledge(a, by=principal.user_id, at=at))
        except (AlertAlreadyAcknowledged, AlertAlreadyResolved) as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if change.alert.ward_id is not None:  # the ward's pages show it acknowledged too
        await announce_alert(ctx, device.site_id, change.alert, phase=change.phase)
    return ProblemOut(kind="alert", text=f"{alert.kind.value} acknowledged", alert_id=alert_id,
                      alert_state=change.alert.state.value)  # fmt: skip
