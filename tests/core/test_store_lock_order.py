"""Two transactions on one alert never deadlock: every path takes the alert's row, then its chain, then its deliveries.

PostgreSQL only: SQLite has one writer, so nothing waits there. The acknowledging nurse is played on a connection of
its own, taking the rows in the order `update_alert_by_id` takes them, so the test can stop between two of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from core.escalation import DeliveryState
from core.store import Store
from tests.core.test_store_escalation import T0, fire, open_high, unit_with_roster

pytestmark = pytest.mark.integration

WAIT_S = 10.0  # bounds every wait: a deadlock shows within PostgreSQL's deadlock_timeout (1 s)
_LOCK_WAITERS = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"


@pytest.fixture
def nurse(postgres_dsn: str) -> Iterator[psycopg.Connection]:
    """The acknowledging nurse's transaction, on its own connection."""
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute(f"SET lock_timeout = '{WAIT_S:.0f}s'")
        yield conn


async def _waiting_or_done(task: asyncio.Task[object], dsn: str) -> None:
    """Until `task` is done or one of the test database's backends waits for a lock."""
    async with asyncio.timeout(WAIT_S):
        while not task.done():
            with psycopg.connect(dsn, autocommit=True) as conn:
                row = conn.execute(_LOCK_WAITERS).fetchone()
            if row is not None and row[0] > 0:
                return
            await asyncio.sleep(0.05)


async def test_a_step_due_while_a_nurse_acknowledges_fires_on_the_next_tick_and_nobody_deadlocks(
    pg_store: Store, postgres_dsn: str, nurse: psycopg.Connection
) -> None:
    await unit_with_roster(pg_store)
    alert_id = await open_high(pg_store)  # its first step is due at once
    nurse.execute("SELECT 1 FROM alerts WHERE alert_id = %s FOR UPDATE", [alert_id])
    tick = asyncio.create_task(fire(pg_store, T0))
    await _waiting_or_done(tick, postgres_dsn)
    # The acknowledgement goes on to the alert's chain, as follow_alert does.
    await asyncio.to_thread(nurse.execute, "SELECT 1 FROM alert_escalations WHERE alert_id = %s FOR UPDATE", [alert_id])
    nurse.rollback()  # the nurse changed her mind: the step must still fire

    assert await tick == 0, "the tick left the step of an alert another transaction holds"
    assert await fire(pg_store, T0 + timedelta(seconds=5)) == 1
    assert [d.person_id for d in await pg_store.list_deliveries(alert_id)] == ["nurse-kari"]


async def test_a_decline_reported_while_a_nurse_acknowledges_is_recorded_late_and_nobody_deadlocks(
    pg_store: Store, postgres_dsn: str, nurse: psycopg.Connection
) -> None:
    await unit_with_roster(pg_store)
    alert_id = await open_high(pg_store)
    await fire(pg_store, T0)
    [delivery] = await pg_store.list_deliveries(alert_id)
    nurse.execute("SELECT 1 FROM alerts WHERE alert_id = %s FOR UPDATE", [alert_id])
    nurse.execute("SELECT 1 FROM alert_escalations WHERE alert_id = %s FOR UPDATE", [alert_id])
    at = T0 + timedelta(seconds=20)
    report = asyncio.create_task(
        pg_store.record_delivery(delivery.delivery_id, DeliveryState.DECLINED, at=at, answered_by="nurse-kari")
    )
    await _waiting_or_done(report, postgres_dsn)
    # The acknowledgement cancels what has not gone out, as cancel_pending does.
    await asyncio.to_thread(
        nurse.execute,
        "UPDATE deliveries SET state = 'cancelled', outcome = 'chain ended: acknowledged' WHERE alert_id = %s",
        [alert_id],
    )
    nurse.commit()

    recorded = await report
    assert recorded.state is DeliveryState.CANCELLED, "a decline that comes after the cancelling moves nothing back"
    assert recorded.outcome == "chain ended: acknowledged"
