"""Append throughput of both stores (100k readings in 2k-reading batches), beside raw COPY BINARY as the baseline.

    .venv/bin/python -m bench.bench_store            # starts a throwaway PostgreSQL (as tests do)
    .venv/bin/python -m bench.bench_store --dsn "postgresql://..."   # or uses yours (a scratch database!)

Machines are shared and noisy: compare the ratios printed in one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

import psycopg
from psycopg import sql

from core.store import Store
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import Parameter, Reading

TOTAL_READINGS = 100_000
BATCH_SIZE = 2_000  # Settings.ingest_batch_max default
DEVICES = 100
PARAMETERS = (Parameter.PULSE, Parameter.SPO2, Parameter.RESP_RATE, Parameter.SYSTOLIC_BP, Parameter.TEMPERATURE)
T0 = datetime(2025, 1, 6, tzinfo=UTC)


def make_readings(total: int) -> list[Reading]:
    """Bedside monitors at 1 Hz: every device sends every parameter each second, in arrival order."""
    readings: list[Reading] = []
    second = 0
    while len(readings) < total:
        at = T0 + timedelta(seconds=second)
        for device in range(DEVICES):
            for parameter in PARAMETERS:
                readings.append(Reading(f"dev-{device}", f"pat-{device}", parameter, 80.0, at, at))
        second += 1
    return readings[:total]


def batches(readings: list[Reading]) -> list[list[Reading]]:
    return [readings[i : i + BATCH_SIZE] for i in range(0, len(readings), BATCH_SIZE)]


async def time_store(store: Store, readings: list[Reading]) -> float:
    await store.open()
    try:
        started = time.perf_counter()
        for batch in batches(readings):
            result = await store.append(batch, [])
            assert result.stored == len(batch), result
        elapsed = time.perf_counter() - started
        assert await store.count_readings() == len(readings)
    finally:
        await store.close()
    return len(readings) / elapsed


def time_raw_copy(dsn: str, readings: list[Reading], *, indexed: bool) -> float:
    """COPY BINARY with set_types into a bare table, one transaction per batch (what a store append must beat)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        table = f"raw_{uuid.uuid4().hex[:8]}"
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (device_id text, patient_id text, parameter text, value float8, "
                "measured_at timestamptz, received_at timestamptz)"
            ).format(sql.Identifier(table))
        )
        if indexed:
            conn.execute(sql.SQL("CREATE INDEX ON {} (device_id, measured_at)").format(sql.Identifier(table)))
        copy_sql = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table))
        started = time.perf_counter()
        for batch in batches(readings):
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                copy.set_types(["text", "text", "text", "float8", "timestamptz", "timestamptz"])
                for r in batch:
                    copy.write_row(
                        (r.device_id, r.patient_id, r.parameter.value, r.value, r.measured_at, r.received_at)
                    )
        elapsed = time.perf_counter() - started
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
    return len(readings) / elapsed


@contextmanager
def scratch_database(server_dsn: str) -> Iterator[str]:
    name = f"vaktrom_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(server_dsn, dbname=name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def postgres_server(dsn: str | None) -> Iterator[str]:
    if dsn:
        yield dsn
        return
    from tests.fixtures.postgres import running_server  # the tests' throwaway server: fsync on, unix socket

    root = Path(tempfile.mkdtemp(prefix="vaktrom-pg-bench-"))
    try:
        with running_server(root) as server:
            yield server.dsn
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", help="PostgreSQL server to use (a scratch database is created and dropped)")
    parser.add_argument("--readings", type=int, default=TOTAL_READINGS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    readings = make_readings(args.readings)

    print(f"{len(readings)} readings in batches of {BATCH_SIZE}, median of {args.repeat} runs, each into a fresh store")
    sqlite_rates = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="vaktrom-sqlite-bench-") as folder:
            sqlite_rates.append(asyncio.run(time_store(SqliteStore(Path(folder) / "bench.sqlite3"), readings)))
    bare, indexed, postgres = [], [], []
    with postgres_server(args.dsn) as server_dsn:
        for _ in range(args.repeat):  # interleaved, so a burst of load elsewhere hits all three alike
            with scratch_database(server_dsn) as dsn:
                bare.append(time_raw_copy(dsn, readings, indexed=False))
                indexed.append(time_raw_copy(dsn, readings, indexed=True))
                postgres.append(asyncio.run(time_store(PostgresStore(dsn), readings)))
    print(f"SqliteStore.append                         {median(sqlite_rates):>10,.0f} readings/s")
    print(f"raw COPY BINARY, bare table (baseline)     {median(bare):>10,.0f} rows/s")
    print(f"raw COPY BINARY, (device, time) index      {median(indexed):>10,.0f} rows/s")
    ratio = median(postgres) / median(indexed)
    rate = median(postgres)
    print(f"PostgresStore.append                       {rate:>10,.0f} readings/s  ({ratio:.0%} of indexed COPY)")


if __name__ == "__main__":
    main()
