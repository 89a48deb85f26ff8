"""The risk model in the live pipeline: reads each patient's hourly trends from the store and assesses them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.store import Store
from core.types import HourlyMean, LatestValue, Parameter, Patient, Reading, RiskAssessment, Stay
from models.features import GRID_HOURS, VITALS
from models.predict import RiskModel

__all__ = ["StoreRiskAssessor", "hourly_samples"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Sample:
    parameter: Parameter
    value: float
    measured_at: datetime


def hourly_samples(means: Sequence[HourlyMean], *, now: datetime) -> list[_Sample]:
    """One sample per hour bucket, in the middle of its hour, so the model's hourly grid puts it in the same hour
    and averages it exactly as it would have averaged the raw readings."""
    return [_Sample(m.parameter, m.mean, now - timedelta(hours=m.hours_ago) - timedelta(minutes=30)) for m in means]


class StoreRiskAssessor:
    """`ingest.risk.RiskAssessor` backed by a loaded RiskModel. Patients without an open stay are skipped."""

    def __init__(self, model: RiskModel) -> None:
        self._model = model

    async def __call__(self, store: Store, patient_ids: Sequence[str], now: datetime) -> list[RiskAssessment]:
        stays = await store.stays_of_patients(patient_ids, at=now)
        latest = await store.latest_values([p for p in patient_ids if p in stays])
        risks = []
        for patient_id, stay in stays.items():
            patient = await store.get_patient(patient_id)
            history = await self._history(store, patient_id, now, latest.get(patient_id, {}))
            risks.append(self._assess(patient, stay, history, now))
        return risks

    async def _history(
        self, store: Store, patient_id: str, now: datetime, latest: dict[Parameter, LatestValue]
    ) -> list[_Sample | Reading]:
        means = await store.hourly_means(patient_id, until=now, hours=GRID_HOURS, parameters=VITALS)
        since = now - timedelta(hours=GRID_HOURS)
        oxygen: list[_Sample | Reading] = list(
            await store.readings(patient_id, since=since, until=now, parameters=[Parameter.SUPPLEMENTAL_O2])
        )
        charted = latest.get(Parameter.SUPPLEMENTAL_O2)
        if charted is not None and charted.measured_at <= since:
            # Oxygen is carried forward: the last charting before the window still says what the patient is on.
            oxygen.append(_Sample(Parameter.SUPPLEMENTAL_O2, charted.value, charted.measured_at))
        return [*hourly_samples(means, now=now), *oxygen]

    def _assess(
        self, patient: Patient, stay: Stay, history: Sequence[_Sample | Reading], now: datetime
    ) -> RiskAssessment:
        age_years = None if patient.birth_year is None else float(now.year - patient.birth_year)
        return self._model.assess(
            patient.patient_id, history, now, age_years=age_years, male=None, admitted_at=stay.start_at
        )
