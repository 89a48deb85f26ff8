"""With TimescaleDB, observations become a compressed hypertable with retention; without it, a plain table with
its time indexes; with the extension installed but unusable, the store still opens and says what to do."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from core.store.postgres import PostgresStore
from core.types import Parameter, Reading
from tests.fixtures.postgres import OWNER_ROLE, running_server, timescale_installed, timescale_missing_reason

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


@pytest.fixture
async def store(postgres_dsn: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(postgres_dsn)
    await store.open()
    yield store
    await store.close()


def _rows(dsn: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query.encode()).fetchall()


def _readings(count: int) -> list[Reading]:
    return [
        Reading("dev-1", "pat-1", Parameter.PULSE, 70.0 + i, T0 + timedelta(minutes=i), T0 + timedelta(minutes=i))
        for i in range(count)
    ]


@pytest.mark.timescale
async def test_observations_are_a_compressed_hypertable_with_retention(store: PostgresStore, postgres_dsn: str) -> None:
    reason = timescale_missing_reason(postgres_dsn)
    if reason is not None:
        pytest.skip(reason)
    await store.append(_readings(90), [])

    hypertables = _rows(
        postgres_dsn,
        "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'observations'",
    )
    jobs = _rows(
        postgres_dsn,
        "SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name IN ('observations') ORDER BY 1",
    )
    aggregates = _rows(postgres_dsn, "SELECT view_name FROM timescaledb_information.continuous_aggregates")

    assert hypertables == [(True,)]
    assert jobs == [("policy_compression",), ("policy_retention",)]
    assert aggregates == []  # nothing read the hourly aggregate: it is no longer made
    assert await store.count_readings() == 90


async def test_without_timescale_observations_are_a_plain_indexed_table(
    store: PostgresStore, postgres_dsn: str
) -> None:
    if timescale_missing_reason(postgres_dsn) is None:
        pytest.skip("timescaledb is available here: the hypertable test covers this server")

    indexes = _rows(
        postgres_dsn, "SELECT indexname FROM pg_indexes WHERE tablename = 'observations' ORDER BY indexname"
    )

    assert indexes == [("observations_key",), ("observations_patient",)]


@pytest.mark.timescale
async def test_installed_but_not_preloaded_timescale_opens_a_plain_store_and_names_the_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not timescale_installed():
        pytest.skip("timescaledb is not installed for these PostgreSQL binaries")
    root = Path(tempfile.mkdtemp(prefix="vaktrom-pg-nopreload-"))
    try:
        with running_server(root, preload_timescale=False) as server:
            with psycopg.connect(server.dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(OWNER_ROLE)))
                conn.execute(sql.SQL("CREATE DATABASE vaktrom OWNER {}").format(sql.Identifier(OWNER_ROLE)))
            store = PostgresStore(psycopg.conninfo.make_conninfo(server.dsn_for("vaktrom"), user=OWNER_ROLE))
            with caplog.at_level(logging.WARNING, logger="core.store.timescale"):
                await store.open()
            try:
                assert (await store.append(_readings(3), [])).stored == 3
            finally:
                await store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not preloaded" in warnings[0] and "shared_preload_libraries" in warnings[0]
