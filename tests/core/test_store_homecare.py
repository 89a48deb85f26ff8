"""Measurement plans, their timers and the worklist in the store: the same on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from alerts.plans import decide_plan_check, first_timers
from core.care_flags import CareFlag, CareFlagChange
from core.errors import Conflict, NotFound
from core.homecare import (
    ACTIVITY_TIMER,
    ARRIVAL_GRACE_S,
    MeasurementPlan,
    PlanItem,
    PlanTimer,
    WorklistKind,
    WorklistState,
)
from core.store import Store
from core.types import CareSetting, Parameter, Patient, Reading, Site, SiteKind, Stay, Ward

SET_AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # winter: Oslo is UTC+1
MORNING_OPENS, MORNING_CLOSES = datetime(2026, 12, 2, 7, tzinfo=UTC), datetime(2026, 12, 2, 8, tzinfo=UTC)
GRACE = timedelta(seconds=ARRIVAL_GRACE_S)  # a window is checked this long after it closes
CHECKED = MORNING_CLOSES + GRACE + timedelta(seconds=1)
ITEM = PlanItem("spo2-pulse", frozenset({Parameter.SPO2, Parameter.PULSE}), (time(8),), 60)
PLAN = MeasurementPlan("p-1", "Europe/Oslo", (ITEM,), 48, "dr.lund", SET_AT)


async def home_patient(store: Store) -> None:
    await store.upsert_site(Site("hjemme", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("dho", "hjemme", "DHO"))
    await store.upsert_patient(Patient("p-1", "Kari Hjemme"))
    await store.add_stay(Stay("stay-1", "p-1", "dho", CareSetting.HOME, SET_AT - timedelta(days=30)))
    await store.set_measurement_plan(PLAN, first_timers(PLAN, now=SET_AT, last_reading_at=None))


async def fire(store: Store, at: datetime) -> list[WorklistKind]:
    items = await store.fire_due_plan_checks(at, lambda facts: decide_plan_check(facts, now=at))
    return [item.kind for item in items]


def reading(parameter: Parameter, at: datetime) -> Reading:
    return Reading("kit-1", "p-1", parameter, 95 if parameter is Parameter.SPO2 else 70, at, at)


async def test_a_set_plan_is_in_force_with_its_timers(store: Store) -> None:
    await home_patient(store)

    assert await store.measurement_plan("p-1") == PLAN
    assert [t.item_id for t in await store.plan_timers("p-1")] == ["spo2-pulse", ACTIVITY_TIMER]
    assert await store.measurement_plan("p-2") is None


async def test_a_missed_window_opens_one_item_however_often_the_timers_are_polled(store: Store) -> None:
    await home_patient(store)
    await store.append([reading(Parameter.PULSE, MORNING_OPENS + timedelta(minutes=20))], [])

    assert await fire(store, CHECKED - timedelta(seconds=2)) == []  # closed, but late arrivals may still come
    assert await fire(store, CHECKED) == [WorklistKind.MISSED_MEASUREMENT]
    assert await fire(store, CHECKED + timedelta(seconds=1)) == []  # checked once

    (item,) = await store.worklist("hjemme", states=[WorklistState.OPEN])
    assert item.missing_loinc == ("59408-5",) and item.window_opens_at == MORNING_OPENS
    timers = {t.item_id: t for t in await store.plan_timers("p-1")}
    assert timers["spo2-pulse"] == PlanTimer("p-1", "spo2-pulse", MORNING_OPENS + timedelta(days=1),
                                             MORNING_CLOSES + timedelta(days=1))  # fmt: skip


async def test_a_measurement_of_the_windows_last_minute_that_arrives_after_it_closed_counts(store: Store) -> None:
    await home_patient(store)
    last_minute = MORNING_CLOSES - timedelta(seconds=30)
    both = [reading(Parameter.PULSE, last_minute), reading(Parameter.SPO2, last_minute)]
    late = [replace(r, received_at=MORNING_CLOSES + timedelta(minutes=3)) for r in both]  # a weak mobile signal

    assert await fire(store, MORNING_CLOSES + timedelta(minutes=1)) == []  # the timers poll before they arrive
    await store.append(late, [])
    assert await fire(store, CHECKED) == []


async def test_a_window_with_its_measurements_raises_nothing(store: Store) -> None:
    await home_patient(store)
    inside = MORNING_OPENS + timedelta(minutes=5)
    await store.append([reading(Parameter.PULSE, inside), reading(Parameter.SPO2, inside)], [])

    assert await fire(store, CHECKED) == []


async def test_a_discharged_patients_window_raises_nothing_and_the_next_is_armed(store: Store) -> None:
    await home_patient(store)
    await store.end_stay("stay-1", end_at=SET_AT + timedelta(hours=1))

    assert await fire(store, CHECKED) == []
    timers = {t.item_id: t for t in await store.plan_timers("p-1")}  # the plan is in force: its timers roll on
    assert timers["spo2-pulse"].opens_at == MORNING_OPENS + timedelta(days=1)


async def test_a_quiet_patient_gets_one_inactive_item(store: Store) -> None:
    await home_patient(store)
    quiet_until = SET_AT + timedelta(hours=48) + GRACE + timedelta(seconds=1)

    kinds = await fire(store, quiet_until)
    again = await fire(store, quiet_until + timedelta(hours=49))

    assert WorklistKind.INACTIVE_PATIENT in kinds
    assert WorklistKind.INACTIVE_PATIENT not in again  # the first is still open


async def test_an_item_is_claimed_noted_and_closed_with_its_history_and_then_cannot_change(store: Store) -> None:
    await home_patient(store)
    await fire(store, CHECKED)
    (item,) = await store.worklist("hjemme", states=[WorklistState.OPEN])
    at = CHECKED + timedelta(minutes=5)

    claimed = await store.update_worklist_item(item.item_id, actor="nurse.ola", action="claimed", at=at)
    await store.update_worklist_item(item.item_id, actor="nurse.ola", action="note", at=at, text="Called, no answer")
    closed = await store.update_worklist_item(
        item.item_id, actor="nurse.ola", action="closed", at=at, text="Measured on the phone: 96 %", outcome="measured"
    )

    assert (claimed.state, claimed.owner) == (WorklistState.CLAIMED, "nurse.ola")
    assert (closed.state, closed.outcome, closed.closed_at) == (WorklistState.CLOSED, "measured", at)
    _, history = await store.worklist_item(item.item_id)
    assert [(e.actor, e.action) for e in history] == [
        ("system", "opened"), ("nurse.ola", "claimed"), ("nurse.ola", "note"), ("nurse.ola", "closed"),
    ]  # fmt: skip
    assert await store.worklist("hjemme", states=[WorklistState.OPEN, WorklistState.CLAIMED]) == []
    with pytest.raises(Conflict):
        await store.update_worklist_item(item.item_id, actor="nurse.kari", action="claimed", at=at)
    with pytest.raises(NotFound):
        await store.worklist_item("no-such-item")


async def test_after_an_outage_every_window_that_closed_meanwhile_is_checked_in_one_poll(store: Store) -> None:
    await home_patient(store)
    back_at = MORNING_CLOSES + timedelta(days=2, hours=1)  # the timers were not polled for two days

    kinds = await fire(store, back_at)

    assert kinds.count(WorklistKind.MISSED_MEASUREMENT) == 3  # 2, 3 and 4 December
    timers = {t.item_id: t for t in await store.plan_timers("p-1")}
    assert timers["spo2-pulse"].opens_at == MORNING_OPENS + timedelta(days=3)


async def test_care_flags_in_force_are_the_newest_change_of_each_flag(store: Store) -> None:
    t0 = SET_AT
    await store.set_care_flags(
        [
            CareFlagChange("p-1", CareFlag.OPIOID_AGONIST_TREATMENT, True, "LAR", "dr.lund", t0),
            CareFlagChange("p-1", CareFlag.ALCOHOL_WITHDRAWAL, True, "Abstinens", "dr.lund", t0),
            CareFlagChange("p-2", CareFlag.OTHER_OPIOIDS, True, "Oksykodon", "dr.lund", t0),
        ]
    )
    await store.set_care_flags([CareFlagChange("p-1", CareFlag.ALCOHOL_WITHDRAWAL, False, "Ferdig", "sp.aas", t0)])

    assert await store.care_flags(["p-1", "p-2", "p-3"]) == {
        "p-1": frozenset({CareFlag.OPIOID_AGONIST_TREATMENT}),
        "p-2": frozenset({CareFlag.OTHER_OPIOIDS}),
    }
    assert [(c.flag, c.active, c.set_by) for c in await store.care_flag_history("p-1")] == [
        (CareFlag.OPIOID_AGONIST_TREATMENT, True, "dr.lund"),
        (CareFlag.ALCOHOL_WITHDRAWAL, True, "dr.lund"),
        (CareFlag.ALCOHOL_WITHDRAWAL, False, "sp.aas"),
    ]
