"""PostgresStore's plumbing: the psycopg connection pool, `_fetch`/`_exec`, and open, close and ping."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from core.errors import StorageUnavailable
from core.migrations import apply_postgres_migrations

__all__: list[str] = []  # parts of PostgresStore: import it from core.store_postgres

logger = logging.getLogger(__name__)

_Conn = psycopg.AsyncConnection[tuple[Any, ...]]

# A first connection that takes longer than this means the server is not there: report it, don't hang startup.
CONNECT_TIMEOUT_S = 5
# A call waits this long for a pooled connection before reporting StorageUnavailable (the caller retries with
# backoff and keeps its messages unacknowledged, so a short wait loses nothing).
POOL_TIMEOUT_S = 5.0
# Readiness probes give up after a second or two: answer before they do.
PING_TIMEOUT_S = 1.0

# Per-connection staging table for bulk appends; ON COMMIT DELETE ROWS empties it after each append.
_CREATE_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS obs_stage (seq int4 NOT NULL, device_id text NOT NULL, patient_id text NOT NULL,"
    " parameter text NOT NULL, value float8 NOT NULL, measured_at timestamptz NOT NULL,"
    " received_at timestamptz NOT NULL) ON COMMIT DELETE ROWS"
)


def _describe(dsn: str) -> str:
    """host:port/dbname for messages: never the password."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "postgresql (unparsable DSN)"
    return f"postgresql {info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


async def _configure(conn: _Conn) -> None:
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.execute(_CREATE_STAGE)


class _PostgresPool:
    """Connection pool and lifecycle; the other parts of PostgresStore build on `_connection`, `_fetch`, `_exec`."""

    def __init__(self, dsn: str, *, pool_min: int = 1, pool_max: int = 8) -> None:
        self._dsn = dsn
        self._pool_min = pool_min
        self._pool_max = pool_max
        self._where = _describe(dsn)
        self._pool: AsyncConnectionPool[_Conn] | None = None

    # --- plumbing --------------------------------------------------------------------------------------------
    @asynccontextmanager
    async def _connection(self, *, timeout_s: float | None = None) -> AsyncIterator[_Conn]:
        if self._pool is None:
            raise RuntimeError(f"PostgresStore({self._where}) is not open")
        try:
            async with self._pool.connection(timeout=timeout_s) as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StorageUnavailable(self._where, detail=str(exc).strip()) from exc

    async def _fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            cursor = await conn.execute(sql.encode(), params)
            return await cursor.fetchall()

    async def _exec(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(sql.encode(), params)
            return cursor.rowcount

    # --- lifecycle -------------------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            # One direct connection first: an unreachable server fails here at once, with libpq's reason.
            conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            async with conn:
                await apply_postgres_migrations(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StorageUnavailable(self._where, detail=str(exc).strip()) from exc
        pool: AsyncConnectionPool[_Conn] = AsyncConnectionPool(
            self._dsn,
            min_size=self._pool_min,
            max_size=self._pool_max,
            open=False,
            configure=_configure,
            timeout=POOL_TIMEOUT_S,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            name=f"vaktrom-store {self._where}",
        )
        try:
            await pool.open(wait=True, timeout=POOL_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            await pool.close()
            raise StorageUnavailable(self._where, detail=str(exc).strip()) from exc
        self._pool = pool
        logger.info("Opened PostgreSQL store at %s", self._where)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> bool:
        try:
            async with self._connection(timeout_s=PING_TIMEOUT_S) as conn:
                await conn.execute("SELECT 1")
        except (StorageUnavailable, RuntimeError):
            return False
        return True
