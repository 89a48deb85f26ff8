"""After readings are stored: re-score the patients they touched (NEWS2), save, alert, publish; off the ack path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from alerts.lifecycle import apply_score
from core.clock import Clock, utc_now
from core.errors import StorageUnavailable
from core.events import readings_event, score_event
from core.settings import Settings
from core.store import Store
from core.types import Alert, AlertKind, CareSetting, LatestValue, Parameter, PatientScore, Reading, SpO2Scale, Stay
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from ingest.risk import RiskStep
from scoring.live import score_latest

__all__ = ["LiveScorer"]

logger = logging.getLogger(__name__)

# A patient's SpO2 scale is read from the store at most this often; a rescore request (the API sends one after a
# doctor changes the scale) refreshes it at once. Saves one query per patient per batch at 1 pack/s per bed.
SPO2_SCALE_TTL_S = 60.0
# After a store outage the scorer waits this long before trying the same patients again.
RETRY_DELAY_S = 1.0
# NEWS2 is banded, so a bedside patient's score stays the same for most of the packs that re-score it. An unchanged
# score is saved (history and current) and published at most this often; a changed one at once.
SCORE_HEARTBEAT_S = 60.0
# While ingest is catching up a backlog (its batches come full), a cycle waits this long first, so each patient's
# readings of that time coalesce into one score and one event. The readings are already late; fewer, fuller
# cycles let ingest catch up sooner (events were ~20 % of ingest CPU when every batch started a cycle).
CATCH_UP_CYCLE_S = 0.5


class LiveScorer:
    """Coalesces touched patients: under load each patient is scored once per cycle, however many packs came."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        publisher: EventPublisher,
        metrics: IngestMetrics,
        *,
        risk: RiskStep | None = None,
        clock: Clock = utc_now,
        behind: Callable[[], bool] = lambda: False,
    ) -> None:
        self._store = store
        self._settings = settings
        self._publisher = publisher
        self._metrics = metrics
        self._risk = risk
        self._clock = clock
        self._behind = behind
        self._pending: dict[str, dict[Parameter, Reading]] = {}
        self._wake = asyncio.Event()
        self._scales: dict[str, tuple[datetime, SpO2Scale]] = {}
        self._saved: dict[str, tuple[tuple[object, ...], datetime]] = {}

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def add_readings(self, readings: Iterable[Reading]) -> None:
        for reading in readings:
            latest = self._pending.setdefault(reading.patient_id, {})
            previous = latest.get(reading.parameter)
            if previous is None or previous.measured_at <= reading.measured_at:
                latest[reading.parameter] = reading
        self._wake.set()

    def add_patients(self, patient_ids: Iterable[str], *, refresh_scale: bool = False) -> None:
        for patient_id in patient_ids:
            self._pending.setdefault(patient_id, {})
            if refresh_scale:
                self._scales.pop(patient_id, None)
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            if self._behind():
                await asyncio.sleep(CATCH_UP_CYCLE_S)  # a rate limit while ingest catches up, not a synchronisation
            self._wake.clear()
            await self.score_pending()

    async def score_pending(self) -> None:
        """One cycle over every pending patient. Never raises: failures are logged, outages retried."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            await self._score(pending, self._clock())
        except StorageUnavailable as exc:
            logger.warning("Scoring %d patients postponed: %s", len(pending), exc)
            for patient_id, latest in pending.items():
                self.add_readings(latest.values())
                self.add_patients([patient_id])
            await asyncio.sleep(RETRY_DELAY_S)  # backoff before the retry the re-added patients trigger
        except Exception:
            logger.exception("Unexpected failure scoring %d patients", len(pending))

    async def _score(self, pending: dict[str, dict[Parameter, Reading]], now: datetime) -> None:
        patient_ids = sorted(pending)
        stays = await self._store.stays_of_patients(patient_ids, at=now)
        latest = await self._store.latest_values(patient_ids)
        scales = await self._spo2_scales(patient_ids, now)
        scores = [s for p in patient_ids if (s := self._score_one(p, latest.get(p, {}), stays.get(p), scales[p], now))]
        # Alerts are decided before the scores are saved: a saved score marks its readings as handled (the re-score
        # watermark, `patients_behind_scoring`), so a crash in between re-scores them at the next start.
        alerts = await self._unresolved_news2([s.patient_id for s in scores])
        for score in scores:
            stay = stays.get(score.patient_id)
            change = await apply_score(
                self._store,
                score,
                ward_id=stay.ward_id if stay else None,
                setting=stay.setting if stay else CareSetting.BEDSIDE,
                current=alerts.get(score.patient_id),
                at=now,
            )
            await self._publisher.send_alert(change, at=now)
        changed = {s.patient_id for s in scores if self._is_news(s, now)}
        await self._store.save_scores([s for s in scores if s.patient_id in changed])
        for score in scores:
            if score.patient_id in changed:
                self._saved[score.patient_id] = (_signature(score), now)
        self._metrics.patients_scored += len(scores)
        for score in scores:
            stay = stays.get(score.patient_id)
            if stay is not None:
                new_score = score if score.patient_id in changed else None
                await self._publish(stay, new_score, pending[score.patient_id].values(), now)
        if self._risk is not None:
            self._risk.submit(patient_ids, stays, now)  # its own task assesses them: never holds up scoring

    async def _unresolved_news2(self, patient_ids: Sequence[str]) -> dict[str, Alert]:
        if not patient_ids:
            return {}
        alerts = await self._store.list_alerts(patient_ids=patient_ids, kinds=[AlertKind.NEWS2], limit=len(patient_ids))
        return {a.patient_id: a for a in alerts if a.patient_id is not None}

    def _is_news(self, score: PatientScore, now: datetime) -> bool:
        last = self._saved.get(score.patient_id)
        return last is None or last[0] != _signature(score) or (now - last[1]).total_seconds() >= SCORE_HEARTBEAT_S

    def _score_one(
        self,
        patient_id: str,
        latest: dict[Parameter, LatestValue],
        stay: Stay | None,
        scale: SpO2Scale,
        now: datetime,
    ) -> PatientScore | None:
        setting = stay.setting if stay is not None else CareSetting.BEDSIDE
        try:
            return score_latest(
                patient_id, latest, now=now, max_age_s=self._settings.max_age_s(setting), spo2_scale=scale
            )
        except ValueError:
            logger.exception("Stored values of patient %s cannot be scored", patient_id)
            return None

    async def _spo2_scales(self, patient_ids: Sequence[str], now: datetime) -> dict[str, SpO2Scale]:
        scales: dict[str, SpO2Scale] = {}
        for patient_id in patient_ids:
            cached = self._scales.get(patient_id)
            if cached is None or (now - cached[0]).total_seconds() > SPO2_SCALE_TTL_S:
                decision = await self._store.get_spo2_scale(patient_id)
                cached = (now, decision.scale if decision is not None else SpO2Scale.SCALE_1)
                self._scales[patient_id] = cached
            scales[patient_id] = cached[1]
        return scales

    async def _publish(self, stay: Stay, score: PatientScore | None, new: Iterable[Reading], now: datetime) -> None:
        site_id = await self._publisher.site_of(stay.ward_id)
        if site_id is None:
            return
        values = [LatestValue(r.parameter, r.value, r.measured_at, r.device_id) for r in new]
        if values:
            self._publisher.send(
                readings_event(
                    site_id=site_id,
                    ward_id=stay.ward_id,
                    patient_id=stay.patient_id,
                    bed_id=stay.bed_id,
                    values=values,
                    at=now,
                )
            )
        if score is not None:
            event = score_event(site_id=site_id, ward_id=stay.ward_id, bed_id=stay.bed_id, score=score, at=now)
            self._publisher.send(event)


def _signature(score: PatientScore) -> tuple[object, ...]:
    """What a nurse sees of a score (everything but when it was computed)."""
    return (
        score.total,
        score.complete,
        score.risk,
        score.single_param_3,
        tuple(sorted(score.parameter_scores.items())),
        score.missing,
        score.spo2_scale,
    )
