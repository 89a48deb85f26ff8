"""The broker's trust boundary with the shipped deploy/mosquitto configuration and ACL, on a real Mosquitto: client
ids bound to user names, each account allowed only what it does, every publish's answer checked."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from core.clock import utc_now
from core.events import alert_event
from core.mqtt import Delivery, MqttClient, MqttOptions, PublishRefused
from core.settings import Settings
from core.store import Store
from core.store.sqlite import SqliteStore
from core.topics import events_topic, obs_topic
from core.types import Alert, AlertKind, AlertSeverity, AlertState
from dashboard_api.access import ApiContext, publish_or_warn
from dashboard_api.live import LiveHub
from tests.fixtures.mosquitto import AUTH_USERS, SERVICE_PASSWORD, MosquittoBroker, ShippedBroker
from tests.ingest.conftest import TEST_SECRET, seed_ward, start_ingest, vitals_pack, wait_until

pytestmark = pytest.mark.integration

__all__ = ["start_ingest"]  # a fixture, imported for pytest

ROOT = "vaktrom/v1"  # the shipped ACL names this root; tests keep apart by site instead
INGEST, HEALTH, API, SIMULATOR = "vaktrom-ingest-1", "vaktrom-ingest-1-health", "vaktrom-api-1", "vaktrom-simulator"
TIMEOUT_S = 10.0


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[ShippedBroker]:
    """Its own broker: ingest's persistent session must not outlive the test on a shared one."""
    shipped = ShippedBroker(tmp_path)
    await shipped.start()
    yield shipped
    await shipped.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    sqlite = SqliteStore(tmp_path / "vaktrom.sqlite3")
    await sqlite.open()
    yield sqlite
    await sqlite.close()


def _login(broker: MosquittoBroker, user: str, *, client_id: str | None = None, persistent: bool = False) -> MqttClient:
    """A client logged in as `user` (its password from AUTH_USERS), asking for `client_id` (default: the user name)."""
    url = broker.url(username=user, password=AUTH_USERS[user])
    return MqttClient(MqttOptions(url=url, client_id=client_id or user, clean_start=not persistent))


@contextlib.asynccontextmanager
async def _connected(*clients: MqttClient) -> AsyncIterator[None]:
    try:
        for client in clients:
            await client.connect()
        yield
    finally:
        for client in reversed(clients):
            await client.disconnect()


def _ingest_settings(broker: MosquittoBroker, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mqtt_url": broker.url(),
        "mqtt_password": SecretStr(SERVICE_PASSWORD),
        "auth_secret": TEST_SECRET,
        "ingest_batch_wait_s": 0.01,
    }
    return Settings(**(values | overrides))


async def test_a_device_cannot_take_over_the_ingest_session_and_every_acknowledged_reading_is_stored(
    broker: ShippedBroker, store: Store, start_ingest: Callable[..., Any]
) -> None:
    await seed_ward(store, patients=2)
    await start_ingest(_ingest_settings(broker.address), store)
    # The attack of issue 10: a device's credentials, the ingest worker's client id, a persistent session.
    attacker = _login(broker.address, "dev-1", client_id=INGEST, persistent=True)
    attacker.subscribe(f"{ROOT}/#", 1)
    device = _login(broker.address, "dev-2")
    start = utc_now().replace(microsecond=0)
    async with _connected(attacker, device):
        for n in range(10):
            pack = orjson.dumps(vitals_pack(start.replace(second=n % 60), pulse=60 + n))
            assert await device.publish(obs_topic(ROOT, "site-1", "dev-2"), pack) is Delivery.ACCEPTED
        await wait_until(lambda: _has(store, 50), what="all 50 readings stored")
        assert attacker.inbox.empty()  # logged in as dev-1 (the broker's client id for it), it may read nothing
    assert "New client connected from 127.0.0.1" in broker.log and f" as {INGEST} " in broker.log
    assert f"Client {INGEST} already connected, closing old connection" not in broker.log


