"""Withdrawal assessments as the API takes them: an entry scored and checked item by item, the items a sensor
proposes, and the alert a rising score raises: an assessment banded higher than the previous one of its scale
within a day opens a medium alert, one banded severe a high one; the next that neither rises nor is severe resolves
it, unless another scale scored while it was open still shows withdrawal. Pure decisions, applied by the store in the
assessment's transaction (docs/HOME_AND_TEAMS.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.lifecycle import DEFAULT_POLICY, LifecyclePolicy, Observed, observe, resolve
from core.errors import InvalidAssessment
from core.store.protocols import AlertDecision, AlertUpdate, WithdrawalDecision
from core.types import SYSTEM_ACTOR, Alert, AlertKey, AlertKind, AlertSeverity, CareSetting, LatestValue, Parameter
from core.withdrawal import WithdrawalAssessment, WithdrawalBand, WithdrawalHistory, WithdrawalScale
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


def _recent(new: WithdrawalAssessment, previous: WithdrawalAssessment | None) -> WithdrawalAssessment | None:
    return previous if previous is not None and new.assessed_at - previous.assessed_at <= RISING_WITHIN else None


def _severity(new: WithdrawalAssessment, previous: WithdrawalAssessment | None) -> AlertSeverity | None:
    """High when severe, medium when banded higher than `previous` (the newest earlier assessment of the same scale)
    within RISING_WITHIN, otherwise None (clear)."""
    if new.band is WithdrawalBand.SEVERE:
        return AlertSeverity.HIGH
    recent = _recent(new, previous)
    return AlertSeverity.MEDIUM if recent is not None and new.band > recent.band else None


def withdrawal_observed(
    new: WithdrawalAssessment, previous: WithdrawalAssessment | None, *, ward_id: str | None, setting: CareSetting
) -> Observed:
    """The condition the new assessment shows (`_severity`), worded for the alert."""
    key = AlertKey(new.patient_id, None, AlertKind.WITHDRAWAL_RISING)
    title = SCALES[new.scale].title
    recent = _recent(new, previous)
    course = f", up from {_scored(recent)} at {_clock(recent.assessed_at)}" if recent is not None else ""
    severity = _severity(new, previous)
    if severity is AlertSeverity.HIGH:
        message = f"Severe withdrawal: {title} {_scored(new)}{course} — a doctor to the patient now"
    elif severity is AlertSeverity.MEDIUM:
        message = f"Withdrawal worsening: {title} {_scored(new)}{course} — review the treatment"
    else:
        message = f"{title} {_scored(new)}"
    return Observed(key, severity, message, new.assessed_at, ward_id, setting)


def _still_showing(history: WithdrawalHistory, scale: WithdrawalScale) -> list[WithdrawalAssessment]:
    """The newest assessment of each scale but `scale` that showed withdrawal when it was charted (severe, or banded
    higher than the one before it within a day)."""
    showing = []
    for other, newest_first in history.items():
        if other is scale or not newest_first:
            continue
        newest, before = newest_first[0], next(iter(newest_first[1:]), None)
        if _severity(newest, before) is not None:
            showing.append(newest)
    return showing


def _decision(seen: Observed, others: Iterable[WithdrawalAssessment], policy: LifecyclePolicy) -> AlertDecision:
    def decide(current: Alert | None) -> AlertUpdate | None:
        if seen.severity is None and current is not None:
            # One scale speaks for one substance: a calm CIWA-Ar says nothing of the opioid withdrawal a COWS showed.
            # Another scale charted while this alert was open (it raised or joined it) and still showing withdrawal
            # keeps it open until that scale is scored again.
            if any(other.recorded_at >= current.opened_at for other in others):
                return None
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
    """What the store applies with the assessment, once it has read the patient's newest earlier ones per scale."""

    def decide(history: WithdrawalHistory) -> tuple[AlertKey, AlertDecision]:
        previous = next(iter(history.get(assessment.scale, ())), None)
        seen = withdrawal_observed(assessment, previous, ward_id=ward_id, setting=setting)
        return seen.key, _decision(seen, _still_showing(history, assessment.scale), policy)

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
