"""LiveHub: ward events from the broker, fanned out to the WebSocket connections watching each ward."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

from pydantic import ValidationError

from core.events import decode_event
from core.mqtt import RawMessage
from core.topics import events_filter

__all__ = ["CLIENT_QUEUE_MAX", "EventSource", "LiveHub", "Subscription"]

logger = logging.getLogger(__name__)

# Deltas waiting for one slow browser. A ward of 30 beds at 1 pack/s makes ~60 events/s; 2000 is half a minute of
# backlog, far more than a healthy page ever has, so overflow means the page is stuck and needs a fresh snapshot.
CLIENT_QUEUE_MAX = 2000


class EventSource(Protocol):
    """What the hub needs of core.mqtt.MqttClient: a remembered subscription and the inbox it fills."""

    inbox: asyncio.Queue[RawMessage]

    def subscribe(self, topic_filter: str, qos: int = 1) -> None: ...


class Subscription:
    """One WebSocket's view of the hub: a bounded queue of encoded deltas for the wards it watches."""

    def __init__(self, ward_ids: Sequence[str], *, queue_max: int) -> None:
        self.ward_ids = tuple(ward_ids)
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_max)
        self.overflowed = asyncio.Event()

    def offer(self, message: str) -> None:
        """Queue a delta; when full, flag overflow instead (never drop one silently and carry on)."""
        if self.overflowed.is_set():
            return  # the connection is being closed; it will resnapshot
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed.set()


class LiveHub:
    """Subscribes to every ward event under `topic_root` and hands each to the subscriptions of its ward.

    The caller owns the client: build it non-persistent (`clean_start=True`, its own client id), construct the hub
    (which registers the subscription), `await client.connect()`, then run `hub.run()` as a named task; stop by
    cancelling that task and `await client.disconnect()`.
    """

    def __init__(self, source: EventSource, *, topic_root: str, queue_max: int = CLIENT_QUEUE_MAX) -> None:
        self._source = source
        self._queue_max = queue_max
        self._by_ward: dict[str, set[Subscription]] = {}
        self.events_received = 0
        self.events_rejected = 0
        source.subscribe(events_filter(topic_root), 1)

    @property
    def connections(self) -> int:
        return len({s for subs in self._by_ward.values() for s in subs})

    @property
    def backlog(self) -> int:
        """Deltas queued for all connections (a metric: it grows when browsers fall behind)."""
        return sum(s.queue.qsize() for s in {s for subs in self._by_ward.values() for s in subs})

    async def run(self) -> None:
        """Forever: take each message off the client's inbox and dispatch it."""
        while True:
            raw = await self._source.inbox.get()
            try:
                self.dispatch(raw.topic, raw.payload)
            except Exception:
                logger.exception("Unexpected failure dispatching event from %s", raw.topic)

    def dispatch(self, topic: str, payload: bytes) -> int:
        """Decode one event and queue it for its ward's connections; returns how many got it."""
        self.events_received += 1
        try:
            event = decode_event(payload)
        except ValidationError as exc:
            self.events_rejected += 1
            logger.warning("Skipped a malformed ward event on %s: %s", topic, exc.errors()[0]["msg"])
            return 0
        subscriptions = self._by_ward.get(event.ward_id)
        if not subscriptions:
            return 0
        message = event.model_dump_json()  # encoded once; each connection prepends its own seq
        for subscription in subscriptions:
            subscription.offer(message)
        return len(subscriptions)

    @contextmanager
    def subscribe(self, ward_ids: Sequence[str]) -> Iterator[Subscription]:
        """Receive the wards' deltas while inside the block. Subscribe before reading the snapshot: nothing is
        lost between them (a delta may repeat what the snapshot shows; clients apply deltas by key and time)."""
        subscription = Subscription(ward_ids, queue_max=self._queue_max)
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
