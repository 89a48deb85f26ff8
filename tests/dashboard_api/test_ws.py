"""The live ward socket, served by uvicorn, fed by a real Mosquitto: auth, snapshot, ordered deltas, slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import Bed, Role
from dashboard_api import ws
from dashboard_api.auth import issue_token
from dashboard_api.live import CLIENT_QUEUE_BEDS, LiveHub
from dashboard_api.ws import CloseCode
from tests.dashboard_api.conftest import (
    SECRET,
    FixedClock,
    Seeded,
    Served,
    TokenFactory,
    build_app,
    connect_hub_client,
    offline_client,
    serve,
)
from tests.dashboard_api.test_live import score_json

RECV_TIMEOUT_S = 10


@pytest.fixture
async def server(
    store: SqliteStore,
    seeded: Seeded,
    clock: FixedClock,
    topic_root: str,
    broker_client: MqttClient,
    observer: MqttClient,
) -> AsyncIterator[Served]:
    app = build_app(store, broker_client, topic_root=topic_root, clock=clock)  # the hub subscribes
    await connect_hub_client(broker_client, observer, topic_root=topic_root)
    hub: LiveHub = app.state.live
    hub_task = asyncio.create_task(hub.run(), name="live-hub")
    try:
        async with serve(app) as served:
            yield served
    finally:
        hub_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hub_task


@contextlib.asynccontextmanager
async def ward_socket(served: Served, path: str, token: str | None) -> AsyncIterator[ClientConnection]:
    protocols = [Subprotocol("bearer"), Subprotocol(token)] if token else None
    async with connect(served.ws_url + path, subprotocols=protocols, open_timeout=RECV_TIMEOUT_S) as socket:
        yield socket


async def receive(socket: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(RECV_TIMEOUT_S):
        message = json.loads(await socket.recv())
    assert isinstance(message, dict)
    return message


async def closed_with(socket: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await receive(socket)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


@pytest.mark.integration
async def test_snapshot_then_a_score_delta_from_the_broker(
    server: Served, token: TokenFactory, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    async with ward_socket(server, "/api/v1/ws/wards/w1", token()) as socket:
        assert socket.subprotocol == "bearer"
        snapshot = await receive(socket)
        assert (snapshot["type"], snapshot["seq"], snapshot["at"]) == ("snapshot", 0, "2025-01-15T08:00:00Z")
        [ward] = snapshot["wards"]
        assert ward["ward"]["ward_id"] == "w1"
        assert [b["label"] for b in ward["beds"]] == ["Seng 1", "Seng 2", "Seng 10", "Home"]
        ola = ward["beds"][0]
        assert ola["patient"]["display_name"] == "Ola Nordmann" and ola["news2"]["total"] == 5
        assert {v["parameter"]: v["age_s"] for v in ola["vitals"]}["pulse"] == 30.0
        assert [a["state"] for a in ola["alerts"]] == ["open"] and ola["devices"][0]["online"] is True
        audit = await store.list_audit(limit=5)  # a row per patient on the board, newest first
        assert [(a.user_id, a.action, a.subject, a.patient_id, a.grant) for a in audit] == [
            ("nurse-anne", "ws.ward", "w1", "p2", "site:s1"),
            ("nurse-anne", "ws.ward", "w1", "p1", "site:s1"),
        ]

        await observer.publish(events_topic(topic_root, "s1", "w1", "score"), score_json("w1", total=7))
        await observer.publish(events_topic(topic_root, "s2", "w2", "score"), score_json("w2", total=3))
        await observer.publish(events_topic(topic_root, "s1", "w1", "score"), b"{not an event")
        await observer.publish(events_topic(topic_root, "s1", "w1", "score"), score_json("w1", total=8))
        first, second = await receive(socket), await receive(socket)
        assert (first["seq"], first["type"], first["patient_id"], first["total"]) == (1, "score", "p1", 7)
        assert (second["seq"], second["total"]) == (2, 8)


@pytest.mark.integration
async def test_specialist_watches_several_wards_on_one_socket(
    server: Served, token: TokenFactory, observer: MqttClient, topic_root: str
) -> None:
    specialist = token(Role.SPECIALIST, ("s1", "s2"), user="spec-lund")
    async with ward_socket(server, "/api/v1/ws/live?wards=w1,w2", specialist) as socket:
        snapshot = await receive(socket)
        assert [w["ward"]["ward_id"] for w in snapshot["wards"]] == ["w1", "w2"]
        await observer.publish(events_topic(topic_root, "s2", "w2", "score"), score_json("w2", total=3))
        delta = await receive(socket)
        assert (delta["seq"], delta["ward_id"], delta["total"]) == (1, "w2", 3)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("path", "role", "sites", "expected"),
    [
        ("/api/v1/ws/wards/w2", Role.NURSE, ("s1",), (CloseCode.NOT_FOUND, "Ward w2 not found")),
        ("/api/v1/ws/wards/w1", Role.TECHNICIAN, ("s1",), (CloseCode.FORBIDDEN, "Role technician may not watch wards")),
        ("/api/v1/ws/wards/nope", Role.NURSE, ("s1",), (CloseCode.NOT_FOUND, "Ward nope not found")),
        ("/api/v1/ws/live?wards=w1,w2", Role.SPECIALIST, ("s1",), (CloseCode.NOT_FOUND, "Ward w2 not found")),
        ("/api/v1/ws/live", Role.SPECIALIST, ("s1",), (CloseCode.BAD_REQUEST, "Give 1-20 ward ids as ?wards=a,b")),
    ],
)
async def test_socket_refuses_what_the_token_does_not_cover(
    server: Served, token: TokenFactory, path: str, role: Role, sites: tuple[str, ...], expected: tuple[int, str]
) -> None:
    async with ward_socket(server, path, token(role, sites)) as socket:
        assert await closed_with(socket) == expected


@pytest.mark.integration
async def test_socket_without_token_is_closed_4401(server: Served) -> None:
    async with ward_socket(server, "/api/v1/ws/wards/w1", None) as socket:
        assert await closed_with(socket) == (
            CloseCode.UNAUTHENTICATED,
            "Send the token as subprotocols ['bearer', <token>]",
        )


@pytest.mark.integration
async def test_socket_with_forged_token_is_closed_4401(server: Served) -> None:
    async with ward_socket(server, "/api/v1/ws/wards/w1", "eyJhbGciOiJIUzI1NiJ9.e30.forged") as socket:
        code, reason = await closed_with(socket)
    assert (code, reason.split(":")[0]) == (CloseCode.UNAUTHENTICATED, "Token rejected")


async def test_a_client_that_falls_behind_is_closed_4429_to_resnapshot(
    store: SqliteStore, seeded: Seeded, clock: FixedClock, topic_root: str, token: TokenFactory
) -> None:
    # The hub is fed directly (no broker): three deltas in one go overflow a queue of one before the socket can send.
    app = build_app(store, offline_client(), topic_root=topic_root, clock=clock)
    hub = LiveHub(offline_client(), topic_root=topic_root, queue_max=1)
    app.state.live = hub
    async with serve(app) as served, ward_socket(served, "/api/v1/ws/wards/w1", token()) as socket:
        assert (await receive(socket))["type"] == "snapshot"
        for total in (1, 2, 3):
            hub.dispatch(events_topic(topic_root, "s1", "w1", "score"), score_json(total=total))
        received: list[int] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                received.append((await receive(socket))["total"])
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            CloseCode.TOO_SLOW,
            "Too far behind; reconnect for a fresh snapshot",
        )
        assert received in ([], [1])  # never a later delta after a missing one


async def test_a_big_boards_socket_holds_more_deltas_before_it_is_closed(
    store: SqliteStore, seeded: Seeded, clock: FixedClock, topic_root: str, token: TokenFactory
) -> None:
    # The seeded board has 4 rows (3 beds, Kari at home); CLIENT_QUEUE_BEDS more make a board whose queue holds twice
    # as many deltas.
    for n in range(CLIENT_QUEUE_BEDS):
        await store.upsert_bed(Bed(f"big-{n}", "w1", f"Seng {100 + n}"))
    app = build_app(store, offline_client(), topic_root=topic_root, clock=clock)
    hub = LiveHub(offline_client(), topic_root=topic_root, queue_max=1)
    app.state.live = hub
    async with serve(app) as served, ward_socket(served, "/api/v1/ws/wards/w1", token()) as socket:
        assert len((await receive(socket))["wards"][0]["beds"]) == CLIENT_QUEUE_BEDS + 4
        for total in (1, 2):  # in one go, before the socket can send: a queue of one would overflow
            hub.dispatch(events_topic(topic_root, "s1", "w1", "score"), score_json(total=total))
        assert [(await receive(socket))["total"] for _ in range(2)] == [1, 2]
        for total in (3, 4, 5):  # and three overflow a queue of two
            hub.dispatch(events_topic(topic_root, "s1", "w1", "score"), score_json(total=total))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await receive(socket)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.TOO_SLOW


@pytest.mark.integration
async def test_socket_is_closed_4401_when_the_token_expires(server: Served, clock: FixedClock) -> None:
    short = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=1, now=clock())
    async with ward_socket(server, "/api/v1/ws/wards/w1", short) as socket:
        assert (await receive(socket))["type"] == "snapshot"
        assert await closed_with(socket) == (CloseCode.UNAUTHENTICATED, "Token expired; log in again")


@pytest.mark.integration
async def test_a_quiet_stream_sends_heartbeats_carrying_the_last_seq_it_sent(
    server: Served, token: TokenFactory, observer: MqttClient, topic_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So the page can tell a quiet ward from a dead connection, and a lost last delta from none."""
    monkeypatch.setattr(ws, "HEARTBEAT_S", 0.3)
    async with ward_socket(server, "/api/v1/ws/wards/w1", token()) as socket:
        assert (await receive(socket))["type"] == "snapshot"
        assert await receive(socket) == {"type": "heartbeat", "seq": 0}

        await observer.publish(events_topic(topic_root, "s1", "w1", "score"), score_json("w1", total=7))
        assert (await receive(socket))["seq"] == 1
        assert await receive(socket) == {"type": "heartbeat", "seq": 1}


