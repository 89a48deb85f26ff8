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


def _dated(pack: list[dict[str, object]]) -> list[dict[str, object]]:
    """The pack with `bt` = now on its first record, unless that record states its own time."""
    first, *rest = pack
    return pack if "bt" in first or "t" in first else [{"bt": NOW_S, **first}, *rest]


def _validate(pack: list[dict[str, object]]) -> tuple[list[tuple[Parameter, float]], list[str]]:
    return _validate_raw(orjson.dumps(_dated(pack)))


def _validate_raw(raw: bytes) -> tuple[list[tuple[Parameter, float]], list[str]]:
    candidates, rejections = validate_pack("dev-a", raw, received_at=RECEIVED_AT, limits=LIMITS)
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
        "dev-a", orjson.dumps([{"bt": NOW_S, "n": "spo2", "v": 300}]), received_at=RECEIVED_AT, limits=LIMITS
    )
    assert orjson.loads(rejections[0].record) == {"bt": NOW_S, "n": "spo2", "v": 300}


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


# --- A reading's time comes from its device, never from its arrival (docs/MQTT.md, "Time of a reading") ----------


@pytest.mark.parametrize(
    ("pack", "reason"),
    [
        ([{"n": "spo2", "v": 96}], "record 0: t: no absolute time (bt + t = 0 s)"),
        ([{"n": "spo2", "v": 96, "t": -60}], "record 0: t: no absolute time (bt + t = -60 s)"),
        ([{"bt": 1000, "n": "spo2", "v": 96}], "record 0: t: no absolute time (bt + t = 1000 s)"),
    ],
)
def test_a_record_dated_only_by_its_arrival_is_rejected_saying_how_to_date_it(
    pack: list[dict[str, object]], reason: str
) -> None:
    accepted, rejected = _validate_raw(orjson.dumps(pack))

    assert accepted == []
    assert len(rejected) == 1
    assert rejected[0].startswith(reason), rejected[0]
    assert "send bt in seconds since the epoch" in rejected[0]


def test_records_after_an_absolute_base_time_keep_their_relative_offsets() -> None:
    candidates, rejections = validate_pack(
        "dev-a",
        orjson.dumps(
            [
                {"n": "spo2", "v": 96},  # before any bt: dated by arrival, so rejected
                {"bt": NOW_S - 30, "n": "heart-rate", "v": 70},
                {"n": "sys-bp", "v": 120, "t": -30},
            ]
        ),
        received_at=RECEIVED_AT,
        limits=LIMITS,
    )

    assert [r.reason.split(":")[0] for r in rejections] == ["record 0"]
    assert [(c.parameter, c.measured_at) for c in candidates] == [
        (Parameter.PULSE, RECEIVED_AT - timedelta(seconds=30)),
        (Parameter.SYSTOLIC_BP, RECEIVED_AT - timedelta(seconds=60)),
    ]


# --- What docs/MQTT.md rejects is rejected, each with its own reason -----------------------------------------------

_NOW = orjson.dumps(NOW_S).decode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            f'[{{"bt": {_NOW}, "n": "spo2", "v": 96, "t": null}}]',
            "record 0: t: null is not a value; leave the field out",
        ),
        (
            f'[{{"bt": {_NOW}, "n": "spo2", "u": null, "v": 96}}]',
            "record 0: u: null is not a value; leave the field out",
        ),
        (f'[{{"bt": {_NOW}, "bn": "dev-a/", "n": null, "v": 96}}]', "record 0: n: null is not a value"),
        (f'[{{"bt": {_NOW}, "bn": null, "n": "spo2", "v": 96}}]', "record 0: bn: null is not a value"),
        (f'[{{"bt": null, "n": "spo2", "v": 96, "t": {_NOW}}}]', "record 0: bt: null is not a value"),
        (f'[{{"bt": {_NOW}, "n": "spo2", "v": 95, "v": 60}}]', "record 0: v: the key appears more than once"),
        (f'[{{"bt": {_NOW}, "n": "spo2", "n": "heart-rate", "v": 95}}]', "record 0: n: the key appears more than once"),
        (
            f'[{{"bt": {_NOW}, "bn": "evil/dev-a/", "n": "spo2", "v": 96}}]',
            "record 0: n: 'evil/dev-a/spo2' names another",
        ),
        (
            f'[{{"bt": {_NOW}, "bn": "urn:dev:mac:dev-a:", "n": "spo2", "v": 96}}]',
            "record 0: n: 'urn:dev:mac:dev-a:spo2'",
        ),
        (f'[{{"bt": {_NOW}, "bn": "dev-a/dev-a/", "n": "spo2", "v": 96}}]', "record 0: n: 'dev-a/dev-a/spo2' names"),
    ],
)
def test_what_the_contract_rejects_is_rejected_with_its_own_reason(raw: str, reason: str) -> None:
    accepted, rejected = _validate_raw(raw.encode())

    assert accepted == []
    assert len(rejected) == 1
    assert rejected[0].startswith(reason), rejected[0]


