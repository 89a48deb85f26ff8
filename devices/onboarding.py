"""From box to bed: register a device with its own credentials, rotate them, revoke them, decommission it.

Each change is applied to the broker first (its reply checked), then stored: a broker that refuses leaves nothing
half-written, and a store that fails after the broker applied it leaves a change a retry repeats harmlessly.
The password is returned once and kept only as a hash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import Conflict, InvalidIdentifier, NotFound
from core.onboarding import Credential, CredentialEnd, DeviceEvent, DeviceLifecycle, DeviceProfile
from core.store import Store
from core.topics import is_valid_id
from core.types import Device, Pairing
from devices import registry
from devices.broker_accounts import BrokerAccounts
from devices.credentials import hash_password, new_password

__all__ = [
    "CREDENTIAL_VALIDITY",
    "PAIRING_CLOCK_SKEW",
    "IssuedCredential",
    "decommission_device",
    "lifecycle",
    "onboard_device",
    "pair_device",
    "revoke_device",
    "rotate_credentials",
    "unpair_device",
]

logger = logging.getLogger(__name__)

# A year: long enough that rotation is a planned yearly visit, short enough that a password copied from a lost
# set-up sheet stops working. The technician is warned 30 days before (devices/health.py).
CREDENTIAL_VALIDITY = timedelta(days=365)
# How far ahead of our clock a pairing or unpairing may be dated: the technician's device and the server disagree by
# seconds, not more (both keep NTP time). A later `at` is a mistake (typically a wrong UTC offset, an hour ahead):
# until then the device's readings, taken on the new patient, would be charted and scored as the previous one's.
PAIRING_CLOCK_SKEW = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """What the technician sees once: the device's user name (its id) and password. Never stored in clear."""

    device_id: str
    password: str
    issued_at: datetime
    expires_at: datetime


def lifecycle(profile: DeviceProfile | None, *, paired: bool, heard_from: bool) -> DeviceLifecycle:
    """The device's onboarding state from what is stored (docs/DEVICES.md, "From box to bed")."""
    if profile is not None and profile.decommissioned_at is not None:
        return DeviceLifecycle.DECOMMISSIONED
    if profile is not None and profile.revoked_at is not None:
        return DeviceLifecycle.REVOKED
    if paired:
        return DeviceLifecycle.PAIRED
    return DeviceLifecycle.FIRST_CONTACT if heard_from else DeviceLifecycle.REGISTERED


async def onboard_device(
    store: Store,
    accounts: BrokerAccounts,
    *,
    device: Device,
    serial: str,
    firmware: str | None,
    calibration_due_at: datetime | None,
    actor: str,
) -> IssuedCredential:
    """Register a new device and issue its credentials. Raises InvalidIdentifier, NotFound (site), Conflict (the id
    is taken: a device is registered once; rotate its credentials instead), BrokerAccountError."""
    if not is_valid_id(device.device_id) or device.device_id.startswith("vaktrom-"):
        raise InvalidIdentifier("device", device.device_id)
    if device.site_id not in {site.site_id for site in await store.list_sites()}:
        raise NotFound("site", device.site_id)
    try:
        existing = await store.get_device(device.device_id)
    except NotFound:
        existing = None
    if existing is not None:
        raise Conflict(
            device.device_id,
            reason=f"Device {device.device_id} is already registered (at site {existing.site_id}); "
            "rotate its credentials to issue new ones",
        )
    issued, credential = _new_credential(device.device_id, actor=actor, at=device.registered_at)
    await accounts.set_password(device.device_id, issued.password, new=True)
    profile = DeviceProfile(device.device_id, serial, firmware, calibration_due_at)
    detail = f"{device.kind.value} {device.model} serial {serial} at site {device.site_id}; credentials issued"
    await store.onboard_device(
        device, profile=profile, credential=credential,
        event=DeviceEvent(device.device_id, device.registered_at, "registered", actor, detail),
    )  # fmt: skip
    logger.info("Registered device %s at site %s with new credentials", device.device_id, device.site_id)
    return issued


async def rotate_credentials(
    store: Store, accounts: BrokerAccounts, *, device_id: str, actor: str, at: datetime
) -> IssuedCredential:
    """New credentials for the device; the old ones stop working and its live connection is closed. Also how a
    revoked device is given credentials again. Raises NotFound, Conflict (decommissioned), BrokerAccountError."""
    await store.get_device(device_id)
    profile = (await store.device_profiles([device_id])).get(device_id)
    _refuse_decommissioned(device_id, profile)
    was_revoked = profile is not None and profile.revoked_at is not None
    issued, credential = _new_credential(device_id, actor=actor, at=at)
    await accounts.set_password(device_id, issued.password, new=was_revoked)
    event = "credentials reissued after revocation" if was_revoked else "credentials rotated"
    await store.issue_credential(credential, event=DeviceEvent(device_id, at, "rotated", actor, event))
    logger.info("Device %s: %s", device_id, event)
    return issued


