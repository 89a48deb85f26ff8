"""The shared store: PostgreSQL (TimescaleDB when present) through SQLAlchemy's asyncio engine on psycopg 3.

Engine-specific here: the pool and its connections, error translation, and the append hot path (COPY BINARY into a
per-connection staging table, then one merge statement), which runs on the raw psycopg connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import orjson
import psycopg
import sqlalchemy as sa
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core.errors import ConfigError, StorageConflict, StorageRefused, StorageUnavailable
from core.store import migrate, postgres_reads
from core.store.columns import json_text, require_utc
from core.store.observations import duplicate_dead_letter, split_duplicates
from core.store.queries import StoreQueries
from core.store.sql import Work
from core.store.timescale import create_extension
from core.types import AlertKind, AppendResult, DeadLetter, LatestValue, Pairing, Parameter, Reading, Stay

__all__ = ["PostgresStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A first connection that takes longer than this means the server is not there: report it, don't hang startup.
CONNECT_TIMEOUT_S = 5
# A call waits this long for a pooled connection before reporting StorageUnavailable (the caller retries with
# backoff and keeps its messages unacknowledged, so a short wait loses nothing).
POOL_TIMEOUT_S = 5.0

# Per-connection staging table for bulk appends; ON COMMIT DELETE ROWS empties it after each append.
_CREATE_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS obs_stage (seq int4 NOT NULL, device_id text NOT NULL, patient_id text NOT NULL,"
    " parameter text NOT NULL, value float8 NOT NULL, measured_at timestamptz NOT NULL,"
    " received_at timestamptz NOT NULL) ON COMMIT DELETE ROWS"
)
_COPY_STAGE = (
    "COPY obs_stage (seq, device_id, patient_id, parameter, value, measured_at, received_at) FROM STDIN (FORMAT BINARY)"
)
_STAGE_TYPES = ["int4", "text", "text", "text", "float8", "timestamptz", "timestamptz"]
# One statement: store the new readings, move latest values forward, and name the staged rows that were not stored.
_MERGE_STAGE = """
WITH inserted AS (
    INSERT INTO observations (device_id, patient_id, parameter, value, measured_at, received_at)
    SELECT device_id, patient_id, parameter, value, measured_at, received_at FROM obs_stage
    ORDER BY device_id, measured_at, parameter  -- in key order: index pages are touched in runs, ~1.3x faster
    ON CONFLICT (device_id, parameter, measured_at) DO NOTHING
    RETURNING device_id, patient_id, parameter, value, measured_at, received_at
), newest AS (
    INSERT INTO latest_values AS lv (patient_id, parameter, value, measured_at, device_id, received_at)
    SELECT DISTINCT ON (patient_id, parameter) patient_id, parameter, value, measured_at, device_id, received_at
    FROM inserted ORDER BY patient_id, parameter, measured_at DESC
    ON CONFLICT (patient_id, parameter) DO UPDATE
    SET value = EXCLUDED.value, measured_at = EXCLUDED.measured_at, device_id = EXCLUDED.device_id,
        received_at = EXCLUDED.received_at
    WHERE EXCLUDED.measured_at > lv.measured_at
)
SELECT s.seq FROM obs_stage s
-- Most batches store every staged row: then the two counts match and the anti-join (two sorts) is never run.
WHERE (SELECT count(*) FROM inserted) < (SELECT count(*) FROM obs_stage) AND NOT EXISTS (
    SELECT 1 FROM inserted i
    WHERE i.device_id = s.device_id AND i.parameter = s.parameter AND i.measured_at = s.measured_at
)
ORDER BY s.seq
"""
_COPY_DEAD_LETTERS = "COPY dead_letters (topic, payload, reason, device_id, received_at) FROM STDIN (FORMAT BINARY)"
_DEAD_LETTER_TYPES = ["text", "bytea", "text", "text", "timestamptz"]
# A write transaction PostgreSQL aborted for a conflict with another (SQLSTATE class 40: a deadlock, a serialization
# failure) runs again this many times in all, after a short random pause so the two do not meet again in step. The
# other transaction has gone on by then; three runs in a row aborted would mean a lock-order bug, which is reported.
CONFLICT_RUNS = 3
CONFLICT_PAUSE_MAX_S = 0.05
_CONFLICTS = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
# Driver and pool errors that mean "the server is not reachable now"; anything else is a bug or bad data.
_UNAVAILABLE = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    sa.exc.DisconnectionError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    OSError,
)


def _describe(dsn: str) -> str:
    """host:port/dbname for messages: never the password."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "postgresql (unparsable DSN)"
    return f"postgresql {info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def _reason(exc: BaseException) -> str:
    """The driver's own first line (libpq's reason), without SQLAlchemy's statement dump."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


async def _configure(pg: psycopg.AsyncConnection[Any]) -> None:
    async with pg.transaction():
        await pg.execute("SET TIME ZONE 'UTC'")
        await pg.execute(_CREATE_STAGE)


def _on_connect(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.run_async(_configure)


class PostgresStore(StoreQueries):
    """Store on PostgreSQL. Safe to share one database between several vaktrom processes."""

    def __init__(self, dsn: str, *, pool_min: int = 1, pool_max: int = 8) -> None:
        self._dsn = dsn
        self._pool_min = min(pool_min, pool_max)
        self._pool_max = pool_max
        self._where = _describe(dsn)
        self._engine: AsyncEngine | None = None
        self._reader: AsyncEngine | None = None

    # --- where units of work run -----------------------------------------------------------------------------
    @asynccontextmanager
    async def _connection(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        engine = self._engine if write else self._reader
        if engine is None:
            raise RuntimeError(f"PostgresStore({self._where}) is not open")
        try:
            async with engine.begin() if write else engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) in _CONFLICTS:  # before _UNAVAILABLE, whose subclass it is
                raise StorageConflict(self._where, detail=_reason(exc)) from exc
            if isinstance(exc, _UNAVAILABLE):
                raise StorageUnavailable(self._where, detail=_reason(exc)) from exc
            if isinstance(exc.orig, psycopg.DataError):
                raise StorageRefused(self._where, detail=_reason(exc)) from exc
            raise
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(self._where, detail=_reason(exc)) from exc
        except psycopg.DataError as exc:  # SQLSTATE class 22, on the driver's own calls (append's COPY)
            raise StorageRefused(self._where, detail=_reason(exc)) from exc

    async def _read(self, work: Work[T]) -> T:
        async with self._connection(write=False) as conn:
            return await conn.run_sync(work)

    async def _write(self, work: Work[T]) -> T:
        """Run `work` in one transaction; one aborted for a conflict with another runs again from the start
        (CONFLICT_RUNS), which is why a unit of work changes nothing outside its connection (sql.py)."""
        for run in range(1, CONFLICT_RUNS + 1):
            try:
                async with self._connection(write=True) as conn:
                    return await conn.run_sync(work)
            except StorageConflict as exc:
                if run == CONFLICT_RUNS:
                    raise
                logger.warning("%s; running the transaction again (%d of %d)", exc, run + 1, CONFLICT_RUNS)
                await asyncio.sleep(random.uniform(0.0, CONFLICT_PAUSE_MAX_S))  # a pause, not a secret
        raise AssertionError("unreachable: the last run returns or raises")

    async def _driver_read(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run `work` on a pooled connection's psycopg connection, in autocommit (postgres_reads.py)."""
        async with self._connection(write=False) as conn:
            pg: psycopg.AsyncConnection[Any] = (await conn.get_raw_connection()).driver_connection  # type: ignore[assignment]
            try:
                return await work(pg)
            except psycopg.OperationalError:
                if pg.broken and self._engine is not None:
                    # What SQLAlchemy does when its own statement finds the server gone: every pooled connection
                    # predates the loss, so none is handed out again (each would fail one more read).
                    await conn.invalidate()
                    await self._engine.dispose()
                raise

    # --- the reads of every batch and scoring cycle, by hand (postgres_reads.py says why) ----------------------
    async def stays_of_patients(self, patient_ids: Sequence[str], *, at: datetime) -> dict[str, Stay]:
        return await self._driver_read(lambda pg: postgres_reads.stays_of_patients(pg, patient_ids, at=at))

    async def latest_values(self, patient_ids: Sequence[str]) -> dict[str, dict[Parameter, LatestValue]]:
        return await self._driver_read(lambda pg: postgres_reads.latest_values(pg, patient_ids))

    async def pairings_of_devices(self, device_ids: Sequence[str]) -> dict[str, list[Pairing]]:
        return await self._driver_read(lambda pg: postgres_reads.pairings_of_devices(pg, device_ids))

    async def patients_with_unresolved(self, patient_ids: Sequence[str], *, kinds: Sequence[AlertKind]) -> set[str]:
        return await self._driver_read(lambda pg: postgres_reads.patients_with_unresolved(pg, patient_ids, kinds=kinds))

    # --- lifecycle -------------------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._engine is not None:
            return
        engine = create_async_engine(
            "postgresql+psycopg://",
            async_creator=self._connect,
            pool_size=self._pool_max,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT_S,
            json_serializer=json_text,
            json_deserializer=orjson.loads,
        )
        sa.event.listen(engine.sync_engine, "connect", _on_connect)
        self._engine = engine
        # Reads run in autocommit: one round trip each, no BEGIN/ROLLBACK around a lone SELECT.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        try:
            async with self._connection(write=False) as conn:
                why_not = await conn.run_sync(create_extension)
            await self._write(lambda c: migrate.upgrade(c, timescale_why_not=why_not))
            await self._warm_up(engine)
        except sa.exc.DBAPIError as exc:
            await self.close()
            if isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
                raise ConfigError(
                    f"VAKTROM_DATABASE_URL: the user may not create or change vaktrom's tables in {self._where} "
                    f"({_reason(exc)}): connect as the database's owner, or make it the owner "
                    "(ALTER DATABASE ... OWNER TO ...)"
                ) from None
            raise
        except BaseException:
            await self.close()
            raise
        logger.info("Opened PostgreSQL store at %s", self._where)

    async def _warm_up(self, engine: AsyncEngine) -> None:
        """Open `pool_min` connections now, so the first readings do not wait for connection setup."""
        connections = [await engine.connect() for _ in range(self._pool_min)]
        for conn in connections:
            await conn.close()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self._dsn, connect_timeout=CONNECT_TIMEOUT_S)

    async def close(self) -> None:
        engine, self._engine, self._reader = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    # --- the hot path ----------------------------------------------------------------------------------------
    async def append(self, readings: Sequence[Reading], dead_letters: Sequence[DeadLetter]) -> AppendResult:
        unique, duplicate_indices = split_duplicates(readings)
        letters = list(dead_letters)
        not_stored: list[int] = []
        async with self._connection(write=True) as conn:
            pg: psycopg.AsyncConnection[Any] = (await conn.get_raw_connection()).driver_connection  # type: ignore[assignment]
            async with pg.cursor() as cursor:
                if unique:
                    async with cursor.copy(_COPY_STAGE) as copy:
                        copy.set_types(_STAGE_TYPES)
                        for index in unique:
                            r = readings[index]
                            await copy.write_row(
                                (
                                    index,
                                    r.device_id,
                                    r.patient_id,
                                    r.parameter.value,
                                    r.value,
                                    require_utc(r.measured_at),
                                    require_utc(r.received_at),
                                )
                            )
                    await cursor.execute(_MERGE_STAGE)
                    not_stored = [seq for (seq,) in await cursor.fetchall()]
                    duplicate_indices += not_stored
                duplicates = tuple(readings[i] for i in sorted(duplicate_indices))
                letters += map(duplicate_dead_letter, duplicates)
                if letters:
                    async with cursor.copy(_COPY_DEAD_LETTERS) as copy:
                        copy.set_types(_DEAD_LETTER_TYPES)
                        for d in letters:
                            await copy.write_row(
                                (d.topic, d.payload, d.reason, d.device_id, require_utc(d.received_at))
                            )
        return AppendResult(stored=len(unique) - len(not_stored), duplicates=duplicates, dead_lettered=len(letters))
