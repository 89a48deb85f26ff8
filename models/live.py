"""The risk model in the live pipeline: reads each patient's hourly trends from the store and assesses them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.store import Store
from core.types import HourlyMean, LatestValue, Parameter, Patient, Reading, RiskAssessment, Stay
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
        # A chunk's reads are a few queries whatever its size: stays, latest values, patients and hourly means each
        # once for all (one query per patient each was most of the risk task's cost), oxygen only where charted.
        stays = await store.stays_of_patients(patient_ids, at=now)
        staying = [p for p in patient_ids if p in stays]
        latest = await store.latest_values(staying)
        patients = await store.get_patients(staying)
        means = await store.hourly_means(staying, until=now, hours=GRID_HOURS, parameters=VITALS)
        histories = []
        for patient_id in staying:
            oxygen = await self._oxygen(store, patient_id, now, latest.get(patient_id, {}))
            history = self._history(patients[patient_id], stays[patient_id], now, means[patient_id], oxygen)
            histories.append((patient_id, history))
        return self._model.assess_many(histories)  # one numpy pass for the whole chunk

    @staticmethod
    async def _oxygen(
        store: Store, patient_id: str, now: datetime, latest: dict[Parameter, LatestValue]
    ) -> list[_Charted | Reading]:
        """Supplemental oxygen charted in the window, and the last charting before it (carried forward: it still
        says what the patient is on). The latest value is the newest charting, so a patient whose newest is older
        than the window, or who was never charted, needs no query."""
        since = now - timedelta(hours=GRID_HOURS)
        charted = latest.get(Parameter.SUPPLEMENTAL_O2)
        if charted is None:
            return []
        if charted.measured_at <= since:
            return [_Charted(Parameter.SUPPLEMENTAL_O2, charted.value, charted.measured_at)]
        return list(await store.readings(patient_id, since=since, until=now, parameters=[Parameter.SUPPLEMENTAL_O2]))

    @staticmethod
    def _history(
        patient: Patient, stay: Stay, now: datetime, means: list[HourlyMean], oxygen: list[_Charted | Reading]
    ) -> PatientHistory:
        age_years = None if patient.birth_year is None else float(now.year - patient.birth_year)
        return PatientHistory.from_hourly_means(
            means, oxygen, now=now, age_years=age_years, male=None, admitted_at=stay.start_at
        )
