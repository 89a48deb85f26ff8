"""Parsing a batch in chunks (a turn of the event loop between them) gives the batch parsing it whole gives."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from core.mqtt import RawMessage
from core.topics import obs_topic, rescore_topic, status_topic
from ingest.pipeline import parse_batch, parse_batch_in_chunks
from ingest.validation import ValidationLimits
from tests.ingest.conftest import vitals_pack

ROOT = "vk"
LIMITS = ValidationLimits(future_tolerance_s=60.0)
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _message(kind: int, n: int) -> RawMessage:
    """One of five kinds: a valid pack, a malformed one, a status, a rescore request, a foreign topic."""
    device = f"dev-{n % 7}"
    topic, payload = {
        0: (obs_topic(ROOT, "site-a", device), orjson.dumps(vitals_pack(T0 + timedelta(seconds=n)))),
        1: (obs_topic(ROOT, "site-a", device), b'[{"n":"heart-rate","v":"fast"}]'),
        2: (status_topic(ROOT, "site-a", device), orjson.dumps({"online": True, "battery_percent": 50})),
        3: (rescore_topic(ROOT), orjson.dumps({"patient_ids": [f"p{n}"]})),
        4: ("elsewhere/obs/x", b"[]"),
    }[kind]
    return RawMessage(topic, payload, mid=n + 1, qos=1, retain=False, received_at=T0.timestamp() + n)


@settings(max_examples=50, deadline=None)
@given(kinds=st.lists(st.integers(0, 4), max_size=40), chunk=st.integers(1, 12))
def test_chunks_parse_to_the_same_batch_as_the_whole(kinds: list[int], chunk: int) -> None:
    messages = [_message(kind, n) for n, kind in enumerate(kinds)]

    chunked = asyncio.run(parse_batch_in_chunks(messages, root=ROOT, limits=LIMITS, chunk=chunk))

    assert chunked == parse_batch(messages, root=ROOT, limits=LIMITS)


async def test_other_tasks_run_between_chunks() -> None:
    """The point of chunks: a commit in flight reads its answers while a big batch is parsed."""
    messages = [_message(0, n) for n in range(100)]
    turns: list[float] = []

    async def other_task() -> None:
        while True:
            turns.append(time.perf_counter())
            await asyncio.sleep(0)

    other = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    before = len(turns)
    parsed = await parse_batch_in_chunks(messages, root=ROOT, limits=LIMITS, chunk=10)
    during = len(turns) - before
    other.cancel()

    assert sum(len(pack.candidates) for pack in parsed.packs) == 100 * 5
    assert during >= 9  # a turn between each two of the ten chunks
