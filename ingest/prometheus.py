"""One ingest worker's counters as Prometheus metrics (read from a snapshot; the loop never waits for a scrape)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ingest.metrics import BATCH_LATENCY_BUCKETS_S, IngestMetrics

__all__ = ["IngestCollector"]


class IngestCollector(Collector):
    def __init__(self, metrics: IngestMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        snap = self._metrics.snapshot()
        counters = (
            ("messages", "MQTT messages taken in (packs, status reports, rescore requests)", snap.messages_in),
            ("readings_stored", "Readings durably stored", snap.readings_stored),
            ("duplicates", "Readings already stored (a redelivery), dead-lettered as duplicates", snap.duplicates),
            ("batches", "Batches stored and acknowledged to the broker", snap.batches),
            ("storage_retries", "Writes retried because the store did not answer", snap.storage_retries),
            (
                "patients_scored",
                "Patients live-scored: in full, or settled with no sub-score changed",
                snap.patients_scored,
            ),
            (
                "patients_scored_unchanged",
                "Of those, settled bedside patients whose pack changed nothing of their score (no full scoring)",
                snap.patients_scored_unchanged,
            ),
            ("events_published", "Events published to the live pages", snap.events_published),
        )
        for name, text, value in counters:
            yield CounterMetricFamily(f"vaktrom_ingest_{name}", text, value=value)
        dead = CounterMetricFamily(
            "vaktrom_ingest_dead_letters",
            "Messages or records dead-lettered, by reason (field or rule)",
            labels=["reason"],
        )
        for reason, count in sorted(snap.dead_letters_by_reason.items()):
            dead.add_metric([reason], count)
        yield dead
        yield self._latency(snap.batch_latency_counts, snap.batch_latency_sum_s)
        gauges = (
            ("inbox_backlog", "Messages received, not yet in a batch", snap.inbox_backlog),
            ("scoring_backlog", "Patients waiting for a live score", snap.scoring_backlog),
            ("risk_backlog", "Patients waiting for an ML risk", snap.risk_backlog),
            ("broker_connected", "1 while connected to the broker", int(snap.broker_connected)),
            ("storage_ok", "1 while the last write reached the store", int(snap.storage_ok)),
        )
        for name, text, value in gauges:
            yield GaugeMetricFamily(f"vaktrom_ingest_{name}", text, value=value)

    @staticmethod
    def _latency(counts: tuple[int, ...], sum_s: float) -> HistogramMetricFamily:
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, BATCH_LATENCY_BUCKETS_S), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        return HistogramMetricFamily(
            "vaktrom_ingest_batch_latency_seconds",
            "Oldest message of a batch received -> the batch stored and acknowledged",
            buckets=buckets,
            sum_value=sum_s,
        )
