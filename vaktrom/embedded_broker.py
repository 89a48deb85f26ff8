"""The embedded MQTT broker for one-process mode (amqtt, pure Python: demo scale, a few thousand messages/s).

It enforces the production rules (vaktrom/broker_policy.py, the same as deploy/mosquitto): no anonymous clients,
the client id is the user name, devices publish only on their own topics and subscribe to nothing, each service
account only what its service does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, BrokerError, MQTTError, NoDataError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.puback import PubackPacket
from amqtt.session import OUTGOING, IncomingApplicationMessage, OutgoingApplicationMessage, Session

from core.errors import ConfigError
from vaktrom.broker_policy import BrokerPolicy

__all__ = ["DEVICE_CREDENTIALS_POLL_S", "DeviceHashes", "embedded_broker"]

logger = logging.getLogger(__name__)

# How often the embedded broker reads the devices' current credentials from the store (one indexed read of a few
# hundred rows at demo scale, well under a millisecond): a revoked or rotated device is cut off within this time.
DEVICE_CREDENTIALS_POLL_S = 0.2

DeviceHashes = Callable[[], Awaitable[dict[str, str]]]


def _config(host: str, port: int) -> dict[str, Any]:
    return {
        # Loopback only: the embedded broker is for one machine; devices on a network go through Mosquitto.
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {},  # authentication and topic checks are the policy's, answered by _Broker itself
    }


class _ConnectionHandler(BrokerProtocolHandler):  # type: ignore[misc]
    """amqtt's handler of one client connection, keeping MQTT's promise for a QoS 1 message sent to the client: it
    stays in flight until the client acknowledges it, however long that takes, and goes again when the client comes
    back to its persistent session. amqtt 0.12 gives up after 5 s without a PUBACK, or when the connection ends, and
    forgets the message: an ingest worker slow to store its first batch (a loaded machine) had each of its messages
    logged as a failed task, and one that then lost its connection never had them again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redeliveries: set[asyncio.Task[None]] = set()

    async def _handle_qos1_message_flow(
        self, app_message: OutgoingApplicationMessage | IncomingApplicationMessage
    ) -> None:
        if app_message.direction != OUTGOING:
            await super()._handle_qos1_message_flow(app_message)
            return
        packet_id = app_message.packet_id
        self.session.inflight_out[packet_id] = app_message  # until its PUBACK (handle_puback), not until a timeout
        again = app_message.publish_packet is not None  # a redelivery at reconnect
        app_message.publish_packet = app_message.build_publish_packet(dup=again)
        waiter: asyncio.Future[PubackPacket] = asyncio.get_running_loop().create_future()
        self._puback_waiters[packet_id] = waiter
        try:
            await self._send_packet(app_message.publish_packet)
            app_message.puback_packet = await waiter  # cancelled when the connection ends: still in flight
        finally:
            if self._puback_waiters.get(packet_id) is waiter:
                del self._puback_waiters[packet_id]

    async def _retry_deliveries(self) -> None:
        # amqtt awaits the client's acknowledgements of these redeliveries (10 s at most) before it reads anything
        # else the client sends, its SUBSCRIBE included; a client that acknowledges only once subscribed (every
        # vaktrom consumer) would wait out those 10 s at each reconnect. So they are sent now, in order, and their
        # acknowledgements come whenever they come.
        for message in [*self.session.inflight_in.values(), *self.session.inflight_out.values()]:
            redelivery = asyncio.create_task(self._handle_message_flow(message), name="embedded-broker-redelivery")
            self._redeliveries.add(redelivery)
            redelivery.add_done_callback(self._redelivery_done)

    def _redelivery_done(self, redelivery: asyncio.Task[None]) -> None:
        self._redeliveries.discard(redelivery)
        if not redelivery.cancelled() and redelivery.exception() is not None:
            # The connection broke mid-send: the message is still in flight and goes again at the next one.
            logger.warning("Embedded broker: a redelivery was interrupted: %s", redelivery.exception())

    async def handle_puback(self, puback: PubackPacket) -> None:
        packet_id = puback.variable_header.packet_id
        # The PUBACK ends the message's flight whether or not a send still waits for it.
        self.session.inflight_out.pop(packet_id, None)
        waiter = self._puback_waiters.get(packet_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(puback)


class _Broker(Broker):  # type: ignore[misc]
    """amqtt's broker under a BrokerPolicy: each CONNECT checked before amqtt touches sessions, each publish and
    subscription checked by the policy; and every client's socket closed when its connection ends."""

    def __init__(self, config: dict[str, Any], policy: BrokerPolicy, device_hashes: DeviceHashes | None) -> None:
        super().__init__(config)
        self._policy = policy
        self._device_hashes = device_hashes
        self._login_hashes: dict[str, str | None] = {}  # device client id -> the hash it logged in with

    async def apply_device_hashes(self, hashes: dict[str, str]) -> None:
        """Use `hashes` from now on, and close the connection of every device whose credential changed since it
        logged in (rotated, revoked, decommissioned): it must log in again, with its current password."""
        self._policy.device_hashes = hashes
        for client_id, (session, handler) in list(self._sessions.items()):
            if client_id not in self._login_hashes or hashes.get(client_id) == self._login_hashes[client_id]:
                continue
            self._login_hashes.pop(client_id, None)
            if session.transitions.state == "connected":
                logger.warning("Embedded broker closed device %s's connection: its credentials changed", client_id)
                await handler.handle_disconnect(None)

    async def read_device_hashes(self) -> None:
        if self._device_hashes is None:
            return
        try:
            await self.apply_device_hashes(await self._device_hashes())
        except Exception:  # the store away for a moment: judge with the hashes we have
            logger.exception("Embedded broker could not read the devices' credentials")

    async def _authenticate(self, session: Session, _: Any) -> bool:
        refusal = self._policy.refusal(
            client_id=session.client_id, username=session.username, password=session.password
        )
        return refusal is None

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        # Answered without awaiting anything: amqtt's broadcast loop iterates its subscriptions dict around this
        # call, and a plugin that yields to the loop there lets a new subscription change the dict mid-iteration.
        username = session.username if session is not None else None
        if action == Action.PUBLISH:
            return self._policy.may_publish(username, topic)
        if action == Action.SUBSCRIBE:
            return self._policy.may_subscribe(username, topic)
        return bool(action == Action.RECEIVE)  # only subscriptions the policy allowed can deliver anything

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        # amqtt 0.12 leaves the socket open when the client hung up first (its close drains into the dead
        # connection and gives up) or never sent CONNECT: each such client would leak a transport.
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            writer.close()

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[BrokerProtocolHandler, Session]:
        # amqtt 0.12 looks up, takes over or deletes the session of the CONNECT's client id *before* it
        # authenticates: any client could end ingest's session by connecting under its id with a wrong password.
        # So the credentials and the client id are checked here, first; what follows is amqtt's own session step.
        try:
            handler, session = await _ConnectionHandler.init_from_connect(reader, writer, self.plugins_manager)
        except (AMQTTError, MQTTError, NoDataError) as exc:
            raise AMQTTError(f"no valid CONNECT from {remote_address}:{remote_port}: {exc}") from exc
        policy = self._policy
        refusal = policy.refusal(client_id=session.client_id, username=session.username, password=session.password)
        if refusal is not None and self._device_hashes is not None and not policy.is_service(session.username):
            # A device registered or rotated since the last poll would be refused until the next one: read the
            # store's credentials now, once, and judge again (a technician's new device logs in at its first try).
            await self.read_device_hashes()
            refusal = policy.refusal(client_id=session.client_id, username=session.username, password=session.password)
        if refusal is not None:
            logger.warning("Embedded broker refused a client from %s: %s", remote_address, refusal)
            await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
            await writer.close()
            raise AMQTTError(refusal)
        if not policy.is_service(session.username):
            self._login_hashes[session.client_id] = policy.device_hashes.get(session.username)
        return handler, await self._attach_session(session)

    async def _attach_session(self, session: Session) -> Session:
        """amqtt's step after CONNECT: a clean session replaces the stored one, else the stored one carries on."""
        existing = self._sessions.get(session.client_id)
        if session.clean_session:
            await self._delete_session(session.client_id)
            session.parent = 0
        elif existing is not None:
            stored: Session = existing[0]
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive", "username", "password"):
                setattr(stored, name, getattr(session, name))
            session, session.parent = stored, 1
        else:
            session.parent = 0
        delay_s = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay_s, int):
            session.keep_alive += delay_s
        return session


