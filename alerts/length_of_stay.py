"""The advisory (low-priority) item for a stay past its unit's limit (core/length_of_stay.py): the decision a due
length-of-stay timer applies, and the poll that fires due timers. The timer is a row (`stay_limit_timers`); it fires
once per stay and limit, whichever worker claims it."""

from __future__ import annotations

import logging
from datetime import datetime

from alerts.lifecycle import Observed, observe
from core.clock import Clock
from core.length_of_stay import UNIT_TIME_ZONE, DueStayLimit, limit_message
from core.store import AlertChange, AlertUpdate, Store
from core.types import Alert, AlertKey, AlertKind, AlertSeverity

__all__ = ["STAY_LIMIT_BATCH", "fire_due_stay_limits", "stay_limit_passed"]

logger = logging.getLogger(__name__)

# Timers fired per poll (one transaction): a unit's whole census is a few dozen beds; more wait a second.
STAY_LIMIT_BATCH = 50


def stay_limit_passed(current: Alert | None, due: DueStayLimit, *, at: datetime) -> AlertUpdate | None:
    """Open the patient's length-of-stay item, unless one is open already (it is about the same stay)."""
    if current is not None:
        return None
    admitted = due.admitted_at.astimezone(UNIT_TIME_ZONE).strftime("%d.%m.%Y %H:%M")
    message = f"Length of stay: {limit_message(due.limit)} (here since {admitted})"
    key = AlertKey(due.patient_id, None, AlertKind.LENGTH_OF_STAY)
    return observe(None, Observed(key, AlertSeverity.INFO, message, at, due.ward_id))


async def fire_due_stay_limits(store: Store, clock: Clock) -> list[AlertChange]:
    """Fire due length-of-stay timers (at most STAY_LIMIT_BATCH a poll; the rest on the next); returns the items
    opened. Raises StorageUnavailable."""
    now = clock()
    opened = await store.fire_due_stay_limits(
        now, lambda alert, due: stay_limit_passed(alert, due, at=now), limit=STAY_LIMIT_BATCH
    )
    for change in opened:
        logger.info("Alert %d opened: length of stay of patient %s", change.alert.alert_id, change.alert.patient_id)
    return opened
