"""TimescaleDB, when this PostgreSQL can use it: observations become a compressed hypertable with retention.

Checked on every open (after the Alembic revisions, in the same transaction and lock), so a database first opened
without the extension is converted once the extension is there. Works for a database owner who is not a superuser
(the extension is trusted): nothing reads superuser-only settings; CREATE EXTENSION is tried and its error explained.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

__all__ = ["create_extension", "enable_timescale"]

logger = logging.getLogger(__name__)

# One-day chunks: a unit of ~20 beds at 1 Hz x 5 parameters writes ~9M rows a day, a comfortable chunk. No default
# (measured_at) index: observations_key and observations_patient already lead with their id then time, and every
# extra index costs append throughput.
_CONVERT = (
    "SELECT create_hypertable('observations', 'measured_at', chunk_time_interval => INTERVAL '1 day', "
    "create_default_indexes => false, migrate_data => true)",
    # Queries are per device or per patient over time: segment by device and parameter, order by time.
    "ALTER TABLE observations SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id, parameter', "
    "timescaledb.compress_orderby = 'measured_at DESC')",
    # Late readings (a home kit offline for days) still land uncompressed within a week.
    "SELECT add_compression_policy('observations', INTERVAL '7 days', if_not_exists => true)",
    # Raw device data are kept two years; the clinical record (charted values, alerts) lives in the EPJ.
    "SELECT add_retention_policy('observations', INTERVAL '2 years', if_not_exists => true)",
)


_NOT_INSTALLED = "TimescaleDB is not installed in this PostgreSQL (optional: it adds compression and retention)"


def create_extension(conn: sa.Connection) -> str | None:
    """Try to create the extension, on a connection of its own in autocommit: without the preload, PostgreSQL ends
    the session that tries. None once the extension exists in this database; else why not and what to do."""
    if _extension_exists(conn):
        return None
    available = "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    if conn.execute(sa.text(available)).first() is None:
        return _NOT_INSTALLED
    try:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    except sa.exc.DBAPIError as exc:
        return _advice(str(exc.orig))
    return None


def enable_timescale(conn: sa.Connection, *, why_not: str | None) -> str:
    """Make `observations` a hypertable if the extension exists (see create_extension); returns what it is now."""
    if _is_hypertable(conn):
        return "observations is a TimescaleDB hypertable"
    if why_not is not None or not _extension_exists(conn):
        status = f"observations is a plain table: {why_not or 'the timescaledb extension is not in this database'}"
        # Not installed is a choice; installed but unusable is a mistake someone should fix.
        logger.log(logging.INFO if why_not == _NOT_INSTALLED else logging.WARNING, "TimescaleDB: %s", status)
        return status
    rows = conn.execute(sa.text("SELECT count(*) FROM observations")).scalar_one()
    if rows:
        logger.warning("Converting observations (%d rows) into a TimescaleDB hypertable; this may take a while", rows)
    for statement in _CONVERT:
        conn.execute(sa.text(statement))
    logger.info("TimescaleDB: observations is now a hypertable")
    return "observations converted into a TimescaleDB hypertable"


def _extension_exists(conn: sa.Connection) -> bool:
    return conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).first() is not None


def _is_hypertable(conn: sa.Connection) -> bool:
    if not _extension_exists(conn):
        return False
    query = "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'observations'"
    return conn.execute(sa.text(query)).first() is not None


def _advice(error: str) -> str:
    if "preload" in error:
        return (
            "TimescaleDB is installed but not preloaded: add timescaledb to shared_preload_libraries in "
            "postgresql.conf and restart PostgreSQL"
        )
    if "permission denied" in error or ("must be" in error and "superuser" in error):
        return (
            "this database's owner may not create the timescaledb extension: run CREATE EXTENSION timescaledb; "
            "once as a superuser in this database, then restart vaktrom"
        )
    return f"CREATE EXTENSION timescaledb failed: {error.splitlines()[0] if error else 'no reason given'}"