async def _watch_device_credentials(broker: _Broker) -> None:
    while True:
        await broker.read_device_hashes()
        await asyncio.sleep(DEVICE_CREDENTIALS_POLL_S)


@asynccontextmanager
async def embedded_broker(
    *, policy: BrokerPolicy, host: str = "127.0.0.1", port: int, device_hashes: DeviceHashes | None = None
) -> AsyncIterator[str]:
    """Run amqtt on host:port under `policy` for the duration of the block; yields its mqtt:// URL. With
    `device_hashes` (the store's current device credentials), they are re-read every DEVICE_CREDENTIALS_POLL_S."""
    broker = _Broker(_config(host, port), policy, device_hashes)
    try:
        await broker.start()
    except BrokerError as exc:
        raise ConfigError(
            f"the embedded MQTT broker cannot listen on {host}:{port} ({exc}); "
            "set VAKTROM_MQTT_EMBEDDED_PORT to a free port, or VAKTROM_MQTT_URL to use an external broker"
        ) from exc
    logger.info("Embedded MQTT broker listening on %s:%d (demo scale only; clients must log in)", host, port)
    try:
        async with asyncio.TaskGroup() as tasks:
            watcher = None
            if device_hashes is not None:
                await broker.apply_device_hashes(await device_hashes())  # before any device can log in
                watcher = tasks.create_task(
                    _watch_device_credentials(broker), name="embedded-broker-device-credentials"
                )
            try:
                yield f"mqtt://{host}:{port}"
            finally:
                if watcher is not None:
                    watcher.cancel()
    finally:
        await broker.shutdown()
