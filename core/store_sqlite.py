"""The embedded store: one SQLite file (WAL, synchronous=FULL) driven from one worker thread."""

from __future__ import annotations

from core.sqlite_alerts import _SqliteAlerts
from core.sqlite_observations import _SqliteObservations
from core.sqlite_reference import _SqliteReference

__all__ = ["SqliteStore"]


class SqliteStore(_SqliteAlerts, _SqliteObservations, _SqliteReference):
    """Store on one SQLite file. Every call runs on a single worker thread, so the event loop never blocks.

    Built as `SqliteStore(path)`; the parts: `core/sqlite_worker.py` (worker thread, transactions, lifecycle),
    `sqlite_reference.py` (reference data, devices), `sqlite_observations.py` (readings, scores, risks),
    `sqlite_alerts.py` (alerts, audit).
    """
