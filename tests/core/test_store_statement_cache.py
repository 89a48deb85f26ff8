"""Upserts (`INSERT ... ON CONFLICT`) are compiled once per shape and then taken from SQLAlchemy's statement cache,
on both engines. SQLAlchemy 2.0 compiled every one of them again (its dialect inserts had no cache key): ~0.4 ms of
CPU each, a third of what opening 1000 device-silent alerts in an outage cost (bench/README.md, 2026-12-07)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from core.store.sql import insert_new, upsert

_metadata = sa.MetaData()
_latest = sa.Table(
    "statement_cache_latest",
    _metadata,
    sa.Column("device_id", sa.String, primary_key=True),
    sa.Column("battery", sa.Integer, nullable=False),
)


@pytest.fixture
def engine(sql_engine: sa.Engine) -> sa.Engine:
    with sql_engine.begin() as conn:
        _metadata.create_all(conn)
    return sql_engine


def _cache_hits(engine: sa.Engine) -> list[bool]:
    """Per INSERT executed on `engine` from now on: whether its compiled form came from the statement cache."""
    hits: list[bool] = []

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            hits.append(context.cache_hit is context.dialect.CACHE_HIT)

    return hits


def _stored(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            device_id: battery for device_id, battery in conn.execute(sa.select(_latest.c.device_id, _latest.c.battery))
        }


def test_an_upsert_is_compiled_once_and_takes_each_calls_values(engine: sa.Engine) -> None:
    hits = _cache_hits(engine)
    for battery in (80, 60, 40):
        with engine.begin() as conn:
            upsert(conn, _latest, {"device_id": "spo2-1", "battery": battery}, key=["device_id"])
    assert hits == [False, True, True]
    assert _stored(engine) == {"spo2-1": 40}


def test_an_insert_of_new_rows_is_compiled_once_and_leaves_stored_rows_alone(engine: sa.Engine) -> None:
    hits = _cache_hits(engine)
    for device_id, battery in (("spo2-1", 80), ("spo2-1", 10), ("bp-2", 55)):
        with engine.begin() as conn:
            insert_new(conn, _latest, {"device_id": device_id, "battery": battery}, key=["device_id"])
    assert hits == [False, True, True]
    assert _stored(engine) == {"spo2-1": 80, "bp-2": 55}
