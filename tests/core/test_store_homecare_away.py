"""Plan timers across breaks in home follow-up and plan edits, in the store: the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from alerts.plans import first_timers
from core.homecare import ACTIVITY_TIMER, PlanTimer, WorklistKind, WorklistState
from core.store import Store
from core.types import Parameter
from tests.core.test_store_homecare import (
    CHECKED,
    GRACE,
    MORNING_CLOSES,
    MORNING_OPENS,
    PLAN,
    SET_AT,
    fire,
    home_patient,
    reading,
)

DAY = timedelta(days=1)
PERIOD = timedelta(hours=PLAN.inactive_after_h)


async def test_a_missed_window_after_a_night_away_from_home_follow_up_is_on_the_worklist(store: Store) -> None:
    await home_patient(store)
    await store.end_home(patient_id="p-1", at=SET_AT + timedelta(hours=8))  # e.g. a night in a KAD bed
    assert await fire(store, CHECKED) == []  # the morning window closes while she is away: nothing to follow up
    await store.enrol_home(patient_id="p-1", ward_id="dho", stay_id="stay-2", at=MORNING_CLOSES + timedelta(hours=6))

    assert await fire(store, CHECKED + DAY) == [WorklistKind.MISSED_MEASUREMENT]  # no one saved the plan again

    (item,) = await store.worklist("hjemme", states=[WorklistState.OPEN])
    assert (item.window_opens_at, item.window_closes_at) == (MORNING_OPENS + DAY, MORNING_CLOSES + DAY)
    timers = {t.item_id: t for t in await store.plan_timers("p-1")}
    assert timers["spo2-pulse"] == PlanTimer("p-1", "spo2-pulse", MORNING_OPENS + 2 * DAY, MORNING_CLOSES + 2 * DAY)


async def test_a_patient_away_from_home_follow_up_keeps_the_plans_timers_without_an_item(store: Store) -> None:
    await home_patient(store)
    await store.end_stay("stay-1", end_at=SET_AT + timedelta(hours=1))

    kinds = await fire(store, CHECKED + 10 * DAY)  # ten mornings and two activity checks while away

    assert kinds == []
    assert [t.item_id for t in await store.plan_timers("p-1")] == ["spo2-pulse", ACTIVITY_TIMER]
    assert await store.worklist("hjemme", states=[WorklistState.OPEN]) == []


async def test_an_inactive_patient_back_home_is_counted_from_the_return_not_from_the_last_reading(
    store: Store,
) -> None:
    await home_patient(store)
    await store.append([reading(Parameter.SPO2, SET_AT)], [])
    await store.end_home(patient_id="p-1", at=SET_AT + timedelta(hours=1))
    assert await fire(store, SET_AT + PERIOD + DAY) == []  # quiet for a day more than the period, but away
    back_at = SET_AT + 3 * DAY
    await store.enrol_home(patient_id="p-1", ward_id="dho", stay_id="stay-2", at=back_at)

    assert WorklistKind.INACTIVE_PATIENT not in await fire(store, back_at + PERIOD - timedelta(minutes=1))
    kinds = await fire(store, back_at + PERIOD + GRACE + timedelta(seconds=1))

    assert WorklistKind.INACTIVE_PATIENT in kinds
    open_items = await store.worklist("hjemme", states=[WorklistState.OPEN])
    (item,) = [i for i in open_items if i.kind is WorklistKind.INACTIVE_PATIENT]
    assert "no measurement since 2026-12-01T12:00+00:00" in item.summary  # when she last measured


async def test_editing_the_plan_of_a_quiet_patient_does_not_postpone_the_inactive_item(store: Store) -> None:
    await home_patient(store)
    await store.append([reading(Parameter.SPO2, SET_AT)], [])
    edited_at = SET_AT + timedelta(hours=40)
    await store.set_measurement_plan(PLAN, first_timers(PLAN, now=edited_at, last_reading_at=SET_AT))

    assert WorklistKind.INACTIVE_PATIENT in await fire(store, SET_AT + PERIOD + GRACE + timedelta(seconds=1))


async def test_a_plan_saved_after_a_full_quiet_period_raises_the_inactive_item_at_the_next_poll(store: Store) -> None:
    await home_patient(store)
    await store.append([reading(Parameter.SPO2, SET_AT)], [])
    edited_at = SET_AT + PERIOD + timedelta(hours=12)
    await store.set_measurement_plan(PLAN, first_timers(PLAN, now=edited_at, last_reading_at=SET_AT))

    assert WorklistKind.INACTIVE_PATIENT in await fire(store, edited_at + GRACE)
