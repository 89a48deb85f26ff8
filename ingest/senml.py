"""SenML JSON (RFC 8428) as it arrives on the wire, and its resolution into plain records (base fields applied)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.errors import InvalidPayload

__all__ = [
    "ABSOLUTE_TIME_MIN_S",
    "MAX_PACK_BYTES",
    "MAX_PACK_RECORDS",
    "RecordError",
    "ResolvedRecord",
    "SenMLRecord",
    "first_error",
    "is_valid_name",
    "load_pack",
    "quoted",
    "resolve_records",
]

# RFC 8428 §4.5.3: a resolved time below 2**28 s is relative to now; at or above it, seconds since the epoch.
# vaktrom takes only the latter: a reading's time is part of its identity (docs/MQTT.md, "Time of a reading").
ABSOLUTE_TIME_MIN_S = 2.0**28
# A bedside monitor sends ~8 records a second; a home kit may upload a day of spot checks at once. 1000 records and
# 256 KiB leave room for both while keeping one hostile message from costing more than a few milliseconds.
MAX_PACK_RECORDS = 1000
MAX_PACK_BYTES = 256 * 1024
# Device text (a key, a name) quoted in a dead letter's reason is cut to this: enough to recognise it, and a 256 KiB
# key cannot make a 256 KiB reason.
QUOTED_MAX_CHARS = 64
_NONE: Mapping[int, str] = MappingProxyType({})
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:./_")


class SenMLRecord(BaseModel):
    """One record of a SenML pack. Unknown fields are refused (RFC 8428 lets us ignore them; we would rather say)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid", allow_inf_nan=False, strict=True)
    base_name: str | None = Field(default=None, alias="bn", max_length=256)
    base_time: float | None = Field(default=None, alias="bt")
    base_unit: str | None = Field(default=None, alias="bu", max_length=32)
    base_value: float | None = Field(default=None, alias="bv")
    base_version: int | None = Field(default=None, alias="bver", ge=1, le=10)
    name: str | None = Field(default=None, alias="n", max_length=256)
    unit: str | None = Field(default=None, alias="u", max_length=32)
    value: float | None = Field(default=None, alias="v")
    string_value: str | None = Field(default=None, alias="vs", max_length=64)
    bool_value: bool | None = Field(default=None, alias="vb")
    time: float = Field(default=0.0, alias="t")


_RECORD: TypeAdapter[SenMLRecord] = TypeAdapter(SenMLRecord)
_PACK: TypeAdapter[list[SenMLRecord]] = TypeAdapter(list[SenMLRecord])


@dataclass(frozen=True, slots=True)
class ResolvedRecord:
    """A record with the base fields of its pack applied (RFC 8428 §4.6): full name, unit, value and UTC time."""

    index: int  # position in the pack, for reasons a person can find
    name: str
    unit: str
    value: float | None
    string_value: str | None
    bool_value: bool | None
    time_s: float  # seconds since the epoch
    raw: dict[str, Any]  # the record as sent, kept for its dead letter


@dataclass(frozen=True, slots=True)
class RecordError:
    """A record that could not be resolved, with the field and the rule it broke."""

    index: int
    reason: str
    raw: object


def quoted(text: str, *, max_chars: int = QUOTED_MAX_CHARS) -> str:
    """Device text for a reason: as sent when printable and short; else its repr (a NUL reads `\\x00`), cut.

    A reason is stored in a text column, and PostgreSQL refuses a NUL in one: unescaped, one record with a key
    "x\\u0000" made every write of its batch fail.
    """
    if len(text) <= max_chars and text.isprintable():
        return text
    return repr(text[:max_chars]) + ("..." if len(text) > max_chars else "")


def first_error(exc: ValidationError) -> str:
    """'field: message' for the first problem pydantic found, in words a device vendor can act on.

    The field may be a key the device sent (an unknown one): it is `quoted`, never copied as it came. The message
    is pydantic's own words (with `include_url=False` they never repeat the input)."""
    error = exc.errors(include_url=False)[0]
    location = ".".join(str(part) for part in error["loc"]) or "payload"
    return f"{quoted(location)}: {error['msg']}"


def load_pack(source: str, raw: bytes) -> list[Any]:
    """The pack's records as JSON values. Raises InvalidPayload when the whole pack is unusable."""
    if len(raw) > MAX_PACK_BYTES:
        raise InvalidPayload(source, reason=f"payload: {len(raw)} bytes is over the limit of {MAX_PACK_BYTES}")
    try:
        pack = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload(source, reason=f"payload: malformed JSON ({exc})") from None
    if not isinstance(pack, list):
        raise InvalidPayload(source, reason="payload: a SenML pack must be a JSON array of records")
    if not pack:
        raise InvalidPayload(source, reason="payload: the pack has no records")
    if len(pack) > MAX_PACK_RECORDS:
        raise InvalidPayload(source, reason=f"payload: {len(pack)} records is over the limit of {MAX_PACK_RECORDS}")
    return pack


