"""The asyncio face on paho: what a consumer of `inbox` sees of a burst of messages."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from core.mqtt import MqttClient, MqttOptions
from tests.fixtures.mosquitto import MosquittoBroker

pytestmark = pytest.mark.integration

BURST = 2000


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
