"""The ingest worker: MQTT in, one durable write per batch, ack, then score -> alert -> publish (forever)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Sequence

from alerts.deliveries import run_delivery_sender
from alerts.timers import run_alert_timers
from core.clock import Clock, utc_now
from core.errors import BrokerAuthFailed, StorageUnavailable
from core.mqtt import BrokerUnavailable, MqttClient, MqttOptions, RawMessage, topic_filters
from core.settings import Settings
from core.store import AlertChange, Store
from core.topics import obs_filter, rescore_topic, status_filter
from ingest.attribution import DeviceDirectory
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.pipeline import (
    REASON_INTERNAL_ERROR,
    BatchOutcome,
    PreparedBatch,
    append_batch,
    dead_letter,
    parse_batch_in_chunks,
    prepare_batch,
    save_statuses,
)
from ingest.publishing import EventPublisher
from ingest.risk import RiskAssessor, RiskStep
from ingest.stale_sweep import run_stale_sweep
from ingest.store_retry import retry_storage
from ingest.validation import ValidationLimits

__all__ = ["IngestWorker", "RiskAssessor", "connect_with_backoff", "mqtt_options", "next_batch", "run_ingest"]

logger = logging.getLogger(__name__)

# Broker connect retries at start-up: a broker that is still starting answers within seconds.
CONNECT_TIMEOUT_S = 10.0
CONNECT_RETRY_MAX_S = 30.0
# The start-up re-score waits out a store outage, trying again this often.
RESCORE_RETRY_S = 2.0
# After its last full batch, ingest counts as catching up this long (device health waits meanwhile): a drain takes
# full batches several times a second, and a commit stalled longer is an outage the storage retries report.
CAUGHT_UP_AFTER_S = 5.0
# Batches being stored at once, each on its own connection. While a catch-up's batch is merged into the tables, the
# next one's rows already go in beside it: with one at a time, PostgreSQL's merge of each batch bounded the drain and
# both processes idled a third of the time (bench_e2e on a fast machine, bench/README.md). A third brought no more.
STORING_AT_ONCE = 2


def mqtt_options(settings: Settings, *, client_id: str | None = None) -> MqttOptions:
    """Persistent session, manual acks: the broker keeps whatever we have not acknowledged, across our crashes.
    `client_id`: another consumer's account (the InfluxDB exporter); default this ingest worker's."""
    return MqttOptions(
        url=settings.effective_mqtt_url(),
        client_id=client_id or settings.ingest_client_id,
        protocol_v5=settings.mqtt_v5,
        clean_start=False,
        manual_ack=True,
        receive_maximum=settings.mqtt_receive_maximum,
        # Logs in as the account named like its client id (the broker binds the two; docs/MQTT.md).
        password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
    )


async def run_ingest(
    settings: Settings,
    store: Store,
    *,
    risk_assessor: RiskAssessor | None = None,
    metrics: IngestMetrics | None = None,
    clock: Clock = utc_now,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until cancelled, or until `stop` is set: then store and acknowledge the batches in hand and return
    (the caller bounds how long that may take). Raises BrokerAuthFailed when the broker refuses our credentials."""
    metrics = metrics if metrics is not None else IngestMetrics()
    client = MqttClient(mqtt_options(settings))
    root = settings.mqtt_topic_root
    device_filters = [obs_filter(root), status_filter(root)]
    for topic_filter in topic_filters(device_filters, shared_group=settings.mqtt_shared_group):
        client.subscribe(topic_filter, qos=1)
    # Readings are split between the workers; a rescore request goes to every one (no `$share/`): each caches the
    # patients' SpO2 scale, limits and care flags (ingest/live_scoring.py), and a worker that did not hear of a
    # doctor's change would score that patient's packs on the old one until its cache expires.
    client.subscribe(rescore_topic(root), qos=1)
    publisher = EventPublisher(
        lambda topic, payload: client.publish_nowait(topic, payload, qos=1), root=root, store=store, metrics=metrics
    )
    risk = None
    if risk_assessor is not None:
        risk = RiskStep(
            risk_assessor,
            store=store,
            publisher=publisher,
            min_interval_s=settings.risk_min_interval_s,
            behind=lambda: worker.behind,
        )
    scorer = LiveScorer(store, settings, publisher, metrics, risk=risk, clock=clock, behind=lambda: worker.behind)
    worker = IngestWorker(settings, store, client, scorer, publisher, metrics)
    metrics.inbox_backlog = client.inbox.qsize
    metrics.scoring_backlog = lambda: scorer.backlog
    metrics.risk_backlog = lambda: risk.backlog if risk is not None else 0
    metrics.broker_connected = lambda: client.connected
    metrics.catching_up = lambda: worker.catching_up
    await connect_with_backoff(client, settings.ingest_client_id)
    try:
        await _rescore_behind(store, scorer)

        def announce(change: AlertChange) -> Awaitable[None]:
            return publisher.send_alert(change, at=clock())

        deliveries_due = asyncio.Event()
        async with asyncio.TaskGroup() as tasks:
            batches = tasks.create_task(worker.run(stop), name="ingest-batches")
            followers = [
                tasks.create_task(scorer.run(), name="ingest-scoring"),
                tasks.create_task(run_stale_sweep(store, settings, scorer.add_patients, clock), name="ingest-stale"),
                tasks.create_task(
                    run_alert_timers(store, clock, announce, deliveries_due=deliveries_due.set),
                    name="ingest-alert-timers",
                ),
                tasks.create_task(
                    run_delivery_sender(store, clock, announce=announce, wake=deliveries_due),
                    name="ingest-deliveries",
                ),
            ]
            if risk is not None:
                followers.append(tasks.create_task(risk.run(), name="ingest-risk"))
            await batches  # returns only once `stop` is set and the batches in hand are stored and acknowledged
            # Scores and alerts of what was stored are caught up at the next start (_rescore_behind); timers and
            # deliveries are rows, taken up by any worker.
            for task in followers:
                task.cancel()
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()
    logger.info("Ingest %s stopped cleanly: everything acknowledged is stored", settings.ingest_client_id)


