"""SqliteStore's plumbing: one connection on one worker thread, transactions, and open, close and ping."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from core.errors import StorageUnavailable
from core.migrations import apply_sqlite_migrations

__all__: list[str] = []  # parts of SqliteStore: import it from core.store_sqlite

logger = logging.getLogger(__name__)

T = TypeVar("T")
_Conn = sqlite3.Connection

# 32 MiB page cache (default 2 MiB): a day of one unit's observation indexes stays in memory while appending.
CACHE_SIZE_KIB = 32 * 1024
# Another process holding the write lock (a second vaktrom on the same file) is waited for this long.
BUSY_TIMEOUT_S = 10.0


# Switching a new file to WAL needs it to itself, and SQLite answers "database is locked" at once, without its busy
# handler, while another process is opening the same file: retry that switch for up to BUSY_TIMEOUT_S.
_WAL_RETRY_S = 0.02


def _switch_to_wal(conn: _Conn) -> None:
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


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


class _SqliteWorker:
    """One connection driven from one worker thread; the other parts of SqliteStore build on `_run`, `_write`,
    `_fetch` and `_exec`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor: ThreadPoolExecutor | None = None
        self._conn: _Conn | None = None

    # --- plumbing --------------------------------------------------------------------------------------------
    async def _run(self, fn: Callable[[_Conn], T]) -> T:
        if self._executor is None or self._conn is None:
            raise RuntimeError(f"SqliteStore({self._path}) is not open")
        conn = self._conn
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._guarded, fn, conn)

    def _guarded(self, fn: Callable[[_Conn], T], conn: _Conn) -> T:
        try:
            return fn(conn)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.DataError):
            raise
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StorageUnavailable(str(self._path), detail=str(exc)) from exc

    async def _write(self, fn: Callable[[_Conn], T]) -> T:
        """Run `fn` in one IMMEDIATE transaction: it takes the file's write lock up front, so read-then-write
        logic (raise_alert, pair_device) is race-free against other processes on the same file."""

        def in_transaction(conn: _Conn) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        return await self._run(in_transaction)

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._run(lambda conn: conn.execute(sql, params).fetchall())

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._write(lambda conn: conn.execute(sql, params))

    # --- lifecycle -------------------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._conn is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vaktrom-sqlite")
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(self._executor, self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        logger.info("Opened SQLite store at %s", self._path)

    def _connect(self) -> _Conn:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StorageUnavailable(str(self._path), detail=str(exc)) from exc
        try:
            self._guarded(self._prepare, conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _prepare(conn: _Conn) -> None:
        _switch_to_wal(conn)
        conn.execute("PRAGMA synchronous=FULL")  # a returned append is on disk: the caller acks the broker next
        conn.execute(f"PRAGMA cache_size=-{CACHE_SIZE_KIB}")
        apply_sqlite_migrations(conn)

    async def close(self) -> None:
        if self._executor is None or self._conn is None:
            return
        conn, executor = self._conn, self._executor
        self._conn, self._executor = None, None
        await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=False)

    async def ping(self) -> bool:
        try:
            await self._fetch("SELECT 1")
        except (StorageUnavailable, RuntimeError):
            return False
        return True