def test_a_record_with_a_repeated_key_is_rejected_and_the_rest_of_its_pack_kept() -> None:
    raw = (
        f'[{{"bt": {_NOW}, "n": "heart-rate", "v": 70}}, {{"n": "spo2", "v": 95, "v": 60}},'
        ' {"n": "resp-rate", "v": 16}, {"bn": "urn:dev:vaktrom:dev-a:", "n": "body-temp", "v": 37.1}]'
    )

    accepted, rejected = _validate_raw(raw.encode())

    assert accepted == [(Parameter.PULSE, 70.0), (Parameter.RESP_RATE, 16.0), (Parameter.TEMPERATURE, 37.1)]
    assert rejected == ["record 1: v: the key appears more than once in the record"]


_FIELDS = ("bn", "bt", "n", "u", "v", "t", "vs", "vb", "bv", "colour")
_FIELD_VALUES: dict[str, st.SearchStrategy[object]] = {
    "bn": st.sampled_from(["dev-a/", "urn:dev:vaktrom:dev-a:", "evil/dev-a/", "dev-b/", "", None, 3]),
    "bt": st.sampled_from([NOW_S, NOW_S - 60, 0, -60, None, "now"]),
    "n": st.sampled_from(["spo2", "heart-rate", "acvpu", "supp-o2", "mood", "", None]),
    "u": st.sampled_from(["%", "beat/min", "degF", None, 1]),
    "v": st.one_of(st.integers(-10, 400), st.floats(-1e3, 1e3), st.sampled_from([None, "95", True])),
    "t": st.sampled_from([0, -2, NOW_S, 1000, None]),
    "vs": st.sampled_from(["A", "X", None]),
    "vb": st.sampled_from([True, 1, None]),
    "bv": st.sampled_from([0, 1.5, None]),
    "colour": st.just("red"),
}


_VALID_RECORDS: list[list[tuple[str, object]]] = [
    [("bt", NOW_S), ("n", "spo2"), ("u", "%"), ("v", 96)],
    [("n", "heart-rate"), ("v", 70)],
    [("bn", "dev-a/"), ("n", "acvpu"), ("vs", "A"), ("t", NOW_S)],
    [],
]


@st.composite
def _raw_records(draw: st.DrawFn) -> list[list[tuple[str, object]]]:
    """Records as the key-value pairs on the wire: keys may repeat, values may be null or of the wrong type."""
    records = []
    for _ in range(draw(st.integers(1, 5))):
        valid = draw(st.sampled_from(_VALID_RECORDS))  # most records start valid, then get spoilt (or not)
        keys = draw(st.lists(st.sampled_from(_FIELDS), max_size=3))
        pairs = [*valid, *((key, draw(_FIELD_VALUES[key])) for key in keys)]
        records.append(draw(st.permutations(pairs)))
    return records


def _encode(records: list[list[tuple[str, object]]]) -> bytes:
    objects = (b"{" + b",".join(orjson.dumps(k) + b":" + orjson.dumps(v) for k, v in pairs) + b"}" for pairs in records)
    return b"[" + b",".join(objects) + b"]"


@given(records=_raw_records())
@settings(max_examples=500)
def test_every_record_is_either_a_reading_or_a_rejection_with_a_reason_never_both(
    records: list[list[tuple[str, object]]],
) -> None:
    candidates, rejections = validate_pack("dev-a", _encode(records), received_at=RECEIVED_AT, limits=LIMITS)

    rejected = [int(r.reason.split(":")[0].removeprefix("record ")) for r in rejections]
    assert all(len(r.reason.split(": ", 2)) == 3 and r.reason.split(": ", 2)[2] for r in rejections)
    assert len(set(rejected)) == len(rejected)  # one reason per record
    kept = [pairs for index, pairs in enumerate(records) if index not in rejected]
    assert len(candidates) == len(kept)  # each kept record is exactly one reading
    assert [orjson.loads(c.record_bytes()) for c in candidates] == [dict(pairs) for pairs in kept]
    for pairs in kept:  # nothing the contract rejects slipped through
        assert len({key for key, _ in pairs}) == len(pairs)
        assert all(value is not None for _, value in pairs)
