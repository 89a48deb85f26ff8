"""Withdrawal assessments in the store: kept as charted, newest first, and the patient's withdrawal alert decided in
the same transaction with its escalation chain (the care team informed even at medium); the same on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.withdrawal import decide_withdrawal_alert, new_assessment
from core.errors import Conflict
from core.store import Store
from core.types import (
    AlertKind,
    AlertPhase,
    AlertPriority,
    AlertState,
    CareSetting,
    Patient,
    Site,
    SiteKind,
    Stay,
    Ward,
)
from core.withdrawal import WithdrawalAssessment, WithdrawalBand, WithdrawalScale
from scoring.withdrawal import SCALES

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
COWS = WithdrawalScale.COWS


async def kad_patient(store: Store) -> None:
    await store.upsert_site(Site("s1", "KAD Alta", SiteKind.KAD))
    await store.upsert_ward(Ward("w1", "s1", "KAD"))
    await store.upsert_patient(Patient("p1", "Test Pasient"))
    await store.add_stay(Stay("st1", "p1", "w1", CareSetting.BEDSIDE, T0 - timedelta(days=1), bed_id="b1"))


def cows(assessment_id: str, *, pulse: int, restless: int, hours: float) -> WithdrawalAssessment:
    """COWS with two items scored (the rest 0): total pulse + restlessness."""
    items = {item.value: 0 for item in SCALES[COWS].items} | {"resting_pulse": pulse, "restlessness": restless}
    at = T0 + timedelta(hours=hours)
    return new_assessment(
        assessment_id=assessment_id, patient_id="p1", scale=COWS, items=items, assessed_at=at,
        assessed_by="nurse-kari", recorded_at=at + timedelta(minutes=5), proposed=["resting_pulse"], note="etter dose",
    )  # fmt: skip


async def add(store: Store, assessment: WithdrawalAssessment) -> tuple[AlertPhase | None, AlertPriority | None]:
    decide = decide_withdrawal_alert(assessment, ward_id="w1", setting=CareSetting.BEDSIDE)
    change = await store.add_withdrawal_assessment(assessment, decide)
    if change is None:
        return None, None
    return change.phase, change.alert.priority


async def test_an_assessment_is_kept_as_charted_and_history_is_newest_first(store: Store) -> None:
    await kad_patient(store)
    first, second = cows("a1", pulse=2, restless=3, hours=0), cows("a2", pulse=1, restless=0, hours=2)

    await add(store, first)
    await add(store, second)

    assert await store.withdrawal_assessments("p1") == [second, first]
    assert (first.total, first.band, first.items[0]) == (5, WithdrawalBand.MILD, ("resting_pulse", 2))
    assert await store.withdrawal_assessments("p1", scales=[WithdrawalScale.AWS]) == []
    assert await store.withdrawal_assessments("p2") == []
    with pytest.raises(Conflict, match="a1 is already stored"):
        await add(store, first)


async def test_a_rising_band_opens_a_medium_alert_whose_chain_informs_the_lar_team(store: Store) -> None:
    await kad_patient(store)
    await add(store, cows("a1", pulse=4, restless=5, hours=0))  # 9: mild

    opened = await add(store, _moderate("a2", hours=2))  # 13: moderate

    assert opened == (AlertPhase.OPENED, AlertPriority.MEDIUM)
    (alert,) = await store.list_alerts(patient_ids=["p1"], kinds=[AlertKind.WITHDRAWAL_RISING])
    assert "COWS 13 (moderate), up from 9 (mild)" in alert.message
    chain = await store.get_escalation(alert.alert_id)
    assert chain is not None and chain.running
    assert "care_team:lar_team" in [f"{t.kind.value}:{t.value}" for t in chain.policy.steps[0].targets]


async def test_the_next_assessment_that_no_longer_rises_resolves_it_and_a_late_entry_decides_nothing(
    store: Store,
) -> None:
    await kad_patient(store)
    await add(store, cows("a1", pulse=4, restless=5, hours=0))
    await add(store, _moderate("a2", hours=2))

    late = await add(store, cows("a0", pulse=0, restless=0, hours=1))  # charted now, assessed before a2
    resolved = await add(store, cows("a3", pulse=2, restless=3, hours=4))

    assert late == (None, None)
    assert resolved == (AlertPhase.RESOLVED, AlertPriority.MEDIUM)
    alerts = await store.list_alerts(patient_ids=["p1"], states=[AlertState.RESOLVED])
    assert [a.resolve_reason for a in alerts] == ["next assessment COWS 5 (mild)"]
    assert [a.assessment_id for a in await store.withdrawal_assessments("p1")] == ["a3", "a2", "a0", "a1"]


async def test_a_calm_alcohol_score_leaves_the_severe_opioid_alert_open_until_cows_is_scored_again(
    store: Store,
) -> None:
    await kad_patient(store)
    severe = {item.value: max(scores) for item, scores in SCALES[COWS].items.items()}
    opened = await add(store, _scored("a1", COWS, severe, hours=0))  # COWS 48: the doctor is paged
    calm_alcohol = await add(store, _scored("a2", WithdrawalScale.CIWA_AR, {}, hours=0.5))  # polysubstance: CIWA-Ar 0
    (alert,) = await store.list_alerts(patient_ids=["p1"], kinds=[AlertKind.WITHDRAWAL_RISING])
    chain = await store.get_escalation(alert.alert_id)

    assert (opened, calm_alcohol) == ((AlertPhase.OPENED, AlertPriority.HIGH), (None, AlertPriority.HIGH))
    assert (alert.state, alert.priority) == (AlertState.OPEN, AlertPriority.HIGH)
    assert alert.message.startswith("Severe withdrawal: COWS 48 (severe)")
    assert chain is not None and chain.running
    calm_opioid = await add(store, cows("a3", pulse=2, restless=3, hours=1))
    assert calm_opioid == (AlertPhase.RESOLVED, AlertPriority.HIGH)
    (ended,) = await store.list_alerts(patient_ids=["p1"], states=[AlertState.RESOLVED])
    assert ended.resolve_reason == "next assessment COWS 5 (mild)"


def _scored(assessment_id: str, scale: WithdrawalScale, items: dict[str, int], *, hours: float) -> WithdrawalAssessment:
    """`items` scored on `scale`, every other item 0."""
    at = T0 + timedelta(hours=hours)
    return new_assessment(
        assessment_id=assessment_id, patient_id="p1", scale=scale,
        items={item.value: 0 for item in SCALES[scale].items} | items, assessed_at=at, assessed_by="nurse-kari",
        recorded_at=at + timedelta(minutes=5),
    )  # fmt: skip


def _moderate(assessment_id: str, *, hours: float) -> WithdrawalAssessment:
    """COWS 13: pulse 4, restlessness 5, pupils 2, sweating 2."""
    base = cows(assessment_id, pulse=4, restless=5, hours=hours)
    items = tuple((item, {"pupil_size": 2, "sweating": 2}.get(item, score)) for item, score in base.items)
    return new_assessment(
        assessment_id=assessment_id, patient_id="p1", scale=COWS, items=dict(items), assessed_at=base.assessed_at,
        assessed_by="nurse-kari", recorded_at=base.recorded_at,
    )  # fmt: skip
