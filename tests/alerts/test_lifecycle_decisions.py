"""The lifecycle's pure decisions on a fake clock: a table of timelines, and properties over random ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import takewhile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.lifecycle import DEFAULT_POLICY, Observed, acknowledge, news2_observed, observe, renotify
from alerts.rules import news2_alert_severity
from core.store import AlertUpdate
from core.types import (
    NEWS2_PARAMETERS,
    Alert,
    AlertKey,
    AlertKind,
    AlertPhase,
    AlertSeverity,
    AlertState,
    CareSetting,
    Parameter,
    PatientScore,
)
from scoring.news2 import clinical_risk

T0 = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
KEY = AlertKey("p1", None, AlertKind.NEWS2)
H, M, LM = AlertSeverity.HIGH, AlertSeverity.MEDIUM, AlertSeverity.LOW_MEDIUM
# One step of a timeline: (minutes since T0, what happens). A severity or None (clear) is an observed score;
# "ack" a nurse acknowledging; "timer" the re-notify timer poll.
Step = tuple[float, AlertSeverity | str | None]


def _run(steps: list[Step], setting: CareSetting = CareSetting.BEDSIDE) -> tuple[Alert | None, list[AlertPhase]]:
    """Apply the steps to an in-memory alert as the store would; return the final alert and the phases recorded."""
    alert: Alert | None = None
    phases: list[AlertPhase] = []
    for minutes, what in steps:
        at = T0 + timedelta(minutes=minutes)
        if what == "ack":
            assert alert is not None
            update = acknowledge(alert, by="nurse", at=at)
        elif what == "timer":
            if alert is None or alert.renotify_at is None or alert.renotify_at > at:
                continue
            # The store disarms a due timer whose decision is no change.
            update = renotify(alert, at) or AlertUpdate(replace(alert, renotify_at=None))
        else:
            assert not isinstance(what, str)
            update = observe(alert, Observed(KEY, what, f"NEWS2 {what}", at, "w1", setting))
        if update is None:
            continue
        if update.phase is not None:
            phases.append(update.phase)
        alert = None if update.alert.state is AlertState.RESOLVED else replace(update.alert, alert_id=1)
    return alert, phases


OPENED, RAISED, REOPENED = AlertPhase.OPENED, AlertPhase.RAISED, AlertPhase.REOPENED
ACKED, RENOTIFIED, RESOLVED = AlertPhase.ACKNOWLEDGED, AlertPhase.RENOTIFIED, AlertPhase.RESOLVED


@pytest.mark.parametrize(
    ("steps", "phases", "final_state"),
    [
        pytest.param([(0, None)], [], None, id="no-alert-while-calm"),
        pytest.param([(0, H)], [OPENED], AlertState.OPEN, id="open"),
        pytest.param([(0, M), (1, H)], [OPENED, RAISED], AlertState.OPEN, id="raised-in-place"),
        pytest.param([(0, H), (1, M)], [OPENED], AlertState.OPEN, id="never-lowered"),
        pytest.param([(0, M), (1, "ack"), (2, H)], [OPENED, ACKED, REOPENED], AlertState.OPEN, id="worse-reopens"),
        pytest.param([(0, H), (1, "ack"), (2, H)], [OPENED, ACKED], AlertState.ACKNOWLEDGED, id="ack-holds"),
        # high re-notifies 10 min after the acknowledgement, while the condition persists
        pytest.param([(0, H), (1, "ack"), (10.9, "timer")], [OPENED, ACKED], AlertState.ACKNOWLEDGED, id="t-early"),
        pytest.param(
            [(0, H), (1, "ack"), (11, "timer")], [OPENED, ACKED, RENOTIFIED], AlertState.OPEN, id="t-renotify-high"
        ),
        pytest.param(
            [(0, M), (1, "ack"), (30.9, "timer"), (31, "timer")],
            [OPENED, ACKED, RENOTIFIED],
            AlertState.OPEN,
            id="t-renotify-medium-30min",
        ),
        pytest.param(
            [(0, LM), (1, "ack"), (30.9, "timer"), (31, "timer")],
            [OPENED, ACKED, RENOTIFIED],
            AlertState.OPEN,
            id="t-renotify-single-3-is-medium-30min",
        ),
        pytest.param(
            [(0, H), (1, "ack"), (11, H)], [OPENED, ACKED, RENOTIFIED], AlertState.OPEN, id="score-after-due-renotifies"
        ),
        pytest.param(
            [(0, H), (1, "ack"), (5, None), (11, "timer")], [OPENED, ACKED], AlertState.ACKNOWLEDGED, id="t-clearing"
        ),
        # one clear reading, then back above the threshold when the re-notify is due: it re-notifies (found by the
        # property below: the clear run used to survive the return and leave the alert acknowledged, unarmed)
        pytest.param(
            [(0, H), (1, "ack"), (2, None), (11, H)], [OPENED, ACKED, RENOTIFIED], AlertState.OPEN, id="back-when-due"
        ),
        # clearing: 30 min hold on a bedside patient
        pytest.param([(0, H), (1, None), (30.9, None)], [OPENED], AlertState.OPEN, id="hold-not-yet"),
        pytest.param([(0, H), (1, None), (31, None)], [OPENED, RESOLVED], None, id="hold-reached"),
        pytest.param([(0, H), (1, None), (20, M), (40, None), (69, None)], [OPENED], AlertState.OPEN, id="hold-reset"),
        pytest.param([(0, H), (1, "ack"), (2, None), (32, None)], [OPENED, ACKED, RESOLVED], None, id="acked-resolves"),
        pytest.param(
            [(0, H), (1, "ack"), (2, None), (32, None), (40, H)],
            [OPENED, ACKED, RESOLVED, OPENED],
            AlertState.OPEN,
            id="next-crossing-opens-new",
        ),
    ],
)
def test_timeline(steps: list[Step], phases: list[AlertPhase], final_state: AlertState | None) -> None:
    alert, recorded = _run(steps)
    assert recorded == phases
    assert (alert.state if alert is not None else None) == final_state


def test_a_cleared_then_returning_condition_re_arms_the_renotify_timer() -> None:
    alert, _ = _run([(0, H), (1, "ack"), (5, None), (11, "timer"), (12, H)])
    assert alert is not None and alert.renotify_at == T0 + timedelta(minutes=22)


def test_home_patient_resolves_at_the_next_spot_check_below_the_threshold() -> None:
    alert, phases = _run([(0, H), (240, None)], setting=CareSetting.HOME)
    assert (alert, phases) == (None, [OPENED, RESOLVED])


def test_renotify_intervals_by_priority() -> None:
    def after(severity: AlertSeverity) -> timedelta:
        alert = Alert(1, "p1", "w1", AlertKind.NEWS2, severity, AlertState.OPEN, "", T0, T0)
        return DEFAULT_POLICY.renotify_after(alert)

    assert (after(H), after(M), after(LM)) == (timedelta(minutes=10), timedelta(minutes=30), timedelta(minutes=30))


_events = st.lists(
    st.tuples(
        st.floats(min_value=0.1, max_value=20, allow_nan=False),
        st.sampled_from([H, M, LM, None, "ack", "timer"]),
    ),
    max_size=40,
)


def _timeline(events: list[tuple[float, AlertSeverity | str | None]]) -> list[Step]:
    steps: list[Step] = []
    minutes = 0.0
    for gap, what in events:
        minutes += gap
        steps.append((minutes, what))
    return steps


def _acked_steps(steps: list[Step]) -> list[Step]:
    # A nurse can only acknowledge an open alert: drop the acks the timeline would refuse.
    kept: list[Step] = []
    for step in steps:
        if step[1] == "ack":
            alert, _ = _run(kept)
            if alert is None or alert.state is not AlertState.OPEN:
                continue
        kept.append(step)
    return kept


@given(_events)
def test_an_alert_over_the_threshold_is_never_left_unannounced(events: list[tuple[float, object]]) -> None:
    """Whatever happens, after the last event: if the condition is above the threshold, an unresolved alert
    exists, and if it is acknowledged its re-notify timer is armed within the priority's interval."""
    steps = _acked_steps(_timeline(events))  # type: ignore[arg-type]
    alert, phases = _run(steps)
    last_seen = [what for _, what in steps if what not in ("ack", "timer")]
    if last_seen and last_seen[-1] is not None:
        assert alert is not None
        if alert.state is AlertState.ACKNOWLEDGED:
            assert alert.renotify_at is not None
            assert alert.renotify_at - steps[-1][0] * timedelta(minutes=1) - T0 <= DEFAULT_POLICY.renotify_after(alert)
    assert phases.count(AlertPhase.RESOLVED) <= phases.count(AlertPhase.OPENED)
    if alert is not None:
        assert phases[-1] is not AlertPhase.RESOLVED


