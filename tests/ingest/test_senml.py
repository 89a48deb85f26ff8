"""RFC 8428 resolution: base fields carried forward, absolute times only, pack-level limits."""

from __future__ import annotations

import orjson
import pytest

from core.errors import InvalidPayload
from ingest.senml import MAX_PACK_BYTES, MAX_PACK_RECORDS, RecordError, ResolvedRecord, load_pack, resolve_records

NOW_S = 1_760_000_000.0  # 2025-10-09, well above the 2**28 absolute-time threshold


def _resolve(pack: list[dict[str, object]]) -> list[ResolvedRecord | RecordError]:
    return resolve_records(load_pack("dev-a", orjson.dumps(pack)))


def _ok(item: ResolvedRecord | RecordError) -> ResolvedRecord:
    assert isinstance(item, ResolvedRecord), item
    return item


def test_base_name_time_unit_and_value_apply_to_every_following_record() -> None:
    records = _resolve(
        [
            {"bn": "dev-a/", "bt": NOW_S - 10, "bu": "/min", "bv": 10, "n": "resp-rate", "v": 8},
            {"n": "heart-rate", "u": "beat/min", "v": 62, "t": 1},
            {"bn": "", "bt": NOW_S - 5, "n": "spo2", "u": "%", "bv": 0, "v": 97},
        ]
    )
    first, second, third = (_ok(r) for r in records)
    assert (first.name, first.unit, first.value, first.time_s) == ("dev-a/resp-rate", "/min", 18.0, NOW_S - 10)
    assert (second.name, second.unit, second.value, second.time_s) == ("dev-a/heart-rate", "beat/min", 72.0, NOW_S - 9)
    assert (third.name, third.value, third.time_s) == ("spo2", 97.0, NOW_S - 5)


def test_times_at_or_above_2_pow_28_are_kept_and_times_relative_to_arrival_refused() -> None:
    relative, missing, absolute, offset, small_base = _resolve(
        [
            {"n": "spo2", "v": 97, "t": -60},
            {"n": "spo2", "v": 96},
            {"n": "spo2", "v": 95, "t": NOW_S - 3},
            {"bt": NOW_S, "n": "spo2", "v": 94, "t": -30},
            {"bt": 2**28 - 1, "n": "spo2", "v": 96},
        ]
    )
    # RFC 8428 §4.5.3 reads these as relative to "now"; a redelivered copy would get another time (docs/MQTT.md).
    for item, time_s in ((relative, -60), (missing, 0), (small_base, 2**28 - 1)):
        assert isinstance(item, RecordError)
        assert item.reason.startswith(f"t: no absolute time (bt + t = {time_s:g} s)")
    assert _ok(absolute).time_s == NOW_S - 3
    assert _ok(offset).time_s == NOW_S - 30


def test_a_broken_record_sets_no_base_fields_for_the_rest() -> None:
    records = _resolve(
        [{"bt": NOW_S - 100, "n": "spo2", "v": 97}, {"bt": "soon", "n": "spo2", "v": 96}, {"n": "spo2", "v": 95}]
    )
    assert isinstance(records[1], RecordError)
    assert records[1].reason.startswith("bt:")
    assert _ok(records[2]).time_s == NOW_S - 100


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"n": "spo2", "v": 97, "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"v": 97}, "n: a record needs a name"),
        ({"n": "spo2", "v": 97, "t": None}, "t: null is not a value; leave the field out"),
        ({"n": "spo2"}, "v: the record has no value"),
        ({"n": "spo2", "v": 97, "vs": "A"}, "v: a record carries exactly one of v, vs, vb"),
        ({"n": "-spo2", "v": 97}, "is not a valid SenML name"),
        ({"n": "spo2", "v": "97"}, "v: Input should be a valid number"),
        ({"n": "supp-o2", "vb": 1}, "vb: Input should be a valid boolean"),
        ({"n": "spo2", "bv": 1.7e308, "v": 1.7e308}, "v: the value is not a finite number"),
    ],
)
def test_record_errors_name_the_field_and_rule(record: dict[str, object], reason: str) -> None:
    (item,) = _resolve([record])
    assert isinstance(item, RecordError)
    assert reason in item.reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'[{"n": "spo2", "v": 97}', "payload: malformed JSON"),
        (b'{"n": "spo2", "v": 97}', "payload: a SenML pack must be a JSON array of records"),
        (b"[]", "payload: the pack has no records"),
        (orjson.dumps([{"n": "spo2", "v": 97}] * (MAX_PACK_RECORDS + 1)), f"over the limit of {MAX_PACK_RECORDS}"),
        (b"[" + b" " * MAX_PACK_BYTES + b"]", f"over the limit of {MAX_PACK_BYTES}"),
        (b'[{"n": "spo2", "v": NaN}]', "payload: malformed JSON"),
    ],
)
def test_unusable_packs_are_refused_whole(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        load_pack("dev-a", raw)
    assert reason in caught.value.reason
    assert caught.value.source == "dev-a"
