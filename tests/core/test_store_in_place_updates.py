"""On PostgreSQL the tables rewritten on every batch or scoring cycle keep their updates in place (revision 0015):
a ward's latest values do not swell the table batch after batch until autovacuum comes round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from core.store import Store
from core.types import Parameter, Reading

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
_BEDS = 200
_PARAMETERS = (Parameter.PULSE, Parameter.SPO2, Parameter.RESP_RATE, Parameter.SYSTOLIC_BP, Parameter.TEMPERATURE)


def _pack_per_bed(second: int) -> list[Reading]:
    at = T0 + timedelta(seconds=second)
    return [Reading(f"dev-{b}", f"p-{b}", p, 80.0 + second, at, at) for b in range(_BEDS) for p in _PARAMETERS]


def _table_bytes(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pg_relation_size(%s::regclass)", (table,)).fetchone()
    assert row is not None
    return int(row[0])


async def test_latest_values_keep_their_size_while_every_batch_updates_every_row(
    pg_store: Store, postgres_dsn: str
) -> None:
    await pg_store.append(_pack_per_bed(0), [])
    first = _table_bytes(postgres_dsn, "latest_values")

    for second in range(1, 31):
        await pg_store.append(_pack_per_bed(second), [])

    # Packed full, each batch's updates land on new pages: 30 batches made the table ~20 times its live size.
    assert _table_bytes(postgres_dsn, "latest_values") <= 2 * first
    newest = await pg_store.latest_values(["p-7"])
    assert newest["p-7"][Parameter.PULSE].value == 80.0 + 30


def test_every_table_rewritten_in_place_leaves_room_on_its_pages(postgres_dsn: str, pg_store: Store) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)",
            (["latest_values", "scores_current", "risks_current", "device_status"],),
        ).fetchall()
    assert {name: options for name, options in rows} == {
        name: ["fillfactor=50"] for name in ("latest_values", "scores_current", "risks_current", "device_status")
    }
