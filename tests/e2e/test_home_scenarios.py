"""Must show (issue 12): the home scenarios end to end, days in seconds. The simulator's kit publishes each spot check
(SenML dated on a fake clock that runs from about a week ago) to a real Mosquitto; the real ingest pipeline on that
clock stores, scores and triages it in PostgreSQL, and its plan timers check the windows as the clock passes them.

- COPD exacerbation at home: NEWS2 on her scale 2 stays quiet while SpO2 is in her 88-92 % target and alerts as she
  leaves it on day 3 (scale 1 would have alerted at her first check); her personal thresholds open a threshold
  breach on the worklist as SpO2 leaves the green band and raise it to red.
- A home patient who stops measuring: a missed-measurement item (VKP 5.3.2) for the first window she leaves empty,
  then, once her plan's period passes without a reading, an inactive-patient item (5.3); her FACT team gets an
  outreach task for each."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.plans import first_timers
from alerts.triage import validate_thresholds
from core.homecare import MeasurementPlan, PlanItem, VkpCode, WorklistItem, WorklistKind, WorklistState
from core.outreach import OutreachState, Team
from core.store import Store
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import AlertKind, AlertSeverity, CareTeamRole, Parameter, SpO2Scale, SpO2ScaleDecision
from devices.scenarios_home import MeasuringHabit, check_times, copd_home_exacerbation_scenario
from devices.simulator import UnitSimulator
from tests.e2e.fake_time import FakeClock, playing
from tests.e2e.scenario_unit import join_team, scenario_unit, seed, seeded_since
from tests.fixtures.mosquitto import MosquittoBroker
from tests.ingest.conftest import wait_until

pytestmark = pytest.mark.integration
logger = logging.getLogger(__name__)

OSLO = ZoneInfo("Europe/Oslo")
PLAN_TIMES = (time(8), time(20))
DAY = timedelta(days=1)


def _local_midnight_days_ago(days: int) -> datetime:
    """Midnight in Oslo `days` ago: the fake clock's start, so scenario day n is calendar day n."""
    day = (datetime.now(UTC) - timedelta(days=days)).astimezone(OSLO).date()
    return datetime.combine(day, time(0), OSLO).astimezone(UTC)


@pytest.fixture
async def unit_of_one(pg_store: Store) -> AsyncIterator[tuple[Store, str]]:
    unit = scenario_unit(homes=1)
    await seed(pg_store, unit, since=seeded_since(datetime.now(UTC)))
    yield pg_store, unit.home_patients[0].patient_id


# Her doctor's bands (BTS target 88-92 % for a patient at risk of hypercapnic failure): green 88-92, yellow 87 or
# 93-94, orange 85-86 or 95+, red below 85.
COPD_SPO2_BANDS = (
    ThresholdBand(TriageColour.RED, None, 85),
    ThresholdBand(TriageColour.ORANGE, 85, 87),
    ThresholdBand(TriageColour.YELLOW, 87, 88),
    ThresholdBand(TriageColour.GREEN, 88, 93),
    ThresholdBand(TriageColour.YELLOW, 93, 95),
    ThresholdBand(TriageColour.ORANGE, 95, None),
)


@pytest.mark.timeout(180)
async def test_copd_exacerbation_alerts_on_scale_2_as_spo2_leaves_her_target_and_opens_a_breach(
    unit_of_one: tuple[Store, str], mosquitto: MosquittoBroker, unique_topic_root: str
) -> None:
    store, patient = unit_of_one
    unit = scenario_unit(homes=1)
    start = _local_midnight_days_ago(6)
    await store.set_spo2_scale(SpO2ScaleDecision(patient, SpO2Scale.SCALE_2, "dr-lunge", start - DAY))
    spo2 = MeasurementThresholds(Parameter.SPO2, COPD_SPO2_BANDS)
    target = ThresholdSet(patient, (spo2,), "KOLS, mål 88-92 %", "dr-lunge", start - DAY)
    await store.set_thresholds(validate_thresholds(target))
    habit = MeasuringHabit(PLAN_TIMES)
    simulator = UnitSimulator(
        unit, unique_topic_root, started_at=start, seed=21, scenarios={patient: copd_home_exacerbation_scenario()},
        habits={patient: habit},
    )  # fmt: skip
    clock = FakeClock(start)
    checks = check_times(habit, start=start, until=start + 4 * DAY + timedelta(hours=12))
    assert len(checks) == 9
    async with playing(simulator, store, clock, mqtt_url=mosquitto.url(), topic_root=unique_topic_root) as player:
        await player.play(checks, patient_ids=[patient])

    scores = await store.score_history(patient, since=start, until=checks[-1])
    assert [s.computed_at for s in scores] == checks
    assert all(s.spo2_scale is SpO2Scale.SCALE_2 for s in scores)
    assert max(s.total for s in scores if s.computed_at < start + 2 * DAY) <= 3  # scale 1: 5 at her first check
    (alert,) = await store.list_alerts(patient_ids=[patient], kinds=[AlertKind.NEWS2])
    first_medium = next(s for s in scores if s.total >= 5)
    assert alert.opened_at == first_medium.computed_at
    assert start + 2 * DAY < alert.opened_at < start + 3 * DAY  # as she leaves her target, on day 3
    assert alert.severity is AlertSeverity.HIGH  # raised in place as NEWS2 reached 7
    logger.info(
        "COPD: NEWS2 (scale 2) per check %s; alert opened at day %.2f",
        [s.total for s in scores], (alert.opened_at - start) / DAY,
    )  # fmt: skip

    (item,) = await _items(store, unit.home_site_id, WorklistKind.THRESHOLD_BREACH)
    assert item.patient_id == patient and item.triage_colour is TriageColour.RED  # SpO2 below 85 by day 4
    # Green (88-92 %) on her first two days: the first reading out of it is on day 3.
    assert start + 2 * DAY < item.implicated[0].measured_at < start + 3 * DAY
    logger.info(
        "COPD: breach %s, readings %s from day %.2f",
        item.triage_colour, [r.value for r in item.implicated], (item.implicated[0].measured_at - start) / DAY,
    )  # fmt: skip
    assert item.implicated and all(r.parameter is Parameter.SPO2 and r.value < 88 for r in item.implicated)


