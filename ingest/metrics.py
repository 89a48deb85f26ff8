"""Counters of one ingest worker, read by health checks and the benchmark (one event loop writes them)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["BATCH_LATENCY_BUCKETS_S", "IngestMetrics", "MetricsSnapshot", "reason_class"]

# Upper bounds of the batch-latency histogram (oldest message received -> its batch acknowledged), seconds: a batch
# commits in tens of milliseconds; seconds mean a slow database, tens of seconds an outage being waited out.
BATCH_LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_MAX_REASON_CLASS_LENGTH = 40


def reason_class(reason: str) -> str:
    """A dead letter's reason without its particulars: "v: the value is not a finite number (nan)" -> "v", "unknown
    device" -> itself. Bounded (field names and fixed reasons), so it can label a metric."""
    head = reason.split(":", 1)[0].strip()
    return head[:_MAX_REASON_CLASS_LENGTH] or "unknown"


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    messages_in: int
    readings_stored: int
    dead_lettered: int
    duplicates: int
    batches: int
    inbox_backlog: int
    scoring_backlog: int
    risk_backlog: int
    last_batch_latency_s: float  # oldest message's receive time -> its batch acknowledged
    last_batch_size: int
    storage_retries: int
    patients_scored: int
    patients_scored_unchanged: int  # of those, settled patients whose pack changed no sub-score (no full scoring)
    events_published: int
    broker_connected: bool
    storage_ok: bool
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)  # reason_class -> count
    batch_latency_counts: tuple[int, ...] = ()  # per BATCH_LATENCY_BUCKETS_S bucket, then one for beyond the last
    batch_latency_sum_s: float = 0.0


@dataclass(slots=True)
class IngestMetrics:
    """Mutable on purpose: the ingest loop bumps counters; readers take a `snapshot()`."""

    messages_in: int = 0
    readings_stored: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    batches: int = 0
    last_batch_latency_s: float = 0.0
    last_batch_size: int = 0
    storage_retries: int = 0
    patients_scored: int = 0
    patients_scored_unchanged: int = 0
    events_published: int = 0
    storage_ok: bool = True
    inbox_backlog: Callable[[], int] = field(default=lambda: 0)
    scoring_backlog: Callable[[], int] = field(default=lambda: 0)
    risk_backlog: Callable[[], int] = field(default=lambda: 0)
    broker_connected: Callable[[], bool] = field(default=lambda: False)
    # A backlog at the broker (IngestWorker.catching_up): device health calls no device newly silent meanwhile.
    catching_up: Callable[[], bool] = field(default=lambda: False)
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    batch_latency_counts: list[int] = field(default_factory=lambda: [0] * (len(BATCH_LATENCY_BUCKETS_S) + 1))
    batch_latency_sum_s: float = 0.0

    @property
    def ready(self) -> bool:
        """Connected to the broker and the last write reached the store."""
        return self.broker_connected() and self.storage_ok

    def snapshot(self) -> MetricsSnapshot:
        return MetricsSnapshot(
            messages_in=self.messages_in,
            readings_stored=self.readings_stored,
            dead_lettered=self.dead_lettered,
            duplicates=self.duplicates,
            batches=self.batches,
            inbox_backlog=self.inbox_backlog(),
            scoring_backlog=self.scoring_backlog(),
            risk_backlog=self.risk_backlog(),
            last_batch_latency_s=self.last_batch_latency_s,
            last_batch_size=self.last_batch_size,
            storage_retries=self.storage_retries,
            patients_scored=self.patients_scored,
            patients_scored_unchanged=self.patients_scored_unchanged,
            events_published=self.events_published,
            broker_connected=self.broker_connected(),
            storage_ok=self.storage_ok,
            dead_letters_by_reason=dict(self.dead_letters_by_reason),  # copied: a scrape thread reads the snapshot
            batch_latency_counts=tuple(self.batch_latency_counts),
            batch_latency_sum_s=self.batch_latency_sum_s,
        )

    def count_dead_letters(self, reasons: Iterable[str]) -> None:
        by_reason = self.dead_letters_by_reason
        for reason in reasons:
            key = reason_class(reason)
            by_reason[key] = by_reason.get(key, 0) + 1

    def observe_batch(self, *, size: int, latency_s: float) -> None:
        self.batches += 1
        self.last_batch_size = size
        self.last_batch_latency_s = latency_s
        self.batch_latency_counts[bisect.bisect_left(BATCH_LATENCY_BUCKETS_S, latency_s)] += 1
        self.batch_latency_sum_s += latency_s
