"""The embedded amqtt broker of one-process mode, driven by the same paho clients the parts use (MQTT 3.1.1): the
production rules hold there too (logins, client id = user name, per-device topics, no `#` for devices)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.errors import BrokerAuthFailed
from core.mqtt import MqttClient, MqttOptions, RawMessage
from core.settings import Settings
from devices.credentials import hash_password
from tests.vaktrom.conftest import free_port, port_is_open
from vaktrom.broker_policy import BrokerPolicy, vaktrom_accounts
from vaktrom.embedded_broker import embedded_broker

# A message on loopback arrives in milliseconds; this only bounds a test that would otherwise hang.
DELIVERY_TIMEOUT_S = 5.0
# The broker resends a session's in-flight messages as soon as the client is back, or never: no need to wait longer.
REDELIVERY_TIMEOUT_S = 2.0
# amqtt 0.12 gives up on a PUBACK after this long (hard-coded); the embedded broker waits as long as the session lives.
AMQTT_PUBACK_WAIT_S = 5.0
ROOT = "vaktrom/v1"
SITE = "demo-sykestue"
SERVICE_PASSWORD = "embedded-service-password-for-tests"
DEVICE_PASSWORDS = {"dev-a": "dev-a-password-16+", "dev-b": "dev-b-password-16+"}
INGEST, API, SIMULATOR = "vaktrom-ingest-1", "vaktrom-api-1", "vaktrom-simulator"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, mqtt_password=SecretStr(SERVICE_PASSWORD))


@pytest.fixture
async def broker_url(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    policy = BrokerPolicy(
        topic_root=ROOT,
        services=vaktrom_accounts(settings, simulated_sites=[SITE]),
        device_hashes={device_id: hash_password(password) for device_id, password in DEVICE_PASSWORDS.items()},
    )
    async with embedded_broker(policy=policy, port=free_port()) as url:
        yield url


def _client(
    url: str, *, client_id: str, password: str | None, persistent: bool = False, user: str | None = None
) -> MqttClient:
    # The embedded broker speaks MQTT 3.1.1 only (Settings.mqtt_v5 is False without VAKTROM_MQTT_URL).
    if user is not None:  # log in as `user` under another client id (what an attacker would try)
        url = url.replace("mqtt://", f"mqtt://{user}:{password}@")
        password = None
    return MqttClient(
        MqttOptions(
            url=url, client_id=client_id, protocol_v5=False, clean_start=not persistent, manual_ack=persistent,
            password=password,
        )
    )  # fmt: skip


def _service(url: str, account: str, *, persistent: bool = False) -> MqttClient:
    return _client(url, client_id=account, password=SERVICE_PASSWORD, persistent=persistent)


def _ingest_session(url: str) -> MqttClient:
    """Ingest's persistent session, subscribed to the readings (acknowledges by hand, as ingest does)."""
    client = _service(url, INGEST, persistent=True)
    client.subscribe(f"{ROOT}/+/+/obs", qos=1)
    return client


def _device(url: str, device_id: str) -> MqttClient:
    return _client(url, client_id=device_id, password=DEVICE_PASSWORDS[device_id])


async def _next(client: MqttClient, *, timeout_s: float = DELIVERY_TIMEOUT_S) -> RawMessage:
    async with asyncio.timeout(timeout_s):
        return await client.inbox.get()


async def test_a_device_reading_reaches_the_ingest_account(broker_url: str) -> None:
    topic = f"{ROOT}/{SITE}/dev-a/obs"
    ingest = _service(broker_url, INGEST)
    ingest.subscribe(f"{ROOT}/+/+/obs", qos=1)
    device = _device(broker_url, "dev-a")
    try:
        await ingest.connect()
        await device.connect()
        await device.publish(topic, b'[{"n":"heart-rate","u":"beat/min","v":72}]', qos=1)  # returns on PUBACK
        message = await _next(ingest)
    finally:
        await device.disconnect()
        await ingest.disconnect()
    assert (message.topic, message.payload, message.qos) == (topic, b'[{"n":"heart-rate","u":"beat/min","v":72}]', 1)


@pytest.mark.parametrize(
    ("client_id", "user", "password"),
    [
        ("anonymous-probe", None, None),
        ("dev-a", "dev-a", "not-the-password"),
        ("dev-c", "dev-c", "an-unknown-device-password"),
        (INGEST, INGEST, "not-the-service-password"),
    ],
)
async def test_clients_without_valid_credentials_are_refused(
    broker_url: str, client_id: str, user: str | None, password: str | None
) -> None:
    client = _client(broker_url, client_id=client_id, password=password, user=user)
    with pytest.raises(BrokerAuthFailed, match="Not authorized"):
        await client.connect(timeout_s=DELIVERY_TIMEOUT_S)


