"""Whether device health may call a device newly silent: not while ingest is catching up a backlog at the broker.

After an ingest restart or a database outage the broker holds minutes of every device's readings. Judged against
the store alone, every monitor of the ward looks silent: a whole ward of false device alerts, escalated to the
nurse, that end seconds later when the backlog is stored. So while ingest's batches come full, new silence is not
judged (open silent alerts stay open, battery alerts and recoveries go on as usual). Not for ever: a backlog that
lasts longer than the silence bound itself means the ward's screen is that far behind, so the patients are
unmonitored now and the alerts are due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from core.clock import Clock

__all__ = ["SilenceGate"]

logger = logging.getLogger(__name__)


class SilenceGate:
    """Call it just before deciding; True: judge silence as usual. `catching_up` says whether ingest has a
    backlog now; judging is postponed for at most `max_postpone_s` of one unbroken stretch of catching up."""

    def __init__(self, catching_up: Callable[[], bool], *, max_postpone_s: float, clock: Clock) -> None:
        if max_postpone_s < 0:
            raise ValueError(f"max_postpone_s must not be negative, got {max_postpone_s}")
        self._catching_up = catching_up
        self._max_postpone_s = max_postpone_s
        self._clock = clock
        self._since: datetime | None = None  # when the current stretch of catching up was first seen
        self._overdue_logged = False

    def __call__(self) -> bool:
        if not self._catching_up():
            if self._since is not None:
                logger.info("Ingest caught up: device silence is judged again")
            self._since, self._overdue_logged = None, False
            return True
        now = self._clock()
        if self._since is None:
            self._since = now
            logger.info(
                "Ingest is catching up a backlog: no device is called silent meanwhile (its readings may be waiting "
                "at the broker), for at most %.0f s",
                self._max_postpone_s,
            )
        if (now - self._since).total_seconds() < self._max_postpone_s:
            return False
        if not self._overdue_logged:
            self._overdue_logged = True
            logger.warning(
                "Ingest has been catching up for over %.0f s: device silence is judged again, as the ward's readings "
                "are that far behind; check the ingest workers' load and the broker's queue",
                self._max_postpone_s,
            )
        return True
