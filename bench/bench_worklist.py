"""The coordinators' worklist read, which the live worklist makes every second per open page: 500 patients' open
items (the most one read returns) read and ordered by urgency on SQLite and PostgreSQL, beside a bare driver fetch
of the same rows from the same database in the same run.

    .venv/bin/python -m bench.bench_worklist [--patients 500] [--rounds 50]

Machines are shared and noisy: compare the ratios printed in one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from bench.common import create_database, latency_summary
from core.homecare import WorklistState
from core.store import Store
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from tests.fixtures.home_programme import PROGRAMME_SITE, seed_breaching_programme
from tests.fixtures.postgres import running_server

_STATES = [WorklistState.OPEN, WorklistState.CLAIMED]
# The rows a worklist read returns, fetched as they lie: what the database and its driver cost before vaktrom
# orders, converts and limits them.
_BARE = "SELECT * FROM worklist_items WHERE site_id = {p} AND state IN ('open', 'claimed')"


async def _timed(read: Callable[[], Awaitable[int]], rounds: int, expected: int) -> list[float]:
    await read()  # warm: the first read pays for caches and plans
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        rows = await read()
        times.append(time.perf_counter() - started)
        assert rows == expected, f"read {rows} rows, expected {expected}"
    return times


def _line(what: str, times: list[float]) -> str:
    q = latency_summary(times)
    return f"  {what:<44} p50 {q['p50_ms']:>6.1f} ms  p99 {q['p99_ms']:>6.1f} ms  (n={len(times)})"


async def _measure(name: str, store: Store, bare: Callable[[], int], *, patients: int, rounds: int) -> None:
    await store.open()
    try:
        await seed_breaching_programme(store, patients)

        async def listed() -> int:
            return len(await store.worklist(PROGRAMME_SITE, states=_STATES, limit=patients + 1))

        async def fetched() -> int:
            return bare()

        ours = await _timed(listed, rounds, patients)
        raw = await _timed(fetched, rounds, patients)
    finally:
        await store.close()
    ratio = latency_summary(ours)["p50_ms"] / latency_summary(raw)["p50_ms"]
    print(f"{name}: {patients} open items")
    print(_line("Store.worklist (ordered by urgency, converted)", ours))
    print(_line("raw: bare driver fetch of the same rows", raw))
    print(f"  ratio at p50: {ratio:.1f}x the bare fetch")


@contextmanager
def _sqlite_fetch(path: Path) -> Iterator[Callable[[], int]]:
    conn = sqlite3.connect(path)  # one connection kept open, as the store keeps its own
    try:
        yield lambda: len(conn.execute(_BARE.format(p="?"), (PROGRAMME_SITE,)).fetchall())
    finally:
        conn.close()


@contextmanager
def _postgres_fetch(dsn: str) -> Iterator[Callable[[], int]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield lambda: len(conn.execute(_BARE.format(p="%s"), (PROGRAMME_SITE,)).fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=500, help="patients with an open item (default 500)")
    parser.add_argument("--rounds", type=int, default=50, help="reads timed per engine (default 50)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; budget: the live worklist polls every 1,000 ms per open page")
    root = Path(tempfile.mkdtemp(prefix="vaktrom-bench-worklist-"))
    pg_root = Path(tempfile.mkdtemp(prefix="vaktrom-bench-pg-"))  # its own: postgres cannot enter `root`
    try:
        sqlite_path = root / "vaktrom.sqlite3"
        with _sqlite_fetch(sqlite_path) as bare:
            asyncio.run(_measure("SQLite", SqliteStore(sqlite_path), bare, patients=args.patients, rounds=args.rounds))
        with running_server(pg_root) as server:
            url = create_database(server, "worklist")
            with _postgres_fetch(server.dsn_for("worklist")) as bare:
                asyncio.run(
                    _measure("PostgreSQL", PostgresStore(url), bare, patients=args.patients, rounds=args.rounds)
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pg_root, ignore_errors=True)


if __name__ == "__main__":
    main()
