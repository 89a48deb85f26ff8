"""After PostgreSQL restarts, every pooled connection is dead. A read that finds one says the store is unavailable
once; the retry that follows must get a live connection, whether the read runs through SQLAlchemy or by hand on the
driver connection (postgres_reads.py, append)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import StorageUnavailable
from core.store.postgres import PostgresStore
from core.types import AlertKind, Parameter, Reading
from tests.fixtures.postgres import PostgresServer, running_server

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
POOL_MAX = 4
Read = Callable[[PostgresStore], Awaitable[object]]

READS: dict[str, Read] = {
    "stays (by hand)": lambda store: store.stays_of_patients(["p0"], at=T0),
    "latest values (by hand)": lambda store: store.latest_values(["p0"]),
    "pairings (by hand)": lambda store: store.pairings_of_devices(["d0"]),
    "alerts to decide (by hand)": lambda store: store.patients_with_unresolved(["p0"], kinds=[AlertKind.NEWS2]),
    "append (by hand)": lambda store: store.append([Reading("d0", "p0", Parameter.PULSE, 70.0, T0, T0)], []),
    "alerts (SQLAlchemy)": lambda store: store.list_alerts(patient_ids=["p0"]),
}


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="vaktrom-pg-restart-"))  # postgres cannot enter pytest's tmp dir as root
    try:
        with running_server(root, preload_timescale=False) as running:
            yield running
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("read", list(READS))
async def test_after_a_database_restart_a_read_fails_at_most_once(server: PostgresServer, read: str) -> None:
    store = PostgresStore(server.dsn, pool_max=POOL_MAX)
    await store.open()
    try:
        # Every pooled connection in use at once, so the pool holds POOL_MAX of them when the server goes.
        await asyncio.gather(*(READS[read](store) for _ in range(POOL_MAX)))
        server.stop()
        server.start()
        failures = 0
        for _ in range(POOL_MAX + 2):
            try:
                await READS[read](store)
                break
            except StorageUnavailable:
                failures += 1
        assert failures <= 1, f"{failures} failures after the restart: dead pooled connections were handed out again"
    finally:
        await store.close()
