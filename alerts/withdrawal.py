"""Withdrawal assessments as the API takes them: an entry scored and checked item by item, the items a sensor
proposes, and the alert a rising score raises: an assessment banded higher than the previous one of its scale
within a day opens a medium alert, one banded severe a high one; the next that neither rises nor is severe resolves
it. Pure decisions, applied by the store in the assessment's transaction (docs/HOME_AND_TEAMS.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.lifecycle import DEFAULT_POLICY, LifecyclePolicy, Observed, observe, resolve
from core.errors import InvalidAssessment
from core.store.protocols import AlertDecision, AlertUpdate, WithdrawalDecision
from core.types import SYSTEM_ACTOR, Alert, AlertKey, AlertKind, AlertSeverity, CareSetting, LatestValue, Parameter
from core.withdrawal import WithdrawalAssessment, WithdrawalBand, WithdrawalScale
from scoring.withdrawal import SCALES, ProposedItem, propose_items, score_items

__all__ = [
    "RISING_WITHIN",
    "ItemForm",
    "decide_withdrawal_alert",
    "new_assessment",
    "proposal",
    "withdrawal_observed",
]

# A band higher than the previous assessment's is news only when that one is recent: the scales are repeated every
# 1-4 h while withdrawal is treated (hourly while severe), so a day covers any gap in the night; against a week-old
# score a higher band says little about the course now.
RISING_WITHIN = timedelta(hours=24)


def _scored(assessment: WithdrawalAssessment) -> str:
    return f"{assessment.total} ({assessment.band.word})"


def _clock(at: datetime) -> str:
    return at.strftime("%d.%m %H:%M UTC")


def withdrawal_observed(
    new: WithdrawalAssessment, previous: WithdrawalAssessment | None, *, ward_id: str | None, setting: CareSetting
) -> Observed:
    """The condition the new assessment shows: high when severe, medium when banded higher than `previous` (the
    newest earlier assessment of the same scale) within RISING_WITHIN, otherwise clear."""
    key = AlertKey(new.patient_id, None, AlertKind.WITHDRAWAL_RISING)
    title = SCALES[new.scale].title
    recent = previous if previous is not None and new.assessed_at - previous.assessed_at <= RISING_WITHIN else None
    course = f", up from {_scored(recent)} at {_clock(recent.assessed_at)}" if recent is not None else ""
    if new.band is WithdrawalBand.SEVERE:
        message = f"Severe withdrawal: {title} {_scored(new)}{course} — a doctor to the patient now"
        return Observed(key, AlertSeverity.HIGH, message, new.assessed_at, ward_id, setting)
    if recent is not None and new.band > recent.band:
        message = f"Withdrawal worsening: {title} {_scored(new)}{course} — review the treatment"
        return Observed(key, AlertSeverity.MEDIUM, message, new.assessed_at, ward_id, setting)
    return Observed(key, None, f"{title} {_scored(new)}", new.assessed_at, ward_id, setting)


def _decision(seen: Observed, policy: LifecyclePolicy) -> AlertDecision:
    def decide(current: Alert | None) -> AlertUpdate | None:
        if seen.severity is None and current is not None:
            # A score is a deliberate assessment, not a stream: the next one that no longer rises ends the alert.
            return resolve(current, by=SYSTEM_ACTOR, at=seen.at, reason=f"next assessment {seen.message}")
        return observe(current, seen, policy)

    return decide


def decide_withdrawal_alert(
    assessment: WithdrawalAssessment,
    *,
    ward_id: str | None,
    setting: CareSetting,
    policy: LifecyclePolicy = DEFAULT_POLICY,
) -> WithdrawalDecision:
    """What the store applies with the assessment, once it has read the previous one."""

    def decide(previous: WithdrawalAssessment | None) -> tuple[AlertKey, AlertDecision]:
        seen = withdrawal_observed(assessment, previous, ward_id=ward_id, setting=setting)
        return seen.key, _decision(seen, policy)

    return decide


def new_assessment(
    *,
    assessment_id: str,
    patient_id: str,
    scale: WithdrawalScale,
    items: Mapping[str, int],
    assessed_at: datetime,
    assessed_by: str,
    recorded_at: datetime,
    proposed: Sequence[str] = (),
    note: str = "",
) -> WithdrawalAssessment:
    """A clinician's entry scored per its scale. Raises InvalidAssessment naming the first item that is unknown,
    missing or scored outside its form (and any `proposed` name that is not an item scored)."""
    scored = score_items(scale, items)
    names = [item.value for item, _ in scored.items]
    for name in proposed:
        if name not in names:
            raise InvalidAssessment("proposed", f"{name!r} is not an item of {SCALES[scale].title}")
    return WithdrawalAssessment(
        assessment_id, patient_id, scale, tuple((item.value, score) for item, score in scored.items), scored.total,
        scored.band, assessed_at, assessed_by, recorded_at, tuple(sorted(set(proposed), key=names.index)), note,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ItemForm:
    """One line of the scale's form: the item, the scores it offers, and what a sensor proposes for it (or None)."""

    item: str
    scores: tuple[int, ...]
    proposed: ProposedItem | None


def proposal(scale: WithdrawalScale, latest: Mapping[Parameter, LatestValue], *, now: datetime) -> tuple[ItemForm, ...]:
    """The scale's form with the items the patient's fresh values can score filled in as proposals."""
    proposed = {p.item: p for p in propose_items(scale, latest, now=now)}
    return tuple(ItemForm(item.value, scores, proposed.get(item)) for item, scores in SCALES[scale].items.items())
