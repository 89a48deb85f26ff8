"""A scoring cycle's events of a ward with many patients travel as one `batch` event (a publish and a PUBACK instead
of one per event); a ward with few keeps one event per message, as integrations have always read them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from core.events import BATCH_MIN_EVENTS, BatchEvent, ReadingsEvent, ScoreEvent, decode_event
from core.settings import Settings
from core.store.sqlite import SqliteStore
from core.types import CareSetting, Parameter, Patient, Reading, Site, SiteKind, Stay, Ward
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from tests.ingest.test_live_scoring_fatigue import CALM

T0 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
BIG_WARD_BEDS = BATCH_MIN_EVENTS  # each patient makes a readings and a score event: twice the batch threshold


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    sqlite = SqliteStore(tmp_path / "vaktrom.db")
    await sqlite.open()
    await sqlite.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    await sqlite.upsert_ward(Ward("big", "s1", "Senger"))
    await sqlite.upsert_ward(Ward("small", "s1", "Skjermet"))
    beds = [(f"p{n}", "big") for n in range(BIG_WARD_BEDS)] + [("q1", "small")]
    for patient_id, ward_id in beds:
        await sqlite.upsert_patient(Patient(patient_id, f"Pasient {patient_id}"))
        await sqlite.add_stay(
            Stay(f"st-{patient_id}", patient_id, ward_id, CareSetting.BEDSIDE, T0 - timedelta(days=1), bed_id=None)
        )
    yield sqlite
    await sqlite.close()


async def test_a_cycle_publishes_a_big_wards_events_as_one_batch_and_a_small_wards_one_by_one(
    store: SqliteStore,
) -> None:
    published: list[tuple[str, bytes]] = []
    metrics = IngestMetrics()
    publisher = EventPublisher(lambda t, p: published.append((t, p)), root="t", store=store, metrics=metrics)
    scorer = LiveScorer(store, Settings(), publisher, metrics, clock=lambda: T0)
    readings = [
        Reading(f"mon-{patient_id}", patient_id, parameter, value, T0, T0)
        for patient_id in [*(f"p{n}" for n in range(BIG_WARD_BEDS)), "q1"]
        for parameter, value in CALM.items()
    ]
    readings += [Reading(f"mon-{r.patient_id}", r.patient_id, Parameter.SPO2, 97.0, T0, T0) for r in readings[:1]]
    await store.append(readings, [])
    scorer.add_readings(readings)
    await scorer.score_pending()

    topics = [topic for topic, _ in published]
    assert topics == ["t/events/s1/big/batch", "t/events/s1/small/readings", "t/events/s1/small/score"]
    batch = decode_event(published[0][1])
    assert isinstance(batch, BatchEvent) and batch.at == T0
    assert [(type(e).__name__, e.patient_id) for e in batch.events] == [
        (kind, f"p{n}") for n in range(BIG_WARD_BEDS) for kind in ("ReadingsEvent", "ScoreEvent")
    ]
    assert all(isinstance(e, ReadingsEvent | ScoreEvent) and e.ward_id == "big" for e in batch.events)
    assert metrics.events_published == 3


def test_a_batch_carrying_another_wards_event_is_refused() -> None:
    event = ReadingsEvent(site_id="s1", ward_id="other", at=T0, patient_id="p1", bed_id=None, values=[])
    forged = {"type": "batch", "site_id": "s1", "ward_id": "big", "at": T0, "events": [event.model_dump()]}
    with pytest.raises(ValidationError, match="an event of site s1, ward other in a batch of site s1, ward big"):
        decode_event(orjson.dumps(forged))