async def test_a_device_cannot_take_over_the_ingest_session_and_its_unacknowledged_reading_survives(
    broker_url: str,
) -> None:
    topic = f"{ROOT}/{SITE}/dev-b/obs"
    ingest = _service(broker_url, INGEST, persistent=True)
    ingest.subscribe(f"{ROOT}/+/+/obs", qos=1)
    lost: list[str] = []
    ingest.add_connection_lost_listener(lambda: lost.append("lost"))
    device_b = _device(broker_url, "dev-b")
    attacker = _client(broker_url, client_id=INGEST, password=DEVICE_PASSWORDS["dev-a"], user="dev-a", persistent=True)
    try:
        await ingest.connect()
        await device_b.connect()
        with pytest.raises(BrokerAuthFailed):  # dev-a's credentials, the ingest worker's client id
            await attacker.connect(timeout_s=DELIVERY_TIMEOUT_S)
        await device_b.publish(topic, b"reading-after-the-attempt", qos=1)
        message = await _next(ingest)
        ingest.ack(message)
    finally:
        await device_b.disconnect()
        await ingest.disconnect()
    assert (message.payload, lost) == (b"reading-after-the-attempt", [])


async def test_a_device_publishes_only_on_its_own_topics_and_subscribes_to_nothing(broker_url: str) -> None:
    ingest = _service(broker_url, INGEST)
    ingest.subscribe(f"{ROOT}/+/+/obs", qos=1)
    api = _service(broker_url, API)
    api.subscribe(f"{ROOT}/events/+/+/+", qos=1)
    snoop = _device(broker_url, "dev-a")
    snoop.subscribe("#", qos=1)
    device = _device(broker_url, "dev-a")
    clients = (ingest, api, snoop, device)
    try:
        for client in clients:
            await client.connect()
        await device.publish(f"{ROOT}/{SITE}/dev-b/obs", b"forged: as dev-b", qos=1)  # dropped by the broker
        await device.publish(f"{ROOT}/events/{SITE}/ward-1/alert", b"forged: a fake alert", qos=1)  # dropped
        await device.publish(f"{ROOT}/{SITE}/dev-a/obs", b"own reading", qos=1)
        first = await _next(ingest)
    finally:
        for client in reversed(clients):
            await client.disconnect()
    # The broker handles one client's publishes in order: the forged ones would have arrived first.
    assert (first.topic, first.payload) == (f"{ROOT}/{SITE}/dev-a/obs", b"own reading")
    assert api.inbox.empty()
    assert snoop.inbox.empty()  # its subscription to "#" was refused


async def test_the_simulator_speaks_for_its_demo_sites_only(broker_url: str) -> None:
    ingest = _service(broker_url, INGEST)
    ingest.subscribe(f"{ROOT}/+/+/obs", qos=1)
    simulator = _service(broker_url, SIMULATOR)
    try:
        await ingest.connect()
        await simulator.connect()
        await simulator.publish(f"{ROOT}/another-site/dev-x/obs", b"not a demo device", qos=1)
        await simulator.publish(f"{ROOT}/{SITE}/demo-monitor-1/obs", b"demo reading", qos=1)
        first = await _next(ingest)
    finally:
        await simulator.disconnect()
        await ingest.disconnect()
    assert (first.topic, first.payload) == (f"{ROOT}/{SITE}/demo-monitor-1/obs", b"demo reading")


async def test_broker_listens_on_loopback_only_inside_its_block(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    policy = BrokerPolicy(topic_root=ROOT, services=vaktrom_accounts(settings), device_hashes={})
    async with embedded_broker(policy=policy, port=port) as url:
        assert url == f"mqtt://127.0.0.1:{port}"
        # An MQTT client, not a bare TCP probe: amqtt 0.12 never closes a connection that sends no CONNECT, and
        # the leaked transport would fail the test run with a ResourceWarning.
        client = _service(url, API)
        await client.connect()
        await client.disconnect()
    assert not port_is_open(port)


# Unacknowledged at once, and past amqtt's own PUBACK wait: an ingest worker on a loaded machine can take that long to
# store its first batch, and the reading must neither be logged as a failure nor forgotten when the worker then
# loses its connection.
@pytest.mark.parametrize("held_s", [0.0, AMQTT_PUBACK_WAIT_S + 1.0], ids=["at-once", "after-amqtts-puback-wait"])
async def test_unacknowledged_message_is_redelivered_to_a_persistent_session_on_reconnect_until_acknowledged(
    broker_url: str, caplog: pytest.LogCaptureFixture, held_s: float
) -> None:
    topic = f"{ROOT}/{SITE}/dev-a/obs"
    device = _device(broker_url, "dev-a")
    first = _ingest_session(broker_url)
    await device.connect()
    await first.connect()
    try:
        await device.publish(topic, b"reading-1", qos=1)
        assert (await _next(first)).payload == b"reading-1"
        await asyncio.sleep(held_s)
    finally:
        await first.disconnect()  # gone without acking, as if it crashed before storing the reading
    again = _ingest_session(broker_url)
    try:
        await again.connect()
        redelivered = await _next(again, timeout_s=REDELIVERY_TIMEOUT_S)
        again.ack(redelivered)
    finally:
        await again.disconnect()
    last = _ingest_session(broker_url)
    try:
        await last.connect()
        await asyncio.sleep(REDELIVERY_TIMEOUT_S)  # an acknowledged message is not sent again
    finally:
        await last.disconnect()
        await device.disconnect()

    assert redelivered.payload == b"reading-1"
    assert last.inbox.empty()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
