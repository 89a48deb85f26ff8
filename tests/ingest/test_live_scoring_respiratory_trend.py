"""The live scorer watching an opioid patient's breathing slow over minutes, on a fake clock and a real store: a
respiration rate and SpO2 falling together open a medium alert of their own before PRODIGY's levels are reached;
a low but steady rate does not; neither does a patient without an opioid flag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.care_flags import CareFlag
from core.types import AlertKind, AlertPriority
from tests.ingest.test_live_scoring_fatigue import Unit
from tests.ingest.test_live_scoring_respiratory import _unit

KINDS = [AlertKind.RESPIRATORY_TREND, AlertKind.RESPIRATORY_DEPRESSION]


@pytest.fixture
async def on_lar(tmp_path: Path) -> AsyncIterator[Unit]:
    unit, store = await _unit(tmp_path, (CareFlag.OPIOID_AGONIST_TREATMENT,))
    yield unit
    await store.close()


async def _slide(unit: Unit, *, seconds: int, rr: tuple[float, float], spo2: tuple[float, float]) -> None:
    """A monitor pack every 10 s, both values moving linearly from their first to their second value."""
    for at_s in range(10, seconds + 1, 10):
        share = at_s / seconds
        await unit.reading(at_s, resp_rate=rr[0] + (rr[1] - rr[0]) * share, spo2=spo2[0] + (spo2[1] - spo2[0]) * share)


async def _alerts(unit: Unit) -> list[tuple[AlertKind, AlertPriority, float, str]]:
    alerts = await unit.store.list_alerts(patient_ids=["p1"], kinds=KINDS)
    return [(a.kind, a.priority, (a.opened_at - unit.now).total_seconds(), a.message) for a in alerts]


async def test_breathing_slowing_with_falling_spo2_opens_a_medium_alert_before_prodigy_levels(on_lar: Unit) -> None:
    # 14 -> 9/min and 97 -> 92 % over 12 min: RR reaches NEWS2's 9-11 band (11/min) at 7 min 12 s.
    await _slide(on_lar, seconds=720, rr=(14, 9), spo2=(97, 92))

    ((kind, priority, opened_s, message),) = await _alerts(on_lar)
    assert (kind, priority) == (AlertKind.RESPIRATORY_TREND, AlertPriority.MEDIUM)
    opened_at_s = 720 + opened_s
    assert 432 <= opened_at_s <= 432 + 30 + 20 + 30  # band reached, then the next check, confirmation, fit's lag
    assert "Breathing slowing" in message and "on opioid agonist treatment" in message


async def test_a_low_but_steady_respiration_rate_raises_no_trend_alert(on_lar: Unit) -> None:
    await _slide(on_lar, seconds=720, rr=(10, 10), spo2=(94, 94))

    assert await _alerts(on_lar) == []


async def test_a_patient_with_only_an_alcohol_flag_gets_no_trend_alert(tmp_path: Path) -> None:
    unit, store = await _unit(tmp_path, (CareFlag.ALCOHOL_WITHDRAWAL,))
    try:
        await _slide(unit, seconds=720, rr=(14, 9), spo2=(97, 92))

        assert await _alerts(unit) == []
    finally:
        await store.close()
