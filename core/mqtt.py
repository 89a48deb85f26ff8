"""A small asyncio face on paho-mqtt 2.x: manual acks, persistent sessions, re-subscribe on every connect."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, _ConnectionState
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from core.errors import BrokerAuthFailed, VaktromError

__all__ = [
    "BrokerUnavailable",
    "Delivery",
    "MqttClient",
    "MqttOptions",
    "PublishRefused",
    "RawMessage",
    "parse_mqtt_url",
]

logger = logging.getLogger(__name__)

# Reconnect backoff: quick first retry for a broker restart, capped so a long outage costs little.
RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30
# Unacked QoS 1 publishes we allow in flight; Mosquitto's C clients reach ~45k msg/s with 1000 (LIMITS.md).
PUBLISH_INFLIGHT_MAX = 1000
# A persistent session outlives a crash or deploy of an ingest worker by this long (MQTT 5 session expiry).
SESSION_EXPIRY_S = 7 * 24 * 3600
# paho reads this much from the socket at once (see _ReadAheadClient): ~250 packs of vitals, one TCP window.
RECV_READ_AHEAD_BYTES = 64 * 1024
_AUTH_FAILURES = {"Bad user name or password", "Not authorized", "Client identifier not valid", "Banned"}
# MQTT 5 PUBACK reason code: the broker took the message, but no subscription matched it, so nobody will get it.
NO_MATCHING_SUBSCRIBERS = 0x10
# A refused fire-and-forget publish is logged at most this often per topic kind (a wrong ACL refuses every one).
REFUSED_LOG_INTERVAL_S = 60.0
# After writing its DISCONNECT, a client waits at most this long for the broker to close the connection (which tells
# it has read everything before the DISCONNECT; see _ReadAheadClient._sock_close).
CLOSE_WAIT_S = 2.0
_DISCONNECTING = _ConnectionState.MQTT_CS_DISCONNECTING
# A PUBACK as paho writes it: fixed header (type 4, flags 0), remaining length 2, packet id.
PUBACK_COMMAND = 0x40
_PUBACK = struct.Struct("!BBH")
# A PUBLISH's fixed-header flags: DUP, QoS (two bits), RETAIN.
_DUP_BIT, _QOS_BITS, _QOS_1, _RETAIN_BIT = 0x08, 0x06, 0x02, 0x01


class BrokerUnavailable(VaktromError):
    def __init__(self, url: str, *, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"MQTT broker at {url} unavailable: {detail}")


class PublishRefused(VaktromError):
    """The broker answered a QoS 1 publish with an MQTT 5 failure reason code (>= 0x80), e.g. "Not authorized"."""

    def __init__(self, topic: str, *, reason: str, code: int) -> None:
        self.topic = topic
        self.reason = reason
        self.code = code
        super().__init__(f"the MQTT broker refused a publish on {topic}: {reason} (0x{code:02x})")


class Delivery(enum.Enum):
    """What the broker's PUBACK says about a QoS 1 publish it accepted."""

    ACCEPTED = "accepted"  # MQTT 5 reason 0x00, or any PUBACK under MQTT 3.1.1 (which cannot say more)
    NO_SUBSCRIBERS = "no matching subscribers"  # MQTT 5 reason 0x10: accepted, but delivered to nobody


# Called on the event loop: (topic, why) for a publish the broker refused or did not acknowledge in time.
PublishFailed = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class RawMessage:
    """Bytes as they came off the wire; `mid` and `qos` are what `ack` needs."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    received_at: float  # time.time() when paho handed it over
    # Which connection delivered it. After a reconnect the broker redelivers unacked messages with the same packet
    # ids and may reuse acked ids for new messages, so an ack for an older connection's copy could acknowledge a
    # different, not yet stored message. `ack` skips those; the redelivered copy gets acked instead.
    connection: int = 0


@dataclass(frozen=True, slots=True)
class MqttOptions:
    url: str
    client_id: str
    protocol_v5: bool = True
    clean_start: bool = False  # persistent session: the broker keeps our subscriptions and unacked messages
    manual_ack: bool = False  # consumers that store before acking set this
    receive_maximum: int = 1000
    will_topic: str | None = None
    will_payload: bytes = b""
    will_retain: bool = True
    keepalive_s: int = 30
    # vaktrom's own service accounts: log in as the user named like `client_id`, with this password. The broker
    # binds client ids to user names (Mosquitto `use_username_as_clientid`), so the two must be the same.
    # None: the credentials in `url`, if any (devices, tests).
    password: str | None = None


@dataclass(frozen=True, slots=True)
class _BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool


def parse_mqtt_url(url: str) -> _BrokerAddress:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"not an mqtt:// URL: {url!r}")
    tls = parts.scheme == "mqtts"
    return _BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def _wait_for_peer_close(sock: Any, timeout_s: float) -> None:
    """Shut our sending side and read (discarding) until the peer closes too, or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(OSError):  # the connection is ending either way; ssl.SSLError is an OSError
        sock.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([sock], [], [], left)
            if not readable or not sock.recv(RECV_READ_AHEAD_BYTES):
                return


