"""The durable timers' backlog as Prometheus metrics: read from the store by a task, served from its last reading."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.backlog import LATE_AFTER_S, TimerBacklog
from core.clock import Clock
from core.errors import StorageUnavailable
from core.escalation import DeliveryState
from core.store import Store

__all__ = ["BACKLOG_READ_INTERVAL_S", "TimerBacklogCollector", "read_timer_backlog"]

logger = logging.getLogger(__name__)

# Prometheus scrapes every 15 s by default; reading twice as often keeps a scrape at most ~7 s behind the store.
BACKLOG_READ_INTERVAL_S = 7.5


class TimerBacklogCollector(Collector):
    """The last backlog read (a scrape runs on the metrics server's thread and must not touch the store)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.last: TimerBacklog | None = None

    def collect(self) -> Iterator[Metric]:
        last = self.last
        if last is None:  # not read yet, or the store has not answered since start: say so, invent nothing
            return
        now = self._clock()
        yield _gauge(
            "timer_backlog_read_age_seconds",
            "Seconds since the backlog below was read from the store",
            _age(now, last.at),
        )
        yield _gauge("escalation_steps_due", "Escalation steps due now, on any worker", last.escalation_steps_due)
        yield _gauge(
            "escalation_steps_late",
            f"Escalation steps due more than {LATE_AFTER_S:g} s ago",
            last.escalation_steps_late,
        )
        oldest = last.oldest_escalation_due_at
        yield _gauge(
            "escalation_oldest_due_seconds",
            "Seconds the oldest due escalation step has waited (0: none due)",
            max(0.0, _age(last.at, oldest)) if oldest is not None else 0.0,
        )
        yield _gauge("renotifications_due", "Acknowledged alerts due to notify again", last.renotifications_due)
        yield _gauge("confirmations_due", "Pending alerts whose confirmation delay has run out", last.confirmations_due)
        yield _gauge("summaries_due", "Care-team daily summaries due", last.summaries_due)
        yield _gauge("deliveries_due", "Deliveries due to be (re)sent", last.deliveries_due)
        by_state = GaugeMetricFamily("vaktrom_deliveries", "Deliveries by state (all time)", labels=["state"])
        for state in DeliveryState:  # every state, 0 included: an alert rule on "failed" needs the series to exist
            by_state.add_metric([state.value], last.deliveries_by_state.get(state.value, 0))
        yield by_state


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"vaktrom_{name}", text, value=value)


def _age(now: datetime, then: datetime) -> float:
    return (now - then).total_seconds()


async def read_timer_backlog(
    store: Store, collector: TimerBacklogCollector, clock: Clock, *, interval_s: float = BACKLOG_READ_INTERVAL_S
) -> None:
    """Run until cancelled: read the backlog every `interval_s`. A store outage keeps the last reading (its age
    grows, which the shipped alert rules watch) and is retried at the next tick."""
    while True:
        try:
            collector.last = await store.timer_backlog(clock())
        except StorageUnavailable as exc:
            last_at = collector.last.at.isoformat() if collector.last is not None else "none"
            logger.warning("Timer backlog not read (%s); the metrics keep the reading of %s", exc, last_at)
        await asyncio.sleep(interval_s)  # a polling interval, not a synchronisation