def resolve_records(pack: list[Any], *, repeated_keys: Mapping[int, str] = _NONE) -> list[ResolvedRecord | RecordError]:
    """Apply base fields in order (RFC 8428 §4.6). `repeated_keys`: {index: key} of records that repeat a key.

    A record that fails validation yields its RecordError and sets no base fields: later records keep the
    earlier ones, so one broken record cannot re-time or re-name the rest of the pack. A record whose resolved
    time is relative (below 2**28 s, "relative to now" in RFC 8428 §4.5.3) is refused: a time taken on arrival
    differs in every redelivered copy, so a copy could not be told from a new reading (docs/MQTT.md, "Time").
    """
    records = _validate(pack, repeated_keys)
    base_name, base_time, base_unit, base_value = "", 0.0, "", 0.0
    resolved: list[ResolvedRecord | RecordError] = []
    for index, (raw, record) in enumerate(zip(pack, records, strict=True)):
        if isinstance(record, str):
            resolved.append(RecordError(index=index, reason=record, raw=raw))
            continue
        base_name = record.base_name if record.base_name is not None else base_name
        base_time = record.base_time if record.base_time is not None else base_time
        base_unit = record.base_unit if record.base_unit is not None else base_unit
        base_value = record.base_value if record.base_value is not None else base_value
        resolved.append(_resolve(index, raw, record, (base_name, base_time, base_unit, base_value)))
    return resolved


def _validate(pack: list[Any], repeated_keys: Mapping[int, str]) -> list[SenMLRecord | str]:
    problems = [_wire_problem(raw, repeated_keys.get(index)) for index, raw in enumerate(pack)]
    if not any(problems):
        try:  # the common case, valid packs, in one call
            return list(_PACK.validate_python(pack))
        except ValidationError:
            pass
    results: list[SenMLRecord | str] = []
    for raw, problem in zip(pack, problems, strict=True):
        if problem is not None:
            results.append(problem)
            continue
        try:
            results.append(_RECORD.validate_python(raw))
        except ValidationError as exc:
            results.append(first_error(exc))
    return results


def _wire_problem(raw: Any, repeated_key: str | None) -> str | None:
    """What pydantic cannot see in a decoded record: a key sent twice (the parser kept the last), or a null.

    SenML has no null: a field without a value is left out (RFC 8428 §4). Read as "absent", a null `t` or `bt`
    would quietly re-date a reading and a null `bn` re-name it, so both are refused, naming the field.
    """
    if repeated_key is not None:
        return f"{quoted(repeated_key)}: the key appears more than once in the record"
    if type(raw) is dict:
        for key, value in raw.items():
            if value is None:
                return f"{quoted(key)}: null is not a value; leave the field out"
    return None


def is_valid_name(name: str) -> bool:
    """A non-empty SenML name of the allowed characters, starting with a letter or digit (RFC 8428 §4.5.1)."""
    return bool(name) and name[0].isalnum() and _NAME_CHARS.issuperset(name)


def _resolve(
    index: int, raw: Any, record: SenMLRecord, base: tuple[str, float, str, float]
) -> ResolvedRecord | RecordError:
    base_name, base_time, base_unit, base_value = base
    name = base_name + (record.name or "")
    if not name:
        return RecordError(index=index, reason="n: a record needs a name (n, or bn of the pack)", raw=raw)
    if not is_valid_name(name):
        return RecordError(index=index, reason=f"n: {name!r} is not a valid SenML name (RFC 8428 §4.5.1)", raw=raw)
    values = [v for v in (record.value, record.string_value, record.bool_value) if v is not None]
    if len(values) > 1:
        return RecordError(index=index, reason="v: a record carries exactly one of v, vs, vb", raw=raw)
    value = None
    if record.value is not None or (not values and record.base_value is not None):
        value = (record.value or 0.0) + base_value
    elif not values:
        return RecordError(index=index, reason="v: the record has no value (v, vs or vb)", raw=raw)
    if value is not None and not math.isfinite(value):
        return RecordError(index=index, reason="v: the value is not a finite number", raw=raw)
    time_s = base_time + record.time
    if not time_s >= ABSOLUTE_TIME_MIN_S:
        return RecordError(index=index, reason=_no_absolute_time(time_s), raw=raw)
    return ResolvedRecord(
        index=index,
        name=name,
        unit=record.unit if record.unit is not None else base_unit,
        value=value,
        string_value=record.string_value,
        bool_value=record.bool_value,
        time_s=time_s,
        raw=raw if isinstance(raw, dict) else {},
    )


def _no_absolute_time(time_s: float) -> str:
    return (
        f"t: no absolute time (bt + t = {time_s:g} s): a reading is known by its device's own time, and a time "
        "taken on arrival would differ in every redelivered copy; send bt in seconds since the epoch"
    )
