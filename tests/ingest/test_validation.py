"""Every way a record is rejected, and valid records in the same pack still accepted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.types import Consciousness, Parameter
from ingest.validation import MAX_PAST_S, Candidate, ValidationLimits, validate_pack

RECEIVED_AT = datetime(2025, 10, 9, 12, 0, tzinfo=UTC)
NOW_S = RECEIVED_AT.timestamp()
LIMITS = ValidationLimits(future_tolerance_s=120)


def _validate(pack: list[dict[str, object]]) -> tuple[list[tuple[Parameter, float]], list[str]]:
    candidates, rejections = validate_pack("dev-a", orjson.dumps(pack), received_at=RECEIVED_AT, limits=LIMITS)
    return [(c.parameter, c.value) for c in candidates], [r.reason for r in rejections]


@pytest.mark.parametrize(
    ("record", "parameter", "value"),
    [
        ({"n": "resp-rate", "u": "/min", "v": 18}, Parameter.RESP_RATE, 18.0),
        ({"n": "spo2", "u": "%", "v": 96}, Parameter.SPO2, 96.0),
        ({"n": "spo2", "u": "/", "v": 0.96}, Parameter.SPO2, 96.0),
        ({"n": "sys-bp", "u": "kPa", "v": 16}, Parameter.SYSTOLIC_BP, 16 * 7.500617),
        ({"n": "dia-bp", "u": "mmHg", "v": 80}, Parameter.DIASTOLIC_BP, 80.0),
        ({"n": "heart-rate", "u": "beat/min", "v": 72}, Parameter.PULSE, 72.0),
        ({"n": "pulse", "u": "/min", "v": 72}, Parameter.PULSE, 72.0),
        ({"n": "body-temp", "u": "Cel", "v": 37.2}, Parameter.TEMPERATURE, 37.2),
        ({"n": "body-temp", "u": "K", "v": 310.15}, Parameter.TEMPERATURE, 310.15 - 273.15),
        ({"n": "body-temp", "v": 37.2}, Parameter.TEMPERATURE, 37.2),  # no unit: the canonical one
        ({"n": "acvpu", "vs": "c"}, Parameter.CONSCIOUSNESS, float(Consciousness.NEW_CONFUSION)),
        ({"n": "supp-o2", "vb": True}, Parameter.SUPPLEMENTAL_O2, 1.0),
        ({"n": "supp-o2", "v": 0}, Parameter.SUPPLEMENTAL_O2, 0.0),
        ({"bn": "dev-a/", "n": "spo2", "v": 96}, Parameter.SPO2, 96.0),
        ({"bn": "urn:dev:vaktrom:dev-a:", "n": "spo2", "v": 96}, Parameter.SPO2, 96.0),
    ],
)
def test_accepted_records_become_readings_in_canonical_units(
    record: dict[str, object], parameter: Parameter, value: float
) -> None:
    accepted, rejected = _validate([record])
    assert rejected == []
    assert [p for p, _ in accepted] == [parameter]
    assert [v for _, v in accepted] == pytest.approx([value])


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"n": "glucose", "u": "mmol/L", "v": 5.5}, "record 0: n: unknown measurement name 'glucose'"),
        ({"n": "body-temp", "u": "degF", "v": 99}, "record 0: u: unit 'degF' is not accepted for body-temp"),
        ({"n": "spo2", "u": "%", "v": 130}, "record 0: v: 130 % is outside the physiological range 40-100 for spo2"),
        ({"n": "heart-rate", "v": 0}, "record 0: v: 0 beat/min is outside the physiological range"),
        ({"n": "acvpu", "vs": "X"}, "record 0: vs: consciousness must be one of A, C, V, P, U, not 'X'"),
        ({"n": "acvpu", "vs": "AV"}, "record 0: vs: consciousness must be one of A, C, V, P, U"),
        ({"n": "acvpu", "v": 1}, "record 0: vs: consciousness is sent as an ACVPU letter in vs"),
        ({"n": "acvpu", "u": "%", "vs": "A"}, "record 0: u: acvpu takes no unit"),
        ({"n": "supp-o2", "v": 2}, "record 0: vb: supplemental oxygen is sent as true (oxygen) or false (air)"),
        ({"n": "spo2", "vs": "96"}, "record 0: v: spo2 needs a numeric value in v"),
        ({"n": "spo2", "v": 96, "t": NOW_S + 600}, "record 0: t: 600 s in the future (clock skew allowed: 120 s)"),
        ({"n": "spo2", "v": 96, "t": NOW_S - MAX_PAST_S - 1}, "record 0: t: older than 7 days"),
        ({"n": "spo2", "v": 96, "t": 300_000_000}, "record 0: t: older than 7 days (1979-"),
        ({"bn": "dev-b/", "n": "spo2", "v": 96}, "record 0: n: 'dev-b/spo2' names another device than the topic's"),
        ({"bn": "xdev-a/", "n": "spo2", "v": 96}, "record 0: n: 'xdev-a/spo2' names another device"),
    ],
)
def test_each_rejection_names_the_record_field_and_rule(record: dict[str, object], reason: str) -> None:
    accepted, rejected = _validate([record])
    assert accepted == []
    assert len(rejected) == 1
    assert rejected[0].startswith(reason), rejected[0]


def test_valid_records_in_a_pack_with_bad_ones_are_still_accepted() -> None:
    accepted, rejected = _validate(
        [
            {"bt": NOW_S - 1, "n": "heart-rate", "u": "beat/min", "v": 72},
            {"n": "spo2", "u": "%", "v": 300},
            {"n": "resp-rate", "u": "/min", "v": 16},
            {"n": "mood", "v": 3},
        ]
    )
    assert accepted == [(Parameter.PULSE, 72.0), (Parameter.RESP_RATE, 16.0)]
    assert [r.split(":")[0] for r in rejected] == ["record 1", "record 3"]


def test_timestamps_within_the_clock_skew_tolerance_are_kept_as_sent() -> None:
    candidates, _ = validate_pack(
        "dev-a", orjson.dumps([{"n": "spo2", "v": 96, "t": NOW_S + 60}]), received_at=RECEIVED_AT, limits=LIMITS
    )
    assert candidates[0].measured_at == RECEIVED_AT + timedelta(seconds=60)
    assert candidates[0].received_at == RECEIVED_AT
    assert candidates[0].device_id == "dev-a"


def test_a_rejected_record_keeps_its_own_bytes_for_the_dead_letter() -> None:
    _, rejections = validate_pack(
        "dev-a", orjson.dumps([{"n": "spo2", "v": 300}]), received_at=RECEIVED_AT, limits=LIMITS
    )
    assert orjson.loads(rejections[0].record) == {"n": "spo2", "v": 300}


_UNITS = {
    "heart-rate": ["beat/min", "/min", None, "bpm"],
    "spo2": ["%", "/", None],
    "resp-rate": ["/min", "breaths/min"],
    "sys-bp": ["mmHg", "kPa"],
    "body-temp": ["Cel", "K", "degF"],
    "glucose": ["mmol/L"],
}


@st.composite
def _packs(draw: st.DrawFn) -> list[dict[str, object]]:
    """Packs as devices send them every second (absolute bt, name, unit, number), with some bad values mixed in."""
    records: list[dict[str, object]] = []
    for index in range(draw(st.integers(1, 6))):
        name = draw(st.sampled_from(sorted(_UNITS)))
        record: dict[str, object] = {}
        if index == 0 or draw(st.booleans()):
            record["bt"] = NOW_S + draw(st.sampled_from([-MAX_PAST_S - 5, -3600, -1.5, 0, 60, 600]))
        if draw(st.booleans()):
            record["bn"] = draw(st.sampled_from(["dev-a/", "urn:dev:vaktrom:dev-a:", "dev-b/"]))
        record["n"] = name
        unit = draw(st.sampled_from(_UNITS[name]))
        if unit is not None:
            record["u"] = unit
        record["v"] = draw(st.one_of(st.integers(-10, 400), st.floats(-10, 400)))
        if draw(st.booleans()):
            record["t"] = draw(st.sampled_from([0, 1, 0.25, -2]))
        records.append(record)
    return records


@given(pack=_packs())
@settings(max_examples=300)
def test_common_packs_are_read_the_same_as_any_other_pack(pack: list[dict[str, object]]) -> None:
    # "bver" is valid SenML that every pack may carry; a pack with it is always read record by record, in full.
    with_version = [{"bver": 10, **pack[0]}, *pack[1:]]
    plain = validate_pack("dev-a", orjson.dumps(pack), received_at=RECEIVED_AT, limits=LIMITS)
    full = validate_pack("dev-a", orjson.dumps(with_version), received_at=RECEIVED_AT, limits=LIMITS)

    def readings(candidates: list[Candidate]) -> list[tuple[object, ...]]:
        return [(c.parameter, c.value, c.measured_at, c.measured_us, c.received_at) for c in candidates]

    assert readings(plain[0]) == readings(full[0])
    assert [r.reason for r in plain[1]] == [r.reason for r in full[1]]
    assert [orjson.loads(r.record) for r in plain[1]] == [_without_version(r.record) for r in full[1]]


def _without_version(record: bytes) -> object:
    decoded = orjson.loads(record)
    if isinstance(decoded, dict):
        decoded.pop("bver", None)
    return decoded
