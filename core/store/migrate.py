"""Bring a database to the newest schema on open: Alembic revisions, then TimescaleDB where it can be used.

Runs inside the caller's write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: under an advisory lock), so several
processes starting at once apply each revision exactly once. A database made before Alembic (it has the old
`schema_version` table) is stamped at the revision that reproduces its schema, then upgraded, keeping every row.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.store.timescale import enable_timescale

__all__ = ["MIGRATION_LOCK_KEY", "head_revision", "upgrade"]

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key shared by every vaktrom process on one database ("vaktrom" in ASCII, fits in int8).
MIGRATION_LOCK_KEY = 0x76616B74726F6D
# The revision whose schema the SQL migrations of the first release created ("0001_initial" on both engines; the
# PostgreSQL-only "0002_timescale" is redone by enable_timescale on every open).
_LEGACY_BASELINE = "0001"
_LEGACY_TABLE = "schema_version"


def _config(conn: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "core.store:migrations")
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config(None)).get_current_head()  # type: ignore[arg-type]
    if head is None:
        raise RuntimeError("core/store/migrations has no revisions")
    return head


def upgrade(conn: sa.Connection, *, timescale_why_not: str | None = None) -> list[str]:
    """Apply pending revisions on `conn` (in a transaction the caller owns); returns the revisions applied now.

    On PostgreSQL, then makes observations a hypertable when the extension exists; `timescale_why_not` is what
    `timescale.create_extension` said (it must run on a connection of its own)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    config = _config(conn)
    before = MigrationContext.configure(conn).get_current_revision()
    if before is None and _LEGACY_TABLE in sa.inspect(conn).get_table_names():
        logger.info("Adopting a database made before Alembic: stamping revision %s", _LEGACY_BASELINE)
        command.stamp(config, _LEGACY_BASELINE)
        before = _LEGACY_BASELINE
    command.upgrade(config, "head")
    applied = _revisions_between(config, before, head_revision())
    for revision in applied:
        logger.info("Applied schema revision %s", revision)
    if conn.dialect.name == "postgresql":
        enable_timescale(conn, why_not=timescale_why_not)
    return applied


def _revisions_between(config: Config, before: str | None, head: str) -> list[str]:
    if before == head:
        return []
    script = ScriptDirectory.from_config(config)
    return [r.revision for r in reversed(list(script.iterate_revisions(head, before or "base")))]
