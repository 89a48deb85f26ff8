"""How an alert moves: open, raise in place, re-open when worse, re-notify while acknowledged, auto-resolve after a
hold time clear, acknowledge, resolve by hand. Pure decisions (`observe`, `acknowledge`, `renotify`, `resolve`),
applied by the store to the locked row in one transaction. Before an alert opens, `alerts/confirmation.py` may hold
its condition for a confirmation delay; `apply_score` there is NEWS2's use of both.

Default times and why: docs/ALERTS.md.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from alerts.rules import alert_message, news2_alert_severity
from core.errors import AlertAlreadyAcknowledged, AlertAlreadyResolved
from core.store import AlertUpdate
from core.types import (
    SYSTEM_ACTOR,
    Alert,
    AlertKey,
    AlertKind,
    AlertPhase,
    AlertPriority,
    AlertSeverity,
    AlertState,
    CareSetting,
    Parameter,
    PatientScore,
)

__all__ = [
    "DEFAULT_POLICY",
    "UNREAD",
    "LifecyclePolicy",
    "Observed",
    "Unread",
    "acknowledge",
    "news2_observed",
    "observe",
    "renotify",
    "resolve",
]


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    # How long a continuously monitored condition must stay clear before its alert resolves itself. NEWS2: 30 min,
    # two observation sets at the chart's hourly minimum for a score of 5-6 would take longer than a nurse waits;
    # 30 min of continuous monitoring below the threshold is a recovery, not a dip.
    # A patient's own limit: the same rule as NEWS2 (a doctor's target regained for 30 min is a recovery).
    hold_s: Mapping[AlertKind, float] = field(
        default_factory=lambda: {
            AlertKind.NEWS2: 1800.0,
            AlertKind.ML_RISK: 1800.0,
            AlertKind.PATIENT_LIMIT: 1800.0,
            AlertKind.RESPIRATORY_DEPRESSION: 1800.0,
            AlertKind.RESPIRATORY_TREND: 1800.0,
        }
    )
    # An acknowledged alert whose condition persists is announced again after this long. The bedside monitor
    # re-sounds in 2-3 min; these are for the unit's nurse who has already gone to the patient: high = continuous
    # monitoring on the chart, still 7+ after 10 min means the response has not worked; medium and low follow the
    # chart's minimum observation intervals (30 min, 1 h).
    renotify_s: Mapping[AlertPriority, float] = field(
        default_factory=lambda: {AlertPriority.HIGH: 600.0, AlertPriority.MEDIUM: 1800.0, AlertPriority.LOW: 3600.0}
    )

    # How long a bedside condition below the highest tier must persist before its alert opens (confirmation delay,
    # alerts/confirmation.py): 15-20 s cuts most non-actionable monitor alarms (motion artefact, a slipped probe, a
    # brief spike) in the alarm-fatigue literature and is short beside the chart's "urgent response" for NEWS2 5-6
    # or a single 3. The ML flag is assessed from hourly means, about once a minute: nothing to confirm.
    # Settings.alert_confirm_s sets it for a deployment.
    confirm_s: Mapping[AlertKind, float] = field(
        default_factory=lambda: {AlertKind.NEWS2: 20.0, AlertKind.PATIENT_LIMIT: 20.0}
    )

    # Conditions that must persist this long before their alert opens whatever their severity: possible opioid
    # respiratory depression is high, but one low respiration rate from a talking patient is not an episode
    # (alerts/respiratory.py: 30 s, the apnoea criterion of PRODIGY's episode definitions).
    sustain_s: Mapping[AlertKind, float] = field(default_factory=lambda: {AlertKind.RESPIRATORY_DEPRESSION: 30.0})

    def confirm_after(self, kind: AlertKind, setting: CareSetting, severity: AlertSeverity | None) -> timedelta:
        """How long a condition of this severity must persist before its alert opens. Never for the highest tier
        (NEWS2 >= 7 opens at once) nor a home patient's spot check (a deliberate measurement, not a monitor's
        stream: there is no next reading within seconds to confirm it with); a kind in `sustain_s` always waits."""
        if severity is not None and setting is not CareSetting.HOME and kind in self.sustain_s:
            return timedelta(seconds=self.sustain_s[kind])
        if setting is CareSetting.HOME or severity is None or severity >= AlertSeverity.HIGH:
            return timedelta(0)
        return timedelta(seconds=self.confirm_s.get(kind, 0.0))

    def hold_of(self, kind: AlertKind, setting: CareSetting) -> timedelta:
        # A home patient's spot checks are hours apart: the next one below the threshold is the recovery.
        return timedelta(0) if setting is CareSetting.HOME else timedelta(seconds=self.hold_s.get(kind, 0.0))

    def renotify_after(self, alert: Alert) -> timedelta:
        return timedelta(seconds=self.renotify_s[alert.priority])


DEFAULT_POLICY = LifecyclePolicy()
# Advisory items ask for a review, not a response: once acknowledged they are never announced again.
# A rising withdrawal score is answered by treatment and the next assessment, which ends it; hours apart, not minutes.
# A coordinator's escalation has no condition a monitor could see persist: the clinician who acknowledged it answers
# it, and closing the worklist item resolves it.
_NEVER_RENOTIFIED = (AlertKind.LENGTH_OF_STAY, AlertKind.WITHDRAWAL_RISING, AlertKind.WORKLIST_ESCALATION)


class Unread(enum.Enum):
    """The caller has not read the alert: the decision is made on the store's row."""

    UNREAD = "unread"


