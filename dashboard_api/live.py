"""LiveHub: ward events from the broker, fanned out to the WebSocket connections watching each ward.

An event reaches the connections of the ward named in its *topic* (`{root}/events/{site}/{ward}/{type}`, which the
broker's ACL lets only vaktrom's service accounts publish on), never of a ward named only in its payload. When the
hub may have missed an event (its broker connection dropped, or a publish of this node was refused or never
acknowledged), the connections concerned are interrupted: the socket closes with 4503 and the page resnapshots.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

from pydantic import ValidationError

from core.events import decode_event
from core.mqtt import RawMessage
from core.topics import events_filter, parse_events_topic

__all__ = ["CLIENT_QUEUE_MAX", "EventSource", "LiveHub", "Subscription"]

logger = logging.getLogger(__name__)

# Deltas waiting for one slow browser. A ward of 30 beds at 1 pack/s makes ~60 events/s; 2000 is half a minute of
# backlog, far more than a healthy page ever has, so overflow means the page is stuck and needs a fresh snapshot.
CLIENT_QUEUE_MAX = 2000
# Events whose payload contradicts their topic are a bug or a forgery: one warning line per this many seconds.
MISMATCH_LOG_INTERVAL_S = 10.0


class EventSource(Protocol):
    """What the hub needs of core.mqtt.MqttClient: a remembered subscription, the inbox it fills, and word of
    anything that may have lost an event."""

    inbox: asyncio.Queue[RawMessage]

    @property
    def connected(self) -> bool: ...

    def subscribe(self, topic_filter: str, qos: int = 1) -> None: ...

    def add_connection_lost_listener(self, listener: Callable[[], None]) -> None: ...

    def add_publish_failed_listener(self, listener: Callable[[str, str], None]) -> None: ...


class Subscription:
    """One WebSocket's view of the hub: a bounded queue of encoded deltas for the wards it watches."""

    def __init__(self, ward_ids: Sequence[str], *, queue_max: int) -> None:
        self.ward_ids = tuple(ward_ids)
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_max)
        self.overflowed = asyncio.Event()
        self.interrupted = asyncio.Event()  # the hub may have missed an event of these wards: resnapshot
        self.interruption = ""  # why, for the log

    def offer(self, message: str) -> None:
        """Queue a delta; when full, flag overflow instead (never drop one silently and carry on)."""
        if self.overflowed.is_set() or self.interrupted.is_set():
            return  # the connection is being closed; it will resnapshot
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed.set()

    def interrupt(self, why: str) -> None:
        if not self.interrupted.is_set():
            self.interruption = why
            self.interrupted.set()


