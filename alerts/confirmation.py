"""Confirmation delay: a bedside condition below the highest tier opens its alert only once it has persisted for the
delay (pending -> firing, as Prometheus' `for:`). Pure decisions (`decide`, `confirm_due`), applied by the store to the
locked alert and pending rows in one transaction; `apply_observed` and `apply_score` are how ingest uses them.

- A condition first seen becomes pending (a row with a due time, `pending_alerts`); it opens its alert when an
  observation at or after `since + delay` still shows it, or, with no evidence that it cleared (no reading came),
  when its due time passes: the timer opens it (fail-safe). A delay never swallows a condition.
- A clear observation starts a clear run; the pending condition ends (opens nothing) once it has stayed clear for
  the delay. A condition that returns sooner keeps its first `since`: one flapping faster than the delay (a score
  wavering at a band edge) still opens after the delay, as it would with no delay at all.
- NEWS2 >= 7 and a home spot check open at once; an alert that exists already (raised in place, re-opened when worse,
  auto-resolved with hysteresis) follows `alerts/lifecycle.py` unchanged.

Default times and why: docs/ALERTS.md.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from alerts.lifecycle import DEFAULT_POLICY, UNREAD, LifecyclePolicy, Observed, Unread, news2_observed, observe
from core.store import AlertChange, ConditionUpdate, Store
from core.types import Alert, CareSetting, Parameter, PatientScore, PendingAlert

__all__ = ["apply_observed", "apply_score", "confirm_due", "decide"]

logger = logging.getLogger(__name__)


def decide(
    current: Alert | None, pending: PendingAlert | None, seen: Observed, policy: LifecyclePolicy = DEFAULT_POLICY
) -> ConditionUpdate:
    """The decision for one observation of a condition, against its unresolved alert and pending condition."""
    if current is not None:  # one alert per key: it is raised, re-opened or resolved in place, never delayed
        return ConditionUpdate(observe(current, seen, policy), None)
    if seen.severity is None:
        # A clear that is no evidence (an incomplete NEWS2) leaves the pending condition and its clear run as they
        # are: a condition whose parameters merely went stale must still open when its due time passes.
        return ConditionUpdate(None, _cleared(pending, seen.at) if seen.conclusive else pending)
    delay = policy.confirm_after(seen.key.kind, seen.setting, seen.severity)
    episode = pending if pending is not None and not _ended(pending, seen.at) else None
    since = episode.since if episode is not None else seen.at
    if seen.at - since >= delay:
        opened = observe(None, seen, policy)
        assert opened is not None, "a condition seen with a severity opens an alert"
        why = "" if delay == timedelta(0) else f"present since {_clock(since)}, confirmed after {_seconds(delay)}"
        return ConditionUpdate(replace(opened, reason=why), None)
    waiting = PendingAlert(seen.key, seen.ward_id, seen.severity, seen.message, since, due_at=since + delay)
    return ConditionUpdate(None, waiting)


def _cleared(pending: PendingAlert | None, at: datetime) -> PendingAlert | None:
    """A clear observation: the pending condition's clear run starts (its due time becomes the run's end, when it
    is dropped), or, once the run has lasted the delay, it ends."""
    if pending is None or _ended(pending, at):
        return None
    if pending.clear_since is not None:
        return pending
    return replace(pending, clear_since=at, due_at=at + _delay_of(pending))


def _ended(pending: PendingAlert, at: datetime) -> bool:
    return pending.clear_since is not None and at >= pending.due_at


def _delay_of(pending: PendingAlert) -> timedelta:
    # While the condition persists, `due_at` is `since + delay`: the row carries its own delay, so the timer needs
    # no policy and a restart with other settings keeps the delay each condition started with.
    return pending.due_at - pending.since if pending.clear_since is None else timedelta(0)


def confirm_due(current: Alert | None, pending: PendingAlert | None, now: datetime) -> ConditionUpdate:
    """The pending condition's due time passed with no observation deciding it. Still present (no clear
    observation came): its alert opens now (fail-safe). Clear for the whole run: it ends, opening nothing."""
    if current is not None or pending is None or pending.clear_since is not None:
        return ConditionUpdate(None, None)
    seen = Observed(pending.key, pending.severity, pending.message, now, pending.ward_id)
    opened = observe(None, seen)
    assert opened is not None, "a pending condition has a severity"
    why = f"present since {_clock(pending.since)}, not seen clear within {_seconds(pending.due_at - pending.since)}"
    return ConditionUpdate(replace(opened, reason=why), None)


def _clock(at: datetime) -> str:
    return f"{at:%H:%M:%S} UTC"


def _seconds(span: timedelta) -> str:
    return f"{span.total_seconds():.0f} s"


async def apply_observed(
    store: Store,
    seen: Observed,
    *,
    current: Alert | Unread | None = UNREAD,
    pending: PendingAlert | Unread | None = UNREAD,
    policy: LifecyclePolicy = DEFAULT_POLICY,
) -> AlertChange | None:
    """Decide against the caller's recent reads of the unresolved alert and the pending condition; only when that
    asks for a change (or either was not read) is the decision made again on the locked rows and written.
    Raises StorageUnavailable."""
    read = not isinstance(current, Unread) and not isinstance(pending, Unread)
    if read and decide(current, pending, seen, policy) == ConditionUpdate(None, pending):  # type: ignore[arg-type]
        return None
    change = await store.update_alert_condition(seen.key, lambda alert, waiting: decide(alert, waiting, seen, policy))
    if change is not None and change.changed:
        key = seen.key
        logger.info(
            "%s alert %s of patient %s: %s", key.kind.value, change.alert.alert_id, key.patient_id, change.phase
        )
    return change


async def apply_score(
    store: Store,
    score: PatientScore,
    *,
    ward_id: str | None,
    at: datetime,
    setting: CareSetting = CareSetting.BEDSIDE,
    accepted: frozenset[Parameter] = frozenset(),
    current: Alert | Unread | None = UNREAD,
    pending: PendingAlert | Unread | None = UNREAD,
    policy: LifecyclePolicy = DEFAULT_POLICY,
) -> AlertChange | None:
    """Open (once confirmed), raise, re-open, re-notify or resolve the patient's NEWS2 alert for this score.

    `current` and `pending` are the caller's recent reads (None: there is none): when the decision against them is
    no change, the store is not asked (the common case: a stable patient). `accepted`: parameters within the
    patient's own limits (alerts/limits.py). Raises StorageUnavailable from the store.
    """
    seen = news2_observed(score, ward_id=ward_id, at=at, setting=setting, accepted=accepted)
    return await apply_observed(store, seen, current=current, pending=pending, policy=policy)
