"""The optional InfluxDB sink: readings, NEWS2 scores, ML risks and alert events to an InfluxDB v2 bucket.

Off ingest's durable path: the exporter is a broker session of its own (persistent, manual acks) that reads the
device topics and the ward events as ingest does, and acknowledges a message only once InfluxDB has taken its
points. The broker keeps what is not acknowledged, so an outage of InfluxDB (or of the exporter) delays points and
loses none; ingest never waits for it. A point written twice (a redelivery) lands on the same series and time and
overwrites itself. Readings are attributed to patients exactly as ingest attributes them (ingest/attribution.py);
what ingest would dead-letter is not exported.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import SYNCHRONOUS, WriteApi
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from pydantic import ValidationError

from core.events import AlertEvent, BatchEvent, RiskEvent, ScoreEvent, decode_event
from core.mqtt import MqttClient, RawMessage
from core.settings import Settings
from core.store import Store
from core.topics import events_filter, obs_filter, parse_events_topic
from core.types import Reading
from ingest.attribution import DeviceDirectory
from ingest.metrics import IngestMetrics
from ingest.pipeline import parse_batch, prepare_batch
from ingest.service import connect_with_backoff, mqtt_options, next_batch
from ingest.validation import ValidationLimits

__all__ = ["ExportMetrics", "InfluxSink", "points_of_events", "points_of_readings", "run_influx_export"]

logger = logging.getLogger(__name__)

# InfluxDB takes ~5,000 points per request well (its documented batch size); a pack is 5-8 points.
BATCH_MAX_MESSAGES = 1000
BATCH_WAIT_S = 0.5  # a sink, not a live page: half a second of batching costs nobody anything
RETRY_MIN_DELAY_S = 0.5
RETRY_MAX_DELAY_S = 10.0  # a retry is one small HTTP request: points flow again within 10 s of InfluxDB's return
WRITE_TIMEOUT_MS = 30_000
# Answers that mean "these points will never be accepted" (malformed, too large, unprocessable): retrying would block
# every later point behind them. Everything else (down, 5xx, 401/403/404 until an operator fixes the token or
# bucket) is retried.
_REJECTED_STATUSES = frozenset({400, 413, 422})


@dataclass(slots=True)
class ExportMetrics:
    messages: int = 0
    points_written: int = 0
    writes_retried: int = 0
    batches_rejected: int = 0  # refused by InfluxDB as malformed: logged, acknowledged, counted
    batches_failed: int = 0  # a bug in the exporter: logged with its traceback, acknowledged, counted
    events_skipped: int = 0  # ward events that are not exported (readings come from the device topics)


def points_of_readings(readings: Sequence[Reading], *, site_of_device: dict[str, str]) -> list[Point]:
    return [
        Point("vaktrom_reading")
        .tag("patient_id", r.patient_id)
        .tag("parameter", r.parameter.value)
        .tag("device_id", r.device_id)
        .tag("site_id", site_of_device.get(r.device_id, ""))
        .field("value", r.value)
        .time(r.measured_at, WritePrecision.US)
        for r in readings
    ]


def points_of_events(events: Sequence[ScoreEvent | RiskEvent | AlertEvent]) -> list[Point]:
    points = []
    for event in events:
        point = Point(f"vaktrom_{event.type}").tag("site_id", event.site_id).tag("ward_id", event.ward_id)
        if isinstance(event, ScoreEvent):
            point = point.tag("patient_id", event.patient_id).field("news2_total", event.total)
            point = point.field("complete", event.complete).field("spo2_scale", event.spo2_scale)
            points.append(point.time(event.computed_at, WritePrecision.US))
        elif isinstance(event, RiskEvent):
            point = point.tag("patient_id", event.patient_id).tag("level", event.level)
            if event.probability is not None:
                point = point.field("probability", event.probability)
            points.append(point.field("level_code", _risk_code(event.level)).time(event.computed_at, WritePrecision.US))
        else:
            point = point.tag("patient_id", event.patient_id or "").tag("kind", event.kind).tag("state", event.state)
            point = point.tag("priority", event.priority).tag("phase", event.phase or "")
            point = point.field("alert_id", event.alert_id).field("severity", event.severity)
            points.append(point.time(event.updated_at, WritePrecision.US))
    return points


def _risk_code(level: str) -> int:
    return {"low": 0, "medium": 1, "high": 2}.get(level, -1)


class InfluxSink:
    """Writes points, retrying with capped, jittered backoff until InfluxDB takes them (or refuses them for good)."""

    def __init__(self, settings: Settings, metrics: ExportMetrics) -> None:
        if settings.influx_url is None or settings.influx_token is None:
            raise ValueError("the InfluxDB sink needs VAKTROM_INFLUX_URL and VAKTROM_INFLUX_TOKEN")
        self._client = InfluxDBClient(
            url=settings.influx_url,
            token=settings.influx_token.get_secret_value(),
            org=settings.influx_org,
            timeout=WRITE_TIMEOUT_MS,
        )
        self._write_api: WriteApi = self._client.write_api(write_options=SYNCHRONOUS)
        self._bucket = settings.influx_bucket
        self._org = settings.influx_org
        self._metrics = metrics

    def close(self) -> None:
        self._client.close()

    async def write(self, points: Sequence[Point]) -> bool:
        """True once written; False when InfluxDB refused them as malformed (logged). Waits out anything else."""
        if not points:
            return True
        delay_s = RETRY_MIN_DELAY_S
        while True:
            try:
                await asyncio.to_thread(self._write_api.write, bucket=self._bucket, org=self._org, record=list(points))
            except ApiException as exc:
                if exc.status in _REJECTED_STATUSES:
                    logger.error("InfluxDB refused %d points (%s %s); they are not exported", len(points), exc.status,
                                 exc.reason)  # fmt: skip
                    self._metrics.batches_rejected += 1
                    return False
                logger.warning("InfluxDB answered %s %s; retrying in up to %.1f s", exc.status, exc.reason, delay_s)
            except Exception as exc:  # urllib3's connection errors and timeouts: InfluxDB is away
                logger.warning("InfluxDB unreachable (%s); retrying in up to %.1f s", type(exc).__name__, delay_s)
            else:
                self._metrics.points_written += len(points)
                return True
            self._metrics.writes_retried += 1
            await asyncio.sleep(random.uniform(delay_s / 2, delay_s))  # backoff, not a synchronisation
            delay_s = min(delay_s * 2, RETRY_MAX_DELAY_S)


class _Exporter:
    def __init__(
        self, settings: Settings, store: Store, client: MqttClient, sink: InfluxSink, metrics: ExportMetrics
    ) -> None:
        self._root = settings.mqtt_topic_root
        self._store = store
        self._client = client
        self._sink = sink
        self._limits = ValidationLimits(future_tolerance_s=settings.future_tolerance_s)
        self._directory = DeviceDirectory(store)
        self._ingest_metrics = IngestMetrics()  # the attribution's retry counters; ingest's own are elsewhere
        self._metrics = metrics

    async def export(self, batch: Sequence[RawMessage]) -> None:
        """Points of `batch` written (or refused for good), then every message of it acknowledged."""
        self._metrics.messages += len(batch)
        device_messages: list[RawMessage] = []
        event_messages: list[RawMessage] = []
        for message in batch:
            is_event = parse_events_topic(self._root, message.topic) is not None
            (event_messages if is_event else device_messages).append(message)
        try:
            points = await self._reading_points(device_messages)
            points += points_of_events(self._events(event_messages))
        except Exception:  # a bug: everything is in vaktrom's store all the same; the export must go on after it
            logger.exception("Exporting a batch of %d messages failed; it is skipped", len(batch))
            self._metrics.batches_failed += 1
            points = []
        await self._sink.write(points)
        self._client.ack_all(batch)

    async def _reading_points(self, messages: Sequence[RawMessage]) -> list[Point]:
        if not messages:
            return []
        parsed = parse_batch(messages, root=self._root, limits=self._limits)
        parsed.statuses.clear()  # device status is ingest's business (and the technicians' page)
        prepared = await prepare_batch(self._store, self._directory, parsed, metrics=self._ingest_metrics)
        sites = {c.device_id: pack.site_id for pack in parsed.packs for c in pack.candidates}
        return points_of_readings(prepared.readings, site_of_device=sites)

    def _events(self, messages: Sequence[RawMessage]) -> list[ScoreEvent | RiskEvent | AlertEvent]:
        events: list[ScoreEvent | RiskEvent | AlertEvent] = []
        for message in messages:
            try:
                event = decode_event(message.payload)
            except ValidationError:
                self._metrics.events_skipped += 1  # not ours to judge: the live pages log what they cannot read
                continue
            if isinstance(event, ScoreEvent | RiskEvent | AlertEvent):
                events.append(event)
            elif isinstance(event, BatchEvent):  # a scoring cycle's events of a ward
                events += [e for e in event.events if isinstance(e, ScoreEvent | RiskEvent)]
            else:
                self._metrics.events_skipped += 1
        return events


async def run_influx_export(
    settings: Settings, store: Store, *, metrics: ExportMetrics | None = None, connected: asyncio.Event | None = None
) -> None:
    """Run until cancelled: device readings and ward events from the broker to InfluxDB, acknowledged once written.
    `connected` is set once the session is subscribed (tests wait on it)."""
    export_metrics = metrics if metrics is not None else ExportMetrics()
    sink = InfluxSink(settings, export_metrics)
    client = MqttClient(mqtt_options(settings, client_id=settings.influx_client_id))  # holds what InfluxDB lacks
    for topic_filter in (obs_filter(settings.mqtt_topic_root), events_filter(settings.mqtt_topic_root)):
        client.subscribe(topic_filter, qos=1)
    exporter = _Exporter(settings, store, client, sink, export_metrics)
    try:
        await connect_with_backoff(client, settings.influx_client_id)
        logger.info("Exporting to InfluxDB bucket %s at %s as %s", settings.influx_bucket, settings.influx_url,
                    settings.influx_client_id)  # fmt: skip
        if connected is not None:
            connected.set()
        while True:
            batch = await next_batch(client.inbox, max_messages=BATCH_MAX_MESSAGES, wait_s=BATCH_WAIT_S)
            await exporter.export(batch)
    finally:
        await client.disconnect()
        sink.close()
