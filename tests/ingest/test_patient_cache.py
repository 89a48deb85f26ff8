"""A rescore request makes the next scoring cycle use the patient's setting as it is now, even when it arrives while
the worker is reading the old one from the store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from core.types import SpO2Scale
from ingest.patient_cache import PatientCache

T0 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


async def test_a_scale_change_heard_while_the_old_scale_was_being_read_is_used_at_the_next_cycle() -> None:
    in_store = {"p1": SpO2Scale.SCALE_2}
    read, answer = asyncio.Event(), asyncio.Event()

    async def fetch(patient_ids: Sequence[str]) -> dict[str, SpO2Scale]:
        found = {p: in_store[p] for p in patient_ids}  # the query's snapshot
        read.set()
        await answer.wait()  # its answer still on the way back
        return found

    cache = PatientCache(fetch, default=SpO2Scale.SCALE_1, ttl_s=60.0)
    cycle = asyncio.create_task(cache.get(["p1"], T0))
    await read.wait()
    in_store["p1"] = SpO2Scale.SCALE_1  # the doctor takes her off scale 2
    cache.forget(["p1"])  # and the API's rescore request arrives
    answer.set()

    assert await cycle == {"p1": SpO2Scale.SCALE_2}  # that cycle had read the store before the change
    assert await cache.get(["p1"], T0 + timedelta(seconds=1)) == {"p1": SpO2Scale.SCALE_1}
