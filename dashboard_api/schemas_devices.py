"""Bodies and answers of the technician's onboarding endpoints (register, show, rotate, revoke, decommission, pair)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.onboarding import DEVICE_TYPES, Credential, DeviceEvent, DeviceLifecycle, DeviceProfile
from core.types import Device, DeviceKind
from devices.fleet import FleetDevice
from devices.onboarding import IssuedCredential

__all__ = [
    "CredentialsOut",
    "DeviceCardOut",
    "DeviceEventOut",
    "DeviceRegisteredOut",
    "FleetDeviceOut",
    "FleetOut",
    "PairAtIn",
    "ProblemOut",
    "RegisterDeviceIn",
    "UnpairAtIn",
]

_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
_AT_DESCRIPTION = "When it happened (UTC); default now. Earlier: a correction, refused past an attributed reading."


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class RegisterDeviceIn(_In):
    device_id: str = Field(pattern=_ID_PATTERN, description="Also the device's MQTT user name and client id.")
    site_id: str = Field(pattern=_ID_PATTERN)
    kind: DeviceKind
    model: str = Field(min_length=1, max_length=100)
    serial: str = Field(min_length=1, max_length=100)
    firmware: str | None = Field(default=None, min_length=1, max_length=64)
    calibration_due_at: AwareDatetime | None = None


class PairAtIn(_In):
    patient_id: str = Field(pattern=_ID_PATTERN)
    bed_id: str | None = Field(default=None, pattern=_ID_PATTERN, description="Defaults to the stay's bed.")
    at: AwareDatetime | None = Field(default=None, description=_AT_DESCRIPTION)


class UnpairAtIn(_In):
    at: AwareDatetime | None = Field(default=None, description=_AT_DESCRIPTION)


class CredentialsOut(_Out):
    """Shown once: vaktrom keeps only a hash. The user name is the device id, and so is the client id."""

    username: str
    password: str
    issued_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, issued: IssuedCredential) -> CredentialsOut:
        return cls(username=issued.device_id, password=issued.password, issued_at=issued.issued_at,
                   expires_at=issued.expires_at)  # fmt: skip


class DeviceEventOut(_Out):
    at: datetime
    event: str
    actor: str
    detail: str


class DeviceCardOut(_Out):
    """One device for the technician: what it is, where it is in onboarding, its credential, its history."""

    device_id: str
    site_id: str
    kind: str
    model: str
    serial: str | None
    firmware: str | None
    calibration_due_at: datetime | None
    vitals: list[str]
    measurement: str
    expected_interval_s: int
    registered_at: datetime
    lifecycle: DeviceLifecycle
    credential_issued_at: datetime | None
    credential_expires_at: datetime | None
    history: list[DeviceEventOut]

    @classmethod
    def of(
        cls,
        device: Device,
        *,
        profile: DeviceProfile | None,
        lifecycle: DeviceLifecycle,
        credential: Credential | None,
        history: list[DeviceEvent],
    ) -> DeviceCardOut:
        kind = DEVICE_TYPES[device.kind]
        return cls(
            device_id=device.device_id, site_id=device.site_id, kind=device.kind.value, model=device.model,
            serial=profile.serial if profile else None, firmware=profile.firmware if profile else None,
            calibration_due_at=profile.calibration_due_at if profile else None, vitals=list(kind.vitals),
            measurement=kind.measurement.value, expected_interval_s=kind.expected_interval_s,
            registered_at=device.registered_at, lifecycle=lifecycle,
            credential_issued_at=credential.issued_at if credential else None,
            credential_expires_at=credential.expires_at if credential else None,
            history=[DeviceEventOut(at=e.at, event=e.event, actor=e.actor, detail=e.detail) for e in history],
        )  # fmt: skip


class DeviceRegisteredOut(_Out):
    device: DeviceCardOut
    credentials: CredentialsOut


class ProblemOut(_Out):
    """Something a technician should look at; `alert_id` set: a device alert they can acknowledge."""

    kind: str
    text: str
    alert_id: int | None
    alert_state: str | None


class FleetDeviceOut(_Out):
    """One device on the technician's page: no clinical values, no patient names (`placement` says where)."""

    device_id: str
    site_id: str
    kind: str
    model: str
    serial: str | None
    firmware: str | None
    lifecycle: DeviceLifecycle
    online: bool | None
    last_seen_at: datetime | None
    last_reading_at: datetime | None
    battery_percent: float | None
    signal_dbm: float | None
    placement: str
    credential_issued_at: datetime | None
    credential_expires_at: datetime | None
    calibration_due_at: datetime | None
    expected_interval_s: int
    problems: list[ProblemOut]

    @classmethod
    def of(cls, row: FleetDevice) -> FleetDeviceOut:
        h = row.health
        return cls(
            device_id=h.device_id, site_id=h.site_id, kind=h.kind.value, model=h.model, serial=row.serial,
            firmware=h.firmware, lifecycle=row.lifecycle, online=row.online, last_seen_at=row.last_seen_at,
            last_reading_at=h.last_reading_at, battery_percent=h.battery_percent, signal_dbm=h.signal_dbm,
            placement=row.placement, credential_issued_at=row.credential_issued_at,
            credential_expires_at=row.credential_expires_at, calibration_due_at=row.calibration_due_at,
            expected_interval_s=row.expected_interval_s,
            problems=[
                ProblemOut(kind=p.kind.value, text=p.text, alert_id=p.alert_id,
                           alert_state=p.alert_state.value if p.alert_state else None)
                for p in row.problems
            ],
        )  # fmt: skip


class FleetOut(_Out):
    """The live stream's message: the whole fleet of the requested sites each time it changes (seq 0: snapshot)."""

    seq: int
    type: str = "fleet"
    at: datetime
    devices: list[FleetDeviceOut]