async def _rescore_behind(store: Store, scorer: LiveScorer) -> None:
    """Before new work: score every patient whose newest reading arrived after their last score, so a reading
    stored just before a crash still opens its alert. Waits out a store outage (nothing can be stored meanwhile)."""
    while True:
        try:
            behind = await store.patients_behind_scoring()
            break
        except StorageUnavailable as exc:
            logger.warning("Re-scoring after start postponed: %s", exc)
            await asyncio.sleep(RESCORE_RETRY_S)
    if behind:
        logger.info("Re-scoring %d patients whose readings arrived after their last score", len(behind))
        scorer.add_patients(behind)
        await scorer.score_pending()


async def connect_with_backoff(client: MqttClient, client_id: str) -> None:
    """Connect and subscribe, waiting for the broker however long it takes; bad credentials stop at once."""
    delay_s = 1.0
    while True:
        try:
            await client.connect(timeout_s=CONNECT_TIMEOUT_S)
        except BrokerAuthFailed:
            raise
        except BrokerUnavailable as exc:
            logger.warning("%s cannot reach the broker (%s); retrying in up to %.0f s", client_id, exc, delay_s)
            await asyncio.sleep(random.uniform(delay_s / 2, delay_s))  # backoff
            delay_s = min(delay_s * 2, CONNECT_RETRY_MAX_S)
        else:
            logger.info("%s subscribed and running", client_id)
            return


async def next_batch(
    inbox: asyncio.Queue[RawMessage], *, max_messages: int, wait_s: float, stop: asyncio.Event | None = None
) -> list[RawMessage]:
    """Wait for one message, then take more until `max_messages` or `wait_s` after the first, whichever is first.

    Once `stop` is set, waits for no first message: returns what is queued (up to `max_messages`), maybe nothing.
    """
    first = await inbox.get() if stop is None else await _first_unless_stopped(inbox, stop)
    if first is None:
        return []
    batch = [first]
    deadline = asyncio.get_running_loop().time() + wait_s
    while len(batch) < max_messages:
        if not inbox.empty():
            batch.append(inbox.get_nowait())
            continue
        try:
            async with asyncio.timeout_at(deadline):
                batch.append(await inbox.get())
        except TimeoutError:
            break
    return batch


