"""Device status messages (battery, signal, firmware, online; the Last Will is `{"online": false}`)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError

from core.errors import InvalidPayload
from core.types import DeviceStatus
from devices.packs import StatusPayload
from ingest.duplicate_keys import repeated_key
from ingest.senml import first_error, quoted
from ingest.validation import MAX_PAST_S

__all__ = ["MAX_STATUS_BYTES", "parse_status"]

# A status is a handful of fields; anything near this size is not a status message.
MAX_STATUS_BYTES = 4096


def parse_status(device_id: str, raw: bytes, *, received_at: datetime, future_tolerance_s: float) -> DeviceStatus:
    """The device's status as reported; a report without `t` (a Last Will) is dated when the broker delivered it.

    Raises InvalidPayload naming the field and rule.
    """
    if len(raw) > MAX_STATUS_BYTES:
        raise InvalidPayload(device_id, reason=f"payload: {len(raw)} bytes is over the limit of {MAX_STATUS_BYTES}")
    try:  # strict: "online": "yes" or "battery_percent": "50" is a device bug to report, not to guess at
        payload = StatusPayload.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise InvalidPayload(device_id, reason=first_error(exc)) from None
    key = repeated_key(raw, keys=len(payload.model_fields_set))  # every key sent is a field (extra="forbid")
    if key is not None:
        raise InvalidPayload(device_id, reason=f"{quoted(key)}: the key appears more than once in the report")
    reported_at = received_at
    if payload.t is not None:
        if payload.t > received_at.timestamp() + future_tolerance_s:
            raise InvalidPayload(device_id, reason="t: the status report is dated in the future")
        if payload.t < received_at.timestamp() - MAX_PAST_S:  # a clock reset (1970): dropped unseen as "older"
            dated = datetime.fromtimestamp(payload.t, UTC).isoformat()
            reason = f"t: older than {MAX_PAST_S / 86400:g} days ({dated}); set the device's clock"
            raise InvalidPayload(device_id, reason=reason)
        reported_at = datetime.fromtimestamp(payload.t, UTC)
    return DeviceStatus(
        device_id=device_id,
        online=payload.online,
        reported_at=reported_at,
        battery_percent=payload.battery_percent,
        signal_dbm=payload.signal_dbm,
        firmware=payload.firmware,
    )
