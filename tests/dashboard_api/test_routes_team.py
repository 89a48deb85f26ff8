"""Teams over REST: an admin makes a FACT team, its members and its patients; a missed check-in of a team patient
becomes the team's outreach task, which members take, assign, note and finish with an outcome; anyone else gets 404
as for an unknown team; every call audited naming the patient."""

from __future__ import annotations

from datetime import time, timedelta

import httpx
import pytest

from alerts.plans import first_timers
from alerts.timers import fire_due_plan_checks
from core.homecare import MeasurementPlan, PlanItem
from core.outreach import OutreachState
from core.store.sqlite import SqliteStore
from core.types import Parameter, Role
from tests.dashboard_api.conftest import FixedClock, TokenFactory, auth

TEAM = "fact-vest"
TASKS = f"/api/v1/teams/{TEAM}/tasks"
ITEM = PlanItem("spo2", frozenset({Parameter.SPO2}), (time(4),), 60)


def _admin(token: TokenFactory) -> dict[str, str]:
    return auth(token(Role.ADMIN, sites=("*",), user="admin-eva"))


def _member(token: TokenFactory, user: str = "nurse-bo") -> dict[str, str]:
    return auth(token(Role.NURSE, sites=(), user=user))  # no site: the team is the only grant


async def make_team(api: httpx.AsyncClient, token: TokenFactory, *patients: str) -> None:
    """FACT Vest with nurse-bo and dr-berg, following `patients`."""
    body = {"team_id": TEAM, "name": "FACT Vest", "kind": "fact_team", "organisation": "Helse Finnmark"}
    assert (await api.post("/api/v1/admin/teams", json=body, headers=_admin(token))).status_code == 201
    for user in ("nurse-bo", "dr-berg"):
        added = await api.post(f"/api/v1/admin/teams/{TEAM}/members", json={"user_id": user}, headers=_admin(token))
        assert added.status_code == 201
    for patient in patients:
        followed = await api.post(
            f"/api/v1/admin/teams/{TEAM}/patients", json={"patient_id": patient}, headers=_admin(token)
        )
        assert followed.status_code == 201


@pytest.fixture
async def task_id(api: httpx.AsyncClient, store: SqliteStore, clock: FixedClock, token: TokenFactory) -> str:
    """Kari (p2, at home on w1) is followed by FACT Vest and missed her 04:00 UTC SpO2 (NOW is 08:00): the id of the
    team's task."""
    await make_team(api, token, "p2")
    return await kari_misses_a_check_in(store, clock)


async def kari_misses_a_check_in(store: SqliteStore, clock: FixedClock) -> str:
    """Kari (p2) had an SpO2 planned at 04:00 UTC and sent none (NOW is 08:00): the id of FACT Vest's task."""
    plan = MeasurementPlan("p2", "UTC", (ITEM,), 48, "dr-berg", clock())
    await store.set_measurement_plan(plan, first_timers(plan, now=clock() - timedelta(hours=4), last_reading_at=None))
    assert await fire_due_plan_checks(store, clock) == 1
    (task,) = await store.outreach_tasks(TEAM, states=[OutreachState.OPEN])
    return task.task_id


async def test_a_member_sees_the_teams_task_for_a_missed_check_in_audited_naming_the_patient(
    api: httpx.AsyncClient, task_id: str, token: TokenFactory, store: SqliteStore
) -> None:
    listed = await api.get(TASKS, headers=_member(token))

    assert listed.status_code == 200
    (task,) = listed.json()
    assert task["task_id"] == task_id
    assert (task["patient_id"], task["kind"], task["state"], task["assignee"]) == (
        "p2",
        "missed_measurement",
        "open",
        None,
    )
    assert task["summary"].startswith("Measurement not reported: spo2 (window 2025-01-15 04:00-05:00 UTC)")
    (row,) = [a for a in await store.list_audit(limit=5) if a.action == "read.team_tasks"]
    assert (row.user_id, row.patient_id, row.grant, row.subject) == ("nurse-bo", "p2", "team:fact_team", TEAM)
    assert [t["team_id"] for t in (await api.get("/api/v1/teams", headers=_member(token))).json()] == [TEAM]


@pytest.mark.parametrize("user", ["nurse-anne", "dr-lunge"])
async def test_anyone_not_in_the_team_gets_404_as_for_an_unknown_team(
    api: httpx.AsyncClient, task_id: str, token: TokenFactory, store: SqliteStore, user: str
) -> None:
    refused = await api.get(TASKS, headers=auth(token(Role.NURSE, sites=("s1",), user=user)))
    unknown = await api.get("/api/v1/teams/no-team/tasks", headers=_member(token))
    detail = await api.post(f"{TASKS}/{task_id}/take", headers=auth(token(Role.NURSE, sites=("s1",), user=user)))

    assert (refused.status_code, refused.json()) == (404, {"detail": f"Team {TEAM} not found"})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Team no-team not found"})
    assert detail.status_code == 404
    denied = [(a.user_id, a.action, a.grant) for a in await store.list_audit(limit=5) if a.action.startswith("denied")]
    assert (user, "denied.read.team_tasks", "") in denied and (user, "denied.take.team_task", "") in denied


