"""The PUBLISH decoding that skips paho's per-message `Properties` (core/mqtt.py `_ReadAheadClient._handle_publish`)
must hand on exactly the message paho would, for every packet it takes, and leave every other packet to paho."""

from __future__ import annotations

import asyncio
import struct
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.mqtt import MqttClient, MqttOptions, _ReadAheadClient
from tests.fixtures.mosquitto import MosquittoBroker

_Seen = tuple[bytes, bytes, int, int, bool, bool, object]


def _packet(topic: bytes, mid: int, payload: bytes, properties: Properties | None) -> bytearray:
    packed_properties = properties.pack() if properties is not None else b"\x00"
    return bytearray(struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + packed_properties + payload)


def _delivered(handle: object, client: mqtt.Client, header: int, packet: bytearray) -> tuple[_Seen, object]:
    """What `handle` (a `_handle_publish`) hands to on_message, and what it returns."""
    seen: list[mqtt.MQTTMessage] = []
    client._handle_on_message = seen.append  # type: ignore[method-assign]
    client._in_packet = {"command": header, "packet": bytearray(packet)}  # type: ignore[assignment]
    result = handle(client)  # type: ignore[operator]
    [m] = seen
    properties = m.properties.json() if m.properties is not None and m.properties.json() else None
    return (m._topic, m.payload, m.mid, m.qos, m.dup, m.retain, properties), result


def _client(*, protocol: int = mqtt.MQTTv5, manual_ack: bool = True) -> _ReadAheadClient:
    return _ReadAheadClient(CallbackAPIVersion.VERSION2, protocol=protocol, manual_ack=manual_ack)  # type: ignore[arg-type]


_utf8_text = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=8
)  # MQTT strings
_properties = st.none() | st.builds(
    lambda expiry, user: _publish_properties(expiry, user),
    st.integers(min_value=1, max_value=2**32 - 1),
    st.lists(st.tuples(_utf8_text, _utf8_text), max_size=3),
)


def _publish_properties(expiry: int, user: list[tuple[str, str]]) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.MessageExpiryInterval = expiry
    if user:
        properties.UserProperty = user
    return properties


@given(
    topic=st.text(min_size=1, max_size=60).map(str.encode),
    payload=st.binary(max_size=300),
    mid=st.integers(min_value=1, max_value=65535),
    dup=st.booleans(),
    retain=st.booleans(),
    properties=_properties,
)
def test_a_publish_is_handed_on_exactly_as_paho_hands_it_on(
    topic: bytes, payload: bytes, mid: int, dup: bool, retain: bool, properties: Properties | None
) -> None:
    header = 0x30 | 0x02 | (0x08 if dup else 0) | (0x01 if retain else 0)
    packet = _packet(topic, mid, payload, properties)
    client = _client()
    ours = _delivered(_ReadAheadClient._handle_publish, client, header, packet)
    pahos = _delivered(mqtt.Client._handle_publish, client, header, packet)
    assert ours == pahos
    assert ours[0][:4] == (topic, payload, mid, 1)


@pytest.mark.parametrize(("qos", "protocol"), [(0, mqtt.MQTTv5), (1, mqtt.MQTTv311)])
def test_other_qos_and_protocols_are_left_to_paho(qos: int, protocol: int) -> None:
    topic, payload = b"vaktrom/v1/site-1/mon-1/obs", b"[]"
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", 7) if qos else b"")
    body += (b"\x00" if protocol == mqtt.MQTTv5 else b"") + payload
    header = 0x30 | (qos << 1)
    ours = _delivered(_ReadAheadClient._handle_publish, _client(protocol=protocol), header, bytearray(body))
    pahos = _delivered(mqtt.Client._handle_publish, _client(protocol=protocol), header, bytearray(body))
    assert ours == pahos
    assert ours[0][:2] == (topic, payload)


def test_a_qos_2_publish_is_left_to_paho_which_holds_it_until_released() -> None:
    client = _client()
    received: list[int] = []
    client._handle_on_message = lambda m: received.append(m.mid)  # type: ignore[method-assign]
    client._send_pubrec = lambda mid: mqtt.MQTT_ERR_SUCCESS  # type: ignore[method-assign]
    client._in_packet = {"command": 0x34, "packet": _packet(b"a/b", 11, b"x", None)}  # type: ignore[assignment]
    client._handle_publish()
    assert received == []  # handed on only at PUBREL (paho's QoS 2 flow)
    assert client._in_messages[11].payload == b"x"


def test_without_manual_ack_the_message_is_acknowledged_at_once() -> None:
    client = _client(manual_ack=False)
    sent: list[int] = []
    client._send_puback = lambda mid: sent.append(mid) or mqtt.MQTT_ERR_SUCCESS  # type: ignore[method-assign]
    _delivered(_ReadAheadClient._handle_publish, client, 0x32, _packet(b"a/b", 9, b"x", None))
    assert sent == [9]


@pytest.mark.integration
async def test_a_message_with_properties_and_one_without_both_arrive_whole(
    mosquitto: MosquittoBroker, unique_topic_root: str
) -> None:
    topic = f"{unique_topic_root}/props"
    receiver = MqttClient(MqttOptions(url=mosquitto.url(), client_id=f"rx-{uuid.uuid4().hex[:8]}", clean_start=True))
    receiver.subscribe(topic, 1)
    await receiver.connect()
    try:
        await asyncio.to_thread(_publish_with_and_without_properties, mosquitto, topic)
        async with asyncio.timeout(30):
            received = [await receiver.inbox.get() for _ in range(2)]
    finally:
        await receiver.disconnect()
    assert sorted((m.topic, m.payload, m.qos) for m in received) == [(topic, b"plain", 1), (topic, b"with", 1)]


def _publish_with_and_without_properties(broker: MosquittoBroker, topic: str) -> None:
    """A device whose firmware sets MQTT 5 properties (an expiry and a user property) beside one that sets none."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tx-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert connected.wait(10)
        infos = [
            client.publish(topic, b"with", qos=1, properties=_publish_properties(600, [("firmware", "5.2.1")])),
            client.publish(topic, b"plain", qos=1),
        ]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