@pytest.mark.timeout(180)
async def test_a_patient_who_stops_measuring_gets_a_missed_item_then_inactive_and_her_fact_team_outreach(
    unit_of_one: tuple[Store, str], mosquitto: MosquittoBroker, unique_topic_root: str
) -> None:
    store, patient = unit_of_one
    unit = scenario_unit(homes=1)
    start = _local_midnight_days_ago(5)
    await store.add_team(Team("e2e-fact", "FACT e2e", CareTeamRole.FACT_TEAM, "FACT e2e", start - DAY))
    await join_team(store, [patient], "e2e-fact", CareTeamRole.FACT_TEAM, at=start - DAY)
    item = PlanItem("spo2-pulse", frozenset({Parameter.SPO2, Parameter.PULSE}), PLAN_TIMES, 120)
    plan = MeasurementPlan(patient, "Europe/Oslo", (item,), 24.0, "koordinator", start)
    await store.set_measurement_plan(plan, first_timers(plan, now=start, last_reading_at=None))
    stops_at = start + DAY + timedelta(hours=12)  # day 2 at noon: after her morning check
    habit = MeasuringHabit(PLAN_TIMES, stops_at=stops_at)
    simulator = UnitSimulator(unit, unique_topic_root, started_at=start, seed=22, habits={patient: habit})
    clock = FakeClock(start)
    checks = check_times(habit, start=start, until=start + 5 * DAY)
    assert len(checks) == 3  # day 1 08:20 and 20:20, day 2 08:20
    assert unit.home_site_id is not None
    site = unit.home_site_id
    evening_closes = datetime.combine((start + DAY).astimezone(OSLO).date(), time(22), OSLO)
    async with playing(simulator, store, clock, mqtt_url=mosquitto.url(), topic_root=unique_topic_root) as player:
        await player.play(checks, patient_ids=[patient])
        await player.advance(evening_closes + timedelta(minutes=6))  # its 5 min grace passed
        (missed,) = await wait_until(lambda: _items(store, site, WorklistKind.MISSED_MEASUREMENT), what="missed")
        assert await _items(store, site, WorklistKind.INACTIVE_PATIENT) == []  # not a day without readings yet
        await player.advance(checks[-1] + DAY + timedelta(minutes=6))
        (inactive,) = await wait_until(lambda: _items(store, site, WorklistKind.INACTIVE_PATIENT), what="inactive")

    assert missed.vkp_code is VkpCode.MEASUREMENT_NOT_REPORTED and missed.patient_id == patient
    assert set(missed.missing_loinc) == {"59408-5", "8867-4"}  # SpO2 and pulse
    assert missed.window_opens_at == evening_closes - timedelta(hours=2)
    assert inactive.vkp_code is VkpCode.INACTIVE_PATIENT and missed.opened_at < inactive.opened_at
    assert f"since {checks[-1].isoformat(timespec='minutes')}" in inactive.summary
    tasks = await store.outreach_tasks("e2e-fact", states=[OutreachState.OPEN])
    assert sorted((t.kind, t.item_id) for t in tasks) == sorted(
        [(WorklistKind.MISSED_MEASUREMENT, missed.item_id), (WorklistKind.INACTIVE_PATIENT, inactive.item_id)]
    )
    assert all(t.patient_id == patient for t in tasks)


async def _items(store: Store, site_id: str | None, kind: WorklistKind) -> list[WorklistItem]:
    assert site_id is not None
    items = await store.worklist(site_id, states=[WorklistState.OPEN])
    return [i for i in items if i.kind is kind]