async def revoke_device(store: Store, accounts: BrokerAccounts, *, device_id: str, actor: str, at: datetime) -> None:
    """Its credentials stop working and its live connection is closed at once. Raises NotFound, Conflict
    (decommissioned), BrokerAccountError."""
    await store.get_device(device_id)
    _refuse_decommissioned(device_id, (await store.device_profiles([device_id])).get(device_id))
    await accounts.remove(device_id)
    event = DeviceEvent(device_id, at, "revoked", actor, "credentials revoked; connection closed")
    await store.end_credential(device_id, reason=CredentialEnd.REVOKED, event=event)
    logger.warning("Device %s revoked by %s", device_id, actor)


async def decommission_device(
    store: Store, accounts: BrokerAccounts, *, device_id: str, actor: str, at: datetime
) -> None:
    """Retire the device for good: credentials revoked, history kept. Raises NotFound, Conflict (still paired,
    or already decommissioned), BrokerAccountError."""
    await store.get_device(device_id)
    _refuse_decommissioned(device_id, (await store.device_profiles([device_id])).get(device_id))
    if await registry.current_pairing(store, device_id) is not None:
        raise Conflict(device_id, reason=f"Device {device_id} is paired to a patient; unpair it first")
    await accounts.remove(device_id)
    event = DeviceEvent(device_id, at, "decommissioned", actor, "retired; credentials revoked; history kept")
    await store.end_credential(device_id, reason=CredentialEnd.DECOMMISSIONED, event=event)


async def pair_device(
    store: Store, *, device_id: str, patient_id: str, bed_id: str | None, actor: str, at: datetime, now: datetime
) -> Pairing:
    """registry.pair_device, refused for a revoked or decommissioned device, for an `at` more than
    PAIRING_CLOCK_SKEW after `now`, and for a backdated `at` that would re-attribute readings already attributed;
    recorded in the device's history."""
    _refuse_future(device_id, "paired from", at=at, now=now)
    profile = (await store.device_profiles([device_id])).get(device_id)
    _refuse_decommissioned(device_id, profile)
    if profile is not None and profile.revoked_at is not None:
        raise Conflict(device_id, reason=f"Device {device_id} is revoked; rotate its credentials before pairing it")
    await _refuse_reattribution(store, device_id, at=at, now=now)
    pairing = await registry.pair_device(store, device_id=device_id, patient_id=patient_id, bed_id=bed_id, at=at)
    detail = f"to patient {patient_id}" + (f" in bed {pairing.bed_id}" if pairing.bed_id else " at home")
    await store.record_device_event(DeviceEvent(device_id, at, "paired", actor, detail))
    return pairing


async def unpair_device(store: Store, *, device_id: str, actor: str, at: datetime, now: datetime) -> Pairing:
    """registry.unpair_device, refused for an `at` more than PAIRING_CLOCK_SKEW after `now` and for a backdated
    `at` past readings already attributed; recorded."""
    _refuse_future(device_id, "unpaired at", at=at, now=now)
    await _refuse_reattribution(store, device_id, at=at, now=now)
    pairing = await registry.unpair_device(store, device_id=device_id, at=at)
    await store.record_device_event(DeviceEvent(device_id, at, "unpaired", actor, f"from patient {pairing.patient_id}"))
    return pairing


def _refuse_future(device_id: str, change: str, *, at: datetime, now: datetime) -> None:
    if at > now + PAIRING_CLOCK_SKEW:
        raise Conflict(
            device_id,
            reason=f"Device {device_id} cannot be {change} {at.isoformat()}: that is in the future (now is "
            f"{now.isoformat()}); check the time and its UTC offset",
        )


async def _refuse_reattribution(store: Store, device_id: str, *, at: datetime, now: datetime) -> None:
    # A correction may move a pairing's edge back in time, but only over time in which the device sent nothing:
    # readings already attributed to a patient stay theirs (moving them needs a doctor's confirmation, not built).
    if at >= now:
        return
    newest = (await store.last_reading_at([device_id])).get(device_id)
    if newest is not None and newest >= at:
        raise Conflict(
            device_id,
            reason=f"Device {device_id} has readings since {at.isoformat()} (the newest at {newest.isoformat()}) "
            "already attributed; a backdated change may not re-attribute them (ask a doctor to correct the "
            "readings' attribution, or pair from after the newest reading)",
        )


def _refuse_decommissioned(device_id: str, profile: DeviceProfile | None) -> None:
    if profile is not None and profile.decommissioned_at is not None:
        raise Conflict(
            device_id,
            reason=f"Device {device_id} was decommissioned at {profile.decommissioned_at.isoformat()}; "
            "register a replacement under a new id",
        )


def _new_credential(device_id: str, *, actor: str, at: datetime) -> tuple[IssuedCredential, Credential]:
    password = new_password()
    expires_at = at + CREDENTIAL_VALIDITY
    credential = Credential(0, device_id, hash_password(password), at, expires_at, actor)
    return IssuedCredential(device_id, password, at, expires_at), credential