UNREAD = Unread.UNREAD


@dataclass(frozen=True, slots=True)
class Observed:
    """What a rule saw now for one key: `severity` None means the condition is clear."""

    key: AlertKey
    severity: AlertSeverity | None
    message: str
    at: datetime
    ward_id: str | None
    setting: CareSetting = CareSetting.BEDSIDE
    # Whether a clear observation is evidence that the condition ended. An incomplete NEWS2 below the threshold is
    # not: its total is a lower bound, and the missing parameters may be the very ones that raised the alert (a
    # cuff that stopped is not a recovered blood pressure). Such a "clear" neither starts, advances nor resets a
    # clear run. A severity is always evidence (a partial score reaching a threshold raises its alert).
    conclusive: bool = True


def observe(current: Alert | None, seen: Observed, policy: LifecyclePolicy = DEFAULT_POLICY) -> AlertUpdate | None:
    """The decision for one observation of a condition, against its unresolved alert (or None)."""
    if current is None:
        if seen.severity is None:
            return None
        key = seen.key
        opened = Alert(
            0, key.patient_id, seen.ward_id, key.kind, seen.severity, AlertState.OPEN, seen.message, seen.at, seen.at
        )
        return AlertUpdate(replace(opened, device_id=key.device_id), AlertPhase.OPENED)
    if seen.severity is None:
        return _clear(current, seen, policy)
    if seen.severity > current.severity:
        reopened = current.state is AlertState.ACKNOWLEDGED
        worse = replace(
            _reannounced(current, seen.at),
            severity=seen.severity,
            message=seen.message,
            ward_id=current.ward_id or seen.ward_id,  # moving it is a transfer's: see _persists
        )
        return AlertUpdate(worse, AlertPhase.REOPENED if reopened else AlertPhase.RAISED)
    return _persists(current, seen, policy)


def _clear(current: Alert, seen: Observed, policy: LifecyclePolicy) -> AlertUpdate | None:
    if not seen.conclusive:  # no evidence either way: `clear_since` stays as it is (docs/ALERTS.md)
        return None
    hold = policy.hold_of(current.kind, seen.setting)
    since = current.clear_since or seen.at
    if seen.at - since >= hold:
        why = "clear at the next spot check" if hold == timedelta(0) else f"clear for {_minutes(hold)}"
        return resolve(current, by=SYSTEM_ACTOR, at=seen.at, reason=why)
    if current.clear_since is None:
        return AlertUpdate(replace(current, clear_since=seen.at))
    return None


