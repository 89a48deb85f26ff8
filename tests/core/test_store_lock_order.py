"""Two transactions on one alert never deadlock: every path takes the alert's row, then its chain, then its deliveries.
And a transaction PostgreSQL aborts for a deadlock all the same (with a writer outside that order) runs again.

PostgreSQL only: SQLite has one writer, so nothing waits there. The acknowledging nurse is played on a connection of
its own, taking the rows in the order `update_alert_by_id` takes them, so the test can stop between two of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from alerts import lifecycle
from core.errors import StorageConflict
from core.escalation import DeliveryState
from core.store import Store, postgres
from core.store.protocols import AlertChange
from core.types import AlertState
from tests.core.test_store_escalation import T0, fire, open_high, unit_with_roster
from tests.fixtures.postgres import PostgresServer

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


@pytest.fixture
def script(postgres_server: PostgresServer, postgres_dsn: str) -> Iterator[psycopg.Connection]:
    """A writer outside the alert family's lock order (an operator's script: the chain, then the alert), as a
    superuser so that it may put off its own deadlock check: PostgreSQL then always aborts the other side."""
    with psycopg.connect(postgres_server.dsn_for(conninfo_to_dict(postgres_dsn)["dbname"])) as conn:
        conn.execute(f"SET lock_timeout = '{WAIT_S:.0f}s'")
        conn.execute("SET deadlock_timeout = '60s'")
        yield conn


async def _acknowledgement_deadlocked_once(
    store: Store, dsn: str, script: psycopg.Connection
) -> asyncio.Task[AlertChange]:
    """Start nurse-kari's acknowledgement of a new alert so that it deadlocks with `script` once: it holds the alert
    and waits for the chain, which the script holds while it asks for the alert. PostgreSQL aborts the
    acknowledgement; the script goes on holding both until the test commits it."""
    await unit_with_roster(store)
    alert_id = await open_high(store)
    script.execute("SELECT 1 FROM alert_escalations WHERE alert_id = %s FOR UPDATE", [alert_id])
    at = T0 + timedelta(seconds=30)
    ack = asyncio.create_task(
        store.update_alert_by_id(alert_id, lambda alert: lifecycle.acknowledge(alert, by="nurse-kari", at=at))
    )
    await _waiting_or_done(ack, dsn)
    await asyncio.to_thread(script.execute, "SELECT 1 FROM alerts WHERE alert_id = %s FOR UPDATE", [alert_id])
    return ack


async def test_an_acknowledgement_a_deadlock_aborts_runs_again_and_is_recorded_once(
    pg_store: Store, postgres_dsn: str, script: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=postgres.__name__)
    ack = await _acknowledgement_deadlocked_once(pg_store, postgres_dsn, script)
    script.commit()  # the script is done: the acknowledgement's second run gets both rows

    change = await asyncio.wait_for(ack, WAIT_S)
    alert = change.alert
    assert (alert.state, alert.acknowledged_by) == (AlertState.ACKNOWLEDGED, "nurse-kari")
    phases = [t.phase.value for t in await pg_store.alert_history(alert.alert_id)]
    assert phases.count("acknowledged") == 1, phases
    assert "deadlock detected; running the transaction again (2 of 3)" in caplog.text


async def test_a_transaction_aborted_for_a_conflict_every_time_says_so_not_that_the_database_is_unreachable(
    pg_store: Store, postgres_dsn: str, script: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "CONFLICT_RUNS", 1)  # its one run is aborted
    ack = await _acknowledgement_deadlocked_once(pg_store, postgres_dsn, script)
    script.rollback()

    with pytest.raises(StorageConflict, match=r"transaction aborted by a conflict at postgresql .*: deadlock detected"):
        await asyncio.wait_for(ack, WAIT_S)
