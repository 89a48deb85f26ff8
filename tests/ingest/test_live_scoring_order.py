"""The ward sees a cycle's readings and scores before the cycle's writes (alert decisions, saved scores): a store
that stalls or fails on those does not hold the live values back, and nothing is lost when it does fail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import StorageUnavailable
from core.events import ReadingsEvent, ScoreEvent, decode_event
from core.settings import Settings
from core.store.sqlite import SqliteStore
from core.types import Alert, CareSetting, Parameter, Patient, Reading, Site, SiteKind, Stay, Ward
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from tests.ingest.test_live_scoring_fatigue import CALM

T0 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


class AlertTablesDown(SqliteStore):
    """The alert tables fail (a disk error on their file group) while the rest of the store answers."""

    failing = True

    async def list_alerts(self, *args: Any, **kwargs: Any) -> list[Alert]:
        if self.failing:
            raise StorageUnavailable("alerts: disk I/O error")
        return await super().list_alerts(*args, **kwargs)

    async def patients_with_unresolved(self, *args: Any, **kwargs: Any) -> set[str]:
        if self.failing:
            raise StorageUnavailable("alerts: disk I/O error")
        return await super().patients_with_unresolved(*args, **kwargs)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AlertTablesDown]:
    sqlite = AlertTablesDown(tmp_path / "vaktrom.db")
    await sqlite.open()
    await sqlite.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    await sqlite.upsert_ward(Ward("w1", "s1", "Senger"))
    await sqlite.upsert_patient(Patient("p1", "Per"))
    await sqlite.add_stay(Stay("st-p1", "p1", "w1", CareSetting.BEDSIDE, T0 - timedelta(days=1), bed_id="b1"))
    yield sqlite
    await sqlite.close()


def _events(published: Sequence[tuple[str, bytes]]) -> list[str]:
    return [type(decode_event(payload)).__name__ for _, payload in published]


async def test_readings_and_score_reach_the_ward_while_the_alert_tables_fail_and_are_scored_again(
    store: AlertTablesDown,
) -> None:
    published: list[tuple[str, bytes]] = []
    metrics = IngestMetrics()
    publisher = EventPublisher(lambda t, p: published.append((t, p)), root="t", store=store, metrics=metrics)
    scorer = LiveScorer(store, Settings(), publisher, metrics, clock=lambda: T0)
    readings = [Reading("mon-1", "p1", parameter, value, T0, T0) for parameter, value in CALM.items()]
    readings.append(Reading("mon-1", "p1", Parameter.SPO2, 97.0, T0, T0))
    await store.append(readings, [])
    scorer.add_readings(readings)

    await scorer.score_pending()  # the alert decision fails

    assert _events(published) == [ReadingsEvent.__name__, ScoreEvent.__name__]
    shown = decode_event(published[0][1])
    assert isinstance(shown, ReadingsEvent) and {v.parameter for v in shown.values} == {r.parameter for r in readings}
    assert await store.patients_behind_scoring() == ["p1"]  # no score saved: a restart would re-score her
    assert scorer.backlog == 1  # and this process scores her again

    store.failing = False
    await scorer.score_pending()

    assert _events(published)[2:] == [ReadingsEvent.__name__, ScoreEvent.__name__]  # re-sent, now saved
    assert await store.patients_behind_scoring() == []
