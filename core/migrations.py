"""Versioned schema migrations (core/migrations/<dialect>/NNNN_name.sql), applied on store open, once, under a lock."""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "MIGRATION_LOCK_KEY",
    "Migration",
    "apply_postgres_migrations",
    "apply_sqlite_migrations",
    "load_migrations",
    "split_sqlite_script",
]

logger = logging.getLogger(__name__)

Dialect = Literal["sqlite", "postgres"]

# pg_advisory_xact_lock key shared by every vaktrom process on one database ("vaktrom" in ASCII, fits in int8).
MIGRATION_LOCK_KEY = 0x76616B74726F6D

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# A migration that only applies when a PostgreSQL extension can be created declares it on its own line.
_REQUIRES = re.compile(r"^--\s*requires-extension:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def required_extension(self) -> str | None:
        match = _REQUIRES.search(self.sql)
        return match.group(1) if match else None


def load_migrations(dialect: Dialect) -> tuple[Migration, ...]:
    """All migrations shipped for `dialect`, by version. Raises ValueError on a misnamed or repeated version."""
    folder = resources.files("core").joinpath("migrations", dialect)
    migrations: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file {dialect}/{entry.name} must be named NNNN_lower_case_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise ValueError(f"two {dialect} migrations share version {version:04d}")
        migrations[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return tuple(migrations[v] for v in sorted(migrations))


def split_sqlite_script(sql: str) -> list[str]:
    """Statements of a script, so they run inside our own transaction (executescript would commit first)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip() and not _only_comments(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not _only_comments(buffer):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer.strip()[:80]!r}")
    return statements


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


_SQLITE_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (datetime('now')), "
    "note TEXT NOT NULL DEFAULT '')"
)


def apply_sqlite_migrations(conn: sqlite3.Connection) -> list[int]:
    """Apply pending migrations in one IMMEDIATE transaction (the write lock serialises concurrent starts).

    `conn` must be in autocommit mode (isolation_level=None). Returns the versions applied now.
    """
    applied_now: list[int] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_SQLITE_VERSION_TABLE)
        done = {row[0] for row in conn.execute("SELECT version FROM schema_version")}
        for migration in load_migrations("sqlite"):
            if migration.version in done:
                continue
            for statement in split_sqlite_script(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (?, ?)", (migration.version, migration.name)
            )
            applied_now.append(migration.version)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    for version in applied_now:
        logger.info("Applied SQLite migration %04d", version)
    return applied_now


_POSTGRES_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), "
    "note text NOT NULL DEFAULT '')"
)


async def apply_postgres_migrations(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    """Apply pending migrations in one transaction under pg_advisory_xact_lock, so two processes starting at once
    apply each migration exactly once. A migration whose `-- requires-extension:` cannot be created is recorded as
    skipped (with the reason in schema_version.note). Returns the versions applied now.
    """
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        await conn.execute(_POSTGRES_VERSION_TABLE)
        cursor = await conn.execute("SELECT version FROM schema_version")
        done = {row[0] for row in await cursor.fetchall()}
        for migration in load_migrations("postgres"):
            if migration.version in done:
                continue
            note = ""
            extension = migration.required_extension
            missing = await _extension_missing(conn, extension) if extension else None
            if missing is None:
                await conn.execute(migration.sql.encode())
            else:
                note = f"skipped: {missing}"
                logger.info("Skipping PostgreSQL migration %04d_%s: %s", migration.version, migration.name, missing)
            await conn.execute(
                "INSERT INTO schema_version (version, name, note) VALUES (%s, %s, %s)",
                (migration.version, migration.name, note),
            )
            applied_now.append(migration.version)
    for version in applied_now:
        logger.info("Applied PostgreSQL migration %04d", version)
    return applied_now


async def _extension_missing(conn: psycopg.AsyncConnection[Any], extension: str) -> str | None:
    """None when `extension` can be created here, else why not."""
    cursor = await conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (extension,))
    if await cursor.fetchone() is None:
        return f"extension {extension} is not installed in this PostgreSQL"
    if extension == "timescaledb":
        # TimescaleDB refuses CREATE EXTENSION unless the server preloads its library.
        cursor = await conn.execute("SELECT current_setting('shared_preload_libraries')")
        row = await cursor.fetchone()
        if row is None or "timescaledb" not in str(row[0]):
            return "timescaledb is installed but not in shared_preload_libraries"
    return None
