"""Pending conditions (the confirmation delay's durable timer) and per-patient limits in the store: the same contract
on SQLite and PostgreSQL, with several processes' stores on one database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from alerts.confirmation import confirm_due, decide
from alerts.lifecycle import Observed
from core.store import Store
from core.types import (
    AlertKey,
    AlertKind,
    AlertPhase,
    AlertSeverity,
    AlertState,
    Parameter,
    PatientLimit,
    PendingAlert,
    Site,
    SiteKind,
    Ward,
)
from tests.core.conftest import StoreFactory

T0 = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
KEY = AlertKey("pat-1", None, AlertKind.NEWS2)
M = AlertSeverity.MEDIUM


async def _unit(store: Store) -> None:
    await store.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("ward-a", "s1", "Senger"))


def _seen(severity: AlertSeverity | None, at_s: float, key: AlertKey = KEY) -> Observed:
    return Observed(key, severity, "NEWS2 5 (medium risk)", T0 + timedelta(seconds=at_s), "ward-a")


async def _observe(store: Store, severity: AlertSeverity | None, at_s: float, key: AlertKey = KEY) -> None:
    seen = _seen(severity, at_s, key)
    await store.update_alert_condition(key, lambda alert, pending: decide(alert, pending, seen))


async def _fire(store: Store, at_s: float) -> list[AlertPhase | None]:
    now = T0 + timedelta(seconds=at_s)
    changes = await store.fire_due_confirmations(now, lambda alert, pending: confirm_due(alert, pending, now))
    return [change.phase for change in changes]


async def test_a_pending_condition_is_a_row_with_its_due_time(store: Store) -> None:
    await _unit(store)
    await _observe(store, M, 0)
    expected = PendingAlert(KEY, "ward-a", M, "NEWS2 5 (medium risk)", T0, T0 + timedelta(seconds=20))
    assert await store.pending_alerts(patient_ids=["pat-1"]) == [expected]
    assert await store.pending_alerts(patient_ids=["pat-1"], kinds=[AlertKind.PATIENT_LIMIT]) == []
    assert await store.list_alerts(patient_ids=["pat-1"]) == []


async def test_the_due_row_opens_its_alert_once_with_history_and_escalation(store: Store) -> None:
    await _unit(store)
    await _observe(store, M, 0)
    assert await _fire(store, 19) == []
    assert await _fire(store, 20) == [AlertPhase.OPENED]
    assert await _fire(store, 21) == []
    [alert] = await store.list_alerts(patient_ids=["pat-1"])
    assert (alert.kind, alert.severity, alert.state, alert.opened_at) == (
        AlertKind.NEWS2,
        M,
        AlertState.OPEN,
        T0 + timedelta(seconds=20),
    )
    [opened] = await store.alert_history(alert.alert_id)
    assert (opened.phase, opened.reason) == (
        AlertPhase.OPENED,
        "present since 03:00:00 UTC, not seen clear within 20 s",
    )
    assert await store.get_escalation(alert.alert_id) is not None
    assert await store.pending_alerts(patient_ids=["pat-1"]) == []


async def test_a_cleared_condition_is_dropped_when_its_clear_run_ends(store: Store) -> None:
    await _unit(store)
    await _observe(store, M, 0)
    await _observe(store, None, 5)
    [clearing] = await store.pending_alerts(patient_ids=["pat-1"])
    assert (clearing.clear_since, clearing.due_at) == (T0 + timedelta(seconds=5), T0 + timedelta(seconds=25))
    assert await _fire(store, 24) == []
    assert await _fire(store, 25) == []
    assert await store.pending_alerts(patient_ids=["pat-1"]) == []
    assert await store.list_alerts(patient_ids=["pat-1"]) == []


async def test_two_workers_fire_one_due_condition_once(open_store: StoreFactory) -> None:
    first, second = await open_store(), await open_store()
    await _unit(first)
    for n in range(20):
        await _observe(first, M, 0, AlertKey(f"pat-{n}", None, AlertKind.NEWS2))
    fired = await asyncio.gather(_fire(first, 20), _fire(second, 20))
    assert sorted(phase for phases in fired for phase in phases if phase is not None) == [AlertPhase.OPENED] * 20
    assert len(await first.list_alerts(ward_ids=["ward-a"])) == 20


async def test_two_workers_observing_one_new_condition_keep_one_row(open_store: StoreFactory) -> None:
    first, second = await open_store(), await open_store()
    await _unit(first)
    await asyncio.gather(*(_observe(s, M, n / 10) for n, s in enumerate([first, second] * 5)))
    [pending] = await first.pending_alerts(patient_ids=["pat-1"])  # one row, and no insert lost to a conflict
    assert T0 <= pending.since <= T0 + timedelta(seconds=0.9)
    assert await first.list_alerts(patient_ids=["pat-1"]) == []


async def test_a_pending_condition_survives_closing_every_store(open_store: StoreFactory) -> None:
    before = await open_store()
    await _unit(before)
    await _observe(before, M, 0)
    await before.close()
    after = await open_store()
    assert await _fire(after, 20) == [AlertPhase.OPENED]


# --- limits ----------------------------------------------------------------------------------------------------


def _limit(
    parameter: Parameter, low: float | None, high: float | None, *, at_s: float, by: str = "dr-berg"
) -> PatientLimit:
    return PatientLimit("pat-1", parameter, low, high, "KOLS, kjent", by, T0 + timedelta(seconds=at_s))


async def test_limits_in_force_are_the_newest_per_parameter_and_history_keeps_every_change(store: Store) -> None:
    spo2 = _limit(Parameter.SPO2, 88.0, 92.0, at_s=0)
    pulse = _limit(Parameter.PULSE, None, 125.0, at_s=0)
    spo2_wider = _limit(Parameter.SPO2, 86.0, 92.0, at_s=60, by="dr-lund")
    pulse_cleared = _limit(Parameter.PULSE, None, None, at_s=120)
    await store.set_patient_limits([spo2, pulse])
    assert await store.patient_limits(["pat-1", "pat-2"]) == {"pat-1": (pulse, spo2)}
    await store.set_patient_limits([spo2_wider])
    await store.set_patient_limits([pulse_cleared])
    assert await store.patient_limits(["pat-1"]) == {"pat-1": (spo2_wider,)}
    assert await store.patient_limit_history("pat-1") == [spo2, pulse, spo2_wider, pulse_cleared]
    assert await store.patient_limit_history("pat-2") == []


@pytest.mark.parametrize("low", [None, 88.5])
async def test_a_limit_round_trips_its_bounds(store: Store, low: float | None) -> None:
    limit = _limit(Parameter.SPO2, low, 92.0, at_s=0)
    await store.set_patient_limits([limit])
    assert await store.patient_limits(["pat-1"]) == {"pat-1": (limit,)}
