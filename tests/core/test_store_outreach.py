"""Outreach: a missed check-in of a patient a FACT or LAR team follows opens a coordinator item and a team task, once;
teams, their members, tasks and plan notes in the store, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.plans import decide_plan_check, first_timers
from core.errors import Conflict, NotFound
from core.escalation import ContactPoint, DeliveryPurpose
from core.homecare import ARRIVAL_GRACE_S, MeasurementPlan, PlanItem, WorklistKind, WorklistState
from core.outreach import OutreachOutcome, OutreachState, PatientFollowUp, PlanNote, StaffAction, Team
from core.store import Store
from core.store.sqlite import SqliteStore
from core.types import CareSetting, CareTeamMember, CareTeamRole, Parameter, Patient, Site, SiteKind, Stay, Ward
from tests.core.conftest import StoreFactory
from tests.core.test_store_escalation import T0 as ESCALATION_T0
from tests.core.test_store_escalation import fire as fire_steps
from tests.core.test_store_escalation import open_high, patient_in_bed_three, unit_with_roster

SET_AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # winter: Oslo is UTC+1, the 08:00 window is 07:00-08:00 UTC
CHECKED = datetime(2026, 12, 2, 8, tzinfo=UTC) + timedelta(seconds=ARRIVAL_GRACE_S + 1)
QUIET_UNTIL = SET_AT + timedelta(hours=48, seconds=ARRIVAL_GRACE_S + 1)  # the plan's inactivity period has passed
ITEM = PlanItem("spo2", frozenset({Parameter.SPO2}), (time(8),), 60)

FACT = Team("fact-vest", "FACT Vest-Finnmark", CareTeamRole.FACT_TEAM, "Helse Finnmark", SET_AT)
LAR = Team("lar-alta", "LAR Alta", CareTeamRole.LAR_TEAM, "Alta kommune", SET_AT)
PSHT = Team("psht-alta", "PSHT Alta", CareTeamRole.PSHT, "Alta kommune", SET_AT)


async def home_patient(store: Store, patient_id: str, *teams: Team) -> None:
    """A home patient with a measurement plan, followed by `teams`."""
    await store.upsert_site(Site("hjemme", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("dho", "hjemme", "DHO"))
    await store.upsert_patient(Patient(patient_id, patient_id))
    await store.add_stay(Stay(f"stay-{patient_id}", patient_id, "dho", CareSetting.HOME, SET_AT - timedelta(days=9)))
    plan = MeasurementPlan(patient_id, "Europe/Oslo", (ITEM,), 48, "dr.lund", SET_AT)
    await store.set_measurement_plan(plan, first_timers(plan, now=SET_AT, last_reading_at=None))
    for team in teams:
        if team.team_id not in {t.team_id for t in await store.list_teams()}:
            await store.add_team(team)
        await store.add_care_team_member(
            CareTeamMember(patient_id, team.team_id, team.kind, team.organisation, SET_AT - timedelta(days=1))
        )


async def fire(store: Store, at: datetime) -> list[tuple[str, WorklistKind]]:
    items = await store.fire_due_plan_checks(at, lambda facts: decide_plan_check(facts, now=at))
    return sorted((i.patient_id, i.kind) for i in items)


async def tasks(store: Store, team: Team) -> list[tuple[str, WorklistKind]]:
    open_tasks = await store.outreach_tasks(team.team_id, states=[OutreachState.OPEN])
    return [(t.patient_id, t.kind) for t in open_tasks]


MISSED, INACTIVE = WorklistKind.MISSED_MEASUREMENT, WorklistKind.INACTIVE_PATIENT


@pytest.mark.parametrize(
    ("teams", "at", "items", "fact_tasks", "lar_tasks"),
    [
        pytest.param((FACT,), CHECKED, [MISSED], [MISSED], [], id="FACT patient misses a window: item and FACT task"),
        pytest.param((), CHECKED, [MISSED], [], [], id="no team: the coordinator's item only"),
        pytest.param((PSHT,), CHECKED, [MISSED], [], [], id="a PSHT does no outreach: item only"),
        pytest.param((FACT, LAR), CHECKED, [MISSED], [MISSED], [MISSED], id="two teams: one task each"),
        pytest.param(
            (LAR,), QUIET_UNTIL, [MISSED, MISSED, INACTIVE], [], [MISSED, MISSED, INACTIVE],
            id="LAR patient quiet for 48 h: every item a task",
        ),
        pytest.param((FACT,), CHECKED - timedelta(seconds=2), [], [], [], id="window not checked yet: nothing"),
    ],
)  # fmt: skip
async def test_a_missed_check_in_opens_a_task_for_each_fact_or_lar_team_following_the_patient(
    store: Store,
    teams: tuple[Team, ...],
    at: datetime,
    items: list[WorklistKind],
    fact_tasks: list[WorklistKind],
    lar_tasks: list[WorklistKind],
) -> None:
    await home_patient(store, "p-1", *teams)
    for team in (FACT, LAR):
        if team not in teams:
            await store.add_team(team)

    assert [kind for _, kind in await fire(store, at)] == sorted(items)
    assert sorted(kind for _, kind in await tasks(store, FACT)) == sorted(fact_tasks)
    assert sorted(kind for _, kind in await tasks(store, LAR)) == sorted(lar_tasks)
    worklist = await store.worklist("hjemme", states=[WorklistState.OPEN])
    assert sorted(i.kind for i in worklist) == sorted(items)  # the coordinator's item is there either way


async def test_a_restart_repeats_no_item_and_no_task(open_store: StoreFactory) -> None:
    first = await open_store()
    await home_patient(first, "p-1", FACT)
    await home_patient(first, "p-2")
    assert await fire(first, CHECKED) == [("p-1", MISSED), ("p-2", MISSED)]
    await first.close()

    restarted = await open_store()  # another process on the same storage, polling the same instant and later
    assert await fire(restarted, CHECKED) == []
    assert await fire(restarted, CHECKED + timedelta(minutes=10)) == []
    assert await tasks(restarted, FACT) == [("p-1", MISSED)]
    worklist = await restarted.worklist("hjemme", states=[WorklistState.OPEN])
    (item,) = [i for i in worklist if i.patient_id == "p-1"]
    (task,) = await restarted.outreach_tasks(FACT.team_id, states=[OutreachState.OPEN])
    assert (task.item_id, task.summary, task.opened_at) == (item.item_id, item.summary, item.opened_at)


async def test_a_team_that_stopped_following_the_patient_gets_no_task(store: Store) -> None:
    await home_patient(store, "p-1", FACT)
    await store.end_care_team_membership("p-1", FACT.team_id, role=None, at=SET_AT)

    assert await fire(store, CHECKED) == [("p-1", MISSED)]
    assert await tasks(store, FACT) == []


async def test_a_task_is_taken_assigned_noted_and_done_with_its_history_and_then_cannot_change(store: Store) -> None:
    await home_patient(store, "p-1", FACT)
    await fire(store, CHECKED)
    (task,) = await store.outreach_tasks(FACT.team_id, states=[OutreachState.OPEN])
    at = CHECKED + timedelta(minutes=5)

    taken = await store.update_outreach_task(task.task_id, actor="nurse.ola", action="taken", at=at)
    assigned = await store.update_outreach_task(
        task.task_id, actor="nurse.ola", action="assigned", at=at, assignee="nurse.kari", text="she knows him"
    )
    await store.update_outreach_task(task.task_id, actor="nurse.kari", action="note", at=at, text="Phone off")
    done = await store.update_outreach_task(
        task.task_id, actor="nurse.kari", action="done", at=at, text="Visited: fine, kit battery flat",
        outcome=OutreachOutcome.HOME_VISIT,
    )  # fmt: skip

    assert (taken.state, taken.assignee) == (OutreachState.TAKEN, "nurse.ola")
    assert (assigned.state, assigned.assignee) == (OutreachState.TAKEN, "nurse.kari")
    assert (done.state, done.outcome, done.done_at) == (OutreachState.DONE, OutreachOutcome.HOME_VISIT, at)
    _, history = await store.outreach_task(task.task_id)
    assert [(e.actor, e.action, e.text) for e in history] == [
        ("system", "opened", task.summary),
        ("nurse.ola", "taken", ""),
        ("nurse.ola", "assigned", "she knows him"),
        ("nurse.kari", "note", "Phone off"),
        ("nurse.kari", "done", "Visited: fine, kit battery flat"),
    ]
    with pytest.raises(Conflict, match="is done"):
        await store.update_outreach_task(task.task_id, actor="nurse.ola", action="note", at=at, text="late")
    with pytest.raises(NotFound):
        await store.outreach_task("no-such-task")


async def test_team_members_for_a_period_and_the_teams_patients(store: Store) -> None:
    await home_patient(store, "p-1", FACT)
    await store.add_team_member(FACT.team_id, "nurse.ola", at=SET_AT)
    later = SET_AT + timedelta(hours=1)

    with pytest.raises(Conflict, match="already a member"):
        await store.add_team_member(FACT.team_id, "nurse.ola", at=later)
    with pytest.raises(NotFound):
        await store.add_team_member("no-team", "nurse.ola", at=later)
    assert await store.is_team_member(FACT.team_id, "nurse.ola", at=later)
    assert [t.team_id for t in await store.teams_of_member("nurse.ola", at=later)] == [FACT.team_id]
    assert await store.team_patients(FACT.team_id, at=later) == ["p-1"]
    changes_before = await store.last_access_change_id()

    await store.end_team_member(FACT.team_id, "nurse.ola", at=later)

    assert not await store.is_team_member(FACT.team_id, "nurse.ola", at=later)
    assert await store.team_members(FACT.team_id, at=later) == []
    assert [user for _, user in await store.access_changes_after(changes_before)] == ["nurse.ola"]
    with pytest.raises(NotFound):
        await store.end_team_member(FACT.team_id, "nurse.ola", at=later)
    with pytest.raises(Conflict, match="already exists"):
        await store.add_team(FACT)


async def test_plan_notes_are_append_only_and_the_newest_is_shown(store: Store) -> None:
    first = PlanNote(FACT.team_id, "p-1", "Ring before visits", "nurse.ola", SET_AT)
    second = PlanNote(FACT.team_id, "p-1", "Ring before visits; depot Fridays", "dr.berg", SET_AT + timedelta(days=1))
    other_team = PlanNote(LAR.team_id, "p-1", "LAR's own note", "nurse.lar", SET_AT + timedelta(days=2))
    for note in (first, second, other_team):
        await store.add_plan_note(note)

    assert await store.plan_notes(FACT.team_id, ["p-1", "p-2"]) == {"p-1": second}
    assert await store.plan_note_history(FACT.team_id, "p-1") == [second, first]
    assert await store.plan_notes(FACT.team_id, []) == {}


async def test_follow_up_counts_missed_check_ins_and_finds_the_newest_staff_action(store: Store) -> None:
    await home_patient(store, "p-1", LAR)
    assert len(await fire(store, QUIET_UNTIL)) == 3  # two missed mornings and the quiet spell
    first, *_ = await store.worklist("hjemme", states=[WorklistState.OPEN])
    claimed_at, taken_at = QUIET_UNTIL + timedelta(minutes=1), QUIET_UNTIL + timedelta(minutes=2)
    await store.update_worklist_item(first.item_id, actor="nurse.ola", action="claimed", at=claimed_at)
    task, *_ = await store.outreach_tasks(LAR.team_id, states=[OutreachState.OPEN])
    await store.update_outreach_task(task.task_id, actor="nurse.kari", action="taken", at=taken_at)

    follow = await store.follow_up(["p-1", "p-2"], since=QUIET_UNTIL - timedelta(days=7))
    later = await store.follow_up(["p-1"], since=QUIET_UNTIL + timedelta(hours=1))

    assert follow["p-1"].missed_check_ins == 3 and later["p-1"].missed_check_ins == 0
    assert sorted(i.kind for i in follow["p-1"].open_items) == ["inactive_patient", *["missed_measurement"] * 2]
    assert follow["p-1"].last_staff_action == StaffAction(taken_at, "nurse.kari", "outreach task taken")
    assert follow["p-2"] == PatientFollowUp()


async def test_a_high_alert_informs_the_people_in_the_patients_lar_team_and_not_those_who_left(store: Store) -> None:
    await unit_with_roster(store)
    await patient_in_bed_three(store)  # LAR Alta ("lar-alta", its own duty phone) follows pat-1
    lar = Team("lar-alta", "LAR Alta", CareTeamRole.LAR_TEAM, "Alta kommune", ESCALATION_T0 - timedelta(days=300))
    await store.add_team(lar)
    for user in ("nurse.lar", "dr.lar"):
        await store.add_team_member(lar.team_id, user, at=ESCALATION_T0 - timedelta(days=1))
        await store.set_contact_points(user, [ContactPoint(user, "gw", f"phone-{user}")])
    await store.end_team_member(lar.team_id, "dr.lar", at=ESCALATION_T0 - timedelta(hours=1))

    alert_id = await open_high(store)
    await fire_steps(store, ESCALATION_T0)

    deliveries = {d.person_id: d for d in await store.list_deliveries(alert_id)}
    assert {person: d.purpose for person, d in deliveries.items()} == {
        "nurse-kari": DeliveryPurpose.RESPOND,
        "lar-alta": DeliveryPurpose.INFORM,
        "nurse.lar": DeliveryPurpose.INFORM,
    }
    assert deliveries["nurse.lar"].address == "phone-nurse.lar"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(polls_s=st.lists(st.integers(0, 3 * 86400), min_size=1, max_size=12))
def test_however_the_timers_are_polled_each_item_of_a_fact_patient_has_exactly_one_team_task(
    tmp_path: Path, polls_s: list[int]
) -> None:
    async def scenario() -> tuple[set[str], list[str]]:
        path = tmp_path / f"{uuid.uuid4().hex}.sqlite3"
        store = SqliteStore(path)
        await store.open()
        try:
            await home_patient(store, "p-1", FACT)
            for offset in sorted(polls_s):  # a worker that polls when it can, also twice at one instant
                await fire(store, SET_AT + timedelta(seconds=offset))
            items = await store.worklist("hjemme", states=list(WorklistState))
            tasks = await store.outreach_tasks(FACT.team_id, states=list(OutreachState))
            return {i.item_id for i in items}, [t.item_id for t in tasks]
        finally:
            await store.close()

    items, tasks = asyncio.run(scenario())
    assert sorted(tasks) == sorted(items)  # one task per item, none without an item, none twice
