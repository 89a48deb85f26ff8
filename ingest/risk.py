"""ML deterioration risk in the live path: rate-limited per patient, stored, published, RAISED becomes an alert."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from alerts.confirmation import apply_observed
from alerts.lifecycle import Observed
from core.errors import StorageUnavailable
from core.events import RiskEvent, risk_event
from core.store import Store
from core.types import AlertKey, AlertKind, AlertSeverity, CareSetting, RiskAssessment, RiskLevel, Stay
from ingest.publishing import EventPublisher

__all__ = ["GATHER_S", "ML_RISK_SEVERITY", "RISK_CHUNK", "RiskAssessor", "RiskStep"]

logger = logging.getLogger(__name__)

# A model's flag asks a nurse to look again, like a single NEWS2 parameter scoring 3; it never outranks NEWS2 5+.
ML_RISK_SEVERITY = AlertSeverity.LOW_MEDIUM
# Patients assessed per step before the loop gets a turn: each costs a few queries, and the chunk's prediction one
# numpy batch (~10-15 ms for 20), so a chunk holds scoring back by well under the 250 ms latency budget even when
# all beds fall due at once.
RISK_CHUNK = 20
# Patients fall due one by one as their readings arrive. Waiting this long after the first gathers those that fall
# due meanwhile into the same chunk: the model's cost per patient falls with the chunk size (bench/bench_model.py:
# ~3x cheaper at 20 than alone), and a flag recomputed at most once a minute loses nothing by a second.
GATHER_S = 1.0
# After a store outage the queued patients are dropped back to "due" and the task pauses this long.
RETRY_DELAY_S = 1.0
# While ingest catches up a backlog (its batches come full), one chunk at most this often: the model would read
# hourly means the backlog is still filling in, and assessing every patient then cost ~6 % of ingest's drain time.
# A pace rather than a pause, so a worker that stays behind still assesses everyone (1,000 patients in ~50 s).
CATCH_UP_CHUNK_EVERY_S = 1.0
# Otherwise one chunk at most this often (200 patients/s). A unit's patients fall due together (all are assessed in
# the first cycles after a start, so all again a minute later, and so on): 1,000 assessed back to back held the loop
# 1-2 s every minute (publish -> dashboard p99 3.1 s in bench_fanout). Spread over ~5 s they cost a share of a core
# meanwhile, and their next turns spread out too.
CHUNK_EVERY_S = 0.1


class RiskAssessor(Protocol):
    """The lead wires `models/` in here: risk for each patient at `now`, reading history from the store."""

    async def __call__(self, store: Store, patient_ids: Sequence[str], now: datetime) -> list[RiskAssessment]: ...


class RiskStep:
    """Its own task: scoring hands over patients (`submit`, never waits); `run` assesses those that are due.

    The model reads hours of history per patient (several queries and a prediction each), so it must never hold up
    NEWS2 scoring or ingest: it works through due patients in chunks, yielding to the loop between them.
    """

    def __init__(
        self,
        assessor: RiskAssessor,
        *,
        store: Store,
        publisher: EventPublisher,
        min_interval_s: float,
        behind: Callable[[], bool] = lambda: False,
    ) -> None:
        self._assessor = assessor
        self._behind = behind
        self._store = store
        self._publisher = publisher
        self._min_interval_s = min_interval_s
        self._last_at: dict[str, datetime] = {}
        self._queued: dict[str, tuple[Stay | None, datetime]] = {}  # due patients (stay, when), oldest first
        self._wake = asyncio.Event()

    @property
    def backlog(self) -> int:
        return len(self._queued)

    def due(self, patient_ids: Sequence[str], now: datetime) -> list[str]:
        """Patients not assessed within `min_interval_s` (the model reads hours of history: once a minute will do)."""
        return [
            p
            for p in patient_ids
            if (last := self._last_at.get(p)) is None or (now - last).total_seconds() >= self._min_interval_s
        ]

    def submit(self, patient_ids: Sequence[str], stays: dict[str, Stay], now: datetime) -> None:
        """Queue the patients that are due; returns at once. A queued patient counts as assessed at `now`."""
        for patient_id in self.due(patient_ids, now):
            self._last_at[patient_id] = now
            self._queued[patient_id] = (stays.get(patient_id), now)
        if self._queued:
            self._wake.set()

    async def run(self) -> None:
        """Forever: assess queued patients, RISK_CHUNK at a time. Never raises; outages retried after a pause."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            if len(self._queued) < RISK_CHUNK:
                await asyncio.sleep(GATHER_S)
            self._wake.clear()
            while self._queued:
                started = loop.time()
                chunk = dict(itertools.islice(self._queued.items(), RISK_CHUNK))
                for patient_id in chunk:
                    del self._queued[patient_id]
                stays = {patient_id: stay for patient_id, (stay, _) in chunk.items()}
                now = max(at for _, at in chunk.values())
                try:
                    await self.assess(list(chunk), stays, now)
                except StorageUnavailable as exc:
                    logger.warning("ML risk of %d patients postponed: %s", len(chunk), exc)
                    for patient_id in chunk:
                        self._last_at.pop(patient_id, None)  # due again at the next scoring cycle
                    await asyncio.sleep(RETRY_DELAY_S)  # backoff
                except Exception:
                    logger.exception("Unexpected failure assessing ML risk of %d patients", len(chunk))
                # Ingest and scoring run between chunks: a pace, not a synchronisation.
                every_s = CATCH_UP_CHUNK_EVERY_S if self._behind() else CHUNK_EVERY_S
                await asyncio.sleep(max(0.0, started + every_s - loop.time()) if self._queued else 0)

    async def assess(self, patient_ids: Sequence[str], stays: Mapping[str, Stay | None], now: datetime) -> None:
        """Assess, store, alert and publish for these patients. Raises StorageUnavailable."""
        risks = await self._assessor(self._store, patient_ids, now)
        await self._store.save_risks(risks)
        unresolved = await self._store.list_alerts(
            patient_ids=list(patient_ids), kinds=[AlertKind.ML_RISK], limit=max(1, len(patient_ids))
        )
        current = {a.patient_id: a for a in unresolved}
        events: list[RiskEvent] = []
        for risk in risks:
            stay = stays.get(risk.patient_id)
            ward_id = stay.ward_id if stay is not None else None
            # Too little data says nothing about recovery; a patient in no stay (a late pack after discharge) has no
            # ward to show the flag, and it would swallow the next stay's (the scorer decides nothing for them either).
            if risk.level is not RiskLevel.UNKNOWN and stay is not None:
                raised = risk.level is RiskLevel.RAISED
                seen = Observed(
                    AlertKey(risk.patient_id, None, AlertKind.ML_RISK),
                    ML_RISK_SEVERITY if raised else None,
                    _message(risk) if raised else "",
                    now,
                    ward_id,
                    stay.setting if stay is not None else CareSetting.BEDSIDE,
                )
                # The ML flag has no confirmation delay (it is assessed from hourly means): never a pending condition.
                change = await apply_observed(self._store, seen, current=current.get(risk.patient_id), pending=None)
                await self._publisher.send_alert(change, at=now)
            site_id = await self._publisher.site_of(ward_id) if ward_id is not None else None
            if stay is not None and site_id is not None:
                events.append(risk_event(site_id=site_id, ward_id=stay.ward_id, bed_id=stay.bed_id, risk=risk, at=now))
        # A chunk's risks of one ward as one batch: a unit's patients fall due together, and 1,000 events one by one
        # were 1,000 messages to every dashboard of the ward within seconds.
        self._publisher.send_patient_events(events)


def _message(risk: RiskAssessment) -> str:
    because = "; ".join(risk.reasons[:3])
    probability = f" ({risk.probability:.0%})" if risk.probability is not None else ""
    return f"Raised deterioration risk{probability}" + (f": {because}" if because else "")