async def test_a_task_is_taken_assigned_noted_and_done_with_an_outcome_and_its_history(
    api: httpx.AsyncClient, task_id: str, token: TokenFactory, store: SqliteStore
) -> None:
    path = f"{TASKS}/{task_id}"
    taken = await api.post(f"{path}/take", headers=_member(token))
    stranger = await api.post(f"{path}/assign", json={"user_id": "nurse-anne"}, headers=_member(token))
    assigned = await api.post(f"{path}/assign", json={"user_id": "dr-berg"}, headers=_member(token))
    noted = await api.post(f"{path}/notes", json={"text": "Phone off twice"}, headers=_member(token, "dr-berg"))
    blank = await api.post(f"{path}/done", json={"outcome": "home_visit", "note": "  "}, headers=_member(token))
    unknown = await api.post(f"{path}/done", json={"outcome": "gave up", "note": "x"}, headers=_member(token))
    done = await api.post(
        f"{path}/done", json={"outcome": "home_visit", "note": "Visited: kit flat, measured 96 %"},
        headers=_member(token, "dr-berg"),
    )  # fmt: skip
    again = await api.post(f"{path}/notes", json={"text": "late"}, headers=_member(token))
    detail = await api.get(path, headers=_member(token))

    assert (taken.status_code, taken.json()["state"], taken.json()["assignee"]) == (200, "taken", "nurse-bo")
    assert (stranger.status_code, stranger.json()) == (
        422,
        {"detail": f"user_id: nurse-anne is not a member of team {TEAM}"},
    )
    assert (assigned.status_code, assigned.json()["assignee"]) == (200, "dr-berg")
    assert noted.status_code == 200
    assert blank.status_code == 422 and "note" in str(blank.json())
    assert unknown.status_code == 422 and "outcome" in str(unknown.json())
    assert (done.status_code, done.json()["state"], done.json()["outcome"]) == (200, "done", "home_visit")
    assert again.status_code == 409 and "is done" in again.json()["detail"]
    history = [(e["actor"], e["action"], e["text"]) for e in detail.json()["history"]]
    assert history[1:] == [
        ("nurse-bo", "taken", ""),
        ("nurse-bo", "assigned", "to dr-berg"),
        ("dr-berg", "note", "Phone off twice"),
        ("dr-berg", "done", "Visited: kit flat, measured 96 %"),
    ]
    actions = {(a.action, a.patient_id, a.grant) for a in await store.list_audit(limit=20)}
    for action in ("take", "assign", "note", "done", "read"):
        assert (f"{action}.team_task", "p2", "team:fact_team") in actions
    assert (await api.get(TASKS, headers=_member(token))).json() == []  # done: off the list


async def test_a_patient_with_no_fact_or_lar_team_gets_the_coordinators_item_only(
    api: httpx.AsyncClient, store: SqliteStore, clock: FixedClock, token: TokenFactory
) -> None:
    await make_team(api, token)  # the team follows nobody
    plan = MeasurementPlan("p2", "UTC", (ITEM,), 48, "dr-berg", clock())
    await store.set_measurement_plan(plan, first_timers(plan, now=clock() - timedelta(hours=4), last_reading_at=None))

    assert await fire_due_plan_checks(store, clock) == 1
    assert (await api.get(TASKS, headers=_member(token))).json() == []


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"team_id": "gp-1", "name": "GP", "kind": "gp", "organisation": "Alta"}, "kind"),
        ({"team_id": "bad id", "name": "X", "kind": "lar_team", "organisation": "Alta"}, "team_id"),
        ({"team_id": "lar-1", "name": "X", "kind": "lar_team", "organisation": "Alta", "extra": 1}, "extra"),
    ],
)
async def test_a_team_that_is_not_one_is_refused_naming_the_field(
    api: httpx.AsyncClient, token: TokenFactory, body: dict[str, object], named: str
) -> None:
    refused = await api.post("/api/v1/admin/teams", json=body, headers=_admin(token))

    assert refused.status_code == 422 and named in str(refused.json())


async def test_only_an_all_sites_admin_keeps_teams(api: httpx.AsyncClient, token: TokenFactory) -> None:
    await make_team(api, token)
    body = {"team_id": "lar-1", "name": "LAR", "kind": "lar_team", "organisation": "Alta"}
    site_admin = await api.post("/api/v1/admin/teams", json=body, headers=auth(token(Role.ADMIN, sites=("s1",))))
    nurse = await api.post("/api/v1/admin/teams", json=body, headers=_member(token))
    twice = await api.post(f"/api/v1/admin/teams/{TEAM}/members", json={"user_id": "nurse-bo"}, headers=_admin(token))
    ghost = await api.post(f"/api/v1/admin/teams/{TEAM}/members", json={"user_id": "ghost"}, headers=_admin(token))

    assert (site_admin.status_code, nurse.status_code) == (403, 403)
    assert (twice.status_code, twice.json()) == (409, {"detail": f"nurse-bo is already a member of team {TEAM}"})
    assert (ghost.status_code, ghost.json()) == (422, {"detail": "user_id: ghost is not registered"})
    ended = await api.post(f"/api/v1/admin/teams/{TEAM}/members/nurse-bo/end", headers=_admin(token))
    assert ended.status_code == 200
    assert (await api.get(TASKS, headers=_member(token))).status_code == 404
