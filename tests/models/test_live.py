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


def _readings(
    minutes: int,
    *,
    patient_id: str = "pat-1",
    oxygen: tuple[tuple[timedelta, float], ...] = ((-timedelta(hours=29), 1.0),),
    severity: float = 1.0,
) -> list[Reading]:
    """A patient on a bedside monitor, one pack a minute, slowly deteriorating; by default charted on oxygen long
    ago (`oxygen`: how long before NOW each charting was, and its value)."""
    device_id = f"mon-{patient_id}"
    readings = [Reading(device_id, patient_id, Parameter.SUPPLEMENTAL_O2, v, NOW + ago, NOW) for ago, v in oxygen]
    for minute in range(minutes):
        at = NOW - timedelta(minutes=minute)
        drift = severity * (minutes - minute) / minutes
        for parameter, value in (
            (Parameter.PULSE, 80 + 35 * drift + minute % 3),
            (Parameter.RESP_RATE, 15 + 10 * drift),
            (Parameter.SPO2, 97 - 5 * drift),
            (Parameter.SYSTOLIC_BP, 125 - 30 * drift),
            (Parameter.TEMPERATURE, 37.0 + 1.5 * drift),
        ):
            readings.append(Reading(device_id, patient_id, parameter, float(value), at, at))
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


async def test_a_chunk_of_patients_is_assessed_as_each_would_be_from_their_own_raw_readings(store: SqliteStore) -> None:
    """One read per kind for the whole chunk must not mix patients up: oxygen charted long ago (carried forward),
    switched on and off inside the window, never charted; and a patient without a stay, who is skipped."""
    charted = {
        "pat-1": ((-timedelta(hours=29), 1.0),),
        "pat-2": ((-timedelta(hours=3), 1.0), (-timedelta(hours=1), 0.0)),
        "pat-3": (),
        "pat-4": (),
    }
    readings = {
        p: _readings(minutes=6 * 60, patient_id=p, oxygen=o, severity=0.4 + 0.3 * n)
        for n, (p, o) in enumerate(charted.items())
    }
    for n, patient_id in enumerate(["pat-2", "pat-3", "pat-4"], start=2):
        await store.upsert_patient(Patient(patient_id, f"Pasient {n}", 1940 + n))
    for n, patient_id in enumerate(["pat-2", "pat-3"], start=2):
        await store.add_stay(Stay(f"stay-{n}", patient_id, "ward-1", CareSetting.BEDSIDE, ADMITTED_AT, bed_id=f"b{n}"))
    await store.append([r for rs in readings.values() for r in rs], [])
    model = RiskModel.load()

    live = await StoreRiskAssessor(model)(store, ["pat-3", "pat-1", "pat-4", "pat-2"], NOW)

    births = {"pat-1": 1950, "pat-2": 1942, "pat-3": 1943}
    assert sorted(a.patient_id for a in live) == ["pat-1", "pat-2", "pat-3"]
    for assessment in live:
        patient_id = assessment.patient_id
        age_years = float(NOW.year - births[patient_id])
        raw = model.assess(
            patient_id, readings[patient_id], NOW, age_years=age_years, male=None, admitted_at=ADMITTED_AT
        )
        assert (assessment.level, assessment.reasons) == (raw.level, raw.reasons), patient_id
        assert assessment.probability == pytest.approx(raw.probability, rel=1e-9), patient_id
