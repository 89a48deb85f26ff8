"""The team board over REST: a FACT team's patients wherever they are (a sykestue bed, at home, a KAD bed of another
municipality) with status in colour band and word, vitals, alerts, tasks, follow-up and the shared plan note; team
members only, one audit row per patient; the team grant opens the patient's own page too, and ends with the
membership."""

from __future__ import annotations

import httpx
import pytest

from core.store.sqlite import SqliteStore
from core.types import Role
from tests.dashboard_api.conftest import FixedClock, TokenFactory, auth
from tests.dashboard_api.test_routes_team import TEAM, _admin, _member, kari_misses_a_check_in, make_team

BOARD = f"/api/v1/teams/{TEAM}/board"


def _note_path(patient_id: str) -> str:
    return f"/api/v1/teams/{TEAM}/patients/{patient_id}/plan-note"


@pytest.fixture
async def team(api: httpx.AsyncClient, store: SqliteStore, clock: FixedClock, token: TokenFactory) -> str:
    """FACT Vest follows Ola (p1, Seng 1 of the sykestue s1), Kari (p2, at home) and Per (p3, KAD bed 1 of s2); Kari
    missed her 04:00 SpO2 and nurse-bo took the team's task. Returns the task id."""
    await make_team(api, token, "p1", "p2", "p3")
    task_id = await kari_misses_a_check_in(store, clock)
    clock.advance(60)
    taken = await api.post(f"/api/v1/teams/{TEAM}/tasks/{task_id}/take", headers=_member(token))
    assert taken.status_code == 200
    return task_id


async def test_a_member_sees_every_team_patient_wherever_they_are_most_urgent_first(
    api: httpx.AsyncClient, team: str, token: TokenFactory, clock: FixedClock
) -> None:
    board = await api.get(BOARD, headers=_member(token))

    assert board.status_code == 200
    body = board.json()
    assert body["team"]["name"] == "FACT Vest"
    rows = {r["patient_id"]: r for r in body["rows"]}
    assert [r["patient_id"] for r in body["rows"]] == ["p1", "p3", "p2"]  # medium; no score but an alert; quiet
    ola, per, kari = rows["p1"], rows["p3"], rows["p2"]
    assert ola["where"]["text"] == "Sykestue bed Seng 1 · Demo sykestue"
    assert per["where"]["text"] == "KAD bed 1 · Annen kommune"
    assert (kari["where"]["setting"], kari["where"]["text"]) == ("home", "At home · Demo sykestue")
    assert ola["status"] == {"band": "medium", "word": "Medium", "news2": 5, "complete": False}
    assert per["status"]["band"] == "none" and per["status"]["word"] == "No NEWS2 yet"
    assert {v["parameter"]: v["value"] for v in ola["vitals"]} == {"pulse": 112, "resp_rate": 22, "spo2": 93}
    assert [a["message"] for a in ola["alerts"]] == ["NEWS2 5"]
    assert [(a["message"], a["priority"]) for a in per["alerts"]] == [("NEWS2 7", "high")]
    assert ola["last_reading_at"] == "2025-01-15T07:59:30Z"
    assert [(t["state"], t["assignee"]) for t in kari["tasks"]] == [("taken", "nurse-bo")]
    assert [i["kind"] for i in kari["worklist"]] == ["missed_measurement"]
    assert kari["missed_check_ins"] == 1 and ola["missed_check_ins"] == 0
    assert kari["last_staff_action"] == {
        "at": "2025-01-15T08:01:00Z", "actor": "nurse-bo", "what": "outreach task taken"
    }  # fmt: skip
    assert kari["last_reading_at"] is None and kari["plan_note"] is None


