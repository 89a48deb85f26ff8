"""Repeated JSON keys are found wherever they are, and nothing is found where there are none."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.duplicate_keys import records_with_repeated_keys, repeated_key


def _repeated(raw: bytes) -> dict[int, str]:
    return records_with_repeated_keys(raw, orjson.loads(raw))


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        (b'[{"n": "spo2", "v": 95}, {"n": "heart-rate", "v": 60}]', {}),  # the same keys in other records are fine
        (b'[{"n": "spo2", "v": 95, "v": 60}]', {0: "v"}),
        (b'[{"n": "a", "v": 1}, {"n": "b", "v": 1}, {"n": "c", "n": "d", "v": 1, "v": 2}]', {2: "n"}),
        (b'[{"bn": "urn:dev:vaktrom:dev-a:", "n": "spo2", "v": 95}]', {}),  # ':' inside strings
        (b'[{"bn": "urn:dev:vaktrom:dev-a:", "v": 95, "v": 60}]', {0: "v"}),
        (b'[{"v": 95, "\\u0076": 60}]', {0: "v"}),  # the same key, escaped
        (b'[{"bn": "urn\\u003adev-a\\u003a", "v": 95, "v": 60}]', {0: "v"}),  # escaped ':' cannot hide a repeat
        (b'[{"bn": "urn:dev:vaktrom:dev-a:", "n": "a:b", "v": 95}, {"vs": "x:y:z", "n": "c", "n": "d"}]', {1: "n"}),
        (b'[{"v": {"a": 1, "a": 2}}]', {}),  # nested objects are not records (pydantic refuses their type)
        (b"[1, 2]", {}),
    ],
)
def test_records_that_repeat_a_key_are_found_by_index(raw: bytes, found: dict[int, str]) -> None:
    assert _repeated(raw) == found


def test_an_object_that_repeats_a_key_is_found() -> None:
    assert repeated_key(b'{"online": true, "online": false}', keys=1) == "online"
    assert repeated_key(b'{"online": true, "firmware": "a:b:c"}', keys=2) is None


_KEYS = st.sampled_from(["bn", "bt", "n", "u", "v", "t", "a:b", "\u00e6"])
_VALUES = st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=5), st.booleans(), st.none())


@given(records=st.lists(st.lists(st.tuples(_KEYS, _VALUES), max_size=5), min_size=1, max_size=5))
def test_found_exactly_when_a_record_repeats_a_key(records: list[list[tuple[str, object]]]) -> None:
    objects = (b"{" + b",".join(orjson.dumps(k) + b":" + orjson.dumps(v) for k, v in pairs) + b"}" for pairs in records)
    raw = b"[" + b",".join(objects) + b"]"

    expected = {}
    for index, pairs in enumerate(records):
        keys = [key for key, _ in pairs]
        first = next((key for n, key in enumerate(keys) if key in keys[:n]), None)
        if first is not None:
            expected[index] = first
    assert _repeated(raw) == expected