class _ReadAheadClient(mqtt.Client):
    """paho's client with read-ahead: one `recv` per RECV_READ_AHEAD_BYTES instead of three or more per packet.

    paho 2.x reads a packet as 1 byte of type, 1-4 bytes of length, then the rest, each its own `recv` (a
    syscall and an exception-guarded call in Python): at thousands of messages a second that was a good part of
    its network thread, which competes with the event loop for the GIL. Overrides two paho internals
    (`_sock_recv`, `loop_read`, and `_update_inflight` below); tests/core/test_mqtt.py checks framing and order
    under load.
    """

    _rx_sock: object = None  # the socket the read-ahead bytes came from; a new connection starts empty
    _rx: bytes = b""
    _rx_pos = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rx_sock is not self._sock:
            self._rx_sock, self._rx, self._rx_pos = self._sock, b"", 0
        pos = self._rx_pos
        if pos >= len(self._rx):
            data = super()._sock_recv(max(bufsize, RECV_READ_AHEAD_BYTES))
            if len(data) <= bufsize:
                return data
            self._rx, pos = data, 0
        end = pos + bufsize
        self._rx_pos = end
        return self._rx[pos:end]

    def _handle_publish(self) -> MQTTErrorCode:
        # paho decodes every MQTT 5 PUBLISH's properties into a new `Properties` object, even when there are none:
        # ~18 µs a message on today's machines against ~3 µs for an MQTT 3.1.1 one, ~8 % of ingest's CPU in a
        # drain. Devices send no properties: a QoS 1 PUBLISH whose property length is 0 is decoded here, as paho
        # would (its `properties` stays None); any other packet goes paho's own way.
        header, packet = self._in_packet["command"], self._in_packet["packet"]
        if self._protocol != mqtt.MQTTv5 or header & _QOS_BITS != _QOS_1:
            return super()._handle_publish()
        topic_end = 2 + int.from_bytes(packet[:2], "big")
        if len(packet) < topic_end + 3 or packet[topic_end + 2] != 0:  # no room for the mid, or some properties
            return super()._handle_publish()
        message = mqtt.MQTTMessage(int.from_bytes(packet[topic_end : topic_end + 2], "big"), bytes(packet[2:topic_end]))
        message.dup, message.qos, message.retain = bool(header & _DUP_BIT), 1, bool(header & _RETAIN_BIT)
        message.payload = bytes(packet[topic_end + 3 :])
        message.timestamp = time.monotonic()  # what paho stamps (its time_func)
        self._handle_on_message(message)
        return MQTTErrorCode.MQTT_ERR_SUCCESS if self._manual_ack else self._send_puback(message.mid)

    def _update_inflight(self) -> MQTTErrorCode:
        # paho calls this on every PUBACK and scans all unacknowledged publishes for one waiting for a slot: with
        # hundreds of events in flight that scan was ~4 % of ingest CPU. Only when some publish is not in flight
        # (more are unacknowledged than in flight) can one be waiting.
        if len(self._out_messages) <= self._inflight_messages:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._update_inflight()

    def ack_all(self, mids: Iterable[int]) -> None:
        """PUBACK each QoS 1 message id, as ONE queued write. paho's `ack` queues one packet per message and wakes
        its thread with a syscall each time: the event loop gives up the GIL at every one of those syscalls and waits
        for paho's busy thread to hand it back, which made acking a batch of 2000 take up to ~0.9 s of the loop.
        The bytes are those paho's `ack` sends (MQTT 5 allows the short form for success, [MQTT-3.4.2.1])."""
        packets = b"".join(_PUBACK.pack(PUBACK_COMMAND, 2, mid) for mid in mids)
        if packets:
            self._packet_queue(PUBACK_COMMAND, packets, 0, 1)

    def _sock_close(self) -> None:
        # After our DISCONNECT is written, paho closes the socket at once, and Mosquitto did not take all that was
        # written just before: of 500 acks written before a disconnect, up to 435 were lost in a test, and those
        # messages came again. Half-close and wait for the broker to close: it does so once it has read the
        # DISCONNECT, and with it everything before it.
        if self._state == _DISCONNECTING and self._sock is not None:
            _wait_for_peer_close(self._sock, CLOSE_WAIT_S)
        super()._sock_close()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # paho reads again only when select() reports the socket readable: bytes already read ahead must be
        # handled now, or they would wait for the next packet (or the keepalive) to arrive.
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTT_ERR_SUCCESS and self._sock is not None and self._rx_sock is self._sock:
            if self._rx_pos >= len(self._rx):
                break
            rc = super().loop_read(max_packets)
        return rc