async def test_every_board_read_is_audited_once_per_patient_with_the_team_grant(
    api: httpx.AsyncClient, team: str, token: TokenFactory, store: SqliteStore
) -> None:
    await api.get(BOARD, headers=_member(token))

    rows = [a for a in await store.list_audit(limit=10) if a.action == "read.team_board"]
    assert sorted((a.patient_id, a.grant, a.user_id) for a in rows) == [
        ("p1", "team:fact_team", "nurse-bo"), ("p2", "team:fact_team", "nurse-bo"),
        ("p3", "team:fact_team", "nurse-bo"),
    ]  # fmt: skip


async def test_someone_outside_the_team_gets_404_even_with_the_site(
    api: httpx.AsyncClient, team: str, token: TokenFactory, store: SqliteStore
) -> None:
    refused = await api.get(BOARD, headers=auth(token(Role.NURSE, sites=("s1", "s2"), user="nurse-anne")))
    note = await api.get(_note_path("p1"), headers=auth(token(Role.NURSE, sites=("s1",), user="nurse-anne")))

    assert (refused.status_code, refused.json()) == (404, {"detail": f"Team {TEAM} not found"})
    assert note.status_code == 404
    (denied,) = [a for a in await store.list_audit(limit=5) if a.action == "denied.read.team_board"]
    assert (denied.user_id, denied.grant) == ("nurse-anne", "")


async def test_the_plan_note_is_edited_by_members_with_its_history_and_shown_on_the_board(
    api: httpx.AsyncClient, team: str, token: TokenFactory, clock: FixedClock, store: SqliteStore
) -> None:
    first = await api.put(_note_path("p3"), json={"text": "Ring sister first"}, headers=_member(token))
    clock.advance(3600)
    second = await api.put(
        _note_path("p3"), json={"text": "Ring sister first; depot Friday"}, headers=_member(token, "dr-berg")
    )
    blank = await api.put(_note_path("p3"), json={"text": "   "}, headers=_member(token))
    too_long = await api.put(_note_path("p3"), json={"text": "x" * 501}, headers=_member(token))
    stranger = await api.put(_note_path("p4"), json={"text": "not ours"}, headers=_member(token))
    history = await api.get(_note_path("p3"), headers=_member(token))
    board = await api.get(BOARD, headers=_member(token))

    assert (first.status_code, second.status_code) == (200, 200)
    assert blank.status_code == 422 and "text" in str(blank.json())
    assert too_long.status_code == 422 and "text" in str(too_long.json())
    assert (stranger.status_code, stranger.json()) == (404, {"detail": f"Patient p4 is not followed by team {TEAM}"})
    assert [(n["text"], n["written_by"]) for n in history.json()["history"]] == [
        ("Ring sister first; depot Friday", "dr-berg"), ("Ring sister first", "nurse-bo"),
    ]  # fmt: skip
    assert history.json()["note"]["written_at"] == "2025-01-15T09:01:00Z"
    (per,) = [r for r in board.json()["rows"] if r["patient_id"] == "p3"]
    assert per["plan_note"]["text"] == "Ring sister first; depot Friday"
    actions = [(a.action, a.patient_id, a.grant) for a in await store.list_audit(limit=20)]
    assert ("write.team_plan_note", "p3", "team:fact_team") in actions
    assert ("read.team_plan_note", "p3", "team:fact_team") in actions


async def test_the_team_opens_the_patients_own_page_and_ending_the_membership_closes_it(
    api: httpx.AsyncClient, team: str, token: TokenFactory
) -> None:
    opened = await api.get("/api/v1/patients/p3", headers=_member(token))
    ended = await api.post(f"/api/v1/admin/teams/{TEAM}/members/nurse-bo/end", headers=_admin(token))
    closed = await api.get("/api/v1/patients/p3", headers=_member(token))
    board = await api.get(BOARD, headers=_member(token))

    assert opened.status_code == 200 and opened.json()["display_name"] == "Per Li"
    assert [m["member_id"] for m in opened.json()["care_team"]] == [TEAM]
    assert ended.status_code == 200
    assert (closed.status_code, board.status_code) == (404, 404)
