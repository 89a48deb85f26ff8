"""Personal-threshold triage of home patients: after their readings are scored, a value outside the patient's green
band opens (or raises) a worklist item of its measurement (docs/HOME_AND_TEAMS.md, "Threshold breaches")."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from alerts.triage import breach_items
from core.homecare import WorklistChange
from core.store import Store
from core.thresholds import ThresholdSet
from core.types import CareSetting, LatestValue, Parameter, Reading, Stay
from ingest.patient_cache import PatientCache
from ingest.publishing import EventPublisher

__all__ = ["THRESHOLDS_TTL_S", "HomeTriage"]

logger = logging.getLogger(__name__)

# A patient's thresholds are read from the store at most this often, like their limits; the thresholds API sends a
# rescore request after a change, which refreshes them at once (`forget`).
THRESHOLDS_TTL_S = 60.0


class HomeTriage:
    """Triages the latest values of home patients against their personal thresholds. It reads the store's latest
    values, not the packs of this cycle: a restart's rescore triages them again, and the store ignores a reading
    already on an item of its measurement, so a redelivered or re-triaged reading never opens a second item."""

    def __init__(self, store: Store, publisher: EventPublisher) -> None:
        self._store = store
        self._publisher = publisher
        no_thresholds: ThresholdSet | None = None
        self._thresholds = PatientCache(store.thresholds, default=no_thresholds, ttl_s=THRESHOLDS_TTL_S)

    def forget(self, patient_ids: Sequence[str]) -> None:
        self._thresholds.forget(patient_ids)

    async def observe(
        self,
        stays: Mapping[str, Stay],
        latest: Mapping[str, Mapping[Parameter, LatestValue]],
        now: datetime,
    ) -> list[WorklistChange]:
        home = [p for p, stay in stays.items() if stay.setting is CareSetting.HOME and latest.get(p)]
        if not home:
            return []
        thresholds = await self._thresholds.get(home, now)
        items = []
        for patient_id in home:
            site_id = await self._publisher.site_of(stays[patient_id].ward_id)
            if site_id is None or thresholds.get(patient_id) is None:
                continue
            readings = [_reading(patient_id, value) for value in latest[patient_id].values()]
            items += breach_items(readings, thresholds[patient_id], site_id=site_id, at=now)
        changes = await self._store.open_or_raise_breaches(items)
        for change in changes:
            logger.info("Worklist item %s %s: %s", change.item.item_id, change.action, change.item.vkp_code.value)
        return changes


def _reading(patient_id: str, value: LatestValue) -> Reading:
    # The latest value keeps no arrival time; its measurement time stands for it, so a re-triaged value is the same.
    return Reading(value.device_id, patient_id, value.parameter, value.value, value.measured_at, value.measured_at)