def _persists(current: Alert, seen: Observed, policy: LifecyclePolicy) -> AlertUpdate | None:
    at = seen.at
    alert = replace(current, clear_since=None)  # above the threshold: any run of clear observations is over
    if alert.ward_id is None and seen.ward_id is not None:
        # No ward showed it (opened while the patient was in no stay): the ward the patient lies in now takes it up,
        # an open one as a transfer does (history, event, a chain at its site). Only a wardless one: moving an alert
        # between wards is the transfer's (core/store/stay_alerts.py), and an observation read just before a
        # transfer would move it back.
        alert = replace(alert, ward_id=seen.ward_id, updated_at=at)
        if alert.state is AlertState.OPEN:
            reason = f"taken up by ward {seen.ward_id}: it had no ward"
            return AlertUpdate(alert, AlertPhase.TRANSFERRED, reason=reason)
    if alert.state is AlertState.ACKNOWLEDGED and alert.renotify_at is not None and alert.renotify_at <= at:
        return renotify(alert, at)
    if alert.state is AlertState.ACKNOWLEDGED and alert.renotify_at is None:
        alert = replace(alert, renotify_at=at + policy.renotify_after(alert))  # cleared, then back: re-arm
    return None if alert == current else AlertUpdate(alert)


def _reannounced(alert: Alert, at: datetime) -> Alert:
    return replace(
        alert,
        state=AlertState.OPEN,
        acknowledged_at=None,
        acknowledged_by=None,
        clear_since=None,
        renotify_at=None,
        updated_at=at,
    )


def renotify(alert: Alert, at: datetime) -> AlertUpdate | None:
    """The re-notify timer fired: an acknowledged alert whose condition persists is open again. None when its
    condition is clearing (the store then disarms the timer; a return above the threshold re-arms it)."""
    if alert.state is not AlertState.ACKNOWLEDGED or alert.clear_since is not None:
        return None
    acked = _minutes(at - alert.acknowledged_at) if alert.acknowledged_at is not None else "a while"
    reason = f"still {alert.priority.value} priority {acked} after acknowledgement"
    return AlertUpdate(_reannounced(alert, at), AlertPhase.RENOTIFIED, reason=reason)


def acknowledge(alert: Alert, *, by: str, at: datetime, policy: LifecyclePolicy = DEFAULT_POLICY) -> AlertUpdate:
    """Raises AlertAlreadyAcknowledged or AlertAlreadyResolved (a clear 409 for the second nurse)."""
    if alert.state is AlertState.ACKNOWLEDGED:
        raise AlertAlreadyAcknowledged(alert.alert_id, by=alert.acknowledged_by)
    if alert.state is AlertState.RESOLVED:
        raise AlertAlreadyResolved(alert.alert_id, by=alert.resolved_by)
    renotified = alert.clear_since is None and alert.kind not in _NEVER_RENOTIFIED
    due = at + policy.renotify_after(alert) if renotified else None
    acked = replace(
        alert, state=AlertState.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=by, updated_at=at, renotify_at=due
    )
    return AlertUpdate(acked, AlertPhase.ACKNOWLEDGED, by=by)


def resolve(alert: Alert, *, by: str, at: datetime, reason: str) -> AlertUpdate:
    """Raises AlertAlreadyResolved, or ValueError without a reason (a person resolving says why)."""
    if alert.state is AlertState.RESOLVED:
        raise AlertAlreadyResolved(alert.alert_id, by=alert.resolved_by)
    if not reason.strip():
        raise ValueError("Resolving an alert needs a reason")
    return AlertUpdate(alert.resolved(at=at, by=by, reason=reason), AlertPhase.RESOLVED, by=by, reason=reason)


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:.0f} min"


def news2_observed(
    score: PatientScore,
    *,
    ward_id: str | None,
    at: datetime,
    setting: CareSetting = CareSetting.BEDSIDE,
    accepted: Collection[Parameter] = (),
) -> Observed:
    """`accepted`: parameters whose value lies within the patient's own limits (alerts/limits.py). Below every
    threshold (no single 3 either), only a complete score shows the condition cleared (`Observed.conclusive`)."""
    severity = news2_alert_severity(score, accepted=accepted)
    message = alert_message(score) if severity is not None else ""
    key = AlertKey(score.patient_id, None, AlertKind.NEWS2)
    # Complete, not "the parameters that scored are fresh": the alert does not record which ones scored, and a
    # bedside set is complete as a rule (ACVPU and oxygen charted each round, valid 12 h). A home kit sends no ACVPU:
    # the nurse's charted ACVPU (valid 24 h) completes the set, or the nurse resolves the alert by hand.
    return Observed(key, severity, message, at, ward_id, setting, conclusive=score.complete)
