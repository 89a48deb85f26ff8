"""Onboarding and pairing of devices, checked against the store: what the technician endpoints call."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from core.errors import Conflict, InvalidIdentifier, NotFound
from core.store import Store
from core.topics import is_valid_id
from core.types import CareSetting, Device, DeviceKind, Pairing, Stay

__all__ = [
    "current_pairing",
    "move_device",
    "pair_device",
    "pairing_at",
    "register_device",
    "unpair_device",
]

logger = logging.getLogger(__name__)


def pairing_at(pairings: Sequence[Pairing], at: datetime) -> Pairing | None:
    """The pairing that covers `at` (a reading is attributed by its own timestamp), or None."""
    for pairing in reversed(pairings):  # newest last: a re-pairing at the same instant wins
        if pairing.covers(at):
            return pairing
    return None


async def current_pairing(store: Store, device_id: str) -> Pairing | None:
    """The device's open pairing (end_at None), or None."""
    pairings = (await store.pairings_of_devices([device_id])).get(device_id, [])
    open_pairings = [p for p in pairings if p.end_at is None]
    return open_pairings[-1] if open_pairings else None


async def register_device(
    store: Store, *, device_id: str, site_id: str, kind: DeviceKind, model: str, at: datetime
) -> Device:
    """Onboard a device at a site. Registering the same device again is a no-op that returns the stored one.

    Raises InvalidIdentifier, NotFound (site) or Conflict (the id is registered at another site or as another kind).
    """
    if not is_valid_id(device_id):
        raise InvalidIdentifier("device", device_id)
    if not is_valid_id(site_id):
        raise InvalidIdentifier("site", site_id)
    if site_id not in {site.site_id for site in await store.list_sites()}:
        raise NotFound("site", site_id)
    existing = await _find_device(store, device_id)
    if existing is not None:
        if existing.site_id != site_id or existing.kind is not kind:
            raise Conflict(
                device_id,
                reason=f"Device {device_id} is already registered as a {existing.kind.value} at site "
                f"{existing.site_id}; retire it or register the new unit under another id",
            )
        return existing
    device = Device(device_id=device_id, site_id=site_id, kind=kind, model=model, registered_at=at)
    await store.register_device(device)
    logger.info("Registered device %s (%s) at site %s", device_id, kind.value, site_id)
    return device


async def pair_device(
    store: Store, *, device_id: str, patient_id: str, bed_id: str | None = None, at: datetime
) -> Pairing:
    """Attribute the device's readings from `at` on to the patient (in `bed_id`, default: the stay's bed).

    The device's open pairing is ended at `at` first; a bed may have several devices. Pairing a device again to the
    same patient and bed is a no-op that returns the open pairing. Raises NotFound (device) or Conflict: the
    patient has no stay open at `at` at the device's site (one refusal, whether the id is unknown, the patient is
    elsewhere or not admitted), the bed is not the patient's, or `at` is before the device's registration, its
    open pairing or the end of its pairing to another patient (the store checks that in its transaction).
    """
    device = await store.get_device(device_id)
    stay = await _stay_at_site(store, patient_id, site_id=device.site_id, at=at)
    bed_id = _bed_for(stay, bed_id, device_id)
    if at < device.registered_at:
        raise Conflict(device_id, reason=f"Device {device_id} was registered at {device.registered_at.isoformat()}")
    open_pairing = await current_pairing(store, device_id)
    if open_pairing is not None:
        if open_pairing.patient_id == patient_id and open_pairing.bed_id == bed_id:
            return open_pairing
        if at < open_pairing.start_at:
            raise Conflict(
                device_id,
                reason=f"Device {device_id} has been paired since {open_pairing.start_at.isoformat()}; "
                f"a new pairing cannot start before that ({at.isoformat()})",
            )
    pairing = Pairing(device_id=device_id, patient_id=patient_id, start_at=at, bed_id=bed_id)
    await store.pair_device(pairing)  # ends the open pairing at `at` in the same call
    logger.info("Paired device %s to patient %s (bed %s)", device_id, patient_id, bed_id)
    return pairing


async def unpair_device(store: Store, *, device_id: str, at: datetime) -> Pairing:
    """End the device's open pairing at `at` and return it as ended. Raises NotFound or Conflict (not paired)."""
    await store.get_device(device_id)
    open_pairing = await current_pairing(store, device_id)
    if open_pairing is None:
        raise Conflict(device_id, reason=f"Device {device_id} is not paired to any patient")
    if at < open_pairing.start_at:
        raise Conflict(
            device_id,
            reason=f"Device {device_id} was paired at {open_pairing.start_at.isoformat()}; "
            f"it cannot be unpaired before that ({at.isoformat()})",
        )
    await store.unpair_device(device_id, end_at=at)
    logger.info("Unpaired device %s from patient %s", device_id, open_pairing.patient_id)
    return Pairing(
        device_id=device_id,
        patient_id=open_pairing.patient_id,
        start_at=open_pairing.start_at,
        bed_id=open_pairing.bed_id,
        end_at=at,
    )


async def move_device(
    store: Store, *, device_id: str, patient_id: str, bed_id: str | None = None, at: datetime
) -> Pairing:
    """Move a paired device to another patient or bed: its pairing ends at `at` and the new one starts at `at`.

    Readings stamped before `at` stay with the previous patient. Raises Conflict when the device is not paired
    (use pair_device), plus everything pair_device raises.
    """
    if await current_pairing(store, device_id) is None:
        await store.get_device(device_id)  # NotFound first, when it does not exist at all
        raise Conflict(device_id, reason=f"Device {device_id} is not paired; pair it instead of moving it")
    return await pair_device(store, device_id=device_id, patient_id=patient_id, bed_id=bed_id, at=at)


async def _find_device(store: Store, device_id: str) -> Device | None:
    try:
        return await store.get_device(device_id)
    except NotFound:
        return None


async def _stay_at_site(store: Store, patient_id: str, *, site_id: str, at: datetime) -> Stay:
    # The same words whether the id is unknown, the patient is at another site or not admitted: a technician of
    # this site learns nothing about other sites' patients (not even that the id exists).
    stay = (await store.stays_of_patients([patient_id], at=at)).get(patient_id)
    if stay is None or (await store.get_ward(stay.ward_id)).site_id != site_id:
        raise Conflict(
            patient_id,
            reason=f"Patient {patient_id} has no stay open at site {site_id} at {at.isoformat()}; check the "
            "patient id, or admit or enrol the patient first",
        )
    return stay


def _bed_for(stay: Stay, bed_id: str | None, device_id: str) -> str | None:
    if stay.setting is CareSetting.HOME:
        if bed_id is not None:
            raise Conflict(
                device_id, reason=f"Patient {stay.patient_id} is monitored at home; a home device has no bed"
            )
        return None
    if bed_id is None or bed_id == stay.bed_id:
        return stay.bed_id
    raise Conflict(
        device_id,
        reason=f"Patient {stay.patient_id} is in bed {stay.bed_id}, not {bed_id}; move the patient's stay first",
    )
