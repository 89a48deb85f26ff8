"""The shared store: PostgreSQL (optionally TimescaleDB) through psycopg 3 and an async connection pool."""

from __future__ import annotations

from core.postgres_alerts import _PostgresAlerts
from core.postgres_observations import _PostgresObservations
from core.postgres_reference import _PostgresReference

__all__ = ["PostgresStore"]


class PostgresStore(_PostgresAlerts, _PostgresObservations, _PostgresReference):
    """Store on PostgreSQL. Safe to share one database between several vaktrom processes.

    Built as `PostgresStore(dsn, *, pool_min=1, pool_max=8)`; the parts: `core/postgres_pool.py` (pool, lifecycle),
    `postgres_reference.py` (reference data, devices), `postgres_observations.py` (readings, scores, risks),
    `postgres_alerts.py` (alerts, audit).
    """