async def _has(store: Store, readings: int) -> bool:
    return await store.count_readings() == readings


@pytest.mark.parametrize("victim", [INGEST, API, "dev-b"])
async def test_a_devices_credentials_cannot_take_over_any_other_client_id(
    mosquitto_auth: MosquittoBroker, victim: str
) -> None:
    target = _login(mosquitto_auth, victim)
    lost: list[str] = []
    target.add_connection_lost_listener(lambda: lost.append(victim))
    attacker = _login(mosquitto_auth, "dev-a", client_id=victim)
    async with _connected(target, attacker):
        # A round trip on the victim's connection after the attacker's CONNACK: had the broker let the attacker
        # have the id, it would have closed this connection first.
        allowed = {INGEST: "score", API: "alert"}
        own = (
            events_topic(ROOT, "site-t", "ward-t", allowed[victim])
            if victim in allowed
            else obs_topic(ROOT, "s", victim)
        )
        await target.publish(own, b"{}")
    assert lost == []


@pytest.mark.parametrize(
    ("account", "topic", "allowed"),
    [
        ("dev-a", obs_topic(ROOT, "site-x", "dev-a"), True),
        ("dev-a", f"{ROOT}/site-x/dev-a/status", True),
        ("dev-a", obs_topic(ROOT, "site-x", "dev-b"), False),  # as another device
        ("dev-a", events_topic(ROOT, "site-x", "ward-x", "alert"), False),  # a fake alert for a ward's page
        ("dev-a", f"{ROOT}/control/rescore", False),
        (INGEST, events_topic(ROOT, "site-x", "ward-x", "score"), True),
        (INGEST, obs_topic(ROOT, "site-x", "dev-a"), False),
        (HEALTH, events_topic(ROOT, "site-x", "ward-x", "alert"), True),
        (HEALTH, events_topic(ROOT, "site-x", "ward-x", "readings"), False),
        (API, events_topic(ROOT, "site-x", "ward-x", "alert"), True),  # an acknowledgement (refused before)
        (API, f"{ROOT}/control/rescore", True),
        (API, events_topic(ROOT, "site-x", "ward-x", "score"), False),
        (SIMULATOR, obs_topic(ROOT, "demo-sykestue", "demo-monitor-1"), True),
        (SIMULATOR, obs_topic(ROOT, "site-x", "dev-a"), False),  # only the demo unit's devices
    ],
)
async def test_each_account_may_publish_what_it_publishes_and_nothing_else(
    mosquitto_auth: MosquittoBroker, account: str, topic: str, allowed: bool
) -> None:
    client = _login(mosquitto_auth, account)
    async with _connected(client):
        if allowed:
            assert await client.publish(topic, b"{}") in (Delivery.ACCEPTED, Delivery.NO_SUBSCRIBERS)
        else:
            with pytest.raises(PublishRefused) as refused:
                await client.publish(topic, b"{}")
            assert (refused.value.code, refused.value.reason) == (0x87, "Not authorized")


async def test_a_device_subscribed_to_everything_receives_nothing(mosquitto_auth: MosquittoBroker) -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"
    snoop = _login(mosquitto_auth, "dev-a")
    snoop.subscribe("#", 1)
    ingest = _login(mosquitto_auth, INGEST)  # a non-persistent session, standing in for the worker
    ingest.subscribe(f"{ROOT}/+/+/obs", 1)
    device = _login(mosquitto_auth, "dev-b")
    async with _connected(snoop, ingest, device):
        for n in range(3):
            await device.publish(obs_topic(ROOT, site, "dev-b"), str(n).encode())
        async with asyncio.timeout(TIMEOUT_S):
            payloads = [(await ingest.inbox.get()).payload for _ in range(3)]
    assert payloads == [b"0", b"1", b"2"]
    assert snoop.inbox.empty()  # the broker sent the snoop's copies (had there been any) in the same order


