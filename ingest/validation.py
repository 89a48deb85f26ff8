"""SenML records -> candidate readings or rejections, each rejection naming the record, the field and the rule."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from core.types import Consciousness, Parameter
from core.vocabulary import Measurement, ValueKind, measurement_for
from ingest.duplicate_keys import records_with_repeated_keys
from ingest.senml import (
    ABSOLUTE_TIME_MIN_S,
    RecordError,
    ResolvedRecord,
    is_valid_name,
    load_pack,
    resolve_records,
)

__all__ = ["MAX_PAST_S", "Candidate", "Rejection", "ValidationLimits", "dump_record", "record_time_s", "validate_pack"]

# Oldest reading accepted. A home kit that was offline for a week (a cabin trip, a dead phone) may upload its
# backlog, and the broker keeps a worker's session as long (core/mqtt.py SESSION_EXPIRY_S). Anything older is not
# clinically actionable and is most often a device whose clock reset to 1970.
MAX_PAST_S = 7 * 24 * 3600.0
# The fast path remembers what each (device, resolved name, unit) means. A ward sends a handful of names per device,
# so 1000 beds need ~5000 entries; past this many (a misbehaving fleet) the memo starts over rather than grow.
FAST_PATH_MEMO_MAX = 50_000
# Fields of the common pack shape: numbers with a name and unit, absolute times (RFC 8428 §4). Anything else goes
# the full (pydantic) way, which also words every rejection.
# A base name may name the topic's device as itself ("dev-a/") or as a URN ("urn:dev:vaktrom:dev-a:"), nothing else.
DEVICE_URN_PREFIX = "urn:dev:vaktrom:"
_FAST_FIELDS = frozenset(("bn", "bt", "n", "u", "v", "t"))
_SENML_NAME_MAX = 256
_ABSENT = object()
_SENML_UNIT_MAX = 32


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
    measured_us: int  # measured_at in microseconds since the epoch: a cheap key for duplicate checks

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
    repeated_keys = records_with_repeated_keys(raw, pack)
    if not repeated_keys:
        fast = _fast_candidates(device_id, pack, received_at=received_at, now_s=now_s, limits=limits)
        if fast is not None:
            return fast, []
    candidates: list[Candidate] = []
    rejections: list[Rejection] = []
    for item in resolve_records(pack, repeated_keys=repeated_keys):
        if isinstance(item, RecordError):
            rejections.append(Rejection(f"record {item.index}: {item.reason}", dump_record(item.raw)))
            continue
        result = _check(device_id, item, now_s=now_s, limits=limits)
        if isinstance(result, str):
            rejections.append(Rejection(f"record {item.index}: {result}", dump_record(item.raw)))
        else:
            parameter, value, measured_at = result
            measured_us = round(record_time_s(item.time_s) * 1_000_000)
            candidates.append(Candidate(device_id, parameter, value, measured_at, received_at, item.raw, measured_us))
    return candidates, rejections


def record_time_s(time_s: float) -> float:
    """A resolved time at the microsecond resolution readings are stored with."""
    return round(time_s, 6)


# (device, resolved name, unit) -> (parameter, unit conversion, plausible min, plausible max), or None when the
# combination needs the full path (an unknown name, another device's name, a unit not accepted, not a number).
_Meaning = tuple[Parameter, Callable[[float], float], float, float] | None
_memo: dict[tuple[str, str, str], _Meaning] = {}


def _meaning(device_id: str, name: str, unit: str) -> _Meaning:
    key = (device_id, name, unit)
    try:
        return _memo[key]
    except KeyError:
        pass
    meaning: _Meaning = None
    measurement_name = _measurement_name(device_id, name) if name and is_valid_name(name) else None
    measurement = measurement_for(measurement_name) if measurement_name is not None else None
    if measurement is not None and measurement.kind is ValueKind.NUMBER:
        convert = measurement.units.get(unit or measurement.canonical_unit)
        if convert is not None:
            meaning = (measurement.parameter, convert, measurement.plausible_min, measurement.plausible_max)
    if len(_memo) >= FAST_PATH_MEMO_MAX:
        _memo.clear()
    _memo[key] = meaning
    return meaning


def _fast_candidates(
    device_id: str, pack: list[Any], *, received_at: datetime, now_s: float, limits: ValidationLimits
) -> list[Candidate] | None:
    """Candidates for a pack where every record is a plain valid number with an absolute time; None otherwise.

    The same rules as `resolve_records` + `_check`, for the shape devices send every second. It accepts only
    what the full path accepts, with the same values; on anything else (including every rejection) the caller
    runs the full path, so a rejection is always worded by it.
    """
    base_name, base_time = "", 0.0
    newest_s, oldest_s = now_s + limits.future_tolerance_s, now_s - limits.max_past_s
    candidates: list[Candidate] = []
    last_time_s, last_at = math.nan, received_at
    for raw in pack:
        if type(raw) is not dict or not _FAST_FIELDS.issuperset(raw) or "v" not in raw:
            return None
        # Absent fields read as their defaults; a null (never valid SenML) fails the type checks below.
        bn, bt = raw.get("bn", _ABSENT), raw.get("bt", _ABSENT)
        n, u, v, t = raw.get("n", ""), raw.get("u", ""), raw["v"], raw.get("t", 0.0)
        if bn is not _ABSENT:
            if type(bn) is not str or len(bn) > _SENML_NAME_MAX:
                return None
            base_name = bn
        if bt is not _ABSENT:
            if type(bt) is not float and type(bt) is not int:
                return None
            base_time = float(bt)
        if type(v) is not float and type(v) is not int:
            return None
        if type(n) is not str or len(n) > _SENML_NAME_MAX or type(u) is not str or len(u) > _SENML_UNIT_MAX:
            return None
        if type(t) is not float and type(t) is not int:
            return None
        meaning = _meaning(device_id, base_name + n, u)
        time_s = base_time + float(t)
        if meaning is None or not (time_s >= ABSOLUTE_TIME_MIN_S and oldest_s <= time_s <= newest_s):
            return None
        parameter, convert, plausible_min, plausible_max = meaning
        value = convert(float(v) + 0.0)
        if not (math.isfinite(value) and plausible_min <= value <= plausible_max):
            return None
        if time_s != last_time_s:  # a pack's records mostly share one time: one datetime for them all
            last_time_s, last_at = time_s, datetime.fromtimestamp(record_time_s(time_s), UTC)
        measured_us = round(record_time_s(time_s) * 1_000_000)
        candidates.append(Candidate(device_id, parameter, value, last_at, received_at, raw, measured_us))
    return candidates


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
    return measurement.parameter, value, datetime.fromtimestamp(record_time_s(record.time_s), UTC)


def _iso(time_s: float) -> str:
    try:
        return datetime.fromtimestamp(time_s, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return f"{time_s:g} s since the epoch"


def _measurement_name(device_id: str, name: str) -> str | None:
    """The last segment of a resolved name; anything before it must be this device's id, or its URN."""
    cut = max(name.rfind("/"), name.rfind(":"))
    if cut < 0:
        return name
    prefix = name[:cut].rstrip(":/")
    if prefix == device_id or prefix == DEVICE_URN_PREFIX + device_id:
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
