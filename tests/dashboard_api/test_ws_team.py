"""The live team board socket: the board (seq 0), then a team patient's row again for their events from any site's
ward, nothing for anyone else's; a colleague's plan note through the store's poll; a patient who moves resnapshots
(4503); leaving the team closes it (4410); members only (4404 as for an unknown team)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.clock import utc_now
from core.events import alert_event
from core.mqtt import MqttClient
from core.outreach import PlanNote
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import AlertKind, AlertSeverity, Bed, CareSetting, Role, Stay
from dashboard_api.auth import issue_token
from dashboard_api.team_board import TASKS_MAX
from dashboard_api.ws import CloseCode
from dashboard_api.ws_team import TEAM_POLL_S
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.dashboard_api.test_page_team import TEAM, fact_team
from tests.dashboard_api.test_routes_team_tasks import three_weeks_unanswered
from tests.dashboard_api.test_ws import closed_with, receive, ward_socket

pytestmark = pytest.mark.integration

PATH = f"/api/v1/ws/teams/{TEAM.team_id}"
# The poll's interval, the access watch's second, and room for a loaded machine.
CHANGE_WAIT_S = TEAM_POLL_S + 5


def member_token(user: str = "nurse-bo", role: Role = Role.NURSE) -> str:
    return issue_token(SECRET, user_id=user, role=role, site_ids=[], ttl_s=3600, now=utc_now())


async def announce_alert(store: SqliteStore, observer: MqttClient, topic_root: str, patient_id: str, ward: str) -> int:
    site = {"w1": "s1", "w2": "s2"}[ward]
    change = await store.raise_alert(
        patient_id=patient_id, device_id=None, ward_id=ward, kind=AlertKind.RESPIRATORY_DEPRESSION,
        severity=AlertSeverity.HIGH, message="Possible respiratory depression", at=utc_now(),
    )  # fmt: skip
    event = alert_event(site_id=site, ward_id=ward, alert=change.alert, at=utc_now())
    await observer.publish(events_topic(topic_root, site, ward, "alert"), event.model_dump_json().encode())
    return change.alert.alert_id


async def test_the_board_then_a_row_for_each_event_of_a_team_patient_and_nothing_of_others(
    live_server: tuple[Served, Seeded], observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, _ = live_server
    await fact_team(store, "p3")  # Per, in KAD bed 1 of s2; Ola (p1, w1) is not the team's
    async with ward_socket(served, PATH, member_token()) as socket:
        snapshot = await receive(socket)
        assert (snapshot["type"], snapshot["seq"], snapshot["team"]["team_id"]) == ("snapshot", 0, TEAM.team_id)
        assert [r["patient_id"] for r in snapshot["rows"]] == ["p3"]

        await announce_alert(store, observer, topic_root, "p1", "w1")
        alert_id = await announce_alert(store, observer, topic_root, "p3", "w2")
        delta = await receive(socket)

    assert (delta["seq"], delta["type"], delta["row"]["patient_id"]) == (1, "row", "p3")
    assert alert_id in [a["alert_id"] for a in delta["row"]["alerts"]]


async def test_a_colleagues_plan_note_reaches_the_board_through_the_store(
    live_server: tuple[Served, Seeded], store: SqliteStore
) -> None:
    served, _ = live_server
    await fact_team(store, "p2", "p3")
    async with ward_socket(served, PATH, member_token()) as socket:
        await receive(socket)
        await store.add_plan_note(PlanNote(TEAM.team_id, "p2", "Depot Friday", "dr-berg", utc_now()))
        async with asyncio.timeout(CHANGE_WAIT_S):
            delta = await receive(socket)

    assert (delta["seq"], delta["row"]["patient_id"], delta["row"]["plan_note"]["text"]) == (1, "p2", "Depot Friday")


async def test_a_team_patient_admitted_elsewhere_makes_the_board_resnapshot(
    live_server: tuple[Served, Seeded], store: SqliteStore
) -> None:
    served, _ = live_server
    await fact_team(store, "p2")
    async with ward_socket(served, PATH, member_token()) as socket:
        await receive(socket)
        now = utc_now()
        await store.upsert_bed(Bed("b22", "w2", "2"))
        await store.end_stay("st2", end_at=now - timedelta(seconds=1))  # Kari leaves home for KAD bed 2 of s2
        await store.add_stay(Stay("st2b", "p2", "w2", CareSetting.BEDSIDE, now - timedelta(seconds=1), bed_id="b22"))
        async with asyncio.timeout(CHANGE_WAIT_S):
            code, _ = await closed_with(socket)
    assert code == CloseCode.UNAVAILABLE
    async with ward_socket(served, PATH, member_token()) as socket:
        (kari,) = (await receive(socket))["rows"]
    assert kari["where"]["text"] == "KAD bed 2 · Annen kommune"


async def test_leaving_the_team_closes_the_board_4410(live_server: tuple[Served, Seeded], store: SqliteStore) -> None:
    served, _ = live_server
    await fact_team(store, "p2")
    async with ward_socket(served, PATH, member_token()) as socket:
        await receive(socket)
        await store.end_team_member(TEAM.team_id, "nurse-bo", at=utc_now())
        async with asyncio.timeout(CHANGE_WAIT_S):
            code, reason = await closed_with(socket)
    assert (code, reason) == (
        CloseCode.ACCESS_REVOKED,
        f"Membership of team {TEAM.team_id} ended; this stream is closed",
    )


@pytest.mark.parametrize(
    ("user", "role", "code", "reason"),
    [
        ("nurse-anne", Role.NURSE, CloseCode.NOT_FOUND, f"Team {TEAM.team_id} not found"),
        ("tech-1", Role.TECHNICIAN, CloseCode.FORBIDDEN, "Role technician may not watch a team"),
    ],
)
async def test_only_members_in_a_clinical_role_watch_the_board(
    live_server: tuple[Served, Seeded], store: SqliteStore, user: str, role: Role, code: int, reason: str
) -> None:
    served, _ = live_server
    await fact_team(store, "p2")
    async with ward_socket(served, PATH, member_token(user, role)) as socket:
        assert await closed_with(socket) == (code, reason)
    refused = [a for a in await store.list_audit(limit=3) if a.action.startswith("denied")]
    assert refused and refused[0].user_id == user


async def test_a_board_whose_tasks_are_cut_says_so_on_the_row_and_the_next_snapshot(
    live_server: tuple[Served, Seeded], store: SqliteStore
) -> None:
    await fact_team(store, "p2")
    async with ward_socket(live_server[0], PATH, member_token()) as socket:
        first = await receive(socket)
        opened = await three_weeks_unanswered(store, utc_now, "p2")  # Kari's hourly windows
        async with asyncio.timeout(CHANGE_WAIT_S):
            delta = await receive(socket)
    async with ward_socket(live_server[0], PATH, member_token()) as socket:
        again = await receive(socket)

    assert opened > TASKS_MAX
    assert (first["truncated"], delta["truncated"], again["truncated"]) == (False, True, True)
    assert (delta["row"]["patient_id"], len(delta["row"]["tasks"])) == ("p2", TASKS_MAX)
    (row,) = again["rows"]
    assert len(row["tasks"]) == TASKS_MAX
