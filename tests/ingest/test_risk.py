"""The ML risk task: patients falling due close together are assessed as one chunk; a full chunk never waits; chunks
are paced (more slowly while ingest catches up a backlog), never stopped."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

import ingest.risk
from core.events import BatchEvent, decode_event
from core.store import Store
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import RiskAssessment, RiskLevel, Stay
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from ingest.risk import RISK_CHUNK, RiskStep
from tests.ingest.conftest import SITE, WARD, seed_ward, wait_until


class _RecordingAssessor:
    """Answers "low" for every patient and records which patients each call was asked about, and when."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.called_at: list[float] = []

    async def __call__(self, store: Store, patient_ids: Sequence[str], now: datetime) -> list[RiskAssessment]:
        self.calls.append(list(patient_ids))
        self.called_at.append(time.monotonic())
        return [RiskAssessment(p, now, 0.01, RiskLevel.LOW, (), "test") for p in patient_ids]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "vaktrom.sqlite3")
    await store.open()
    yield store
    await store.close()


@contextlib.asynccontextmanager
async def _running_step(
    store: Store,
    assessor: _RecordingAssessor,
    published: list[str],
    *,
    behind: Callable[[], bool] = lambda: False,
    messages: list[str] | None = None,
) -> AsyncIterator[RiskStep]:
    """A RiskStep with its task running, stopped (and awaited) afterwards. `published` gets a topic per event (the
    events of a batch as if sent alone), `messages` each message's topic."""

    def record(topic: str, payload: bytes) -> None:
        if messages is not None:
            messages.append(topic)
        event = decode_event(payload)
        for one in event.events if isinstance(event, BatchEvent) else [event]:
            published.append(events_topic("t", one.site_id, one.ward_id, one.type))

    publisher = EventPublisher(record, root="t", store=store, metrics=IngestMetrics())
    step = RiskStep(assessor, store=store, publisher=publisher, min_interval_s=60, behind=behind)
    task = asyncio.create_task(step.run(), name="test-risk")
    try:
        yield step
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _stays(store: Store, patient_ids: list[str]) -> dict[str, Stay]:
    return await store.stays_of_patients(patient_ids, at=datetime.now(UTC))


async def test_patients_falling_due_within_the_gather_time_are_assessed_together(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest.risk, "GATHER_S", 0.5)
    await seed_ward(store, patients=3)
    patient_ids = [f"p-{n}" for n in range(1, 4)]
    stays = await _stays(store, patient_ids)
    assessor, published = _RecordingAssessor(), []
    async with _running_step(store, assessor, published) as step:
        for patient_id in patient_ids:  # as three scoring cycles would, a moment apart
            step.submit([patient_id], stays, datetime.now(UTC))
            await asyncio.sleep(0.05)
        await wait_until(lambda: len(published) == len(patient_ids), what="three risk events")
    assert assessor.calls == [patient_ids]  # one chunk, not three
    assert published == [events_topic("t", SITE, WARD, "risk")] * 3
    assert set((await store.current_risks(patient_ids)).keys()) == set(patient_ids)


async def test_a_full_chunk_is_assessed_without_waiting(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest.risk, "GATHER_S", 3600.0)  # would time the test out if a full chunk waited
    await seed_ward(store, patients=RISK_CHUNK + 5)
    patient_ids = [f"p-{n}" for n in range(1, RISK_CHUNK + 6)]
    stays = await _stays(store, patient_ids)
    assessor, published, messages = _RecordingAssessor(), [], []
    async with _running_step(store, assessor, published, messages=messages) as step:
        step.submit(patient_ids, stays, datetime.now(UTC))
        await wait_until(lambda: len(published) == len(patient_ids), what="a risk event per patient")
        assert step.backlog == 0
    assert [len(call) for call in assessor.calls] == [RISK_CHUNK, 5]
    # The full chunk's risks reach the ward as one batch (one message to every dashboard), the 5 one by one.
    assert messages == [events_topic("t", SITE, WARD, "batch")] + [events_topic("t", SITE, WARD, "risk")] * 5
    assert [p for call in assessor.calls for p in call] == patient_ids  # oldest first, each once


async def test_while_ingest_is_behind_chunks_are_paced_and_everyone_is_still_assessed(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest.risk, "CATCH_UP_CHUNK_EVERY_S", 2.0)
    await seed_ward(store, patients=RISK_CHUNK + 5)
    patient_ids = [f"p-{n}" for n in range(1, RISK_CHUNK + 6)]
    stays = await _stays(store, patient_ids)
    assessor, published = _RecordingAssessor(), []
    async with _running_step(store, assessor, published, behind=lambda: True) as step:
        step.submit(patient_ids, stays, datetime.now(UTC))
        await wait_until(lambda: len(published) >= RISK_CHUNK, what="the first chunk's risk events")
        await asyncio.sleep(0.3)
        assert len(published) == RISK_CHUNK  # the next chunk waits its turn: ingest gets the CPU
        await wait_until(lambda: len(published) == len(patient_ids), what="the rest, a pace later")
    assert [len(call) for call in assessor.calls] == [RISK_CHUNK, 5]


async def test_a_whole_unit_falling_due_at_once_is_assessed_a_chunk_at_a_time_paced(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest.risk, "CHUNK_EVERY_S", 0.3)
    await seed_ward(store, patients=3 * RISK_CHUNK)
    patient_ids = [f"p-{n}" for n in range(1, 3 * RISK_CHUNK + 1)]
    stays = await _stays(store, patient_ids)
    assessor, published = _RecordingAssessor(), []
    async with _running_step(store, assessor, published) as step:
        step.submit(patient_ids, stays, datetime.now(UTC))  # as after a restart: everyone due in one cycle
        await wait_until(lambda: len(published) == len(patient_ids), what="a risk event per patient")
    assert [len(call) for call in assessor.calls] == [RISK_CHUNK] * 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(assessor.called_at)]
    assert min(gaps) >= 0.25  # not back to back: the loop stays free for ingest between chunks
