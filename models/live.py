"""The risk model in the live pipeline: reads each patient's hourly trends from the store and assesses them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.store import Store
from core.types import LatestValue, Parameter, Patient, Reading, RiskAssessment, Stay
from models.features import GRID_HOURS, VITALS
from models.history import PatientHistory
from models.predict import RiskModel

__all__ = ["StoreRiskAssessor"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Charted:
    parameter: Parameter
    value: float
    measured_at: datetime


class StoreRiskAssessor:
    """`ingest.risk.RiskAssessor` backed by a loaded RiskModel. Patients without an open stay are skipped."""

    def __init__(self, model: RiskModel) -> None:
        self._model = model

    async def __call__(self, store: Store, patient_ids: Sequence[str], now: datetime) -> list[RiskAssessment]:
        stays = await store.stays_of_patients(patient_ids, at=now)
        latest = await store.latest_values([p for p in patient_ids if p in stays])
        histories = []
        for patient_id, stay in stays.items():
            patient = await store.get_patient(patient_id)
            history = await self._history(store, patient, stay, now, latest.get(patient_id, {}))
            histories.append((patient_id, history))
        return self._model.assess_many(histories)  # one numpy pass for the whole chunk

    async def _history(
        self, store: Store, patient: Patient, stay: Stay, now: datetime, latest: dict[Parameter, LatestValue]
    ) -> PatientHistory:
        patient_id = patient.patient_id
        means = await store.hourly_means(patient_id, until=now, hours=GRID_HOURS, parameters=VITALS)
        since = now - timedelta(hours=GRID_HOURS)
        oxygen: list[_Charted | Reading] = list(
            await store.readings(patient_id, since=since, until=now, parameters=[Parameter.SUPPLEMENTAL_O2])
        )
        charted = latest.get(Parameter.SUPPLEMENTAL_O2)
        if charted is not None and charted.measured_at <= since:
            # Oxygen is carried forward: the last charting before the window still says what the patient is on.
            oxygen.append(_Charted(Parameter.SUPPLEMENTAL_O2, charted.value, charted.measured_at))
        age_years = None if patient.birth_year is None else float(now.year - patient.birth_year)
        return PatientHistory.from_hourly_means(
            means, oxygen, now=now, age_years=age_years, male=None, admitted_at=stay.start_at
        )
