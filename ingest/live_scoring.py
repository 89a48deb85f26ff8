"""After readings are stored: re-score the patients they touched (NEWS2), save, alert (NEWS2 and the patient's own
limits, each confirmed before it opens at the bedside), publish; off the ack path. A settled bedside patient's pack
that changes nothing of their score skips the store reads and the alert decision (ingest/settled_patients.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from alerts.confirmation import apply_observed
from alerts.lifecycle import DEFAULT_POLICY, LifecyclePolicy, Observed
from alerts.limits import scored_conditions
from alerts.respiratory import respiratory_depression_observed
from alerts.respiratory_watch import RespiratoryTrendWatch
from core.care_flags import OPIOID_FLAGS, CareFlag
from core.clock import Clock, utc_now
from core.errors import StorageUnavailable
from core.events import ReadingsEvent, ScoreEvent, readings_event, score_event
from core.settings import Settings
from core.store import Store
from core.types import (
    Alert,
    AlertKey,
    AlertKind,
    CareSetting,
    LatestValue,
    Parameter,
    PatientLimit,
    PatientScore,
    PendingAlert,
    Reading,
    SpO2Scale,
    Stay,
)
from ingest.home_triage import HomeTriage
from ingest.metrics import IngestMetrics
from ingest.patient_cache import PatientCache
from ingest.publishing import EventPublisher
from ingest.risk import RiskStep
from ingest.settled_patients import FULL_SCORE_EVERY_S, SettledPatients
from scoring.live import fresh_values, score_latest

__all__ = ["LiveScorer"]

logger = logging.getLogger(__name__)

# A patient's SpO2 scale is read from the store at most this often; a rescore request (the API sends one after a
# doctor changes the scale) refreshes it at once. Saves one query per patient per batch at 1 pack/s per bed.
SPO2_SCALE_TTL_S = 60.0
# A patient's own limits are cached the same way and refreshed by the same rescore request (the limits API sends one).
LIMITS_TTL_S = 60.0
# A patient's care flags (an opioid flag turns on the respiratory-depression rule) likewise; the flags API sends a
# rescore request too.
CARE_FLAGS_TTL_S = 60.0
# The alert kinds the scorer decides (the ML flag is the risk task's).
_SCORED_KINDS = (
    AlertKind.NEWS2,
    AlertKind.PATIENT_LIMIT,
    AlertKind.RESPIRATORY_DEPRESSION,
    AlertKind.RESPIRATORY_TREND,
)
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
        full_score_every_s: float = FULL_SCORE_EVERY_S,
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
        self._scales = PatientCache(self._fetch_spo2_scales, default=SpO2Scale.SCALE_1, ttl_s=SPO2_SCALE_TTL_S)
        no_limits: tuple[PatientLimit, ...] = ()
        self._limits = PatientCache(store.patient_limits, default=no_limits, ttl_s=LIMITS_TTL_S)
        no_flags: frozenset[CareFlag] = frozenset()
        self._flags = PatientCache(store.care_flags, default=no_flags, ttl_s=CARE_FLAGS_TTL_S)
        confirm_s = {kind: settings.alert_confirm_s for kind in _SCORED_KINDS}
        sustain_s = {AlertKind.RESPIRATORY_DEPRESSION: settings.respiratory_sustain_s}
        self._policy: LifecyclePolicy = replace(DEFAULT_POLICY, confirm_s=confirm_s, sustain_s=sustain_s)
        self._saved: dict[str, tuple[tuple[object, ...], datetime]] = {}
        self._settled = SettledPatients(full_every_s=full_score_every_s)
        self._home_triage = HomeTriage(store, publisher)  # personal thresholds of home patients -> worklist
        self._trends = RespiratoryTrendWatch(store)  # the falling-trend rule, opioid patients only

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
            self._settled.unsettle([patient_id])  # a rescore request, a refresh or a retry: always in full
            if refresh_scale:
                for cache in (self._scales, self._limits, self._flags):
                    cache.forget([patient_id])
                self._home_triage.forget([patient_id])
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
        self._settled.expire(now)
        unchanged = {
            p
            for p in patient_ids
            if self._settled.unchanged(p, stay=stays.get(p), readings=pending[p].values(), now=now)
        }
        full_ids = [p for p in patient_ids if p not in unchanged]
        latest = await self._store.latest_values(full_ids) if full_ids else {}
        scales = await self._scales.get(full_ids, now)
        scores = [s for p in full_ids if (s := self._score_one(p, latest.get(p, {}), stays.get(p), scales[p], now))]
        changed = {s.patient_id for s in scores if self._is_news(s, now)}
        # The ward sees the readings and scores first: the writes below cost a cycle about half its time and are
        # what a slow store stalls. Should one fail, the patients are scored again and their events re-sent.
        scored = {s.patient_id: s for s in scores}
        events: list[ReadingsEvent | ScoreEvent] = []
        for patient_id in patient_ids:
            stay = stays.get(patient_id)
            if stay is not None and (patient_id in scored or patient_id in unchanged):
                new_score = scored[patient_id] if patient_id in changed else None
                events += await self._events(stay, new_score, pending[patient_id].values(), now)
        self._publisher.send_patient_events(events)  # a ward's many as one batch
        # Alerts are decided before the scores are saved: a saved score marks its readings as handled (the re-score
        # watermark, `patients_behind_scoring`), so a crash in between re-scores them at the next start.
        settled = await self._decide_alerts(self._in_a_stay(scores, stays), stays, latest, now)
        await self._home_triage.observe(stays, latest, now)  # idempotent: re-triaging a stored value changes nothing
        await self._store.save_scores([s for s in scores if s.patient_id in changed])
        for score in scores:
            if score.patient_id in changed:
                self._saved[score.patient_id] = (_signature(score), now)
        self._settle(scores, settled, stays, latest, now)
        self._metrics.patients_scored += len(scores) + len(unchanged)
        self._metrics.patients_scored_unchanged += len(unchanged)
        if self._risk is not None:
            self._risk.submit(patient_ids, stays, now)  # its own task assesses them: never holds up scoring

    @staticmethod
    def _in_a_stay(scores: Sequence[PatientScore], stays: dict[str, Stay]) -> list[PatientScore]:
        """The scores whose alerts are decided: those of patients in a stay now. A pack measured just before a
        discharge and delivered after it is the patient's (stored, scored, saved: their chart is complete), but no
        ward watches them any more: an alert would have no ward to show, sound or page it, and, left unresolved, would
        swallow the first alert of its kind of their next stay. So none is opened, nor any rule's decision made."""
        outside = [s.patient_id for s in scores if s.patient_id not in stays]
        if outside:
            logger.info("Scored %d patients with no current stay, no alert decided: %s", len(outside), outside[:10])
        return [s for s in scores if s.patient_id in stays]

    async def _decide_alerts(
        self,
        scores: Sequence[PatientScore],
        stays: dict[str, Stay],
        latest: dict[str, dict[Parameter, LatestValue]],
        now: datetime,
    ) -> set[str]:
        """NEWS2 (with the patient's accepted parameters) and the patient's own limits, against one read of the
        unresolved alerts and pending conditions: only a decision that changes something goes to the store.

        Returns the patients left with nothing to decide: every condition clear, nothing open or pending, no own
        limits and no care flags (whose rules read raw values or trends that NEWS2's bands do not show)."""
        patient_ids = [score.patient_id for score in scores]
        if not patient_ids:
            return set()
        limits = await self._limits.get(patient_ids, now)
        flags = await self._flags.get(patient_ids, now)
        alerts, waiting = await self._unresolved(patient_ids)
        trends = await self._trends.observe(stays, flags, now)
        settled = {p for p in patient_ids if not limits[p] and not flags[p]}
        for score in scores:
            stay = stays.get(score.patient_id)
            known = latest.get(score.patient_id, {})
            observed = self._observed(score, stay, known, limits[score.patient_id], flags[score.patient_id], now)
            trend = (trends[score.patient_id],) if score.patient_id in trends else ()
            for seen in (*observed, *trend):
                if seen.severity is None and seen.key not in alerts and seen.key not in waiting:
                    continue  # clear, with nothing open or pending: nothing to decide
                settled.discard(score.patient_id)
                change = await apply_observed(
                    self._store, seen, current=alerts.get(seen.key), pending=waiting.get(seen.key), policy=self._policy
                )
                await self._publisher.send_alert(change, at=now)
        return settled

    def _settle(
        self,
        scores: Sequence[PatientScore],
        settled: set[str],
        stays: dict[str, Stay],
        latest: dict[str, dict[Parameter, LatestValue]],
        now: datetime,
    ) -> None:
        """Remember the bedside patients a full scoring left with nothing to decide; forget the others."""
        for score in scores:
            stay = stays.get(score.patient_id)
            if score.patient_id in settled and stay is not None and stay.setting is CareSetting.BEDSIDE:
                known, max_age_s = latest.get(score.patient_id, {}), self._settings.max_age_s(stay.setting)
                self._settled.settle(score, stay=stay, latest=known, max_age_s=max_age_s, now=now)
            else:
                self._settled.unsettle([score.patient_id])

    def _observed(
        self,
        score: PatientScore,
        stay: Stay | None,
        latest: dict[Parameter, LatestValue],
        limits: tuple[PatientLimit, ...],
        flags: frozenset[CareFlag],
        now: datetime,
    ) -> tuple[Observed, ...]:
        ward_id = stay.ward_id if stay is not None else None
        setting = stay.setting if stay is not None else CareSetting.BEDSIDE
        needed = limits or flags & OPIOID_FLAGS
        values = fresh_values(latest, now=now, max_age_s=self._settings.max_age_s(setting)) if needed else {}
        respiratory = respiratory_depression_observed(
            score.patient_id, values, flags, ward_id=ward_id, at=now, setting=setting
        )
        return (*scored_conditions(score, values, limits, ward_id=ward_id, at=now, setting=setting), respiratory)

    async def _unresolved(
        self, patient_ids: Sequence[str]
    ) -> tuple[dict[AlertKey, Alert], dict[AlertKey, PendingAlert]]:
        # Most patients have nothing open or pending: one cheap question first, the two full reads only for the rest.
        with_some = await self._store.patients_with_unresolved(patient_ids, kinds=_SCORED_KINDS)
        patient_ids = [p for p in patient_ids if p in with_some]
        if not patient_ids:
            return {}, {}
        alerts = await self._store.list_alerts(
            patient_ids=patient_ids, kinds=_SCORED_KINDS, limit=len(patient_ids) * len(_SCORED_KINDS)
        )
        waiting = await self._store.pending_alerts(patient_ids=patient_ids, kinds=_SCORED_KINDS)
        return {a.key: a for a in alerts}, {p.key: p for p in waiting}

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

    async def _fetch_spo2_scales(self, patient_ids: Sequence[str]) -> dict[str, SpO2Scale]:
        return {p: decision.scale for p, decision in (await self._store.spo2_scales(patient_ids)).items()}

    async def _events(
        self, stay: Stay, score: PatientScore | None, new: Iterable[Reading], now: datetime
    ) -> list[ReadingsEvent | ScoreEvent]:
        site_id = await self._publisher.site_of(stay.ward_id)
        if site_id is None:
            return []
        events: list[ReadingsEvent | ScoreEvent] = []
        values = [LatestValue(r.parameter, r.value, r.measured_at, r.device_id) for r in new]
        if values:
            events.append(
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
            events.append(score_event(site_id=site_id, ward_id=stay.ward_id, bed_id=stay.bed_id, score=score, at=now))
        return events


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