# Resolution needs evidence: a NEWS2 below the threshold shows the condition cleared only when it is complete
# (docs/ALERTS.md, NEWS2.md "Incomplete observation sets": a partial total is a lower bound).
RR, SPO2, OXY, SBP, HR, ACVPU, TEMP = NEWS2_PARAMETERS


def _news2(points: dict[Parameter, int], *, missing: tuple[Parameter, ...] = ()) -> PatientScore:
    scores = {p: points.get(p, 0) for p in NEWS2_PARAMETERS if p not in missing}
    total = sum(scores.values())
    red = 3 in scores.values()
    risk = clinical_risk(total, single_param_3=red)
    return PatientScore("p1", T0, total, not missing, risk, red, scores, missing)


SICK = _news2({RR: 3, SBP: 3, TEMP: 2})  # NEWS2 8 (RR 30, SBP 85, 39.5 °C): high
CLEAR = _news2({TEMP: 2})  # NEWS2 2, every parameter fresh
STALE = _news2({TEMP: 2}, missing=(RR, SBP))  # ≥2: the RR sensor and the cuff stopped, the oximeter streams on
FIVE = _news2({RR: 3, SBP: 2})  # medium: RR 26, SBP 95 at a home spot check
SPOT_OXIMETER = _news2({}, missing=(RR, SBP, TEMP, ACVPU, OXY))  # 13 h later: SpO2 and pulse only
SPOT_NO_ACVPU = _news2({}, missing=(ACVPU,))  # a full kit: nobody at home charts ACVPU
STALE_RISING = _news2({SPO2: 3, HR: 2, TEMP: 2}, missing=(RR, SBP))  # ≥7 with the same two missing
PARTIAL_3 = _news2({RR: 3}, missing=(SBP,))  # a single 3 with the cuff stopped: the condition is there
# One step: (minutes since T0, a score observed, or "ack").
ScoreStep = tuple[float, PatientScore | str]


