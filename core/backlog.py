"""How far behind the durable timers and deliveries are: what an operator (or a Prometheus scrape) asks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["LATE_AFTER_S", "TimerBacklog"]

# The timer workers poll every second and an escalation step reaches its gateway ~0.6 s (p50) to ~1.3 s (p99) after
# it is due (bench/bench_escalation.py): a step still unfired 5 s after its time means the workers are not keeping up
# (stopped, starved or cut off from the database), which is what an operator must be woken for.
LATE_AFTER_S = 5.0


@dataclass(frozen=True, slots=True)
class TimerBacklog:
    """Counts of due work at `at`, across every worker (it is read from the store, not from one process)."""

    at: datetime
    escalation_steps_due: int
    escalation_steps_late: int  # due more than LATE_AFTER_S ago
    oldest_escalation_due_at: datetime | None
    renotifications_due: int  # acknowledged alerts whose re-notify time has come
    confirmations_due: int  # pending (unconfirmed) alerts whose confirmation delay has run out
    summaries_due: int  # care-team daily summaries
    deliveries_due: int  # queued deliveries whose (re)try time has come, or sending ones whose lease ran out
    deliveries_by_state: dict[str, int] = field(default_factory=dict)
