"""A team's task list as its members see it: a current patient's task is on it however many tasks a former patient
left open (they are no longer the team's to finish), and a task another member has taken answers 409 naming them,
audited as refused."""

from __future__ import annotations

from datetime import time, timedelta

import httpx

from alerts.plans import first_timers
from alerts.timers import fire_due_plan_checks
from core.clock import Clock
from core.homecare import MeasurementPlan, PlanItem
from core.outreach import OutreachState
from core.store.sqlite import SqliteStore
from core.types import CareSetting, Parameter, Patient, Stay
from dashboard_api.routes_homecare import TRUNCATED_HEADER
from dashboard_api.team_board import TASKS_MAX
from tests.dashboard_api.conftest import FixedClock, TokenFactory
from tests.dashboard_api.test_routes_team import ITEM, TASKS, TEAM, _admin, _member, make_team, task_id  # noqa: F401

HOURLY = PlanItem("hourly", frozenset({Parameter.SPO2}), tuple(time(h) for h in range(24)), 5)


async def nils_at_home(store: SqliteStore, clock: Clock) -> None:
    await store.upsert_patient(Patient("p8", "Nils Borte"))
    await store.add_stay(Stay("st8", "p8", "w1", CareSetting.HOME, clock() - timedelta(days=30)))


async def three_weeks_unanswered(store: SqliteStore, clock: Clock, patient_id: str) -> int:
    """The patient's hourly plan, armed three weeks ago, checked now: an item (and a task per team) for each of its
    windows, all unanswered. Returns how many items were opened."""
    hourly = MeasurementPlan(patient_id, "UTC", (HOURLY,), 720, "dr-berg", clock())
    await store.set_measurement_plan(
        hourly, first_timers(hourly, now=clock() - timedelta(days=22), last_reading_at=None)
    )
    return await fire_due_plan_checks(store, clock)


async def kari_misses_her_morning_spo2(store: SqliteStore, clock: Clock) -> None:
    """Kari (p2) had an SpO2 planned four hours ago and sent none: one item (and FACT Vest's task), opened now."""
    kari = MeasurementPlan("p2", "UTC", (ITEM,), 48, "dr-berg", clock())
    armed_at = clock() - timedelta(hours=4, minutes=1)
    await store.set_measurement_plan(kari, first_timers(kari, now=armed_at, last_reading_at=None))
    assert await fire_due_plan_checks(store, clock) == 1


async def test_a_current_patients_task_is_listed_whatever_a_former_patient_left_behind(
    api: httpx.AsyncClient, store: SqliteStore, clock: FixedClock, token: TokenFactory
) -> None:
    await nils_at_home(store, clock)
    await make_team(api, token, "p8", "p2")
    await three_weeks_unanswered(store, clock, "p8")  # over 500 tasks
    moved = await api.post(f"/api/v1/admin/patients/p8/care-team/{TEAM}/end", json={}, headers=_admin(token))
    clock.advance(60)  # a minute later, Kari misses her 04:00 SpO2: her task is the team's newest
    await kari_misses_her_morning_spo2(store, clock)

    listed = await api.get(TASKS, headers=_member(token))

    assert moved.status_code == 200
    assert len(await store.outreach_tasks(TEAM, states=[OutreachState.OPEN], limit=1000)) > 500
    assert listed.status_code == 200
    assert [(t["patient_id"], t["state"]) for t in listed.json()] == [("p2", "open")]


async def test_a_cut_task_list_and_board_say_so_and_keep_each_patients_newest_task(
    api: httpx.AsyncClient, store: SqliteStore, clock: FixedClock, token: TokenFactory
) -> None:
    await nils_at_home(store, clock)
    await make_team(api, token, "p8", "p2")
    before = await api.get(TASKS, headers=_member(token))
    assert await three_weeks_unanswered(store, clock, "p8") > TASKS_MAX  # Nils, still the team's
    clock.advance(60)  # a minute later, Kari misses her 04:00 SpO2: the team's newest task
    await kari_misses_her_morning_spo2(store, clock)

    listed = await api.get(TASKS, headers=_member(token))
    board = await api.get(f"/api/v1/teams/{TEAM}/board", headers=_member(token))

    assert (before.status_code, before.headers[TRUNCATED_HEADER], before.json()) == (200, "false", [])
    assert (listed.status_code, listed.headers[TRUNCATED_HEADER], len(listed.json())) == (200, "true", TASKS_MAX)
    assert [t["patient_id"] for t in listed.json()[:2]] == ["p2", "p8"]  # each patient's newest, the newest first
    assert (board.status_code, board.headers[TRUNCATED_HEADER]) == (200, "true")
    tasks = {row["patient_id"]: [t["state"] for t in row["tasks"]] for row in board.json()["rows"]}
    assert (tasks["p2"], len(tasks["p8"])) == (["open"], TASKS_MAX - 1)


async def test_a_task_another_member_has_taken_is_refused_naming_them_and_audited(
    api: httpx.AsyncClient,
    task_id: str,  # noqa: F811 (the fixture)
    token: TokenFactory,
    store: SqliteStore,
) -> None:
    path = f"{TASKS}/{task_id}"

    taken = await api.post(f"{path}/take", headers=_member(token))
    refused = await api.post(f"{path}/take", headers=_member(token, "dr-berg"))
    again = await api.post(f"{path}/take", headers=_member(token))
    handed = await api.post(f"{path}/assign", json={"user_id": "dr-berg"}, headers=_member(token))

    assert (taken.status_code, again.status_code, handed.status_code) == (200, 200, 200)
    expected = f"Task {task_id}: outreach task {task_id} is taken by nurse-bo; they can assign it to you"
    assert (refused.status_code, refused.json()) == (409, {"detail": expected})
    assert (again.json()["assignee"], handed.json()["assignee"]) == ("nurse-bo", "dr-berg")
    _, history = await store.outreach_task(task_id)
    assert [(e.actor, e.action) for e in history] == [
        ("system", "opened"), ("nurse-bo", "taken"), ("nurse-bo", "assigned"),
    ]  # fmt: skip
    (row,) = [a for a in await store.list_audit(limit=20) if a.user_id == "dr-berg"]
    assert (row.action, row.subject, row.patient_id, row.detail) == ("denied.take.team_task", task_id, "p2", expected)
