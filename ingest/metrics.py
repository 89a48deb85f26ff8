"""Counters of one ingest worker, read by health checks and the benchmark (one event loop writes them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["IngestMetrics", "MetricsSnapshot"]


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
    events_published: int
    broker_connected: bool
    storage_ok: bool


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
    events_published: int = 0
    storage_ok: bool = True
    inbox_backlog: Callable[[], int] = field(default=lambda: 0)
    scoring_backlog: Callable[[], int] = field(default=lambda: 0)
    risk_backlog: Callable[[], int] = field(default=lambda: 0)
    broker_connected: Callable[[], bool] = field(default=lambda: False)

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
            events_published=self.events_published,
            broker_connected=self.broker_connected(),
            storage_ok=self.storage_ok,
        )
