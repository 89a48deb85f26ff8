"""Revision 0006 on a live database: deliveries sent before it keep every field, become requests to respond of
unknown (high) priority, and the table takes daily summaries (no alert) afterwards. SQLite copies the table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from core.escalation import DeliveryPurpose, DeliveryState
from core.store import Store, schema
from core.store.columns import json_text
from core.store.migrate import _config
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import AlertPriority

T0 = datetime(2025, 1, 6, 20, 0, tzinfo=UTC)
_OLD_DELIVERY = {
    "delivery_id": "1-1-0-0-abc",
    "alert_id": 1,
    "epoch": 1,
    "loop": 0,
    "step_index": 0,
    "person_id": "nurse-kari",
    "reason": "unit_nurse on call for s1",
    "endpoint_id": None,
    "address": "pager-17",
    "state": "delivered",
    "created_at": T0,
    "updated_at": T0,
    "next_attempt_at": None,
    "attempts": 1,
    "answered_by": None,
    "outcome": "HTTP 200",
    "body": b'{"alert": 1}',
}
_OLD_ALERT = {
    "patient_id": "pat-1",
    "ward_id": "w1",
    "kind": "news2",
    "severity": 3,
    "state": "open",
    "message": "NEWS2 7",
    "opened_at": T0,
    "updated_at": T0,
}


def _at_0005_with_one_delivery(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0005")
        conn.execute(sa.insert(schema.alerts).values(_OLD_ALERT))
        conn.execute(sa.insert(schema.deliveries).values(_OLD_DELIVERY))  # only the columns 0005 has
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_at_0005(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        path = tmp_path / "at-0005.sqlite3"
        _at_0005_with_one_delivery(sa.create_engine(f"sqlite:///{path}"))
        return SqliteStore(path)
    dsn: str = request.getfixturevalue("postgres_dsn")
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), json_serializer=json_text)
    _at_0005_with_one_delivery(engine)
    return PostgresStore(dsn)


async def test_a_delivery_sent_before_0006_keeps_every_field_and_reads_as_a_high_priority_request(
    store_at_0005: Store,
) -> None:
    await store_at_0005.open()
    try:
        [delivery] = await store_at_0005.list_deliveries(1)
        assert (delivery.delivery_id, delivery.person_id, delivery.address) == ("1-1-0-0-abc", "nurse-kari", "pager-17")
        assert (delivery.state, delivery.attempts, delivery.outcome, delivery.body) == (
            DeliveryState.DELIVERED,
            1,
            "HTTP 200",
            b'{"alert": 1}',
        )
        assert (delivery.purpose, delivery.priority, delivery.sent_at) == (
            DeliveryPurpose.RESPOND,
            AlertPriority.HIGH,
            None,
        )
        assert delivery.created_at == T0
    finally:
        await store_at_0005.close()


def test_the_upgraded_table_takes_a_delivery_without_an_alert(tmp_path: Path) -> None:
    path = tmp_path / "at-0005.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    _at_0005_with_one_delivery(engine)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
        summary = _OLD_DELIVERY | {"delivery_id": "digest-1", "alert_id": None, "purpose": "digest"}
        conn.execute(sa.insert(schema.deliveries).values(summary))
        rows = conn.execute(sa.select(schema.deliveries.c.delivery_id, schema.deliveries.c.alert_id)).all()
    engine.dispose()
    assert sorted(rows) == [("1-1-0-0-abc", 1), ("digest-1", None)]
