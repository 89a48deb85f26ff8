"""Once a team stops following a patient, its members reach none of that patient's outreach tasks: off the list, and
404 by id (read, take, assign, note, done) as for an unknown task, audited as refused naming the patient; the same
answer the plan note gives."""

from __future__ import annotations

import httpx
import pytest

from core.outreach import OutreachState
from core.store.sqlite import SqliteStore
from tests.dashboard_api.conftest import TokenFactory
from tests.dashboard_api.test_routes_team import TASKS, TEAM, _admin, _member, task_id  # noqa: F401 (a fixture)


@pytest.fixture
async def follow_ended(api: httpx.AsyncClient, task_id: str, token: TokenFactory) -> str:  # noqa: F811
    """FACT Vest had an open task for Kari (p2), then stopped following her: the task's id."""
    ended = await api.post(f"/api/v1/admin/patients/p2/care-team/{TEAM}/end", json={}, headers=_admin(token))
    assert ended.status_code == 200
    return task_id


async def test_the_tasks_of_a_patient_the_team_no_longer_follows_leave_its_list(
    api: httpx.AsyncClient, follow_ended: str, token: TokenFactory, store: SqliteStore
) -> None:
    listed = await api.get(TASKS, headers=_member(token))
    every_state = await api.get(TASKS, params={"state": ["open", "taken", "done"]}, headers=_member(token))
    plan_note = await api.get(f"/api/v1/teams/{TEAM}/patients/p2/plan-note", headers=_member(token))

    assert (listed.status_code, listed.json()) == (200, [])
    assert every_state.json() == []
    assert plan_note.status_code == 404
    assert "p2" not in [a.patient_id for a in await store.list_audit(limit=5) if a.action == "read.team_tasks"]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "action"),
    [
        ("GET", "", None, "read.team_task"),
        ("POST", "/take", None, "take.team_task"),
        ("POST", "/assign", {"user_id": "dr-berg"}, "assign.team_task"),
        ("POST", "/notes", {"text": "still here"}, "note.team_task"),
        ("POST", "/done", {"outcome": "reached", "note": "phoned"}, "done.team_task"),
    ],
)
async def test_a_task_of_a_patient_the_team_no_longer_follows_is_404_and_unchanged(
    api: httpx.AsyncClient,
    follow_ended: str,
    token: TokenFactory,
    store: SqliteStore,
    method: str,
    suffix: str,
    body: dict[str, str] | None,
    action: str,
) -> None:
    refused = await api.request(method, f"{TASKS}/{follow_ended}{suffix}", json=body, headers=_member(token))

    assert (refused.status_code, refused.json()) == (404, {"detail": f"Task {follow_ended} of team {TEAM} not found"})
    task, history = await store.outreach_task(follow_ended)
    assert (task.state, task.assignee, [e.action for e in history]) == (OutreachState.OPEN, None, ["opened"])
    (row,) = [a for a in await store.list_audit(limit=5) if a.subject == follow_ended]
    assert (row.user_id, row.action, row.patient_id, row.grant) == ("nurse-bo", f"denied.{action}", "p2", "")
