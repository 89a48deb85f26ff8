"""NEWS2 scores becoming alerts, and their lifecycle, in a real (embedded SQLite) store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.confirmation import apply_score
from alerts.lifecycle import DEFAULT_POLICY, acknowledge
from core.store import AlertChange
from core.store.sqlite import SqliteStore
from core.types import (
    NEWS2_PARAMETERS,
    SYSTEM_ACTOR,
    AlertKind,
    AlertPhase,
    AlertSeverity,
    AlertState,
    CareSetting,
    Parameter,
    Patient,
    PatientScore,
    Site,
    SiteKind,
    Ward,
)
from scoring.news2 import clinical_risk

AT = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
RR, SPO2, OXY, SBP, HR, ACVPU, TEMP = NEWS2_PARAMETERS


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "vaktrom.db")
    await store.open()
    await store.upsert_site(Site(site_id="s1", name="Sykestua", kind=SiteKind.SYKESTUE))
    await store.upsert_ward(Ward(ward_id="w1", site_id="s1", name="Avdeling 1"))
    await store.upsert_patient(Patient(patient_id="p1", display_name="Test Pasient"))
    try:
        yield store
    finally:
        await store.close()


def _score(scores: dict[Parameter, int], *, missing: tuple[Parameter, ...] = ()) -> PatientScore:
    full = {p: scores.get(p, 0) for p in NEWS2_PARAMETERS if p not in missing}
    total = sum(full.values())
    single_param_3 = 3 in full.values()
    return PatientScore(
        patient_id="p1",
        computed_at=AT,
        total=total,
        complete=not missing,
        risk=clinical_risk(total, single_param_3=single_param_3),
        single_param_3=single_param_3,
        parameter_scores=full,
        missing=missing,
    )


# These tests are about an alert's life once it opened: without the bedside confirmation delay, which
# tests/alerts/test_confirmation.py covers.
_NO_CONFIRMATION = replace(DEFAULT_POLICY, confirm_s={})


async def _apply(store: SqliteStore, score: PatientScore, **options: Any) -> AlertChange | None:
    return await apply_score(store, score, policy=_NO_CONFIRMATION, **options)


_SEVEN = {RR: 2, SPO2: 1, OXY: 2, SBP: 1, HR: 1}
_FIVE = {RR: 2, HR: 2, TEMP: 1}


async def test_high_score_opens_an_alert_the_ward_sees(store: SqliteStore) -> None:
    change = await _apply(store, _score(_SEVEN), ward_id="w1", at=AT)
    assert change is not None
    assert change.changed
    [alert] = await store.list_alerts(ward_ids=["w1"])
    assert alert == change.alert
    assert (alert.patient_id, alert.ward_id, alert.kind) == ("p1", "w1", AlertKind.NEWS2)
    assert (alert.severity, alert.state) == (AlertSeverity.HIGH, AlertState.OPEN)
    assert alert.message == "NEWS2 7 (high risk) — emergency response"


async def test_low_score_raises_no_alert(store: SqliteStore) -> None:
    assert await _apply(store, _score({RR: 2, HR: 2}), ward_id="w1", at=AT) is None
    assert await store.list_alerts(ward_ids=["w1"]) == []


async def test_same_severity_again_changes_nothing(store: SqliteStore) -> None:
    first = await _apply(store, _score(_FIVE), ward_id="w1", at=AT)
    again = await _apply(store, _score(_FIVE), ward_id="w1", at=AT + timedelta(minutes=1))
    assert first is not None and again is not None
    assert not again.changed
    assert [a.alert_id for a in await store.list_alerts(ward_ids=["w1"])] == [first.alert.alert_id]


async def test_rising_score_raises_the_open_alert_in_place(store: SqliteStore) -> None:
    first = await _apply(store, _score(_FIVE), ward_id="w1", at=AT)
    raised = await _apply(store, _score(_SEVEN), ward_id="w1", at=AT + timedelta(minutes=5))
    assert first is not None and raised is not None
    assert raised.changed
    [alert] = await store.list_alerts(ward_ids=["w1"])
    assert alert.alert_id == first.alert.alert_id
    assert alert.severity is AlertSeverity.HIGH


async def test_falling_score_leaves_the_alert_at_its_severity(store: SqliteStore) -> None:
    await _apply(store, _score(_SEVEN), ward_id="w1", at=AT)
    lower = await _apply(store, _score(_FIVE), ward_id="w1", at=AT + timedelta(minutes=5))
    assert lower is not None
    assert not lower.changed
    [alert] = await store.list_alerts(ward_ids=["w1"])
    assert alert.severity is AlertSeverity.HIGH


async def test_incomplete_score_that_reaches_a_threshold_alerts(store: SqliteStore) -> None:
    change = await _apply(store, _score(_FIVE, missing=(SPO2, OXY)), ward_id="w1", at=AT)
    assert change is not None
    [alert] = await store.list_alerts(ward_ids=["w1"])
    assert alert.severity is AlertSeverity.MEDIUM
    assert alert.message == (
        "NEWS2 ≥5 (medium risk; incomplete: no SpO2, no air or oxygen) — urgent response: inform the doctor now"
    )


_CALM = {RR: 1}


async def _at(store: SqliteStore, scores: dict[Parameter, int], minutes: float) -> AlertChange | None:
    return await _apply(store, _score(scores), ward_id="w1", at=AT + timedelta(minutes=minutes))


async def test_acknowledged_alert_resolves_after_the_hold_and_the_next_crossing_opens_a_new_one(
    store: SqliteStore,
) -> None:
    # The silence regression: before, an acknowledged NEWS2 alert was never resolved and hid the next deterioration.
    first = await _at(store, _SEVEN, 0)
    assert first is not None
    change = await store.update_alert_by_id(first.alert.alert_id, lambda a: acknowledge(a, by="nurse-1", at=AT))
    assert change.alert.state is AlertState.ACKNOWLEDGED
    await _at(store, _CALM, 5)  # clear from 5 min: the 30 min hold runs from here
    not_yet = await _at(store, _CALM, 34)
    assert not_yet is None or not not_yet.changed
    assert (await store.get_alert(first.alert.alert_id)).state is AlertState.ACKNOWLEDGED

    resolved = await _at(store, _CALM, 35)
    assert resolved is not None and resolved.phase is AlertPhase.RESOLVED
    assert (resolved.alert.resolved_by, resolved.alert.resolve_reason) == (SYSTEM_ACTOR, "clear for 30 min")

    again = await _at(store, _SEVEN, 6 * 60)
    assert again is not None and again.phase is AlertPhase.OPENED
    assert again.alert.alert_id != first.alert.alert_id
    assert again.alert.state is AlertState.OPEN


async def test_acknowledged_alert_that_gets_worse_reopens_at_once(store: SqliteStore) -> None:
    first = await _at(store, _FIVE, 0)
    assert first is not None
    await store.update_alert_by_id(first.alert.alert_id, lambda a: acknowledge(a, by="nurse-1", at=AT))

    worse = await _at(store, _SEVEN, 1)

    assert worse is not None and worse.phase is AlertPhase.REOPENED
    assert (worse.alert.state, worse.alert.severity, worse.alert.acknowledged_by) == (
        AlertState.OPEN,
        AlertSeverity.HIGH,
        None,
    )


async def test_a_dip_below_the_threshold_shorter_than_the_hold_keeps_the_alert(store: SqliteStore) -> None:
    first = await _at(store, _SEVEN, 0)
    await _at(store, _CALM, 10)
    await _at(store, _SEVEN, 20)  # back above: the hold starts again
    await _at(store, _CALM, 25)
    kept = await _at(store, _CALM, 45)  # 20 min clear, not 30

    assert first is not None and (kept is None or not kept.changed)
    assert (await store.get_alert(first.alert.alert_id)).state is AlertState.OPEN


async def test_home_patient_alert_resolves_at_the_next_spot_check_below_the_threshold(store: SqliteStore) -> None:
    first = await _apply(store, _score(_SEVEN), ward_id="w1", at=AT, setting=CareSetting.HOME)
    resolved = await _apply(store, _score(_CALM), ward_id="w1", at=AT + timedelta(hours=4), setting=CareSetting.HOME)

    assert first is not None and resolved is not None
    assert (resolved.alert.alert_id, resolved.phase) == (first.alert.alert_id, AlertPhase.RESOLVED)
    assert resolved.alert.resolve_reason == "clear at the next spot check"


_EIGHT = {RR: 3, SBP: 3, TEMP: 2}  # RR 30, SBP 85, 39.5 °C


async def test_an_alert_whose_abnormal_parameters_go_stale_stays_open_until_a_complete_set_clears(
    store: SqliteStore,
) -> None:
    first = await _at(store, _EIGHT, 0)
    assert first is not None
    # The RR sensor and the cuff stop; the oximeter streams on: 2 with RR and SBP missing, for 2 h.
    for minutes in range(5, 125, 5):
        stale = await _apply(
            store, _score({TEMP: 2}, missing=(RR, SBP)), ward_id="w1", at=AT + timedelta(minutes=minutes)
        )
        assert stale is None or not stale.changed
    [alert] = await store.list_alerts(ward_ids=["w1"])
    assert (alert.alert_id, alert.state, alert.clear_since) == (first.alert.alert_id, AlertState.OPEN, None)

    await _at(store, {TEMP: 2}, 125)  # measured again, all clear: the hold starts now
    assert (await store.get_alert(first.alert.alert_id)).clear_since == AT + timedelta(minutes=125)
    resolved = await _at(store, {TEMP: 2}, 155)
    assert resolved is not None and resolved.phase is AlertPhase.RESOLVED
    assert resolved.alert.resolve_reason == "clear for 30 min"


async def test_home_alert_stays_open_after_a_spot_check_without_the_parameters_that_scored(
    store: SqliteStore,
) -> None:
    first = await _apply(store, _score({RR: 3, SBP: 2}), ward_id="w1", at=AT, setting=CareSetting.HOME)
    oximeter_only = _score({}, missing=(RR, OXY, SBP, ACVPU, TEMP))
    later = await _apply(store, oximeter_only, ward_id="w1", at=AT + timedelta(hours=13), setting=CareSetting.HOME)

    assert first is not None and (later is None or not later.changed)
    [alert] = await store.list_alerts(ward_ids=["w1"])
    assert (alert.alert_id, alert.severity, alert.state) == (
        first.alert.alert_id,
        AlertSeverity.MEDIUM,
        AlertState.OPEN,
    )
