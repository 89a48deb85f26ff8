"""Control characters from a device (a NUL above all, which PostgreSQL cannot hold in text) never stop ingest: the
message is dead-lettered with a readable reason, the rest of its batch is stored, and the next batch too."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from core.mqtt import MqttClient, RawMessage
from core.store import Store
from core.topics import obs_topic, status_topic
from core.types import Parameter
from ingest.attribution import DeviceDirectory
from ingest.metrics import IngestMetrics
from ingest.pipeline import BatchOutcome, append_batch, parse_batch, prepare_batch, save_statuses
from ingest.validation import ValidationLimits
from tests.ingest.conftest import SITE, epoch, ingest_settings, seed_ward, wait_until

ROOT = "vk"
LIMITS = ValidationLimits(future_tolerance_s=60.0)
# Before the fix a refused write was retried forever: a batch not stored in this long never would be.
STORED_WITHIN_S = 10.0
# How a dead letter the store refused begins (docs/MQTT.md, "Validation and dead letters").
REFUSED = "refused by the store: "


def _message(topic: str, payload: bytes, mid: int) -> RawMessage:
    return RawMessage(topic, payload, mid=mid, qos=1, retain=False, received_at=datetime.now(UTC).timestamp())


def _pack(at: datetime, *extra: dict[str, object]) -> bytes:
    return orjson.dumps([{"bt": epoch(at), "n": "spo2", "u": "%", "v": 95}, *extra])


async def _ingest(store: Store, messages: list[RawMessage]) -> BatchOutcome:
    """One batch the way the worker takes it: parse, prepare, one append, then the statuses."""
    metrics = IngestMetrics()
    parsed = parse_batch(messages, root=ROOT, limits=LIMITS)
    prepared = await prepare_batch(store, DeviceDirectory(store), parsed, metrics=metrics)
    async with asyncio.timeout(STORED_WITHIN_S):
        outcome = await append_batch(store, prepared, metrics=metrics)
        await save_statuses(store, outcome.statuses, metrics=metrics)
    return outcome


async def _reasons(store: Store) -> list[str]:
    return [letter.reason for letter in await store.list_dead_letters(limit=100)]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"n": "heart-rate", "v": 80, "x\u0000": 1}, r"record 1: 'x\x00': Extra inputs are not permitted"),
        ({"n": "heart-rate", "v": 80, "x\u0000": None}, r"record 1: 'x\x00': null is not a value"),
        ({"n": "heart\u0000rate", "v": 80}, r"record 1: n: 'heart\x00rate' is not a valid SenML name"),
        ({"n": "acvpu", "vs": "A\u0000"}, r"record 1: vs: consciousness must be one of A, C, V, P, U, not 'A\x00'"),
    ],
)
async def test_a_record_with_a_nul_is_dead_lettered_with_the_nul_escaped_and_the_rest_is_stored(
    store: Store, record: dict[str, object], reason: str
) -> None:
    await seed_ward(store)
    at = datetime.now(UTC).replace(microsecond=0)

    outcome = await _ingest(
        store,
        [
            _message(obs_topic(ROOT, SITE, "dev-1"), _pack(at, record), 1),
            _message(obs_topic(ROOT, SITE, "dev-2"), _pack(at), 2),
        ],
    )

    assert sorted(r.device_id for r in outcome.readings) == ["dev-1", "dev-2"]
    assert await store.count_readings() == 2
    reasons = await _reasons(store)
    assert len(reasons) == 1 and reasons[0].startswith(reason), reasons
    assert "\x00" not in reasons[0]


async def test_a_very_long_unknown_key_is_cut_in_the_reason(store: Store) -> None:
    await seed_ward(store)
    at = datetime.now(UTC).replace(microsecond=0)

    await _ingest(store, [_message(obs_topic(ROOT, SITE, "dev-1"), _pack(at, {"n": "spo2", "v": 9, "k" * 5000: 1}), 1)])

    (reason,) = await _reasons(store)
    assert reason == f"record 1: '{'k' * 64}'...: Extra inputs are not permitted"


async def test_firmware_padded_with_nuls_is_stored_without_them(store: Store) -> None:
    await seed_ward(store)
    report = b'{"online": true, "battery_percent": 80, "firmware": "2.1\\u0000\\u0000\\u0000"}'

    await _ingest(store, [_message(status_topic(ROOT, SITE, "dev-1"), report, 1)])

    (status,) = await store.list_device_status(device_ids=["dev-1"])
    assert (status.online, status.battery_percent, status.firmware) == (True, 80.0, "2.1")
    assert await _reasons(store) == []


@pytest.mark.parametrize(
    ("firmware", "reason"),
    [
        ("2.1\\u0000beta", "firmware: Value error, control character U+0000 at position 3; send printable text"),
        ("2.1\\n", "firmware: Value error, control character U+000A at position 3; send printable text"),
    ],
)
async def test_firmware_with_a_control_character_inside_is_dead_lettered_and_other_devices_stored(
    store: Store, firmware: str, reason: str
) -> None:
    await seed_ward(store)
    at = datetime.now(UTC).replace(microsecond=0)
    report = b'{"online": true, "firmware": "%s"}' % firmware.encode()

    await _ingest(
        store,
        [
            _message(status_topic(ROOT, SITE, "dev-1"), report, 1),
            _message(status_topic(ROOT, SITE, "dev-2"), b'{"online": true, "firmware": "2.1"}', 2),
            _message(obs_topic(ROOT, SITE, "dev-1"), _pack(at), 3),
        ],
    )

    assert await _reasons(store) == [reason]
    assert [(s.device_id, s.firmware) for s in await store.list_device_status()] == [("dev-2", "2.1")]
    assert await store.count_readings() == 1


# Defence in depth: what a parser bug could still let through, the store refusing it is not an outage.


@pytest.mark.integration
async def test_a_dead_letter_postgresql_refuses_is_stored_escaped_and_the_batch_and_the_next_are_stored(
    pg_store: Store,
) -> None:
    await seed_ward(pg_store)
    at = datetime.now(UTC).replace(microsecond=0)
    metrics = IngestMetrics()
    parsed = parse_batch(
        [
            _message(obs_topic(ROOT, SITE, "dev-1"), _pack(at), 1),
            _message(obs_topic(ROOT, SITE, "dev-2"), b"not json", 2),
        ],
        root=ROOT,
        limits=LIMITS,
    )
    (letter,) = parsed.dead_letters
    parsed.dead_letters[0] = replace(letter, reason="payload: \x00\x00 from a future parser bug")
    prepared = await prepare_batch(pg_store, DeviceDirectory(pg_store), parsed, metrics=metrics)

    async with asyncio.timeout(STORED_WITHIN_S):
        outcome = await append_batch(pg_store, prepared, metrics=metrics)

    assert [r.device_id for r in outcome.readings] == ["dev-1"]
    assert await pg_store.count_readings() == 1
    (stored,) = await pg_store.list_dead_letters()
    assert stored.reason.startswith(REFUSED)
    assert stored.reason.endswith(r"; its reason was: 'payload: \x00\x00 from a future parser bug'")
    assert (stored.topic, stored.payload, stored.device_id) == (letter.topic, b"not json", "dev-2")
    assert outcome.dead_lettered == 1

    await _ingest(pg_store, [_message(obs_topic(ROOT, SITE, "dev-2"), _pack(at + timedelta(seconds=1)), 3)])
    assert await pg_store.count_readings() == 2


@pytest.mark.integration
async def test_a_status_postgresql_refuses_is_dead_lettered_and_the_next_status_is_stored(pg_store: Store) -> None:
    await seed_ward(pg_store)
    parsed = parse_batch(
        [_message(status_topic(ROOT, SITE, "dev-1"), b'{"online": true, "firmware": "2.1"}', 1)],
        root=ROOT,
        limits=LIMITS,
    )
    (report,) = parsed.statuses
    bad = replace(report, status=replace(report.status, firmware="2.1\x00"))  # what a parser bug could pass

    async with asyncio.timeout(STORED_WITHIN_S):
        saved = await save_statuses(pg_store, [bad, report], metrics=IngestMetrics())

    assert saved == [report]  # only what was stored is announced to the pages (ingest/service.py)
    (stored,) = await pg_store.list_dead_letters()
    assert stored.reason.startswith(REFUSED) and "\x00" not in stored.reason
    assert (stored.topic, stored.payload, stored.device_id) == (report.topic, report.payload, "dev-1")
    assert [(s.device_id, s.firmware) for s in await pg_store.list_device_status()] == [("dev-1", "2.1")]

    await _ingest(pg_store, [_message(status_topic(ROOT, SITE, "dev-2"), b'{"online": false}', 2)])
    assert [(s.device_id, s.online) for s in await pg_store.list_device_status()] == [("dev-1", True), ("dev-2", False)]


@pytest.mark.integration
async def test_ingest_goes_on_after_a_message_with_a_nul_from_another_device(
    store: Store, start_ingest: Callable[..., Any], mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    await start_ingest(ingest_settings(mqtt_url, root), store)
    at = datetime.now(UTC).replace(microsecond=0)
    nul_key = {"n": "heart-rate", "v": 80, "x\u0000": 1}

    await mqtt_client.publish(obs_topic(root, SITE, "dev-1"), _pack(at, nul_key), qos=1)
    await mqtt_client.publish(status_topic(root, SITE, "dev-1"), b'{"online": true, "firmware": "2\\u0000x"}', qos=1)
    await mqtt_client.publish(obs_topic(root, SITE, "dev-2"), _pack(at), qos=1)

    async def both_stored() -> bool:
        latest = await store.latest_values(["p-1", "p-2"])
        return all(Parameter.SPO2 in latest.get(p, {}) for p in ("p-1", "p-2"))

    await wait_until(both_stored, what="the valid readings of both devices")

    async def both_dead_lettered() -> bool:
        return await store.count_dead_letters() >= 2

    await wait_until(both_dead_lettered, what="the two dead letters")
    assert sorted(await _reasons(store)) == [
        "firmware: Value error, control character U+0000 at position 1; send printable text",
        r"record 1: 'x\x00': Extra inputs are not permitted",
    ]


async def test_a_store_failure_that_is_not_about_the_data_is_retried_not_dead_lettered(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only what the store refuses for the data itself (StorageRefused) is dead-lettered. Anything else is a bug in
    our code or the driver, not in the readings: they are retried until stored, never turned into dead letters."""
    await seed_ward(store)
    at = datetime.now(UTC).replace(microsecond=0)
    append, failures = store.append, [RuntimeError("a bug in the store, once")]

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await append(*args, **kwargs)

    monkeypatch.setattr(store, "append", failing_once)
    outcome = await _ingest(store, [_message(obs_topic(ROOT, SITE, "dev-1"), _pack(at), 1)])

    assert [r.device_id for r in outcome.readings] == ["dev-1"]
    assert await store.count_readings() == 1
    assert await _reasons(store) == []
