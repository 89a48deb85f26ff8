"""The alert timers every worker runs: claim due re-notify times from the store and fire them (one worker per row).

A timer is a column (`alerts.renotify_at`), never a sleep in memory: any worker may fire it, after any restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from alerts.lifecycle import renotify
from core.clock import Clock
from core.errors import StorageUnavailable
from core.store import AlertChange, Store

__all__ = ["TIMER_POLL_S", "fire_due_timers", "run_alert_timers"]

logger = logging.getLogger(__name__)

# How often each worker looks for due timers: a timer fires within this of its due time (the issue asks for 2 s;
# GoAlert polls every 5 s). One indexed query on a partial index of armed timers.
TIMER_POLL_S = 1.0


async def fire_due_timers(store: Store, clock: Clock) -> list[AlertChange]:
    """Fire every due re-notify timer now. Raises StorageUnavailable."""
    now = clock()
    changes = await store.update_due_alerts(now, lambda alert: renotify(alert, now))
    for change in changes:
        if change.changed:
            logger.info("Alert %d re-notified: %s", change.alert.alert_id, change.alert.priority.value)
    return [change for change in changes if change.changed]


async def run_alert_timers(
    store: Store, clock: Clock, announce: Callable[[AlertChange], Awaitable[None]], *, poll_s: float = TIMER_POLL_S
) -> None:
    """Forever. Never raises: an outage is logged and the next poll tries again."""
    while True:
        try:
            for change in await fire_due_timers(store, clock):
                await announce(change)
        except StorageUnavailable as exc:
            logger.warning("Alert timers postponed: %s", exc)
        except Exception:
            logger.exception("Unexpected failure firing alert timers")
        await asyncio.sleep(poll_s)  # the poll interval of a durable timer, not the timer itself
