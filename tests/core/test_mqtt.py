"""The asyncio face on paho: what a consumer of `inbox` sees of a burst of messages."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest

from core.mqtt import BrokerUnavailable, MqttClient, MqttOptions
from tests.fixtures.mosquitto import MosquittoBroker

pytestmark = pytest.mark.integration

BURST = 2000
# Unacked messages the broker lets one consumer hold: the fixture's max_inflight_messages (MQTT 3.1.1) and the
# consumer's Receive Maximum (MQTT 5).
IN_FLIGHT = 1000


async def test_a_burst_of_messages_reaches_the_inbox_complete_and_in_order(
    mosquitto: MosquittoBroker, unique_topic_root: str
) -> None:
    topic = f"{unique_topic_root}/burst"
    receiver = MqttClient(MqttOptions(url=mosquitto.url(), client_id=f"rx-{uuid.uuid4().hex[:8]}", clean_start=True))
    sender = MqttClient(MqttOptions(url=mosquitto.url(), client_id=f"tx-{uuid.uuid4().hex[:8]}", clean_start=True))
    receiver.subscribe(topic, 1)
    await receiver.connect()
    await sender.connect()
    try:
        for n in range(BURST):
            sender.publish_nowait(topic, str(n).encode(), qos=1)
        async with asyncio.timeout(30):
            payloads = [(await receiver.inbox.get()).payload for _ in range(BURST)]
    finally:
        await sender.disconnect()
        await receiver.disconnect()

    assert payloads == [str(n).encode() for n in range(BURST)]
    assert receiver.inbox.empty()


@pytest.mark.parametrize("protocol_v5", [True, False], ids=["mqtt5", "mqtt311"])
async def test_acking_a_batch_in_one_write_settles_exactly_those_messages(
    mosquitto: MosquittoBroker, unique_topic_root: str, protocol_v5: bool
) -> None:
    """`ack_all` writes a batch's PUBACKs at once: the broker must take each of them, and only them. A consumer
    acks every other message of a burst in one call and leaves; under its persistent session the broker then
    delivers again exactly the messages it did not ack."""
    topic = f"{unique_topic_root}/acks"
    consumer = MqttOptions(
        url=mosquitto.url(),
        client_id=f"rx-{uuid.uuid4().hex[:8]}",
        protocol_v5=protocol_v5,
        clean_start=False,
        manual_ack=True,
        receive_maximum=IN_FLIGHT,
    )
    sender = MqttClient(MqttOptions(url=mosquitto.url(), client_id=f"tx-{uuid.uuid4().hex[:8]}", clean_start=True))
    receiver = MqttClient(consumer)
    receiver.subscribe(topic, 1)
    await receiver.connect()
    await sender.connect()
    try:
        for n in range(IN_FLIGHT):
            sender.publish_nowait(topic, str(n).encode(), qos=1)
        async with asyncio.timeout(30):
            received = [await receiver.inbox.get() for _ in range(IN_FLIGHT)]
        receiver.ack_all(m for m in received if int(m.payload) % 2 == 0)
    finally:
        await sender.disconnect()
        await receiver.disconnect()

    again = MqttClient(replace(consumer, clean_start=False))
    again.subscribe(topic, 1)
    await again.connect()
    try:
        async with asyncio.timeout(30):
            redelivered = [await again.inbox.get() for _ in range(IN_FLIGHT // 2)]
        again.ack_all(redelivered)
        await asyncio.sleep(0.5)  # anything more the broker had would have arrived by now
        extra = again.inbox.qsize()
    finally:
        await again.disconnect()

    assert sorted(int(m.payload) for m in redelivered) == list(range(1, IN_FLIGHT, 2))
    assert extra == 0


async def test_a_publish_before_the_first_connect_is_refused_at_once() -> None:
    """A part that publishes before its client connected (an API call during start-up) gets BrokerUnavailable, which
    its callers handle (dashboard_api.access.publish_or_warn logs and carries on), rather than an AssertionError
    after paho had queued the message for some later connection."""
    client = MqttClient(MqttOptions(url="mqtt://127.0.0.1:9", client_id=f"never-{uuid.uuid4().hex[:8]}"))

    with pytest.raises(BrokerUnavailable, match=r"not connected yet; t/v1/x not published"):
        await client.publish("t/v1/x", b"{}")
