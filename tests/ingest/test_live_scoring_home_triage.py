"""The live scorer triaging a COPD patient at home by her personal thresholds, on a fake clock and a real store: a
yellow SpO2 opens one worklist item, a red one raises it, a green one changes nothing, and scoring the same stored
values again (a redelivery or a restart's rescore) opens nothing more. NEWS2 is still computed and alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from core.homecare import VkpCode, WorklistKind, WorklistState
from core.settings import Settings
from core.store.sqlite import SqliteStore
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import AlertKind, CareSetting, Parameter, Patient, Site, SiteKind, Stay, Ward
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from tests.ingest.test_live_scoring_fatigue import T0, Unit

R, Y, G = TriageColour.RED, TriageColour.YELLOW, TriageColour.GREEN
COPD = ThresholdSet(
    "p1",
    (
        MeasurementThresholds(
            Parameter.SPO2,
            (
                ThresholdBand(R, None, 85),
                ThresholdBand(Y, 85, 88),
                ThresholdBand(G, 88, 93),
                ThresholdBand(Y, 93, None),
            ),
        ),
    ),
    "KOLS, mål 88-92 %",
    "dr.lund",
    T0 - timedelta(days=1),
)


@pytest.fixture
async def at_home(tmp_path: Path) -> AsyncIterator[Unit]:
    store = SqliteStore(tmp_path / "vaktrom.db")
    await store.open()
    await store.upsert_site(Site("hjemme", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("dho", "hjemme", "DHO"))
    await store.upsert_patient(Patient("p1", "Kari Hjemme"))
    await store.add_stay(Stay("st1", "p1", "dho", CareSetting.HOME, T0 - timedelta(days=30)))
    await store.set_thresholds(COPD)
    events: list[dict[str, object]] = []
    metrics = IngestMetrics()
    publisher = EventPublisher(lambda _t, p: events.append(orjson.loads(p)), root="t", store=store, metrics=metrics)
    unit = Unit(store, LiveScorer(store, Settings(), publisher, metrics, clock=lambda: unit.now), events)
    yield unit
    await store.close()


async def _items(unit: Unit) -> list[tuple[TriageColour | None, list[float]]]:
    items = await unit.store.worklist("hjemme", states=[WorklistState.OPEN])
    return [(i.triage_colour, [r.value for r in i.implicated]) for i in items]


async def test_her_target_spo2_of_90_raises_no_item_though_news2_scores_it_3(at_home: Unit) -> None:
    await at_home.reading(0, spo2=90, pulse=80)

    assert await _items(at_home) == []
    assert [a.kind for a in await at_home.store.list_alerts(patient_ids=["p1"])] == [AlertKind.NEWS2]


async def test_a_yellow_spo2_opens_an_item_and_a_red_one_raises_it(at_home: Unit) -> None:
    await at_home.reading(0, spo2=87)
    [item] = await at_home.store.worklist("hjemme", states=[WorklistState.OPEN])
    assert (item.kind, item.vkp_code, item.parameter) == (
        WorklistKind.THRESHOLD_BREACH, VkpCode.MEASUREMENT_REPORTED, Parameter.SPO2,
    )  # fmt: skip

    await at_home.reading(3600, spo2=83)
    await at_home.reading(7200, spo2=90)  # back in her green band: the item stays for the coordinator

    assert await _items(at_home) == [(R, [87, 83])]


async def test_scoring_the_same_stored_values_again_opens_nothing_more(at_home: Unit) -> None:
    await at_home.reading(0, spo2=86)
    at_home.scorer.add_patients(["p1"], refresh_scale=True)  # a restart's rescore, or the thresholds API's request
    await at_home.scorer.score_pending()
    await at_home.reading(60, pulse=82)  # another measurement: SpO2 86 is still the latest value

    assert await _items(at_home) == [(Y, [86])]