def _run_news2(
    steps: list[ScoreStep], setting: CareSetting = CareSetting.BEDSIDE
) -> tuple[Alert | None, list[tuple[float, AlertPhase]]]:
    """The steps against an in-memory alert as the store applies them; the alert left and each phase with its time."""
    alert: Alert | None = None
    phases: list[tuple[float, AlertPhase]] = []
    for minutes, what in steps:
        at = T0 + timedelta(minutes=minutes)
        if isinstance(what, str):
            if alert is None or alert.state is not AlertState.OPEN:
                continue  # a nurse acknowledges an open alert only
            update: AlertUpdate | None = acknowledge(alert, by="nurse", at=at)
        else:
            update = observe(alert, news2_observed(what, ward_id="w1", at=at, setting=setting))
        if update is None:
            continue
        if update.phase is not None:
            phases.append((minutes, update.phase))
        alert = None if update.alert.state is AlertState.RESOLVED else replace(update.alert, alert_id=1)
    return alert, phases


def _every(score: PatientScore, start_min: float, end_min: float, step_min: float = 5) -> list[ScoreStep]:
    count = int((end_min - start_min) / step_min)
    return [(start_min + i * step_min, score) for i in range(count)]


_H24 = 24 * 60


@pytest.mark.parametrize(
    ("steps", "phases", "clear_since_min"),
    [
        pytest.param([(0, SICK), (1, CLEAR), (30.9, CLEAR)], [(0, OPENED)], 1, id="complete-clear-holding"),
        pytest.param([(0, SICK), (1, CLEAR), (31, CLEAR)], [(0, OPENED), (31, RESOLVED)], None, id="complete-resolves"),
        # the auditor's bedside case: RR and BP never measured again, for a day
        pytest.param([(0, SICK), *_every(STALE, 1, _H24)], [(0, OPENED)], None, id="stale-stays-open"),
        pytest.param(
            [(0, SICK), (1, "ack"), *_every(STALE, 2, 60)], [(0, OPENED), (1, ACKED)], None, id="stale-acked-stays"
        ),
        # the hold counts from the first complete clear, however long the partial ones before it
        pytest.param(
            [(0, SICK), *_every(STALE, 1, 120), (120, CLEAR), (149.9, CLEAR)], [(0, OPENED)], 120, id="then-complete"
        ),
        pytest.param(
            [(0, SICK), *_every(STALE, 1, 120), (120, CLEAR), (150, CLEAR)],
            [(0, OPENED), (150, RESOLVED)],
            None,
            id="then-complete-resolves-after-hold",
        ),
        # a partial clear neither advances nor resets a run that a complete one started
        pytest.param([(0, SICK), (1, CLEAR), *_every(STALE, 2, 60)], [(0, OPENED)], 1, id="run-untouched"),
        pytest.param(
            [(0, SICK), (1, CLEAR), *_every(STALE, 2, 60), (60, CLEAR)],
            [(0, OPENED), (60, RESOLVED)],
            None,
            id="run-ends-at-next-complete",
        ),
        # a partial score that reaches a threshold is evidence: it ends a clear run, and raises when higher
        pytest.param([(0, FIVE), (1, STALE_RISING)], [(0, OPENED), (1, RAISED)], None, id="partial-worse-raises"),
        pytest.param([(0, SICK), (1, CLEAR), (5, PARTIAL_3), (31, CLEAR)], [(0, OPENED)], 31, id="partial-3-resets"),
    ],
)
def test_only_a_complete_score_below_the_threshold_counts_as_clear(
    steps: list[ScoreStep], phases: list[tuple[float, AlertPhase]], clear_since_min: float | None
) -> None:
    alert, recorded = _run_news2(steps)
    assert recorded == phases
    resolved = phases[-1][1] is RESOLVED
    assert (alert is None) == resolved
    if alert is not None:
        expected = None if clear_since_min is None else T0 + timedelta(minutes=clear_since_min)
        assert alert.clear_since == expected


