"""The embedded store: one SQLite file (WAL, synchronous=FULL), every unit of work on one writer thread.

Engine-specific here: the thread, the file's pragmas, BEGIN IMMEDIATE for writes, and the append hot path (one
executemany over the raw sqlite3 connection).
"""

from __future__ import annotations

import asyncio
import logging
import operator
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from core.errors import StorageUnavailable
from core.store import migrate
from core.store.columns import to_us
from core.store.observations import duplicate_dead_letter, newest_per_patient_parameter, split_duplicates
from core.store.queries import StoreQueries
from core.store.sql import Work
from core.types import AppendResult, DeadLetter, Reading

__all__ = ["SqliteStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# 32 MiB page cache (default 2 MiB): a day of one unit's observation indexes stays in memory while appending.
CACHE_SIZE_KIB = 32 * 1024
# Another process holding the write lock (a second vaktrom on the same file) is waited for this long.
BUSY_TIMEOUT_S = 10.0
# Switching a new file to WAL needs it to itself, and SQLite answers "database is locked" at once, without its busy
# handler, while another process is opening the same file: retry that switch for up to BUSY_TIMEOUT_S.
_WAL_RETRY_S = 0.02
_WRITE = "vaktrom_write"
# Errors that are our bug or bad data, not an unreachable file: they propagate as they are.
_NOT_STORAGE = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.DataError)

# (device_id, measured_at, parameter) of an observation row: the unique key, in index order.
_KEY_OF_ROW = operator.itemgetter(0, 4, 2)
_INSERT_OBSERVATION = (
    "INSERT INTO observations (device_id, patient_id, parameter, value, measured_at, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, parameter, measured_at) DO NOTHING"
)
_UPSERT_LATEST = (
    "INSERT INTO latest_values (patient_id, parameter, value, measured_at, device_id, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (patient_id, parameter) DO UPDATE SET value = excluded.value, "
    "measured_at = excluded.measured_at, device_id = excluded.device_id, received_at = excluded.received_at "
    "WHERE excluded.measured_at > latest_values.measured_at"
)
_INSERT_DEAD_LETTER = "INSERT INTO dead_letters (topic, payload, reason, device_id, received_at) VALUES (?, ?, ?, ?, ?)"


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            logger.debug("SQLite file busy while switching to WAL; retrying")
            time.sleep(_WAL_RETRY_S)  # the worker thread, never the event loop


def _prepare(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    _switch_to_wal(dbapi_connection)
    dbapi_connection.execute("PRAGMA synchronous=FULL")  # a returned append is on disk: the caller acks the broker next
    dbapi_connection.execute(f"PRAGMA cache_size=-{CACHE_SIZE_KIB}")


def _begin(conn: sa.Connection) -> None:
    # pysqlite's own transaction handling is off (isolation_level=None): we say when and how a transaction begins.
    # A write takes the file's write lock up front, so read-then-write logic is race-free across processes.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


class SqliteStore(StoreQueries):
    """Store on one SQLite file. Every call runs on a single worker thread, so the event loop never blocks."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor: ThreadPoolExecutor | None = None
        self._engine: sa.Engine | None = None

    # --- where units of work run -----------------------------------------------------------------------------
    async def _run(self, work: Work[T], *, write: bool) -> T:
        if self._executor is None or self._engine is None:
            raise RuntimeError(f"SqliteStore({self._path}) is not open")
        engine = self._engine
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._guarded, engine, work, write)

    def _guarded(self, engine: sa.Engine, work: Work[T], write: bool) -> T:
        try:
            with engine.connect() as conn:
                conn.execution_options(**{_WRITE: write})
                with conn.begin():
                    return work(conn)
        except sa.exc.DBAPIError as exc:
            if isinstance(exc.orig, _NOT_STORAGE):
                raise
            raise StorageUnavailable(str(self._path), detail=str(exc.orig)) from exc
        except (sqlite3.DatabaseError, OSError) as exc:
            if isinstance(exc, _NOT_STORAGE):
                raise
            raise StorageUnavailable(str(self._path), detail=str(exc)) from exc

    async def _read(self, work: Work[T]) -> T:
        return await self._run(work, write=False)

    async def _write(self, work: Work[T]) -> T:
        return await self._run(work, write=True)

    # --- lifecycle -------------------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._engine is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vaktrom-sqlite")
        loop = asyncio.get_running_loop()
        try:
            self._engine = await loop.run_in_executor(self._executor, self._connect)
            await self._write(migrate.upgrade)
        except BaseException:
            await self.close()
            raise
        logger.info("Opened SQLite store at %s", self._path)

    def _connect(self) -> sa.Engine:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(str(self._path), detail=str(exc)) from exc
        path = self._path
        engine = sa.create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            ),
            poolclass=StaticPool,  # one connection, used only from the worker thread
        )
        sa.event.listen(engine, "connect", _prepare)
        sa.event.listen(engine, "begin", _begin)
        return engine

    async def close(self) -> None:
        engine, executor = self._engine, self._executor
        self._engine, self._executor = None, None
        if executor is None:
            return
        if engine is not None:
            await asyncio.get_running_loop().run_in_executor(executor, engine.dispose)
        executor.shutdown(wait=False)

    # --- the hot path ----------------------------------------------------------------------------------------
    async def append(self, readings: Sequence[Reading], dead_letters: Sequence[DeadLetter]) -> AppendResult:
        rows = [
            (r.device_id, r.patient_id, r.parameter.value, r.value, to_us(r.measured_at), to_us(r.received_at))
            for r in readings
        ]
        letters = [(d.topic, d.payload, d.reason, d.device_id, to_us(d.received_at)) for d in dead_letters]
        return await self._write(lambda c: _append(c.connection.driver_connection, readings, rows, letters))


def _append(
    conn: Any,
    readings: Sequence[Reading],
    rows: list[tuple[Any, ...]],
    letters: list[tuple[Any, ...]],
) -> AppendResult:
    """Insert all new readings with one executemany; only when some were already stored, find which, row by row."""
    unique, duplicate_indices = split_duplicates(readings)
    unique.sort(key=lambda i: _KEY_OF_ROW(rows[i]))  # in key order: index pages are touched in runs, ~1.2x faster
    unique_rows = [rows[i] for i in unique]
    conn.execute("SAVEPOINT append_batch")
    before = conn.total_changes
    conn.executemany(_INSERT_OBSERVATION, unique_rows)
    stored = unique
    if conn.total_changes - before != len(unique_rows):
        conn.execute("ROLLBACK TO append_batch")
        stored = []
        for index in unique:
            if conn.execute(_INSERT_OBSERVATION, rows[index]).rowcount == 1:
                stored.append(index)
            else:
                duplicate_indices.append(index)
    conn.execute("RELEASE append_batch")
    latest = newest_per_patient_parameter(readings[i] for i in stored)
    conn.executemany(
        _UPSERT_LATEST,
        [
            (r.patient_id, r.parameter.value, r.value, to_us(r.measured_at), r.device_id, to_us(r.received_at))
            for r in latest
        ],
    )
    duplicates = tuple(readings[i] for i in sorted(duplicate_indices))
    for letter in map(duplicate_dead_letter, duplicates):
        letters.append((letter.topic, letter.payload, letter.reason, letter.device_id, to_us(letter.received_at)))
    conn.executemany(_INSERT_DEAD_LETTER, letters)
    return AppendResult(stored=len(stored), duplicates=duplicates, dead_lettered=len(letters))
