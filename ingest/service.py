"""The ingest worker: MQTT in, one durable write per batch, ack, then score -> alert -> publish (forever)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence

from core.clock import Clock, utc_now
from core.errors import BrokerAuthFailed
from core.mqtt import BrokerUnavailable, MqttClient, MqttOptions, RawMessage, topic_filters
from core.settings import Settings
from core.store import Store
from core.topics import obs_filter, rescore_topic, status_filter
from ingest.attribution import DeviceDirectory
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.pipeline import REASON_INTERNAL_ERROR, dead_letter, parse_batch, retry_storage, store_batch
from ingest.publishing import EventPublisher
from ingest.risk import RiskAssessor, RiskStep
from ingest.validation import ValidationLimits

__all__ = ["IngestWorker", "RiskAssessor", "mqtt_options", "next_batch", "run_ingest"]

logger = logging.getLogger(__name__)

# Broker connect retries at start-up: a broker that is still starting answers within seconds.
CONNECT_TIMEOUT_S = 10.0
CONNECT_RETRY_MAX_S = 30.0


def mqtt_options(settings: Settings) -> MqttOptions:
    """Persistent session, manual acks: the broker keeps whatever we have not acknowledged, across our crashes."""
    return MqttOptions(
        url=settings.effective_mqtt_url(),
        client_id=settings.mqtt_client_id,
        protocol_v5=settings.mqtt_v5,
        clean_start=False,
        manual_ack=True,
        receive_maximum=settings.mqtt_receive_maximum,
    )


async def run_ingest(
    settings: Settings,
    store: Store,
    *,
    risk_assessor: RiskAssessor | None = None,
    metrics: IngestMetrics | None = None,
    clock: Clock = utc_now,
) -> None:
    """Run until cancelled. Raises BrokerAuthFailed when the broker refuses our credentials."""
    metrics = metrics if metrics is not None else IngestMetrics()
    client = MqttClient(mqtt_options(settings))
    root = settings.mqtt_topic_root
    device_filters = [obs_filter(root), status_filter(root), rescore_topic(root)]
    for topic_filter in topic_filters(device_filters, shared_group=settings.mqtt_shared_group):
        client.subscribe(topic_filter, qos=1)
    publisher = EventPublisher(
        lambda topic, payload: client.publish_nowait(topic, payload, qos=1), root=root, store=store, metrics=metrics
    )
    risk = None
    if risk_assessor is not None:
        risk = RiskStep(risk_assessor, store=store, publisher=publisher, min_interval_s=settings.risk_min_interval_s)
    scorer = LiveScorer(store, settings, publisher, metrics, risk=risk, clock=clock)
    worker = IngestWorker(settings, store, client, scorer, publisher, metrics)
    metrics.inbox_backlog = client.inbox.qsize
    metrics.scoring_backlog = lambda: scorer.backlog
    metrics.broker_connected = lambda: client.connected
    await _connect(client, settings.mqtt_client_id)
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(worker.run(), name="ingest-batches")
            tasks.create_task(scorer.run(), name="ingest-scoring")
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()


async def _connect(client: MqttClient, client_id: str) -> None:
    delay_s = 1.0
    while True:
        try:
            await client.connect(timeout_s=CONNECT_TIMEOUT_S)
        except BrokerAuthFailed:
            raise
        except BrokerUnavailable as exc:
            logger.warning("Ingest %s cannot reach the broker (%s); retrying in up to %.0f s", client_id, exc, delay_s)
            await asyncio.sleep(random.uniform(delay_s / 2, delay_s))  # backoff
            delay_s = min(delay_s * 2, CONNECT_RETRY_MAX_S)
        else:
            logger.info("Ingest %s subscribed and running", client_id)
            return


async def next_batch(inbox: asyncio.Queue[RawMessage], *, max_messages: int, wait_s: float) -> list[RawMessage]:
    """Wait for one message, then take more until `max_messages` or `wait_s` after the first, whichever is first."""
    batch = [await inbox.get()]
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


class IngestWorker:
    """The batch loop. Acks a message only after its batch is stored (readings and dead letters alike)."""

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

    async def run(self) -> None:
        while True:
            batch = await next_batch(self._client.inbox, max_messages=self._batch_max, wait_s=self._batch_wait_s)
            try:
                await self.process(batch)
            except Exception:
                logger.exception("Unexpected failure on a batch of %d messages", len(batch))
                await self._dead_letter_all(batch)

    async def process(self, batch: Sequence[RawMessage]) -> None:
        self._metrics.messages_in += len(batch)
        parsed = parse_batch(batch, root=self._root, limits=self._limits)
        outcome = await store_batch(self._store, self._directory, parsed, metrics=self._metrics)
        self._ack(batch)
        self._metrics.readings_stored += len(outcome.readings)
        self._metrics.dead_lettered += outcome.dead_lettered
        self._metrics.duplicates += outcome.duplicates
        self._scorer.add_readings(outcome.readings)
        if parsed.rescore_patient_ids:
            self._scorer.add_patients(sorted(parsed.rescore_patient_ids), refresh_scale=True)
        if outcome.statuses:
            try:
                statuses = [report.status for report in outcome.statuses]
                await self._publisher.send_device_statuses(statuses, at=utc_now())
            except Exception:
                logger.exception("Device status events not published")

    def _ack(self, batch: Sequence[RawMessage]) -> None:
        for message in batch:
            self._client.ack(message)
        self._metrics.batches += 1
        self._metrics.last_batch_size = len(batch)
        self._metrics.last_batch_latency_s = time.time() - min(m.received_at for m in batch)

    async def _dead_letter_all(self, batch: Sequence[RawMessage]) -> None:
        letters = [dead_letter(m, REASON_INTERNAL_ERROR, device_id=None) for m in batch]
        await retry_storage(
            lambda: self._store.append([], letters), what="internal-error dead letters", metrics=self._metrics
        )
        self._ack(batch)
        self._metrics.dead_lettered += len(letters)
