"""LiveHub: ward events from the broker, fanned out to the WebSocket connections watching each ward.

An event reaches the connections of the ward named in its *topic* (`{root}/events/{site}/{ward}/{type}`, which the
broker's ACL lets only vaktrom's service accounts publish on), never of a ward named only in its payload. When the
hub may have missed an event (its broker connection dropped, or a publish of this node was refused or never
acknowledged), the connections concerned are interrupted: the socket closes with 4503 and the page resnapshots.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol

from pydantic import TypeAdapter, ValidationError

from core.events import BATCH_MIN_EVENTS, BatchEvent, WardEvent, decode_event
from core.mqtt import RawMessage
from core.topics import events_filter, parse_events_topic

__all__ = [
    "BATCH_MIN_EVENTS",
    "CLIENT_QUEUE_BEDS",
    "CLIENT_QUEUE_MAX",
    "HEARTBEAT_DUE",
    "Delta",
    "EventSource",
    "LiveHub",
    "Subscription",
]

logger = logging.getLogger(__name__)

# Deltas waiting for one slow browser. A ward of 30 beds at 1 pack/s makes ~60 events/s; 2000 is half a minute of
# backlog, far more than a healthy page ever has, so overflow means the page is stuck and needs a fresh snapshot.
CLIENT_QUEUE_MAX = 2000
# ...for a board of up to this many beds; a bigger board's queue grows in proportion (16 deltas per bed). A storm of
# one alert per bed (every monitor of a ward silent after a network outage, then back) is ~8 deltas per bed, each
# alone (the alert and its escalation state, the device's status, the alert's end and its state): a 1000-bed board's
# 2000 overflowed on the storm itself, closing every dashboard with 4429 to resnapshot at once.
CLIENT_QUEUE_BEDS = 125
# Events whose payload contradicts their topic are a bug or a forgery: one warning line per this many seconds.
MISMATCH_LOG_INTERVAL_S = 10.0
# What a connection's own heartbeat timer queues when it has sent nothing for a while (ws.py): told apart from the
# hub's deltas (JSON objects) by identity.
HEARTBEAT_DUE = "heartbeat due"
# A burst of BATCH_MIN_EVENTS (core/events.py) or more patient events of one ward, taken off the broker together,
# goes to each connection as ONE `batch` delta (encoded once, the same text for every socket): 200 dashboards of a
# 1000-bed ward one event at a time would be ~200,000 socket sends a second, more than a node can do; batched it is
# one send per dashboard per burst. A quieter ward's few events still go one by one, unwrapped and never held back:
# batching waits for nothing, it only groups what is already here.
# The events a batch may carry: a scoring cycle's per-patient stream. An alert always travels alone (a ward socket
# follows it with the alert's escalation state; the alerts stream turns it into a row), as does a device status.
_BATCHED_TYPES = frozenset({"readings", "score", "risk"})
# Messages taken off the broker's inbox in one go (a backlog is handled in bounded steps).
DRAIN_MAX = 5000
_TIME: TypeAdapter[datetime] = TypeAdapter(datetime)  # as the events encode theirs


class Delta(str):
    """An encoded delta (a JSON object) with what the hub read of it once, so that no connection decodes it again.

    A single event: `patient_ids` holds its patient (or None), `parts` is empty. A batch: `parts` holds each event
    as encoded JSON and `patient_ids` the patient of each, in order; `patients` is the set of them."""

    ward_id: str
    event_type: str
    patient_ids: tuple[str | None, ...]
    patients: frozenset[str]
    parts: tuple[str, ...]
    plain: str  # the same text as a plain str: what the queues hold (orjson, say, reads no str subclass)
    _head: str  # a batch's JSON up to its events
    _follow_up: asyncio.Future[str] | None  # what the connections send after it, read once for all of them

    @classmethod
    def of_event(cls, event: WardEvent) -> Delta:
        patient_id: str | None = getattr(event, "patient_id", None)
        # Encoded once; each connection prepends its own seq.
        return cls._make(event.model_dump_json(), event.ward_id, event.type, (patient_id,), (), "")

    @classmethod
    def batch(cls, events: Sequence[tuple[WardEvent, Delta]]) -> Delta:
        """`{"type": "batch", "site_id", "ward_id", "at" (of the newest event), "events": [event, ...]}`."""
        first = events[0][0]
        at = _TIME.dump_python(max(event.at for event, _ in events), mode="json")
        head = json.dumps({"type": "batch", "site_id": first.site_id, "ward_id": first.ward_id, "at": at})
        patient_ids = tuple(p for _, delta in events for p in delta.patient_ids)
        return cls._joined(f'{head[:-1]}, "events": [', first.ward_id, patient_ids, [str(d) for _, d in events])

    def batch_of(self, kept: Sequence[tuple[str, str | None]]) -> Delta:
        """This batch with only the `kept` (part, patient id) pairs of it."""
        return Delta._joined(self._head, self.ward_id, tuple(p for _, p in kept), [part for part, _ in kept])

    @classmethod
    def _joined(cls, head: str, ward_id: str, patient_ids: tuple[str | None, ...], parts: Sequence[str]) -> Delta:
        return cls._make(f"{head}{','.join(parts)}]}}", ward_id, "batch", patient_ids, tuple(parts), head)

    @classmethod
    def _make(
        cls,
        text: str,
        ward_id: str,
        event_type: str,
        patient_ids: tuple[str | None, ...],
        parts: tuple[str, ...],
        head: str,
    ) -> Delta:
        delta = cls(text)
        delta.plain = text
        delta.ward_id, delta.event_type, delta.patient_ids, delta.parts = ward_id, event_type, patient_ids, parts
        delta.patients = frozenset(p for p in patient_ids if p is not None)
        delta._head = head
        delta._follow_up = None
        return delta

    async def follow_up(self, read: Callable[[], Awaitable[str]]) -> str:
        """What every connection sends after this delta (an alert's escalation state as stored now), read by the
        first connection to ask and shared with the rest: 200 dashboards of a ward make one store read per alert
        event, not 200. A connection that closes meanwhile does not cancel the read for the others."""
        if self._follow_up is None:
            self._follow_up = asyncio.ensure_future(read())
            self._follow_up.add_done_callback(_retrieved)
        return await asyncio.shield(self._follow_up)


def _retrieved(future: asyncio.Future[str]) -> None:
    """A failed read whose every asker has gone is not an error to log: those connections are closed anyway."""
    if not future.cancelled():
        future.exception()


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
        self.queue: asyncio.Queue[str] = asyncio.Queue()  # bounded by `limit`, which a big board raises
        self.limit = self._queue_max = queue_max
        self.overflowed = asyncio.Event()
        self.interrupted = asyncio.Event()  # the hub may have missed an event of these wards: resnapshot
        self.interruption = ""  # why, for the log
        self._deltas: dict[int, tuple[str, str]] = {}  # id of a queued text -> (that text, its Delta)

    def offer(self, message: str) -> None:
        """Queue a delta; when full, flag overflow instead (never drop one silently and carry on)."""
        if self.overflowed.is_set() or self.interrupted.is_set():
            return  # the connection is being closed; it will resnapshot
        text = message.plain if isinstance(message, Delta) else message
        if self.queue.qsize() >= self.limit:
            self.overflowed.set()
            return
        self.queue.put_nowait(text)
        if text is not message:
            self._deltas[id(text)] = (text, message)

    def fit_board(self, beds: int) -> None:
        """Let the queue hold as many deltas per bed for a board of `beds` as it holds for one of CLIENT_QUEUE_BEDS."""
        self.limit = self._queue_max * max(1, -(-beds // CLIENT_QUEUE_BEDS))

    def heartbeat_due(self) -> None:
        """Queue HEARTBEAT_DUE, unless a delta is already waiting to be sent (which does as well)."""
        if self.queue.empty():
            self.queue.put_nowait(HEARTBEAT_DUE)

    async def next(self) -> str:
        """The next delta, as the hub's Delta (with what it read of it) when it came from the hub."""
        text = await self.queue.get()
        entry = self._deltas.pop(id(text), None)
        return entry[1] if entry is not None and entry[0] is text else text

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
        """Forever: take what the client's inbox holds (waiting for the first message only) and dispatch it."""
        inbox = self._source.inbox
        while True:
            raws = [await inbox.get()]
            while len(raws) < DRAIN_MAX and not inbox.empty():
                raws.append(inbox.get_nowait())
            try:
                self.dispatch_many(raws)
            except Exception:
                logger.exception("Unexpected failure dispatching %d events", len(raws))

    def dispatch(self, topic: str, payload: bytes) -> int:
        """Decode one event and queue it for the connections of its topic's ward; returns how many got it."""
        event = self._decode(topic, payload)
        if event is None:
            return 0
        if isinstance(event, BatchEvent):
            return self._offer(event.ward_id, Delta.batch([(e, Delta.of_event(e)) for e in event.events]))
        return self._offer(event.ward_id, Delta.of_event(event))

    def dispatch_many(self, raws: Sequence[RawMessage]) -> None:
        """Dispatch messages taken off the broker together, in order; a ward's run of BATCH_MIN_EVENTS or more
        patient events between its other events goes out as one `batch` delta."""
        pending: dict[str, list[tuple[WardEvent, Delta]]] = {}
        for raw in raws:
            event = self._decode(raw.topic, raw.payload)
            if event is None or event.ward_id not in self._by_ward:
                continue
            if isinstance(event, BatchEvent):  # a scoring cycle's, from ingest: joins this burst of its ward
                pending.setdefault(event.ward_id, []).extend((e, Delta.of_event(e)) for e in event.events)
                continue
            if event.type in _BATCHED_TYPES:
                pending.setdefault(event.ward_id, []).append((event, Delta.of_event(event)))
                continue
            self._flush(event.ward_id, pending.pop(event.ward_id, []))  # what came before it goes first
            self._offer(event.ward_id, Delta.of_event(event))
        for ward_id, events in pending.items():
            self._flush(ward_id, events)

    def _flush(self, ward_id: str, events: list[tuple[WardEvent, Delta]]) -> None:
        if len(events) >= BATCH_MIN_EVENTS:
            self._offer(ward_id, Delta.batch(events))
            return
        for _, delta in events:
            self._offer(ward_id, delta)

    def _decode(self, topic: str, payload: bytes) -> WardEvent | None:
        """The event, if it is well-formed and names the site, ward and type of its topic."""
        self.events_received += 1
        where = parse_events_topic(self._root, topic)
        if where is None:
            self._mismatch(topic, "not an events topic")
            return None
        try:
            event = decode_event(payload)
        except ValidationError as exc:
            self.events_rejected += 1
            logger.warning("Skipped a malformed ward event on %s: %s", topic, exc.errors()[0]["msg"])
            return None
        if (event.site_id, event.ward_id, event.type) != (where.site_id, where.ward_id, where.event_type):
            self._mismatch(topic, f"its payload names site {event.site_id}, ward {event.ward_id}, type {event.type}")
            return None
        return event

    def _offer(self, ward_id: str, delta: Delta) -> int:
        subscriptions = self._by_ward.get(ward_id)
        if not subscriptions:
            return 0
        for subscription in subscriptions:
            subscription.offer(delta)
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
