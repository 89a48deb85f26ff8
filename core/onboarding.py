"""Device onboarding: device types and their capabilities, a device's profile, its lifecycle and its credentials."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.types import DeviceKind

__all__ = [
    "DEVICE_TYPES",
    "Credential",
    "CredentialEnd",
    "DeviceEvent",
    "DeviceLifecycle",
    "DeviceProfile",
    "DeviceType",
    "Measurement",
    "Rejections",
]


class Measurement(enum.StrEnum):
    CONTINUOUS = "continuous"  # streams a reading every few seconds; silence is a fault within a minute
    SPOT_CHECK = "spot_check"  # a person takes a measurement now and then; silence is a fault after a missed round


@dataclass(frozen=True, slots=True)
class DeviceType:
    """What a kind of device measures and how often a working one is heard from."""

    kind: DeviceKind
    vitals: tuple[str, ...]  # SenML names (docs/MQTT.md)
    measurement: Measurement
    expected_interval_s: int  # a working device sends a reading or a status at least this often


# Expected intervals: a bedside monitor streams every 5-15 s and sends a status at least every 30 s, so 60 s of
# nothing is a fault; spot-check devices are used on the ward's observation round (4-hourly for a stable patient,
# so 6 h is a missed round); a home kit is measured once a day (26 h: a missed day plus slack, as devices/health.py).
DEVICE_TYPES: dict[DeviceKind, DeviceType] = {
    DeviceKind.BEDSIDE_MONITOR: DeviceType(
        DeviceKind.BEDSIDE_MONITOR,
        ("heart_rate", "respiratory_rate", "spo2", "systolic_bp", "temperature"),
        Measurement.CONTINUOUS,
        60,
    ),
    DeviceKind.PULSE_OXIMETER: DeviceType(
        DeviceKind.PULSE_OXIMETER, ("spo2", "heart_rate"), Measurement.CONTINUOUS, 60
    ),
    DeviceKind.BP_CUFF: DeviceType(DeviceKind.BP_CUFF, ("systolic_bp", "heart_rate"), Measurement.SPOT_CHECK, 6 * 3600),
    DeviceKind.THERMOMETER: DeviceType(DeviceKind.THERMOMETER, ("temperature",), Measurement.SPOT_CHECK, 6 * 3600),
    DeviceKind.HOME_KIT: DeviceType(
        DeviceKind.HOME_KIT,
        ("heart_rate", "respiratory_rate", "spo2", "systolic_bp", "temperature"),
        Measurement.SPOT_CHECK,
        26 * 3600,
    ),
    DeviceKind.NURSE_TABLET: DeviceType(
        DeviceKind.NURSE_TABLET, ("consciousness", "oxygen"), Measurement.SPOT_CHECK, 12 * 3600
    ),
}


class DeviceLifecycle(enum.StrEnum):
    """Where a device is between box and bed. Derived from its history, newest first: decommissioned, revoked,
    paired (an open pairing), first contact (a reading or status received), registered."""

    REGISTERED = "registered"
    FIRST_CONTACT = "first_contact"
    PAIRED = "paired"
    REVOKED = "revoked"
    DECOMMISSIONED = "decommissioned"


class CredentialEnd(enum.StrEnum):
    ROTATED = "rotated"
    REVOKED = "revoked"
    DECOMMISSIONED = "decommissioned"


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What the technician records at registration, beside the device's id, site, kind and model."""

    device_id: str
    serial: str
    firmware: str | None
    calibration_due_at: datetime | None
    revoked_at: datetime | None = None
    decommissioned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Credential:
    """One password vaktrom issued to a device. Only its hash is kept; `ended_at` None: the current one."""

    credential_id: int
    device_id: str
    password_hash: str
    issued_at: datetime
    expires_at: datetime
    issued_by: str
    ended_at: datetime | None = None
    ended_reason: CredentialEnd | None = None


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A line of a device's history: registered, credentials issued, rotated, paired, unpaired, revoked, ..."""

    device_id: str
    at: datetime
    event: str
    actor: str
    detail: str


@dataclass(frozen=True, slots=True)
class Rejections:
    """A device's dead-lettered messages in a window: proof it is talking, and what is wrong with what it says."""

    device_id: str
    last_at: datetime
    count: int
    in_future: int  # dated ahead of the time allowed: its clock is wrong
