"""With TimescaleDB, observations become a compressed hypertable with retention and an hourly aggregate;
without it, a plain table with its time indexes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from core.store_postgres import PostgresStore
from core.types import Parameter, Reading
from tests.fixtures.postgres import timescale_missing_reason

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


@pytest.mark.timescale
async def test_observations_are_a_compressed_hypertable_with_retention_and_hourly_aggregate(
    store: PostgresStore, postgres_dsn: str
) -> None:
    reason = timescale_missing_reason(postgres_dsn)
    if reason is not None:
        pytest.skip(reason)
    readings = [
        Reading("dev-1", "pat-1", Parameter.PULSE, 70.0 + i, T0 + timedelta(minutes=i), T0 + timedelta(minutes=i))
        for i in range(90)
    ]
    await store.append(readings, [])

    hypertables = _rows(
        postgres_dsn,
        "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'observations'",
    )
    jobs = _rows(
        postgres_dsn,
        "SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name IN ('observations') ORDER BY 1",
    )
    aggregates = _rows(postgres_dsn, "SELECT view_name FROM timescaledb_information.continuous_aggregates")
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CALL refresh_continuous_aggregate('observations_hourly', NULL, NULL)")
        hourly = conn.execute(
            "SELECT bucket, readings, min_value, max_value FROM observations_hourly ORDER BY bucket"
        ).fetchall()

    assert hypertables == [(True,)]
    assert jobs == [("policy_compression",), ("policy_retention",)]
    assert aggregates == [("observations_hourly",)]
    assert [(count, low, high) for _, count, low, high in hourly] == [(60, 70.0, 129.0), (30, 130.0, 159.0)]
    assert await store.count_readings() == 90


async def test_without_timescale_observations_are_a_plain_indexed_table(
    store: PostgresStore, postgres_dsn: str
) -> None:
    if timescale_missing_reason(postgres_dsn) is None:
        pytest.skip("timescaledb is available here: the hypertable test covers this server")

    notes = _rows(postgres_dsn, "SELECT note FROM schema_version WHERE name = 'timescale'")
    indexes = _rows(
        postgres_dsn, "SELECT indexname FROM pg_indexes WHERE tablename = 'observations' ORDER BY indexname"
    )

    assert len(notes) == 1 and str(notes[0][0]).startswith("skipped: ")
    assert indexes == [("observations_key",), ("observations_patient",)]
