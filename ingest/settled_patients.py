"""Bedside patients whose last full scoring left nothing to decide: a pack that changes none of their NEWS2
sub-scores needs no store read, no scoring and no alert decision (edge-triggered scoring)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.types import NEWS2_PARAMETERS, LatestValue, Parameter, PatientScore, Reading, SpO2Scale, Stay
from scoring.news2 import parameter_score

__all__ = ["FULL_SCORE_EVERY_S", "SettledPatients"]

# A settled patient is scored in full at least this often whatever their packs say. It bounds what the shortcut can
# miss: a value another ingest worker stored, an alert another worker opened, a limit or care flag set where no
# rescore request followed. Short beside the bedside confirmation delay (20 s), so a condition seen only that way
# still opens its alert on time; long enough that most of a 1 pack/s monitor's packs take the short way.
FULL_SCORE_EVERY_S = 5.0


@dataclass(slots=True)
class _Settled:
    stay: Stay
    parameter_scores: Mapping[Parameter, int]  # of the full scoring: the parameters it had fresh values of
    measured_at: Mapping[Parameter, datetime]  # of each of those values
    spo2_scale: SpO2Scale
    supplemental_o2: bool | None
    full_at: datetime  # the period's end, or the moment one of those values goes stale if that comes first


class SettledPatients:
    """Remembers, per settled patient, the sub-scores of their last full scoring and when each value was measured.
    Readings since are checked against those sub-scores, never remembered: the full scoring rereads the store."""

    def __init__(self, *, full_every_s: float = FULL_SCORE_EVERY_S) -> None:
        self._full_every_s = full_every_s
        self._patients: dict[str, _Settled] = {}
        self._expired_at: datetime | None = None

    def __len__(self) -> int:
        return len(self._patients)

    def settle(
        self,
        score: PatientScore,
        *,
        stay: Stay,
        latest: Mapping[Parameter, LatestValue],
        max_age_s: Mapping[Parameter, float],
        now: datetime,
    ) -> None:
        """After a full scoring (of `latest` at `now`) that found every condition clear, nothing open or pending,
        no own limits and no care flags."""
        scored = score.parameter_scores
        measured_at = {p: latest[p].measured_at for p in scored}
        # A value exactly at its max age still counts (scoring.live.fresh_values); the full scoring decides that one.
        stale_at = [at + timedelta(seconds=max_age_s[p]) for p, at in measured_at.items() if p in max_age_s]
        oxygen = latest[Parameter.SUPPLEMENTAL_O2].value == 1.0 if Parameter.SUPPLEMENTAL_O2 in scored else None
        self._patients[score.patient_id] = _Settled(
            stay=stay,
            parameter_scores=scored,
            measured_at=measured_at,
            spo2_scale=score.spo2_scale,
            supplemental_o2=oxygen,
            full_at=min([now + timedelta(seconds=self._full_every_s), *stale_at]),
        )

    def unsettle(self, patient_ids: Iterable[str]) -> None:
        for patient_id in patient_ids:
            self._patients.pop(patient_id, None)

    def expire(self, now: datetime) -> None:
        """Forget patients past their full scoring (discharged ones send no more packs); a sweep per period."""
        if self._expired_at is not None and (now - self._expired_at).total_seconds() < self._full_every_s:
            return
        self._expired_at = now
        self.unsettle([p for p, settled in self._patients.items() if now >= settled.full_at])

    def unchanged(self, patient_id: str, *, stay: Stay | None, readings: Iterable[Reading], now: datetime) -> bool:
        """True when the patient's NEWS2 with `readings` is what their last full scoring gave, to every sub-score;
        False when they must be scored in full (and are no longer settled)."""
        settled = self._patients.get(patient_id)
        if settled is None:
            return False
        if stay != settled.stay or now >= settled.full_at or not self._same_scores(settled, readings):
            del self._patients[patient_id]
            return False
        return True

    @staticmethod
    def _same_scores(settled: _Settled, readings: Iterable[Reading]) -> bool:
        for reading in readings:
            if reading.parameter not in NEWS2_PARAMETERS:
                continue  # shown, not scored
            known_at = settled.measured_at.get(reading.parameter)
            if known_at is None:
                return False  # a parameter the score counted missing
            if reading.measured_at < known_at:
                continue  # older than the value scored: the store keeps that one
            # Newer: it is the store's latest now, or a reading between it and that one is, and every such reading
            # has passed this check since the full scoring (a failed one ends the shortcut), so each scores the same.
            try:
                sub_score = parameter_score(
                    reading.parameter,
                    reading.value,
                    spo2_scale=settled.spo2_scale,
                    supplemental_o2=settled.supplemental_o2,
                )
            except ValueError:  # the full scoring logs it, as for any stored value that cannot be charted
                return False
            if sub_score != settled.parameter_scores[reading.parameter]:
                return False
        return True
