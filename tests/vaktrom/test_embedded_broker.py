"""The embedded amqtt broker of one-process mode, driven by the same paho clients the parts use (MQTT 3.1.1)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from core.mqtt import MqttClient, MqttOptions, RawMessage
from tests.vaktrom.conftest import free_port, port_is_open
from vaktrom.embedded_broker import embedded_broker

# A message on loopback arrives in milliseconds; this only bounds a test that would otherwise hang.
DELIVERY_TIMEOUT_S = 5.0
# amqtt resends a session's in-flight messages as soon as the client is back, or never: no need to wait longer.
REDELIVERY_TIMEOUT_S = 2.0


@pytest.fixture
async def broker_url() -> AsyncIterator[str]:
    async with embedded_broker(port=free_port()) as url:
        yield url


def _client(url: str, *, client_id: str, persistent: bool = False) -> MqttClient:
    # The embedded broker speaks MQTT 3.1.1 only (Settings.mqtt_v5 is False without VAKTROM_MQTT_URL).
    return MqttClient(
        MqttOptions(url=url, client_id=client_id, protocol_v5=False, clean_start=not persistent, manual_ack=persistent)
    )


async def _next(client: MqttClient, *, timeout_s: float = DELIVERY_TIMEOUT_S) -> RawMessage:
    async with asyncio.timeout(timeout_s):
        return await client.inbox.get()


async def test_qos1_message_from_one_client_reaches_a_subscriber(broker_url: str) -> None:
    topic = f"vaktrom-test-{uuid.uuid4().hex[:8]}/v1/demo-sykestue/demo-monitor-1/obs"
    subscriber = _client(broker_url, client_id="subscriber")
    subscriber.subscribe(topic, qos=1)
    publisher = _client(broker_url, client_id="publisher")
    try:
        await subscriber.connect()
        await publisher.connect()
        await publisher.publish(topic, b'[{"n":"heart-rate","u":"beat/min","v":72}]', qos=1)  # returns on PUBACK
        message = await _next(subscriber)
    finally:
        await publisher.disconnect()
        await subscriber.disconnect()
    assert (message.topic, message.payload, message.qos) == (topic, b'[{"n":"heart-rate","u":"beat/min","v":72}]', 1)


async def test_broker_listens_on_loopback_only_inside_its_block() -> None:
    port = free_port()
    async with embedded_broker(port=port) as url:
        assert url == f"mqtt://127.0.0.1:{port}"
        # An MQTT client, not a bare TCP probe: amqtt 0.12 never closes a connection that sends no CONNECT, and
        # the leaked transport would fail the test run with a ResourceWarning.
        client = _client(url, client_id="probe")
        await client.connect()
        await client.disconnect()
    assert not port_is_open(port)


@pytest.mark.xfail(
    strict=True,
    raises=TimeoutError,
    reason="amqtt 0.12 keeps no session for an anonymous client (all clients of the embedded broker are): on "
    "disconnect it drops the session and its unacknowledged messages. Even for a named client it discards an "
    "in-flight QoS 1 message when the connection closes or after a 5 s PUBACK timeout and never redelivers it. "
    "The embedded broker is for the demo only; the no-loss guarantee needs Mosquitto (tests/ingest).",
)
async def test_unacknowledged_message_is_redelivered_to_a_persistent_session_on_reconnect(broker_url: str) -> None:
    topic = f"vaktrom-test-{uuid.uuid4().hex[:8]}/v1/demo-sykestue/demo-monitor-1/obs"
    publisher = _client(broker_url, client_id="publisher")
    first = _client(broker_url, client_id="ingest-persistent", persistent=True)
    first.subscribe(topic, qos=1)
    await publisher.connect()
    await first.connect()
    try:
        await publisher.publish(topic, b"reading-1", qos=1)
        assert (await _next(first)).payload == b"reading-1"
    finally:
        await first.disconnect()  # gone without acking, as if it crashed before storing the reading
    again = _client(broker_url, client_id="ingest-persistent", persistent=True)
    again.subscribe(topic, qos=1)
    try:
        await again.connect()
        redelivered = await _next(again, timeout_s=REDELIVERY_TIMEOUT_S)
        again.ack(redelivered)
    finally:
        await again.disconnect()
        await publisher.disconnect()
    assert redelivered.payload == b"reading-1"