class MqttClient:
    """Owns one paho client and its network thread. Create, `subscribe`, `await connect()`, read `inbox`."""

    def __init__(self, options: MqttOptions, *, inbox_maxsize: int = 0) -> None:
        self._options = options
        self._address = parse_mqtt_url(options.url)
        self._subscriptions: list[tuple[str, int]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._auth_error: BrokerAuthFailed | None = None
        self._pending: dict[int, asyncio.Future[tuple[int, str]]] = {}  # mid -> (reason code, reason) of awaited
        self._unawaited: dict[int, str] = {}  # mid -> topic of fire-and-forget QoS 1 publishes, checked on PUBACK
        self._connection_lost_listeners: list[Callable[[], None]] = []
        self._publish_failed_listeners: list[PublishFailed] = []
        self.publishes_refused = 0  # fire-and-forget publishes the broker refused (a metric)
        self._refused_unlogged = 0
        self._refused_logged_at = -REFUSED_LOG_INTERVAL_S
        self._connection = 0  # counts successful CONNACKs; written on paho's thread only
        self._awaiting_suback: set[int] = set()  # paho's thread only
        # Unbounded on purpose: flow control is the broker's Receive Maximum plus manual acks, never dropping.
        self.inbox: asyncio.Queue[RawMessage] = asyncio.Queue(inbox_maxsize)
        # paho's thread appends messages (and PUBACKs) here and wakes the loop once per burst, not once per
        # packet: a wake-up is a self-pipe write plus a loop iteration (~6 % of ingest CPU when it was done per
        # message). The lock makes "append, and is a drain already scheduled?" one step against the drain.
        self._arrivals: collections.deque[RawMessage | tuple[int, int, str]] = collections.deque()
        self._arrivals_lock = threading.Lock()
        self._drain_scheduled = False
        self._client = self._build_client()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Remember a subscription; it is (re-)made on every connect, and now if connected."""
        self._subscriptions.append((topic_filter, qos))
        if self.connected:
            self._client.subscribe(topic_filter, qos)

    async def connect(self, *, timeout_s: float = 10.0) -> None:
        """Start the network thread and wait for the first CONNACK. Raises BrokerAuthFailed / BrokerUnavailable."""
        self._loop = asyncio.get_running_loop()
        address = self._address
        try:
            self._client.connect_async(address.host, address.port, self._options.keepalive_s, **self._connect_args())
        except (OSError, ValueError) as exc:
            raise BrokerUnavailable(_redacted(self._options.url), detail=str(exc)) from exc
        self._client.loop_start()
        try:
            async with asyncio.timeout(timeout_s):
                while not self._connected.is_set():
                    if self._auth_error is not None:
                        raise self._auth_error
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.05):
                            await self._connected.wait()
        except TimeoutError:
            self._client.loop_stop()
            raise BrokerUnavailable(_redacted(self._options.url), detail=f"no CONNACK in {timeout_s} s") from None
        except BrokerAuthFailed:
            self._client.loop_stop()
            raise

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def ack(self, message: RawMessage) -> None:
        """Acknowledge a QoS 1 message (only after it is stored or dead-lettered)."""
        self.ack_all((message,))

    def ack_all(self, messages: Iterable[RawMessage]) -> None:
        """Acknowledge QoS 1 messages (only after they are stored or dead-lettered), as one write to the broker."""
        if not self._options.manual_ack:
            return
        connection = self._connection
        mids = []
        for message in messages:
            if message.connection != connection:
                logger.debug("Not acking mid %s from an earlier connection (the broker redelivers it)", message.mid)
            elif message.qos == 1:
                mids.append(message.mid)
            elif message.qos == 2:
                self._client.ack(message.mid, message.qos)  # PUBCOMP: vaktrom subscribes at QoS 1, never sees one
        self._client.ack_all(mids)

    def add_connection_lost_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` on the loop whenever an established connection drops (messages may have been missed)."""
        self._connection_lost_listeners.append(listener)

    def add_publish_failed_listener(self, listener: PublishFailed) -> None:
        """Call `listener(topic, why)` on the loop for each QoS 1 publish refused or not acknowledged in time."""
        self._publish_failed_listeners.append(listener)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout_s: float = 10.0
    ) -> Delivery:
        """Publish and, for QoS 1, wait for the broker's PUBACK and check its reason code (MQTT 5).

        Raises PublishRefused for a failure reason code (e.g. 0x87 "Not authorized": the ACL does not allow it) and
        BrokerUnavailable when no PUBACK came in `timeout_s`, or at once before the first connect. Under MQTT 3.1.1 a
        refused publish cannot be told apart from a delivered one (Mosquitto acknowledges it and drops it).
        """
        if qos > 0 and self._loop is None:  # never connected: no PUBACK could ever come
            raise BrokerUnavailable(_redacted(self._options.url), detail=f"not connected yet; {topic} not published")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return Delivery.ACCEPTED
        if info.rc == mqtt.MQTT_ERR_NO_CONN:
            # paho queues it and sends it after reconnect; we still wait for the PUBACK below.
            logger.debug("Publish on %s queued while disconnected", topic)
        # No race with _publish_done: it runs on this loop, which cannot run it before we register the future.
        assert self._loop is not None
        future: asyncio.Future[tuple[int, str]] = self._loop.create_future()
        self._pending[info.mid] = future
        try:
            async with asyncio.timeout(timeout_s):
                code, reason = await future
        except TimeoutError:
            raise BrokerUnavailable(_redacted(self._options.url), detail=f"no PUBACK for {topic}") from None
        finally:
            self._pending.pop(info.mid, None)
            if not future.done() or future.cancelled():  # timed out, or the caller gave up waiting
                self._publish_failed(topic, "no PUBACK in time")
        if code >= 0x80:
            self._publish_failed(topic, reason)
            raise PublishRefused(topic, reason=reason, code=code)
        return Delivery.NO_SUBSCRIBERS if code == NO_MATCHING_SUBSCRIBERS else Delivery.ACCEPTED

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Fire and forget (paho still retries QoS 1 across reconnects); for simulators and event fan-out.

        The broker's answer is still checked: a refusal is counted in `publishes_refused`, logged (rate-limited)
        and reported to the publish-failed listeners.
        """
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if qos > 0:
            self._unawaited[info.mid] = topic

    async def disconnect(self) -> None:
        """Leave cleanly: every ack and publish queued before this call is written before the connection closes."""
        self._closing = True
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)  # paho's thread writes everything queued before it stops
        self._connected.clear()

    # --- paho's network thread below: copy, hand over, return ---------------------------------------------

    def _build_client(self) -> _ReadAheadClient:
        options = self._options
        protocol = mqtt.MQTTv5 if options.protocol_v5 else mqtt.MQTTv311
        client = _ReadAheadClient(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            protocol=protocol,
            clean_session=None if options.protocol_v5 else options.clean_start,
            manual_ack=options.manual_ack,
        )
        client.suppress_exceptions = True
        client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        client.max_inflight_messages_set(PUBLISH_INFLIGHT_MAX)
        client.max_queued_messages_set(0)
        if options.password is not None:
            client.username_pw_set(options.client_id, options.password)
        elif self._address.username is not None:
            client.username_pw_set(self._address.username, self._address.password)
        if self._address.tls:
            client.tls_set_context(ssl.create_default_context())
        if options.will_topic:
            client.will_set(options.will_topic, options.will_payload, qos=1, retain=options.will_retain)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _connect_args(self) -> dict[str, Any]:
        if not self._options.protocol_v5:
            return {}
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.ReceiveMaximum = self._options.receive_maximum
        properties.SessionExpiryInterval = 0 if self._options.clean_start else SESSION_EXPIRY_S
        return {"clean_start": self._options.clean_start, "properties": properties}

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            if str(reason) in _AUTH_FAILURES:
                self._auth_error = BrokerAuthFailed(_redacted(self._options.url), detail=str(reason))
                client.disconnect()  # stop retrying with credentials that will not work
            logger.error("MQTT connect to %s refused: %s", _redacted(self._options.url), reason)
            return
        self._connection += 1
        # "Connected" means subscribed: a publish made before the broker has our SUBSCRIBE would pass us by.
        mids = (client.subscribe(topic_filter, qos)[1] for topic_filter, qos in self._subscriptions)
        self._awaiting_suback = {mid for mid in mids if mid is not None}
        logger.info("MQTT connected to %s as %s", _redacted(self._options.url), self._options.client_id)
        if not self._awaiting_suback:
            self._call_in_loop(self._connected.set)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: list[ReasonCode], properties: Any
    ) -> None:
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            logger.error("MQTT broker %s refused a subscription: %s", _redacted(self._options.url), refused)
        if mid in self._awaiting_suback:
            self._awaiting_suback.discard(mid)
            if not self._awaiting_suback:
                self._call_in_loop(self._connected.set)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if self._closing:
            logger.info("MQTT disconnected from %s", _redacted(self._options.url))
        else:
            logger.warning("MQTT disconnected from %s: %s (reconnecting)", _redacted(self._options.url), reason)
        self._call_in_loop(self._connection_lost)

    def _connection_lost(self) -> None:
        # On the loop. Only a connection that was up can have lost anything.
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected and not self._closing:
            for listener in self._connection_lost_listeners:
                listener()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._hand_over(
            RawMessage(
                topic=msg.topic,
                payload=bytes(msg.payload),
                mid=msg.mid,
                qos=msg.qos,
                retain=bool(msg.retain),
                received_at=time.time(),
                connection=self._connection,
            )
        )

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, properties: Any) -> None:
        self._hand_over((mid, reason.value, str(reason)))

    def _hand_over(self, item: RawMessage | tuple[int, int, str]) -> None:
        """A message for `inbox`, or a PUBACK's (mid, reason code, reason), to the loop: one wake-up per burst."""
        with self._arrivals_lock:
            self._arrivals.append(item)
            if self._drain_scheduled:
                return  # the loop has a drain pending; it will take this one too
            self._drain_scheduled = True
        self._call_in_loop(self._drain_arrivals)

    def _drain_arrivals(self) -> None:
        # On the loop: everything paho handed over since the wake-up, in arrival order.
        with self._arrivals_lock:
            burst, self._arrivals = self._arrivals, collections.deque()
            self._drain_scheduled = False
        put = self.inbox.put_nowait
        for item in burst:
            if isinstance(item, tuple):
                self._publish_done(*item)
            else:
                put(item)

    def _publish_done(self, mid: int, code: int, reason: str) -> None:
        future = self._pending.get(mid)
        if future is not None:
            if not future.done():
                future.set_result((code, reason))
            return
        topic = self._unawaited.pop(mid, None)
        if topic is not None and code >= 0x80:
            self.publishes_refused += 1
            self._log_refused(topic, reason)
            self._publish_failed(topic, reason)

    def _publish_failed(self, topic: str, why: str) -> None:
        for listener in self._publish_failed_listeners:
            listener(topic, why)

    def _log_refused(self, topic: str, reason: str) -> None:
        # A wrong ACL refuses every publish: one line a minute with the count, not one per message.
        self._refused_unlogged += 1
        now = time.monotonic()
        if now - self._refused_logged_at >= REFUSED_LOG_INTERVAL_S:
            logger.error(
                "MQTT broker %s refused %d publishes as %s, the latest on %s: %s. Check the broker's ACL for this "
                "account (deploy/mosquitto/acl, docs/MQTT.md)",
                _redacted(self._options.url), self._refused_unlogged, self._options.client_id, topic, reason,
            )  # fmt: skip
            self._refused_unlogged, self._refused_logged_at = 0, now

    def _call_in_loop(self, callback: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@", 1) if parts.password else url


def topic_filters(filters: Iterable[str], *, shared_group: str | None) -> list[str]:
    """Prefix each filter with `$share/{group}/` when workers split the load (MQTT 5 shared subscriptions)."""
    return [f"$share/{shared_group}/{f}" if shared_group else f for f in filters]


__all__ += ["topic_filters"]
