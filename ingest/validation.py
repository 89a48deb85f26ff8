"""SenML records -> candidate readings or rejections, each rejection naming the record, the field and the rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from core.types import Consciousness, Parameter
from core.vocabulary import Measurement, ValueKind, measurement_for
from ingest.senml import RecordError, ResolvedRecord, load_pack, resolve_records

__all__ = ["MAX_PAST_S", "Candidate", "Rejection", "ValidationLimits", "dump_record", "validate_pack"]

# Oldest reading accepted. A home kit that was offline for a week (a cabin trip, a dead phone) may upload its
# backlog, and the broker keeps a worker's session as long (core/mqtt.py SESSION_EXPIRY_S). Anything older is not
# clinically actionable and is most often a device whose clock reset to 1970.
MAX_PAST_S = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    future_tolerance_s: float  # device clock skew allowed (Settings.future_tolerance_s)
    max_past_s: float = MAX_PAST_S


@dataclass(frozen=True, slots=True)
class Candidate:
    """A valid measurement from a device, not yet attributed to a patient."""

    device_id: str
    parameter: Parameter
    value: float  # canonical unit; ACVPU as its Consciousness code, oxygen as 1.0 / 0.0
    measured_at: datetime
    received_at: datetime
    record: object  # the record as sent (decoded JSON), for a dead letter if attribution fails

    def record_bytes(self) -> bytes:
        return dump_record(self.record)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    record: bytes


def validate_pack(
    device_id: str, raw: bytes, *, received_at: datetime, limits: ValidationLimits
) -> tuple[list[Candidate], list[Rejection]]:
    """Every record of the pack becomes a Candidate or a Rejection, never both.

    The device is the one named by the topic; a base name may repeat it but can never name another device.
    Raises InvalidPayload when the pack as a whole is unusable (malformed JSON, not an array, too large).
    """
    pack = load_pack(device_id, raw)
    now_s = received_at.timestamp()
    candidates: list[Candidate] = []
    rejections: list[Rejection] = []
    for item in resolve_records(pack, now_s=now_s):
        if isinstance(item, RecordError):
            rejections.append(Rejection(f"record {item.index}: {item.reason}", dump_record(item.raw)))
            continue
        result = _check(device_id, item, now_s=now_s, limits=limits)
        if isinstance(result, str):
            rejections.append(Rejection(f"record {item.index}: {result}", dump_record(item.raw)))
        else:
            parameter, value, measured_at = result
            candidates.append(Candidate(device_id, parameter, value, measured_at, received_at, item.raw))
    return candidates, rejections


def dump_record(raw: object) -> bytes:
    try:
        return orjson.dumps(raw)
    except TypeError:
        return repr(raw).encode()


def _check(
    device_id: str, record: ResolvedRecord, *, now_s: float, limits: ValidationLimits
) -> tuple[Parameter, float, datetime] | str:
    measurement_name = _measurement_name(device_id, record.name)
    if measurement_name is None:
        return f"n: {record.name!r} names another device than the topic's {device_id!r}"
    measurement = measurement_for(measurement_name)
    if measurement is None:
        return f"n: unknown measurement name {measurement_name!r}"
    value = _value(measurement, record)
    if isinstance(value, str):
        return value
    if not measurement.plausible_min <= value <= measurement.plausible_max:
        return (
            f"v: {value:g} {measurement.canonical_unit} is outside the physiological range "
            f"{measurement.plausible_min:g}-{measurement.plausible_max:g} for {measurement.name}"
        )
    if record.time_s > now_s + limits.future_tolerance_s:
        ahead_s = record.time_s - now_s
        return f"t: {ahead_s:.0f} s in the future (clock skew allowed: {limits.future_tolerance_s:g} s)"
    if record.time_s < now_s - limits.max_past_s:
        return f"t: older than {limits.max_past_s / 86400:g} days ({_iso(record.time_s)})"
    return measurement.parameter, value, datetime.fromtimestamp(round(record.time_s, 6), UTC)


def _iso(time_s: float) -> str:
    try:
        return datetime.fromtimestamp(time_s, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return f"{time_s:g} s since the epoch"


def _measurement_name(device_id: str, name: str) -> str | None:
    """The last segment of a resolved name; anything before it must be empty or end with this device's id."""
    cut = max(name.rfind("/"), name.rfind(":"))
    if cut < 0:
        return name
    prefix = name[:cut].rstrip(":/")
    if prefix.endswith(device_id) and (len(prefix) == len(device_id) or prefix[-len(device_id) - 1] in ":/"):
        return name[cut + 1 :]
    return None


def _value(measurement: Measurement, record: ResolvedRecord) -> float | str:
    if measurement.kind is not ValueKind.NUMBER and record.unit:
        return f"u: {measurement.name} takes no unit, not {record.unit!r}"
    if measurement.kind is ValueKind.STRING:
        return _acvpu(record)
    if measurement.kind is ValueKind.BOOLEAN:
        return _oxygen(record)
    if record.value is None:
        return f"v: {measurement.name} needs a numeric value in v"
    convert = measurement.units.get(record.unit or measurement.canonical_unit)
    if convert is None:
        allowed = ", ".join(repr(unit) for unit in measurement.units)
        return f"u: unit {record.unit!r} is not accepted for {measurement.name} (use one of {allowed})"
    return convert(record.value)


def _acvpu(record: ResolvedRecord) -> float | str:
    if record.string_value is None:
        return "vs: consciousness is sent as an ACVPU letter in vs"
    try:
        return float(Consciousness.from_letter(record.string_value))
    except ValueError:
        return f"vs: consciousness must be one of A, C, V, P, U, not {record.string_value!r}"


def _oxygen(record: ResolvedRecord) -> float | str:
    if record.bool_value is not None:
        return 1.0 if record.bool_value else 0.0
    if record.value in (0.0, 1.0):
        return float(record.value)  # tolerated: 1 on oxygen, 0 on air
    return "vb: supplemental oxygen is sent as true (oxygen) or false (air) in vb"
