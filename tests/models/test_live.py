"""The live assessor reads hourly trends from the store and must see what the model would see in raw readings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.store.sqlite import SqliteStore
from core.types import CareSetting, Parameter, Patient, Reading, RiskLevel, Stay
from models.live import StoreRiskAssessor
from models.predict import RiskModel
from tests.models.conftest import ADMITTED_AT

NOW = ADMITTED_AT + timedelta(hours=30)


def _readings(minutes: int) -> list[Reading]:
    """A patient on a bedside monitor, one pack a minute, slowly deteriorating, charted on oxygen long ago."""
    readings = [
        Reading("mon-1", "pat-1", Parameter.SUPPLEMENTAL_O2, 1.0, ADMITTED_AT + timedelta(hours=1), NOW),
    ]
    for minute in range(minutes):
        at = NOW - timedelta(minutes=minute)
        drift = (minutes - minute) / minutes
        for parameter, value in (
            (Parameter.PULSE, 80 + 35 * drift + minute % 3),
            (Parameter.RESP_RATE, 15 + 10 * drift),
            (Parameter.SPO2, 97 - 5 * drift),
            (Parameter.SYSTOLIC_BP, 125 - 30 * drift),
            (Parameter.TEMPERATURE, 37.0 + 1.5 * drift),
        ):
            readings.append(Reading("mon-1", "pat-1", parameter, float(value), at, at))
    return readings


@pytest.fixture
async def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "vaktrom.sqlite3")
    await store.open()
    await store.upsert_patient(Patient("pat-1", "Demo Testesen", 1950))
    await store.add_stay(Stay("stay-1", "pat-1", "ward-1", CareSetting.BEDSIDE, ADMITTED_AT, bed_id="bed-1"))
    return store


async def test_risk_from_stored_hourly_trends_equals_risk_from_raw_readings(store: SqliteStore) -> None:
    readings = _readings(minutes=12 * 60)
    await store.append(readings, [])
    model = RiskModel.load()

    [live] = await StoreRiskAssessor(model)(store, ["pat-1"], NOW)

    raw = model.assess("pat-1", readings, NOW, age_years=float(NOW.year - 1950), male=None, admitted_at=ADMITTED_AT)
    assert live.level is raw.level
    assert live.level is not RiskLevel.UNKNOWN
    assert live.probability == pytest.approx(raw.probability, rel=1e-9)
    assert live.reasons == raw.reasons


async def test_patient_without_open_stay_gets_no_assessment(store: SqliteStore) -> None:
    await store.end_stay("stay-1", end_at=NOW - timedelta(hours=1))
    assert await StoreRiskAssessor(RiskModel.load())(store, ["pat-1"], NOW) == []
