"""Due work as monitoring sees it (Prometheus, docs/DEPLOY.md "Metrics"): the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from core.backlog import LATE_AFTER_S
from core.store import Store
from tests.core.test_store_escalation import T0, fire, open_high, unit_with_roster


async def test_an_idle_store_has_nothing_due(store: Store) -> None:
    backlog = await store.timer_backlog(T0)

    assert (backlog.escalation_steps_due, backlog.escalation_steps_late, backlog.deliveries_due) == (0, 0, 0)
    assert backlog.oldest_escalation_due_at is None
    assert backlog.deliveries_by_state == {}


async def test_an_unfired_escalation_step_is_due_then_late(store: Store) -> None:
    await unit_with_roster(store)
    await open_high(store)  # the nurse's step is due at once

    on_time = await store.timer_backlog(T0)
    late = await store.timer_backlog(T0 + timedelta(seconds=LATE_AFTER_S + 1))

    assert (on_time.escalation_steps_due, on_time.escalation_steps_late) == (1, 0)
    assert on_time.oldest_escalation_due_at == T0
    assert (late.escalation_steps_due, late.escalation_steps_late) == (1, 1)


async def test_a_fired_step_leaves_its_deliveries_due_and_counts_them_by_state(store: Store) -> None:
    await unit_with_roster(store)
    await open_high(store)
    assert await fire(store, T0) == 1

    backlog = await store.timer_backlog(T0)

    assert backlog.escalation_steps_due == 0  # the next step (the doctor) is minutes away
    assert backlog.deliveries_due == 1  # the nurse's page, not yet sent
    assert backlog.deliveries_by_state == {"queued": 1}