@pytest.mark.integration
async def test_events_a_stream_does_not_send_do_not_put_its_heartbeat_off(
    server: Served, token: TokenFactory, observer: MqttClient, topic_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alerts stream of a busy ward: its scores reach the stream's subscription but are not sent."""
    monkeypatch.setattr(ws, "HEARTBEAT_S", 0.5)
    async with ward_socket(server, "/api/v1/ws/alerts", token(Role.SPECIALIST, ("s1",), "dr-spes")) as socket:
        assert (await receive(socket))["type"] == "covered_snapshot"
        loop = asyncio.get_running_loop()
        started = loop.time()
        scores = asyncio.create_task(_publish_scores_for(observer, topic_root, seconds=2.0))
        try:
            first = await receive(socket)
            waited_s = loop.time() - started
        finally:
            scores.cancel()
        assert first == {"type": "heartbeat", "seq": 0}
        assert waited_s < 1.5, f"the heartbeat came after {waited_s:.1f} s of scores every 0.1 s"


async def _publish_scores_for(observer: MqttClient, topic_root: str, *, seconds: float) -> None:
    for _ in range(int(seconds / 0.1)):
        await observer.publish(events_topic(topic_root, "s1", "w1", "score"), score_json("w1", total=7))
        await asyncio.sleep(0.1)
