"""The covered-alerts socket: a snapshot of the open alerts, then a row per changed alert, audited; refusals."""

from __future__ import annotations

import pytest

from alerts.lifecycle import acknowledge
from core.events import alert_event
from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import Role
from dashboard_api.ws import CloseCode
from tests.dashboard_api.conftest import FixedClock, Seeded, Served, TokenFactory
from tests.dashboard_api.test_live import score_json
from tests.dashboard_api.test_ws import closed_with, receive, ward_socket
from tests.dashboard_api.test_ws import server as server

pytestmark = pytest.mark.integration


async def test_snapshot_of_both_sites_then_a_row_when_an_alert_is_acknowledged_elsewhere(
    server: Served,
    token: TokenFactory,
    seeded: Seeded,
    store: SqliteStore,
    clock: FixedClock,
    observer: MqttClient,
    topic_root: str,
) -> None:
    async with ward_socket(server, "/api/v1/ws/alerts", token(Role.SPECIALIST, ("s1", "s2"), "dr-spes")) as socket:
        snapshot = await receive(socket)
        assert (snapshot["type"], snapshot["seq"]) == ("covered_snapshot", 0)
        assert [r["alert"]["alert_id"] for r in snapshot["alerts"]] == [seeded.other_alert_id, seeded.alert_id]

        change = await store.update_alert_by_id(
            seeded.other_alert_id, lambda a: acknowledge(a, by="nurse-bo", at=clock())
        )
        event = alert_event(site_id="s2", ward_id="w2", alert=change.alert, at=clock())
        # A score on the same ward is for the ward board: the list skips it and its seq stays gap-free.
        await observer.publish(events_topic(topic_root, "s2", "w2", "score"), score_json("w2"))
        await observer.publish(events_topic(topic_root, "s2", "w2", "alert"), event.model_dump_json().encode())

        delta = await receive(socket)
        assert (delta["seq"], delta["type"]) == (1, "alert_row")
        row = delta["row"]
        assert (row["alert"]["state"], row["alert"]["acknowledged_by"], row["place"]) == (
            "acknowledged",
            "nurse-bo",
            "1",
        )
        assert row["escalation"]["status"] == "stopped"
    audited = [(a.action, a.subject) for a in await store.list_audit(limit=20) if a.action == "ws.covered_alerts"]
    assert sorted(audited) == [("ws.covered_alerts", "p1"), ("ws.covered_alerts", "p3")]  # each patient once


async def test_roles_without_patient_data_and_missing_tokens_are_refused(
    server: Served,
    token: TokenFactory,
) -> None:
    async with ward_socket(server, "/api/v1/ws/alerts", token(Role.TECHNICIAN, ("s1",), "tech-tor")) as socket:
        assert await closed_with(socket) == (CloseCode.FORBIDDEN, "Role technician may not watch alerts")
    async with ward_socket(server, "/api/v1/ws/alerts", None) as socket:
        code, _ = await closed_with(socket)
    assert code == CloseCode.UNAUTHENTICATED


async def test_the_alerts_stream_closes_4410_when_a_site_it_covers_is_taken_and_reopens_without_it(
    server: Served, token: TokenFactory, seeded: Seeded, store: SqliteStore, clock: FixedClock
) -> None:
    kari = token(Role.NURSE, ("s1", "s2"), "nurse-kari")
    async with ward_socket(server, "/api/v1/ws/alerts", kari) as socket:
        snapshot = await receive(socket)
        assert {r["site_id"] for r in snapshot["alerts"]} == {"s1", "s2"}
        await store.change_user("nurse-kari", at=clock(), site_ids=["s1"])
        assert await closed_with(socket) == (CloseCode.ACCESS_REVOKED, "Access to site s2 withdrawn")
    async with ward_socket(server, "/api/v1/ws/alerts", kari) as socket:  # the page reconnects: what is left
        again = await receive(socket)
    assert [r["alert"]["alert_id"] for r in again["alerts"]] == [seeded.alert_id]
