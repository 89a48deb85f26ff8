"""ML deterioration risk in the live path: rate-limited per patient, stored, published, RAISED becomes an alert."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.events import risk_event
from core.store import Store
from core.types import AlertKind, AlertSeverity, RiskAssessment, RiskLevel, Stay
from ingest.publishing import EventPublisher

__all__ = ["ML_RISK_SEVERITY", "RiskAssessor", "RiskStep"]

logger = logging.getLogger(__name__)

# A model's flag asks a nurse to look again, like a single NEWS2 parameter scoring 3; it never outranks NEWS2 5+.
ML_RISK_SEVERITY = AlertSeverity.LOW_MEDIUM


class RiskAssessor(Protocol):
    """The lead wires `models/` in here: risk for each patient at `now`, reading history from the store."""

    async def __call__(self, store: Store, patient_ids: Sequence[str], now: datetime) -> list[RiskAssessment]: ...


class RiskStep:
    def __init__(
        self, assessor: RiskAssessor, *, store: Store, publisher: EventPublisher, min_interval_s: float
    ) -> None:
        self._assessor = assessor
        self._store = store
        self._publisher = publisher
        self._min_interval_s = min_interval_s
        self._last_at: dict[str, datetime] = {}

    def due(self, patient_ids: Sequence[str], now: datetime) -> list[str]:
        """Patients not assessed within `min_interval_s` (the model reads hours of history: once a minute will do)."""
        return [
            p
            for p in patient_ids
            if (last := self._last_at.get(p)) is None or (now - last).total_seconds() >= self._min_interval_s
        ]

    async def run(self, patient_ids: Sequence[str], stays: dict[str, Stay], now: datetime) -> None:
        """Raises StorageUnavailable; the caller retries those patients later."""
        due = self.due(patient_ids, now)
        if not due:
            return
        risks = await self._assessor(self._store, due, now)
        await self._store.save_risks(risks)
        for patient_id in due:
            self._last_at[patient_id] = now
        for risk in risks:
            stay = stays.get(risk.patient_id)
            ward_id = stay.ward_id if stay is not None else None
            if risk.level is RiskLevel.RAISED:
                change = await self._store.raise_alert(
                    patient_id=risk.patient_id,
                    device_id=None,
                    ward_id=ward_id,
                    kind=AlertKind.ML_RISK,
                    severity=ML_RISK_SEVERITY,
                    message=_message(risk),
                    at=now,
                )
                await self._publisher.send_alert(change, at=now)
            site_id = await self._publisher.site_of(ward_id) if ward_id is not None else None
            if stay is not None and site_id is not None:
                self._publisher.send(
                    risk_event(site_id=site_id, ward_id=stay.ward_id, bed_id=stay.bed_id, risk=risk, at=now)
                )


def _message(risk: RiskAssessment) -> str:
    because = "; ".join(risk.reasons[:3])
    probability = f" ({risk.probability:.0%})" if risk.probability is not None else ""
    return f"Raised deterioration risk{probability}" + (f": {because}" if because else "")