@pytest.mark.parametrize(
    ("spot_checks", "phases"),
    [
        pytest.param([(13 * 60, SPOT_OXIMETER)], [(0, OPENED)], id="oximeter-only-stays-open"),
        pytest.param([(4 * 60, SPOT_NO_ACVPU)], [(0, OPENED)], id="no-acvpu-stays-open"),
        pytest.param(
            [(4 * 60, SPOT_NO_ACVPU), (5 * 60, CLEAR)], [(0, OPENED), (300, RESOLVED)], id="full-set-resolves"
        ),
    ],
)
def test_home_alert_stays_until_a_complete_spot_check_below_the_threshold(
    spot_checks: list[ScoreStep], phases: list[tuple[float, AlertPhase]]
) -> None:
    alert, recorded = _run_news2([(0, FIVE), *spot_checks], setting=CareSetting.HOME)
    assert recorded == phases
    if phases[-1][1] is RESOLVED:
        assert alert is None
    else:
        assert alert is not None and alert.clear_since is None
        assert (alert.severity, alert.state) == (M, AlertState.OPEN)


_SCORES = [SICK, FIVE, CLEAR, STALE, STALE_RISING, SPOT_NO_ACVPU, PARTIAL_3]


@given(
    st.lists(st.tuples(st.floats(min_value=0.1, max_value=40), st.sampled_from([*_SCORES, "ack"])), max_size=40),
    st.sampled_from([CareSetting.BEDSIDE, CareSetting.HOME]),
)
def test_an_alert_resolves_itself_only_after_a_hold_of_complete_clear_observations(
    events: list[tuple[float, PatientScore | str]], setting: CareSetting
) -> None:
    """Whatever the sequence: each auto-resolution happens on a complete score below the threshold, and the run of
    below-threshold observations before it began with a complete one at least the hold time earlier."""
    steps: list[ScoreStep] = []
    minutes = 0.0
    for gap, what in events:
        minutes += gap
        steps.append((minutes, what))
    _, phases = _run_news2(steps, setting)
    hold = DEFAULT_POLICY.hold_of(AlertKind.NEWS2, setting)
    seen = [(T0 + timedelta(minutes=t), score) for t, score in steps if isinstance(score, PatientScore)]
    for minutes, phase in phases:
        if phase is not RESOLVED:
            continue
        at = T0 + timedelta(minutes=minutes)
        before = [(t, score) for t, score in seen if t <= at]
        assert before[-1][0] == at and before[-1][1].complete  # resolved on a complete score...
        run = list(takewhile(lambda seen: news2_alert_severity(seen[1]) is None, reversed(before)))
        complete = [t for t, score in run if score.complete]  # ...after a hold that a complete one started
        assert complete and at - min(complete) >= hold
