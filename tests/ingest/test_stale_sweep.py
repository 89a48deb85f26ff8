"""A monitor unplugged sends nothing, so nothing re-scores its patient: the sweep finds scores that counted values
now older than their max age and has them scored again, incomplete and naming what is missing. Before, the last
score stayed "complete" on the ward board for as long as nothing came (NEWS2.md: a partial score is never shown as
complete). Real SQLite store, fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.settings import DEFAULT_MAX_AGE_S, Settings
from core.store import Store
from core.store.sqlite import SqliteStore
from core.types import Bed, CareSetting, Parameter, Patient, Reading, Site, SiteKind, Ward
from ingest import stale_sweep
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from ingest.stale_sweep import patients_scored_on_stale_values

T0 = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
MONITOR = {Parameter.RESP_RATE: 16.0, Parameter.SPO2: 97.0, Parameter.PULSE: 80.0, Parameter.SYSTOLIC_BP: 124.0}
ROUND = {Parameter.TEMPERATURE: 37.0, Parameter.CONSCIOUSNESS: 0.0, Parameter.SUPPLEMENTAL_O2: 0.0}  # charted
SPO2_MAX_AGE_S = DEFAULT_MAX_AGE_S[CareSetting.BEDSIDE][Parameter.SPO2]


@dataclass
class Unit:
    store: SqliteStore
    scorer: LiveScorer
    settings: Settings
    now: datetime = T0

    async def measured(self, values: dict[Parameter, float], device: str = "mon-1") -> None:
        readings = [Reading(device, "p1", p, v, self.now, self.now) for p, v in values.items()]
        await self.store.append(readings, [])
        self.scorer.add_readings(readings)
        await self.scorer.score_pending()

    async def sweep(self) -> list[str]:
        return await patients_scored_on_stale_values(self.store, self.settings, self.now)


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[Unit]:
    """p1 in bed 1 of ward w1, a complete NEWS2 0 at T0 (the monitor's values and the nurse's round)."""
    store = SqliteStore(tmp_path / "vaktrom.db")
    await store.open()
    await store.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("w1", "s1", "Senger"))
    await store.upsert_bed(Bed("b1", "w1", "Seng 1"))
    await store.upsert_patient(Patient("p1", "Test Pasient"))
    await store.admit(patient_id="p1", bed_id="b1", stay_id="st1", at=T0 - timedelta(days=1))
    settings = Settings()
    holder: list[Unit] = []
    metrics = IngestMetrics()
    publisher = EventPublisher(lambda topic, payload: None, root="t", store=store, metrics=metrics)
    scorer = LiveScorer(store, settings, publisher, metrics, clock=lambda: holder[0].now)
    holder.append(Unit(store, scorer, settings))
    await holder[0].measured(MONITOR | ROUND, device="nurse")
    yield holder[0]
    await store.close()


async def test_a_score_whose_monitor_went_quiet_is_found_and_scored_again_incomplete(unit: Unit) -> None:
    assert (await unit.store.current_scores(["p1"]))["p1"].complete
    unit.now = T0 + timedelta(seconds=SPO2_MAX_AGE_S)  # SpO2 exactly at its max age: still counts
    assert await unit.sweep() == []

    unit.now = T0 + timedelta(seconds=SPO2_MAX_AGE_S + 1)
    assert await unit.sweep() == ["p1"]
    unit.scorer.add_patients(await unit.sweep())
    await unit.scorer.score_pending()

    score = (await unit.store.current_scores(["p1"]))["p1"]
    assert not score.complete and Parameter.SPO2 in score.missing
    assert await unit.sweep() == []  # scored on what is fresh now: nothing to do until the next value goes stale


async def test_a_patient_measured_on_time_is_never_swept(unit: Unit) -> None:
    for minute in range(1, 31):
        unit.now = T0 + timedelta(minutes=minute)
        await unit.measured(MONITOR)
        assert await unit.sweep() == []


async def test_a_discharged_patient_is_not_swept(unit: Unit) -> None:
    await unit.store.discharge(patient_id="p1", at=T0 + timedelta(minutes=1))
    unit.now = T0 + timedelta(hours=2)
    assert await unit.sweep() == []


async def test_the_running_sweep_hands_the_stale_patients_to_the_scorer(
    unit: Unit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ingest runs beside its scorer (ingest/service.py): the store is swept on a period, no reading needed."""
    monkeypatch.setattr(stale_sweep, "STALE_SWEEP_S", 0.01)
    unit.now = T0 + timedelta(hours=1)
    handed: asyncio.Queue[list[str]] = asyncio.Queue()

    def rescore(ids: Iterable[str]) -> None:
        handed.put_nowait(list(ids))

    sweeping = asyncio.create_task(stale_sweep.run_stale_sweep(unit.store, unit.settings, rescore, lambda: unit.now))
    try:
        async with asyncio.timeout(5):
            assert await handed.get() == ["p1"]
    finally:
        sweeping.cancel()


async def test_the_running_sweep_outlives_an_unexpected_failure(
    unit: Unit, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The sweep runs in ingest's task group: a failure it does not expect must cost one sweep, not the worker."""
    monkeypatch.setattr(stale_sweep, "STALE_SWEEP_S", 0.01)
    unit.now = T0 + timedelta(hours=1)
    sweep, failures = stale_sweep.patients_scored_on_stale_values, [RuntimeError("a stored value nobody foresaw")]

    async def failing_once(store: Store, settings: Settings, now: datetime) -> list[str]:
        if failures:
            raise failures.pop()
        return await sweep(store, settings, now)

    monkeypatch.setattr(stale_sweep, "patients_scored_on_stale_values", failing_once)
    handed: asyncio.Queue[list[str]] = asyncio.Queue()
    sweeping = asyncio.create_task(
        stale_sweep.run_stale_sweep(
            unit.store, unit.settings, lambda ids: handed.put_nowait(list(ids)), lambda: unit.now
        )
    )
    try:
        async with asyncio.timeout(5):
            assert await handed.get() == ["p1"]
    finally:
        sweeping.cancel()
    assert "Unexpected failure in the stale-score sweep" in caplog.text
