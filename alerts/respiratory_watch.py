"""The falling-trend rule's reads for the live scorer: 30 s means of respiration rate and SpO2 over the rule's window,
only for patients with an opioid flag on continuous monitoring, and for each at most every TREND_CHECK_S."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from alerts.lifecycle import Observed
from alerts.respiratory import TREND_WINDOW_S, respiratory_trend_observed
from core.care_flags import OPIOID_FLAGS, CareFlag
from core.store import Store
from core.types import CareSetting, Parameter, Stay

__all__ = ["TREND_BUCKET_S", "TREND_CHECK_S", "RespiratoryTrendWatch"]

# The rule fits 30 s means: 20 points per parameter in 10 min, the noise of a 1 Hz monitor averaged out, and the
# store returns 40 rows instead of 1,200.
TREND_BUCKET_S = 30
# The rule is about minutes: each patient is checked at most this often, not at every pack (one query per check).
TREND_CHECK_S = 30.0
_PARAMETERS = (Parameter.RESP_RATE, Parameter.SPO2)


class RespiratoryTrendWatch:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._checked: dict[str, datetime] = {}

    async def observe(
        self, stays: Mapping[str, Stay], flags: Mapping[str, frozenset[CareFlag]], now: datetime
    ) -> dict[str, Observed]:
        """The trend condition of each due patient among `flags`' (opioid flag, a stay that is not at home)."""
        seen: dict[str, Observed] = {}
        for patient_id, patient_flags in flags.items():
            stay = stays.get(patient_id)
            last = self._checked.get(patient_id)
            if not patient_flags & OPIOID_FLAGS or stay is None or stay.setting is CareSetting.HOME:
                continue
            if last is not None and (now - last).total_seconds() < TREND_CHECK_S:
                continue
            self._checked[patient_id] = now
            history = await self._history(patient_id, now)
            seen[patient_id] = respiratory_trend_observed(
                patient_id, history, patient_flags, ward_id=stay.ward_id, at=now, setting=stay.setting
            )
        return seen

    async def _history(self, patient_id: str, now: datetime) -> dict[Parameter, Sequence[tuple[datetime, float]]]:
        since = now - timedelta(seconds=TREND_WINDOW_S)
        buckets = await self._store.observation_buckets(
            patient_id, since=since, until=now, bucket_s=TREND_BUCKET_S, parameters=_PARAMETERS
        )
        half = timedelta(seconds=TREND_BUCKET_S / 2)
        history: dict[Parameter, list[tuple[datetime, float]]] = {}
        for bucket in buckets:
            history.setdefault(bucket.parameter, []).append((min(bucket.starts_at + half, now), bucket.mean))
        return dict(history)