async def test_ingest_publishes_every_event_the_api_needs_and_an_acknowledgement_reaches_the_page(
    broker: ShippedBroker, store: Store, start_ingest: Callable[..., Any]
) -> None:
    await seed_ward(store, patients=1)
    await start_ingest(_ingest_settings(broker.address), store)
    api = _login(broker.address, API)
    hub = LiveHub(api, topic_root=ROOT)
    device = _login(broker.address, "dev-1")
    async with _connected(api, device):
        hub_task = asyncio.create_task(hub.run(), name="live-hub")
        try:
            with hub.subscribe(["ward-1"]) as page:
                await device.publish(obs_topic(ROOT, "site-1", "dev-1"), orjson.dumps(vitals_pack(utc_now())))
                types = {await _next_type(page) for _ in range(2)}
                assert types == {"readings", "score"}  # published by ingest, allowed by the ACL, routed by topic
                ctx = ApiContext(store=store, clock=utc_now, publisher=api, topic_root=ROOT)
                event = alert_event(site_id="site-1", ward_id="ward-1", alert=_alert(), at=utc_now())
                topic = events_topic(ROOT, "site-1", "ward-1", "alert")
                assert await publish_or_warn(ctx, topic, event.model_dump_json().encode(), what="acknowledged alert")
                assert await _next_type(page) == "alert"
                assert not page.interrupted.is_set()
        finally:
            hub_task.cancel()
            await asyncio.gather(hub_task, return_exceptions=True)
    assert api.publishes_refused == 0


async def test_a_refused_publish_of_the_api_makes_its_wards_pages_resnapshot(
    mosquitto_auth: MosquittoBroker, store: Store
) -> None:
    api = _login(mosquitto_auth, API)
    hub = LiveHub(api, topic_root=ROOT)
    ctx = ApiContext(store=store, clock=utc_now, publisher=api, topic_root=ROOT)
    async with _connected(api):
        with hub.subscribe(["ward-r"]) as page:
            # The API may publish alert events only: a score event is refused (0x87), as the old ACL refused all.
            # Mosquitto 2.0.11 with `max_queued_messages 0` also closes the connection of a client whose QoS 1
            # publish it refused, right after the PUBACK; then every page of this node is told, not only ward-r's.
            topic = events_topic(ROOT, "site-r", "ward-r", "score")
            assert not await publish_or_warn(ctx, topic, b"{}", what="a score")
            assert page.interrupted.is_set()
            assert page.interruption in (
                "an event of ward ward-r was lost: Not authorized",
                "the live feed lost its broker connection",
            )


async def test_a_broker_crash_makes_every_page_resnapshot_and_new_pages_wait_for_the_broker(
    broker: ShippedBroker, store: Store
) -> None:
    api = _login(broker.address, API)
    hub = LiveHub(api, topic_root=ROOT)
    async with _connected(api):
        with hub.subscribe(["ward-1"]) as page:
            await broker.kill_9()
            async with asyncio.timeout(TIMEOUT_S):
                await page.interrupted.wait()
            with hub.subscribe(["ward-1"]) as while_down:
                assert while_down.interrupted.is_set()
            await broker.start()
            async with asyncio.timeout(30):
                await api.wait_connected()
            with hub.subscribe(["ward-1"]) as after:
                assert not after.interrupted.is_set()


async def _next_type(page: Any) -> str:
    async with asyncio.timeout(TIMEOUT_S):
        return str(orjson.loads(await page.queue.get())["type"])


def _alert() -> Alert:
    now = utc_now()
    return Alert(
        alert_id=1, patient_id="p-1", ward_id="ward-1", kind=AlertKind.NEWS2, severity=AlertSeverity.HIGH,
        state=AlertState.ACKNOWLEDGED, message="NEWS2 7 (high risk)", opened_at=now, updated_at=now,
        acknowledged_at=now, acknowledged_by="nurse-anne",
    )  # fmt: skip
