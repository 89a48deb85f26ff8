"""The live scorer with the fatigue controls, on a fake clock and a real store: a single 3 at the bedside opens its
alert only after the confirmation delay, a COPD patient's own SpO2 limits replace the single-3 alert with her own,
and NEWS2 >= 7 opens at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from core.settings import Settings
from core.store.sqlite import SqliteStore
from core.types import (
    AlertKind,
    AlertSeverity,
    CareSetting,
    Parameter,
    Patient,
    PatientLimit,
    Reading,
    Site,
    SiteKind,
    Stay,
    Ward,
)
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher

T0 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
# NEWS2 0 on every parameter but SpO2 (scale 1): 90 % scores 3 (a single 3), 86 % too.
CALM = {
    Parameter.RESP_RATE: 16.0,
    Parameter.PULSE: 80.0,
    Parameter.SYSTOLIC_BP: 124.0,
    Parameter.TEMPERATURE: 37.0,
    Parameter.CONSCIOUSNESS: 0.0,
    Parameter.SUPPLEMENTAL_O2: 0.0,
}


class Unit:
    def __init__(self, store: SqliteStore, scorer: LiveScorer, events: list[dict[str, object]]) -> None:
        self.store, self.scorer, self.events, self.now = store, scorer, events, T0

    async def reading(self, at_s: float, **values: float) -> None:
        """One pack from the monitor `at_s` seconds after T0, scored at once as ingest does."""
        self.now = T0 + timedelta(seconds=at_s)
        readings = [
            Reading("mon-1", "p1", Parameter(name), value, self.now, self.now) for name, value in values.items()
        ]
        await self.store.append(readings, [])
        self.scorer.add_readings(readings)
        await self.scorer.score_pending()

    async def alerts(self) -> list[tuple[AlertKind, AlertSeverity, datetime]]:
        return [(a.kind, a.severity, a.opened_at) for a in await self.store.list_alerts(patient_ids=["p1"])]


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[Unit]:
    store = SqliteStore(tmp_path / "vaktrom.db")
    await store.open()
    await store.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("w1", "s1", "Senger"))
    await store.upsert_patient(Patient("p1", "Test Pasient"))
    await store.add_stay(Stay("st1", "p1", "w1", CareSetting.BEDSIDE, T0 - timedelta(days=1), bed_id="b1"))
    events: list[dict[str, object]] = []
    metrics = IngestMetrics()
    publisher = EventPublisher(
        lambda _t, payload: events.append(orjson.loads(payload)), root="t", store=store, metrics=metrics
    )
    unit = Unit(store, LiveScorer(store, Settings(), publisher, metrics, clock=lambda: unit.now), events)
    await unit.reading(0, **{p.value: v for p, v in CALM.items()})
    yield unit
    await store.close()


def _alert_events(unit: Unit) -> list[tuple[object, object]]:
    return [(e["kind"], e["phase"]) for e in unit.events if e["type"] == "alert"]


async def test_a_single_3_opens_its_alert_only_after_the_delay(unit: Unit) -> None:
    await unit.reading(1, spo2=90)
    await unit.reading(11, spo2=90)
    assert await unit.alerts() == []
    await unit.reading(21, spo2=90)
    assert await unit.alerts() == [(AlertKind.NEWS2, AlertSeverity.LOW_MEDIUM, T0 + timedelta(seconds=21))]
    assert _alert_events(unit) == [("news2", "opened")]


async def test_a_15_s_motion_artefact_opens_nothing(unit: Unit) -> None:
    for s in range(1, 16):
        await unit.reading(s, spo2=84)
    for s in range(16, 60):
        await unit.reading(s, spo2=97)
    assert await unit.alerts() == []
    assert await unit.store.pending_alerts(patient_ids=["p1"]) == []


async def test_news2_7_opens_at_once(unit: Unit) -> None:
    await unit.reading(1, spo2=90, resp_rate=26, pulse=112)  # SpO2 3, RR 3, pulse 2: 8
    assert await unit.alerts() == [(AlertKind.NEWS2, AlertSeverity.HIGH, T0 + timedelta(seconds=1))]


async def test_copd_within_her_own_limits_raises_nothing_and_below_them_her_own_alert(unit: Unit) -> None:
    limit = PatientLimit("p1", Parameter.SPO2, 88.0, 92.0, "KOLS, lever på 88-92", "dr-berg", T0)
    await unit.store.set_patient_limits([limit])
    unit.scorer.add_patients(["p1"], refresh_scale=True)  # what the API's rescore request does
    for s in range(1, 40):
        await unit.reading(s, spo2=90)
    assert await unit.alerts() == []

    for s in range(40, 61):
        await unit.reading(s, spo2=86)
    assert await unit.alerts() == [
        (AlertKind.PATIENT_LIMIT, AlertSeverity.LOW_MEDIUM, T0 + timedelta(seconds=60)),
        (AlertKind.NEWS2, AlertSeverity.LOW_MEDIUM, T0 + timedelta(seconds=60)),
    ]
