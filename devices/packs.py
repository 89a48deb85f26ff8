"""What simulated devices put on the wire: SenML packs (RFC 8428) for observations, JSON for device status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.types import Consciousness, Parameter
from core.vocabulary import measurement_of

__all__ = [
    "OFFLINE_PAYLOAD",
    "Record",
    "StatusPayload",
    "encode_pack",
    "encode_status",
    "epoch_s",
    "number",
]


@dataclass(frozen=True, slots=True)
class Record:
    """One SenML record before encoding: a parameter, its value, and seconds after the pack's base time."""

    parameter: Parameter
    value: float | str | bool
    offset_s: float = 0.0


class StatusPayload(BaseModel):
    """The retained message on `{root}/{site}/{device}/status`. A Last Will carries only `{"online": false}`.

    `t` is the device's report time in seconds since the epoch (absent in a Last Will: use the receive time).
    `firmware` is printable text: NULs padding its end (a C device sending a whole fixed `char[]` buffer) are
    dropped, as C would read the string; any other control character refuses the report (docs/MQTT.md).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    online: bool
    battery_percent: float | None = Field(default=None, ge=0, le=100)
    signal_dbm: float | None = Field(default=None, ge=-150, le=0)
    firmware: str | None = Field(default=None, max_length=64)
    t: float | None = Field(default=None, gt=0)

    @field_validator("firmware", mode="before")
    @classmethod
    def _printable_firmware(cls, value: object) -> object:
        # Before the type and length checks: a char[80] buffer holding "2.1" is 3 characters, not 80.
        if not isinstance(value, str):
            return value  # the type check words it
        text = value.rstrip("\x00")
        bad = next((c for c in text if not c.isprintable()), None)
        if bad is not None:
            raise ValueError(f"control character U+{ord(bad):04X} at position {text.index(bad)}; send printable text")
        return text


# What every simulated device leaves as its Last Will, and publishes itself when it shuts down cleanly.
OFFLINE_PAYLOAD = b'{"online":false}'


def epoch_s(at: datetime) -> float:
    """SenML base time: seconds since the epoch, to the millisecond (devices do not send finer)."""
    return round(at.timestamp(), 3)


def number(parameter: Parameter, value: float, offset_s: float = 0.0) -> Record:
    return Record(parameter, value, offset_s)


def encode_pack(records: Sequence[Record], *, at: datetime) -> bytes:
    """A SenML JSON pack with `bt` on the first record, canonical names and units from core.vocabulary.

    ACVPU goes as `vs` (its letter), supplemental oxygen as `vb`, everything else as `v` with the canonical unit.
    """
    out: list[dict[str, object]] = []
    for index, record in enumerate(records):
        measurement = measurement_of(record.parameter)
        item: dict[str, object] = {"bt": epoch_s(at)} if index == 0 else {}
        item["n"] = measurement.name
        if record.offset_s:
            item["t"] = record.offset_s
        value = record.value
        if record.parameter is Parameter.CONSCIOUSNESS:
            item["vs"] = value.letter if isinstance(value, Consciousness) else str(value)
        elif record.parameter is Parameter.SUPPLEMENTAL_O2:
            item["vb"] = bool(value)
        else:
            item["u"] = measurement.canonical_unit
            item["v"] = _compact(float(value))
        out.append(item)
    return orjson.dumps(out)


def encode_status(
    *, online: bool, battery_percent: float | None, signal_dbm: float | None, firmware: str | None, at: datetime
) -> bytes:
    payload = StatusPayload(
        online=online,
        battery_percent=None if battery_percent is None else round(battery_percent, 1),
        signal_dbm=signal_dbm,
        firmware=firmware,
        t=epoch_s(at),
    )
    return orjson.dumps(payload.model_dump(exclude_none=True))


def _compact(value: float) -> float | int:
    """Whole numbers go out as JSON integers (what real devices send, and shorter)."""
    return int(value) if value.is_integer() else value