async def _first_unless_stopped(inbox: asyncio.Queue[RawMessage], stop: asyncio.Event) -> RawMessage | None:
    if not inbox.empty():
        return inbox.get_nowait()
    if stop.is_set():
        return None
    getting = asyncio.ensure_future(inbox.get())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((getting, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        getting.cancel()  # a cancelled Queue.get leaves its item in the queue
    return getting.result() if getting.done() and not getting.cancelled() else None


class IngestWorker:
    """The batch loop. Acks a message only after its batch is stored (readings and dead letters alike).

    Stages overlap: while batch N's append commits, batch N+1's append may run beside it on another connection and
    batch N+2 is collected, parsed and attributed. At most STORING_AT_ONCE batches are in the store and one is being
    prepared. Whatever follows a batch's append (device statuses, the ack, live updates) happens in arrival order:
    batch N+1's waits for batch N's.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: MqttClient,
        scorer: LiveScorer,
        publisher: EventPublisher,
        metrics: IngestMetrics,
    ) -> None:
        self._store = store
        self._client = client
        self._scorer = scorer
        self._publisher = publisher
        self._metrics = metrics
        self._root = settings.mqtt_topic_root
        self._limits = ValidationLimits(future_tolerance_s=settings.future_tolerance_s)
        self._directory = DeviceDirectory(store)
        # More than Receive Maximum never arrives before we ack: waiting for it would only add latency.
        self._batch_max = min(settings.ingest_batch_max, settings.mqtt_receive_maximum)
        self._batch_wait_s = settings.ingest_batch_wait_s
        self.behind = False  # the last batch came full: the broker holds a backlog for us
        self._last_full_at = -math.inf  # time.monotonic() of the last full batch

    @property
    def catching_up(self) -> bool:
        """A backlog at the broker: a full batch was taken in the last CAUGHT_UP_AFTER_S, or the next one waits in
        the inbox already (just after a start or an outage, before the first is taken). Unlike `behind`, it ends
        when the backlog does, new messages or not."""
        recently_full = time.monotonic() - self._last_full_at < CAUGHT_UP_AFTER_S
        return recently_full or self._client.inbox.qsize() >= self._batch_max

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Forever, or until `stop` is set: then the messages in hand and those already queued when it was set are
        stored and acknowledged, and it returns. Later arrivals stay unacknowledged: the broker keeps them for us."""
        inbox = self._client.inbox
        left: int | None = None  # once stopping: how many queued messages are still to be drained
        async with asyncio.TaskGroup() as tasks:
            storing: deque[asyncio.Task[None]] = deque()  # in arrival order; each ends once its batch is acked
            while left is None or left > 0:
                size = self._batch_max if left is None else min(self._batch_max, left)
                batch = await next_batch(inbox, max_messages=size, wait_s=self._batch_wait_s, stop=stop)
                if stop is not None and stop.is_set() and left is None:
                    left = inbox.qsize() + len(batch)
                    logger.info("Stopping: storing the batch in hand and %d queued messages, then disconnecting", left)
                if not batch:
                    break
                if left is not None:
                    left -= len(batch)
                self.behind = len(batch) >= self._batch_max
                if self.behind:
                    self._last_full_at = time.monotonic()
                prepared = await self._prepare(batch)
                while len(storing) >= STORING_AT_ONCE:
                    await storing.popleft()  # never raises: _commit dead-letters what it cannot store
                previous = storing[-1] if storing else None
                storing.append(tasks.create_task(self._commit(batch, prepared, previous), name="ingest-commit"))
            while storing:
                await storing.popleft()

    async def _prepare(self, batch: Sequence[RawMessage]) -> PreparedBatch | None:
        """None after an unexpected failure: the commit stage then dead-letters the whole batch."""
        self._metrics.messages_in += len(batch)
        try:
            parsed = await parse_batch_in_chunks(batch, root=self._root, limits=self._limits)
            return await prepare_batch(self._store, self._directory, parsed, metrics=self._metrics)
        except Exception:
            logger.exception("Unexpected failure preparing a batch of %d messages", len(batch))
            return None

    async def _commit(
        self, batch: Sequence[RawMessage], prepared: PreparedBatch | None, previous: asyncio.Task[None] | None
    ) -> None:
        """Store the batch (beside `previous`, the batch before it), then, once `previous` is done, save its
        statuses, ack it and hand it to live scoring."""
        outcome: BatchOutcome | None = None
        if prepared is not None:
            try:
                outcome = await append_batch(self._store, prepared, metrics=self._metrics)
            except Exception:
                logger.exception("Unexpected failure storing a batch of %d messages", len(batch))
        if outcome is None:
            await self._dead_letter_all(batch)
        if previous is not None:
            await previous  # never raises: this very method catches what it can
        if outcome is None:
            self._ack(batch)
            return
        saved = await save_statuses(self._store, outcome.statuses, metrics=self._metrics)  # or dead-lettered
        self._ack(batch)
        self._metrics.readings_stored += len(outcome.readings)
        self._metrics.dead_lettered += outcome.dead_lettered
        self._metrics.duplicates += outcome.duplicates
        try:  # stored and acked: a failure from here on costs a live update, never a reading
            self._scorer.add_readings(outcome.readings)
            if prepared is not None and prepared.rescore_patient_ids:
                self._scorer.add_patients(sorted(prepared.rescore_patient_ids), refresh_scale=True)
            if saved:
                await self._publisher.send_device_statuses([report.status for report in saved], at=utc_now())
        except Exception:
            logger.exception("Live updates of a stored batch of %d messages failed", len(batch))

    def _ack(self, batch: Sequence[RawMessage]) -> None:
        self._client.ack_all(batch)
        self._metrics.observe_batch(size=len(batch), latency_s=time.time() - min(m.received_at for m in batch))

    async def _dead_letter_all(self, batch: Sequence[RawMessage]) -> None:
        """Store every message of the batch as an internal-error dead letter (the caller acks, in order)."""
        letters = [dead_letter(m, REASON_INTERNAL_ERROR, device_id=None) for m in batch]
        await retry_storage(
            lambda: self._store.append([], letters), what="internal-error dead letters", metrics=self._metrics
        )
        self._metrics.dead_lettered += len(letters)
        self._metrics.count_dead_letters(letter.reason for letter in letters)
