"""Device health on PostgreSQL when a whole ward's monitors fall silent together and come back (a network outage):
the wall time and this process's CPU of each check, beside a check of the same ward with every monitor reporting
(nothing to write: the reads alone), measured in the same run.

    .venv/bin/python -m bench.bench_device_health [--beds 1000]

The checks are the ones ingest runs every 10 s (devices/health.check_device_health): the first after the ward goes
quiet opens an alert per monitor, the next finds them open, and the one after every monitor has sent again resolves
them. PostgreSQL's own CPU is not counted; each write transaction's commit (fsync on) is in the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.common import create_database
from core.store.postgres import PostgresStore
from core.types import AlertKind, AlertState, Parameter, Reading
from devices.demo import seed_bench_unit
from devices.health import check_device_health
from tests.fixtures.postgres import PostgresServer, running_server

SILENT_AFTER_S = 60.0


class _StatementCount:
    """Statements sent to PostgreSQL (an executemany counts once): the round trips, which CPU and wall time follow
    but, unlike them, the same in every run."""

    def __init__(self) -> None:
        self.sent = 0
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._count)

    def _count(self, *_: object) -> None:
        self.sent += 1


_STATEMENTS = _StatementCount()


async def _timed(what: str, check: Callable[[], Awaitable[int]]) -> None:
    wall, cpu, sent = time.perf_counter(), time.process_time(), _STATEMENTS.sent
    changed = await check()
    wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    statements = _STATEMENTS.sent - sent
    figures = f"{wall_s:6.2f} s wall, {cpu_s:6.2f} s CPU, {statements:5d} statements"
    print(f"  {what:<44} {figures}, {changed:5d} alerts changed")


async def measure(server: PostgresServer, n_beds: int) -> None:
    store = PostgresStore(create_database(server, f"health_{time.monotonic_ns()}"))
    await store.open()
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        unit = await seed_bench_unit(store, n_beds=n_beds, now=start)

        async def send_all(at: datetime) -> None:
            readings = [
                Reading(bed.monitor_id, bed.patient_id, Parameter.PULSE, 72.0, measured_at=at, received_at=at)
                for bed in unit.beds
            ]
            await store.append(readings, [])

        async def check(at: datetime) -> int:
            changes = await check_device_health(store, now=at, silent_after_s=SILENT_AFTER_S, battery_low_percent=15.0)
            return len(changes)

        t = start + timedelta(minutes=1)
        await send_all(t)
        await _timed("every monitor reporting (reads only)", lambda: check(t + timedelta(seconds=1)))
        quiet = t + timedelta(seconds=SILENT_AFTER_S + 1)
        await _timed("the ward fell silent: alerts open", lambda: check(quiet))
        await _timed("still silent, 10 s later: nothing new", lambda: check(quiet + timedelta(seconds=10)))
        back = quiet + timedelta(seconds=20)
        await send_all(back)
        await _timed("every monitor back: alerts resolve", lambda: check(back + timedelta(seconds=1)))
        open_left = await store.list_alerts(states=[AlertState.OPEN], kinds=[AlertKind.DEVICE_SILENT], limit=10)
        assert not open_left, "every device-silent alert should have resolved"
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beds", type=int, default=1000, help="beds of the ward, one monitor each")
    args = parser.parse_args()
    logging.getLogger("devices.health").setLevel(logging.ERROR)  # a line per alert is not the figure
    pg_root = Path(tempfile.mkdtemp(prefix="vaktrom-bench-pg-"))
    try:
        with running_server(pg_root) as server:
            print(f"device health, a ward of {args.beds} monitors on PostgreSQL (fsync on):")
            asyncio.run(measure(server, args.beds))
    finally:
        shutil.rmtree(pg_root, ignore_errors=True)


if __name__ == "__main__":
    main()
