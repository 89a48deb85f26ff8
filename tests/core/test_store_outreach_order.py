"""The order of a team's task list as the store reads it: each patient's most pressing task (open before taken, then
the newest) first, so one patient's pile of unanswered windows never hides another patient's new task; the same on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import time, timedelta

from alerts.plans import first_timers
from core.homecare import MeasurementPlan, PlanItem
from core.outreach import OutreachState
from core.store import Store
from core.types import CareSetting, CareTeamMember, Parameter, Patient, Site, SiteKind, Stay, Ward
from tests.core.test_store_outreach import CHECKED, FACT, fire, home_patient

OPEN = [OutreachState.OPEN, OutreachState.TAKEN]
HOURLY = PlanItem("hourly", frozenset({Parameter.SPO2}), tuple(time(h) for h in range(24)), 5)
DAY = timedelta(days=1)


async def quiet_for_weeks(store: Store, patient_id: str, *, days: int) -> None:
    """A patient FACT has followed on an hourly plan for `days` who has sent nothing, checked once a day: a task per
    window, the oldest `days` old."""
    await store.upsert_site(Site("hjemme", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("dho", "hjemme", "DHO"))
    await store.upsert_patient(Patient(patient_id, patient_id))
    since = CHECKED - timedelta(days=days, hours=1)
    await store.add_stay(Stay(f"stay-{patient_id}", patient_id, "dho", CareSetting.HOME, since - DAY))
    await store.add_team(FACT)
    await store.add_care_team_member(CareTeamMember(patient_id, FACT.team_id, FACT.kind, FACT.organisation, since))
    plan = MeasurementPlan(patient_id, "UTC", (HOURLY,), 24 * 60, "dr.lund", since)
    await store.set_measurement_plan(plan, first_timers(plan, now=since, last_reading_at=None))
    for day in range(days, 0, -1):
        await fire(store, CHECKED - timedelta(days=day))


async def test_a_patients_new_task_is_read_however_many_old_ones_another_patient_left_open(store: Store) -> None:
    await quiet_for_weeks(store, "p-quiet", days=22)  # three weeks of unanswered hourly windows
    await home_patient(store, "p-new", FACT)
    await fire(store, CHECKED)  # p-new misses her 08:00 SpO2: the team's newest task (with p-quiet's of today)

    listed = await store.outreach_tasks(FACT.team_id, states=OPEN, limit=500)

    every = await store.outreach_tasks(FACT.team_id, states=OPEN, limit=1000)
    assert len([t for t in every if t.patient_id == "p-quiet"]) > 500
    assert len(listed) == 500
    assert [t.patient_id for t in listed].count("p-new") == 1
    assert {t.patient_id for t in listed[:2]} == {"p-new", "p-quiet"}  # each patient's newest heads the list
    assert all(t.opened_at == CHECKED for t in listed[:2])
    left_out = {t.task_id for t in every} - {t.task_id for t in listed}
    oldest_listed = min(t.opened_at for t in listed)
    assert all(t.patient_id == "p-quiet" and t.opened_at <= oldest_listed for t in every if t.task_id in left_out)


async def test_each_patients_open_task_comes_before_any_patients_next_and_taken_after_open(store: Store) -> None:
    await home_patient(store, "p-a", FACT)
    await home_patient(store, "p-b", FACT)
    await fire(store, CHECKED)  # both miss Monday's window...
    await fire(store, CHECKED + DAY)  # ...and Tuesday's
    tasks = await store.outreach_tasks(FACT.team_id, states=OPEN, limit=1000)
    (b_tuesday,) = [t for t in tasks if t.patient_id == "p-b" and t.opened_at == CHECKED + DAY]
    await store.update_outreach_task(b_tuesday.task_id, actor="nurse.ola", action="taken", at=CHECKED + DAY)

    listed = await store.outreach_tasks(FACT.team_id, states=OPEN)

    assert [(t.patient_id, t.opened_at - CHECKED, t.state) for t in listed] == [
        ("p-a", DAY, OutreachState.OPEN),  # p-a's newest open
        ("p-b", timedelta(0), OutreachState.OPEN),  # p-b's only open one, older
        ("p-a", timedelta(0), OutreachState.OPEN),  # then each patient's next: p-a's older open one...
        ("p-b", DAY, OutreachState.TAKEN),  # ...and p-b's newer one, which nurse.ola has
    ]
