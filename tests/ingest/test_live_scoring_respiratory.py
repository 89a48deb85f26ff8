"""The live scorer watching an opioid patient on continuous monitoring, on a fake clock and a real store: a
respiration rate or SpO2 at PRODIGY's levels held for 30 s opens a high alert of its own; a brief dip does not;
a patient without an opioid flag gets NEWS2 only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from core.care_flags import CareFlag, CareFlagChange
from core.settings import Settings
from core.store.sqlite import SqliteStore
from core.types import AlertKind, AlertPriority, CareSetting, Patient, Site, SiteKind, Stay, Ward
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from tests.ingest.test_live_scoring_fatigue import CALM, T0, Unit


async def _unit(tmp_path: Path, flags: tuple[CareFlag, ...]) -> tuple[Unit, SqliteStore]:
    store = SqliteStore(tmp_path / "vaktrom.db")
    await store.open()
    await store.upsert_site(Site("s1", "KAD Hammerfest", SiteKind.KAD))
    await store.upsert_ward(Ward("w1", "s1", "KAD"))
    await store.upsert_patient(Patient("p1", "Test Pasient"))
    await store.add_stay(Stay("st1", "p1", "w1", CareSetting.BEDSIDE, T0 - timedelta(days=1), bed_id="b1"))
    changes = [
        CareFlagChange("p1", flag, True, "LAR, metadon 90 mg", "dr.lund", T0 - timedelta(days=1)) for flag in flags
    ]
    await store.set_care_flags(changes)
    events: list[dict[str, object]] = []
    metrics = IngestMetrics()
    publisher = EventPublisher(lambda _t, p: events.append(orjson.loads(p)), root="t", store=store, metrics=metrics)
    unit = Unit(store, LiveScorer(store, Settings(), publisher, metrics, clock=lambda: unit.now), events)
    await unit.reading(0, **{p.value: v for p, v in CALM.items()}, spo2=97)
    return unit, store


@pytest.fixture
async def on_lar(tmp_path: Path) -> AsyncIterator[Unit]:
    unit, store = await _unit(tmp_path, (CareFlag.OPIOID_AGONIST_TREATMENT,))
    yield unit
    await store.close()


async def _respiratory(unit: Unit) -> list[tuple[AlertPriority, float]]:
    alerts = await unit.store.list_alerts(patient_ids=["p1"], kinds=[AlertKind.RESPIRATORY_DEPRESSION])
    return [(a.priority, (a.opened_at - T0).total_seconds()) for a in alerts]


async def test_a_respiration_rate_of_4_held_for_30_s_opens_a_high_alert_at_30_s(on_lar: Unit) -> None:
    for at_s in range(1, 31, 5):
        await on_lar.reading(at_s, resp_rate=4)
        assert await _respiratory(on_lar) == []  # not sustained yet
    await on_lar.reading(31, resp_rate=4)

    assert await _respiratory(on_lar) == [(AlertPriority.HIGH, 31.0)]
    (alert,) = await on_lar.store.list_alerts(patient_ids=["p1"], kinds=[AlertKind.RESPIRATORY_DEPRESSION])
    assert "respiration rate 4/min" in alert.message and "on opioid agonist treatment" in alert.message


async def test_a_falling_spo2_alone_raises_it_too(on_lar: Unit) -> None:
    await on_lar.reading(1, spo2=84)
    await on_lar.reading(32, spo2=83)

    assert await _respiratory(on_lar) == [(AlertPriority.HIGH, 32.0)]


async def test_a_brief_dip_that_recovers_raises_nothing(on_lar: Unit) -> None:
    await on_lar.reading(1, resp_rate=4)
    await on_lar.reading(10, resp_rate=14)
    await on_lar.reading(40, resp_rate=14)

    assert await _respiratory(on_lar) == []


async def test_a_patient_without_an_opioid_flag_gets_news2_only(tmp_path: Path) -> None:
    unit, store = await _unit(tmp_path, (CareFlag.ALCOHOL_WITHDRAWAL,))
    try:
        await unit.reading(1, resp_rate=4)
        await unit.reading(40, resp_rate=4)

        assert await _respiratory(unit) == []
        assert [a.kind for a in await store.list_alerts(patient_ids=["p1"])] == [AlertKind.NEWS2]
    finally:
        await store.close()
