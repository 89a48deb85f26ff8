"""After an alert event, every ward socket sends the alert's escalation state as stored now; a node reads that state
once per event for all its dashboards, not once per socket (200 dashboards of one ward would read it 200 times)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from core.escalation import Escalation
from core.events import AlertEvent
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import Role
from dashboard_api.live import LiveHub
from tests.dashboard_api.conftest import NOW, FixedClock, Seeded, TokenFactory, build_app, offline_client, serve
from tests.dashboard_api.test_ws import receive, ward_socket


def _alert_event(alert_id: int, *, message: str = "NEWS2 5") -> bytes:
    event = AlertEvent(
        site_id="s1", ward_id="w1", at=NOW, alert_id=alert_id, patient_id="p1", device_id=None, kind="news2",
        severity=2, severity_name="medium", state="open", message=message, opened_at=NOW, updated_at=NOW,
        acknowledged_by=None,
    )  # fmt: skip
    return event.model_dump_json().encode()


def _counted(monkeypatch: pytest.MonkeyPatch, store: SqliteStore) -> list[int]:
    """The alert ids the store was asked for an escalation chain, in order (the store itself answers)."""
    asked: list[int] = []
    real: Callable[[int], Awaitable[Escalation | None]] = store.get_escalation

    async def get_escalation(alert_id: int) -> Escalation | None:
        asked.append(alert_id)
        return await real(alert_id)

    monkeypatch.setattr(store, "get_escalation", get_escalation)
    return asked


async def test_three_dashboards_send_one_escalation_state_read_once_per_alert_event(
    store: SqliteStore,
    seeded: Seeded,
    clock: FixedClock,
    topic_root: str,
    token: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = build_app(store, offline_client(), topic_root=topic_root, clock=clock)
    hub = LiveHub(offline_client(), topic_root=topic_root)
    app.state.live = hub
    asked = _counted(monkeypatch, store)
    topic = events_topic(topic_root, "s1", "w1", "alert")
    doctor = token(Role.DOCTOR, ("s3",), user="dr-berg")  # Ola's supervising doctor, through his care team
    async with (
        serve(app) as served,
        ward_socket(served, "/api/v1/ws/wards/w1", token()) as first,
        ward_socket(served, "/api/v1/ws/wards/w1", token(user="nurse-bo")) as second,
        ward_socket(served, "/api/v1/ws/wards/w1", doctor) as team,
    ):
        sockets = (first, second, team)
        for socket in sockets:
            assert (await receive(socket))["type"] == "snapshot"
        asked.clear()  # the snapshots read each bed's chains
        assert hub.dispatch(topic, _alert_event(seeded.alert_id)) == 3
        seen: list[list[dict[str, Any]]] = [[await receive(s), await receive(s)] for s in sockets]
        assert asked == [seeded.alert_id]
        hub.dispatch(topic, _alert_event(seeded.alert_id, message="NEWS2 6"))  # a new event reads again, once
        again = [[await receive(s), await receive(s)] for s in sockets]
    assert asked == [seeded.alert_id, seeded.alert_id]
    for alert, escalation in (*seen, *again):
        assert (alert["type"], alert["alert_id"]) == ("alert", seeded.alert_id)
        assert (escalation["type"], escalation["patient_id"]) == ("escalation", "p1")
        assert escalation["escalation"]["alert_id"] == seeded.alert_id
    assert [a["message"] for a, _ in again] == ["NEWS2 6"] * 3
    # The same words on every dashboard: one state, not three reads that could disagree.
    assert len({str(e["escalation"]) for _, e in seen}) == 1