class LiveHub:
    """Subscribes to every ward event under `topic_root` and hands each to the subscriptions of its ward.

    The caller owns the client: build it non-persistent (`clean_start=True`, its own client id), construct the hub
    (which registers the subscription and its listeners), `await client.connect()`, then run `hub.run()` as a
    named task; stop by cancelling that task and `await client.disconnect()`.
    """

    def __init__(self, source: EventSource, *, topic_root: str, queue_max: int = CLIENT_QUEUE_MAX) -> None:
        self._source = source
        self._root = topic_root
        self._queue_max = queue_max
        self._by_ward: dict[str, set[Subscription]] = {}
        self._source_lost = False  # the connection dropped and has not been seen up again
        self.events_received = 0
        self.events_rejected = 0  # malformed
        self.events_mismatched = 0  # payload disagrees with its topic: dropped
        self.interruptions = 0  # times the hub told connections to resnapshot (a metric)
        self._mismatch_unlogged = 0
        self._mismatch_logged_at = -MISMATCH_LOG_INTERVAL_S
        source.subscribe(events_filter(topic_root), 1)
        source.add_connection_lost_listener(self._connection_lost)
        source.add_publish_failed_listener(self._publish_failed)

    @property
    def connections(self) -> int:
        return len(self._all())

    @property
    def backlog(self) -> int:
        """Deltas queued for all connections (a metric: it grows when browsers fall behind)."""
        return sum(s.queue.qsize() for s in self._all())

    async def run(self) -> None:
        """Forever: take each message off the client's inbox and dispatch it."""
        while True:
            raw = await self._source.inbox.get()
            try:
                self.dispatch(raw.topic, raw.payload)
            except Exception:
                logger.exception("Unexpected failure dispatching event from %s", raw.topic)

    def dispatch(self, topic: str, payload: bytes) -> int:
        """Decode one event and queue it for the connections of its topic's ward; returns how many got it."""
        self.events_received += 1
        where = parse_events_topic(self._root, topic)
        if where is None:
            self._mismatch(topic, "not an events topic")
            return 0
        try:
            event = decode_event(payload)
        except ValidationError as exc:
            self.events_rejected += 1
            logger.warning("Skipped a malformed ward event on %s: %s", topic, exc.errors()[0]["msg"])
            return 0
        if (event.site_id, event.ward_id, event.type) != (where.site_id, where.ward_id, where.event_type):
            self._mismatch(topic, f"its payload names site {event.site_id}, ward {event.ward_id}, type {event.type}")
            return 0
        subscriptions = self._by_ward.get(where.ward_id)
        if not subscriptions:
            return 0
        message = event.model_dump_json()  # encoded once; each connection prepends its own seq
        for subscription in subscriptions:
            subscription.offer(message)
        return len(subscriptions)

    @contextmanager
    def subscribe(self, ward_ids: Sequence[str]) -> Iterator[Subscription]:
        """Receive the wards' deltas while inside the block. Subscribe before reading the snapshot: nothing is
        lost between them (a delta may repeat what the snapshot shows; clients apply deltas by key and time).

        While the hub's broker connection is down, the subscription starts interrupted: the page is told at once
        that it is not live, instead of showing a snapshot that silently stops changing."""
        subscription = Subscription(ward_ids, queue_max=self._queue_max)
        if self._source_lost and not self._source.connected:
            subscription.interrupt("the live feed is not connected to the broker")
        else:
            self._source_lost = False
        for ward_id in subscription.ward_ids:
            self._by_ward.setdefault(ward_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            for ward_id in subscription.ward_ids:
                subs = self._by_ward.get(ward_id)
                if subs is not None:
                    subs.discard(subscription)
                    if not subs:
                        del self._by_ward[ward_id]

    def _connection_lost(self) -> None:
        # A non-persistent session: whatever was published while we were away is gone for this node.
        self._source_lost = True
        self._interrupt(self._all(), "the live feed lost its broker connection")

    def _publish_failed(self, topic: str, why: str) -> None:
        # This node's own event (an acknowledgement, say) did not reach the broker, so no node's page will get it.
        where = parse_events_topic(self._root, topic)
        if where is not None:
            lost = f"an event of ward {where.ward_id} was lost: {why}"
            self._interrupt(self._by_ward.get(where.ward_id, set()), lost)

    def _interrupt(self, subscriptions: set[Subscription], why: str) -> None:
        if subscriptions:
            self.interruptions += 1
            logger.warning("Live streams of %d connections interrupted: %s", len(subscriptions), why)
        for subscription in subscriptions:
            subscription.interrupt(why)

    def _mismatch(self, topic: str, what: str) -> None:
        self.events_mismatched += 1
        self._mismatch_unlogged += 1
        now = time.monotonic()
        if now - self._mismatch_logged_at >= MISMATCH_LOG_INTERVAL_S:
            logger.warning(
                "Dropped %d ward events whose topic and payload disagree; the latest on %s: %s",
                self._mismatch_unlogged, topic, what,
            )  # fmt: skip
            self._mismatch_unlogged, self._mismatch_logged_at = 0, now

    def _all(self) -> set[Subscription]:
        return {s for subs in self._by_ward.values() for s in subs}
