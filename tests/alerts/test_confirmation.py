"""The confirmation delay on a fake clock: a table of timelines and properties over random ones (pure decisions,
applied as the store applies them), then the same in a real store, across a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.confirmation import apply_observed, confirm_due, decide
from alerts.lifecycle import DEFAULT_POLICY, Observed, news2_observed
from alerts.timers import fire_due_timers
from core.store.sqlite import SqliteStore
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
    PendingAlert,
    Site,
    SiteKind,
    Ward,
)
from scoring.news2 import clinical_risk

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
KEY = AlertKey("p1", None, AlertKind.NEWS2)
DELAY_S = DEFAULT_POLICY.confirm_s[AlertKind.NEWS2]
H, M, LM = AlertSeverity.HIGH, AlertSeverity.MEDIUM, AlertSeverity.LOW_MEDIUM
TIMER = "timer"
# One step: (seconds since T0, what): a severity or None (clear) is an observation, a PatientScore the NEWS2
# observation it makes, TIMER the timer poll.
Step = tuple[float, AlertSeverity | PatientScore | str | None]


def test_the_default_delay_is_20_s() -> None:
    assert DELAY_S == 20.0


@dataclass
class Ward_:
    """The key's alert and pending condition, changed as the store changes them."""

    alert: Alert | None = None
    pending: PendingAlert | None = None
    opened: list[tuple[float, AlertSeverity, str]] = field(default_factory=list)

    def step(self, at_s: float, what: AlertSeverity | PatientScore | str | None, setting: CareSetting) -> None:
        at = T0 + timedelta(seconds=at_s)
        if what == TIMER:
            if self.pending is None or self.pending.due_at > at:
                return
            update = confirm_due(self.alert, self.pending, at)
            left = update.pending if update.pending is not None and update.pending.due_at > at else None
        elif isinstance(what, PatientScore):
            update = decide(self.alert, self.pending, news2_observed(what, ward_id="w1", at=at, setting=setting))
            left = update.pending
        else:
            assert not isinstance(what, str)
            update = decide(self.alert, self.pending, Observed(KEY, what, f"NEWS2 {what}", at, "w1", setting))
            left = update.pending
        self.pending = left
        if update.alert is not None:
            if update.alert.phase is AlertPhase.OPENED:
                self.opened.append((at_s, update.alert.alert.severity, update.alert.reason))
            self.alert = replace(update.alert.alert, alert_id=1)


def _run(steps: list[Step], setting: CareSetting = CareSetting.BEDSIDE) -> Ward_:
    ward = Ward_()
    for at_s, what in steps:
        ward.step(at_s, what, setting)
    return ward


def _every_second(what: AlertSeverity | None, start_s: int, end_s: int) -> list[Step]:
    """An observation and a timer poll each second in [start_s, end_s)."""
    return [step for s in range(start_s, end_s) for step in ((s, what), (s + 0.5, TIMER))]


@pytest.mark.parametrize(
    ("steps", "opened_at"),
    [
        pytest.param([(0, M), (10, M), (19.9, M)], [], id="not-before-the-delay"),
        pytest.param([(0, M), (10, M), (20, M)], [(20, M)], id="opens-after-the-delay"),
        pytest.param(_every_second(M, 0, 30), [(20, M)], id="monitor-every-second-opens-at-20s"),
        pytest.param([(0, LM), (20, LM)], [(20, LM)], id="single-3-is-delayed-too"),
        pytest.param([(0, LM), (10, M), (20, M)], [(20, M)], id="opens-at-the-severity-seen-now"),
        pytest.param([(0, H)], [(0, H)], id="high-at-once"),
        pytest.param([(0, M), (5, H)], [(5, H)], id="high-while-pending-at-once"),
        pytest.param([(0, M), (5, None), (25, None), (30, M)], [], id="cleared-within-the-window-opens-nothing"),
        pytest.param(
            _every_second(M, 0, 15) + _every_second(None, 15, 60), [], id="15s-artefact-then-clear-opens-nothing"
        ),
        pytest.param([(0, M), (19, TIMER), (20, TIMER)], [(20, M)], id="no-reading-opens-at-due-fail-safe"),
        pytest.param([(0, M), (5, None), (20, TIMER), (25, TIMER), (40, TIMER)], [], id="clear-at-due-opens-nothing"),
        pytest.param(
            [(0, M), (5, None), (10, M), (15, None), (20, M)], [(20, M)], id="flapping-faster-than-the-delay-opens"
        ),
        pytest.param(
            [(0, M), (5, None), (25, TIMER), (26, M), (45, M), (46, M)],
            [(46, M)],
            id="a-new-episode-after-a-full-clear-run-starts-over",
        ),
        pytest.param([(0, M), (20, M), (21, M), (60, M)], [(20, M)], id="one-alert-per-condition"),
    ],
)
def test_bedside_timeline(steps: list[Step], opened_at: list[tuple[float, AlertSeverity]]) -> None:
    assert [(at_s, severity) for at_s, severity, _ in _run(steps).opened] == opened_at


def test_a_home_spot_check_opens_at_once() -> None:
    assert [(s, sev) for s, sev, _ in _run([(0, M)], CareSetting.HOME).opened] == [(0, M)]


def test_the_history_says_how_the_alert_was_confirmed() -> None:
    confirmed = _run([(0, M), (20, M)]).opened
    fail_safe = _run([(0, M), (20, TIMER)]).opened
    assert confirmed[0][2] == "present since 03:00:00 UTC, confirmed after 20 s"
    assert fail_safe[0][2] == "present since 03:00:00 UTC, not seen clear within 20 s"


RR, SPO2, OXY, SBP, HR, ACVPU, TEMP = NEWS2_PARAMETERS


def _news2(points: dict[Parameter, int], *, missing: tuple[Parameter, ...] = ()) -> PatientScore:
    scores = {p: points.get(p, 0) for p in NEWS2_PARAMETERS if p not in missing}
    red = 3 in scores.values()
    total = sum(scores.values())
    return PatientScore("p1", T0, total, not missing, clinical_risk(total, single_param_3=red), red, scores, missing)


RED = _news2({RR: 3})  # a single 3: RR 26, the rest normal
RED_STALE = _news2({}, missing=(RR,))  # the RR sensor stopped: 0, incomplete
CLEAR = _news2({})  # RR 16 again, every parameter fresh


@pytest.mark.parametrize(
    ("steps", "opened_at"),
    [
        # the RR that scored 3 goes stale: no evidence it cleared, so the timer opens it at due (fail-safe)
        pytest.param([(0, RED), (5, RED_STALE), (20, TIMER)], [(20, LM)], id="stale-opens-at-due"),
        pytest.param([(0, RED), *_every_second(RED_STALE, 1, 30)], [(20.5, LM)], id="stale-every-second-opens"),
        pytest.param([(0, RED), (5, CLEAR), (20, TIMER), (25, TIMER)], [], id="complete-clear-opens-nothing"),
        # a partial observation neither resets nor ends a clear run a complete one started
        pytest.param([(0, RED), (5, CLEAR), (10, RED_STALE), (25, TIMER)], [], id="run-untouched"),
        # the clear run starts at the complete clear (10 s), not the partial one (5 s): at 29.9 s it has not ended
        pytest.param([(0, RED), (5, RED_STALE), (10, CLEAR), (29.9, RED)], [(29.9, LM)], id="run-from-complete"),
    ],
)
def test_only_a_complete_score_clears_a_pending_condition(
    steps: list[Step], opened_at: list[tuple[float, AlertSeverity]]
) -> None:
    assert [(at_s, severity) for at_s, severity, _ in _run(steps).opened] == opened_at


def test_an_open_alert_is_raised_in_place_at_once() -> None:
    ward = _run([(0, LM), (20, LM), (21, M)])
    assert [(s, sev) for s, sev, _ in ward.opened] == [(20, LM)]
    assert ward.alert is not None and ward.alert.severity is M
    assert ward.pending is None


# --- properties ------------------------------------------------------------------------------------------------

_below_high = st.sampled_from([M, LM])


@given(
    quiet_s=st.integers(0, 60),
    run_s=st.integers(int(DELAY_S) + 1, 120),
    severities=st.lists(_below_high, min_size=121, max_size=121),
    read=st.lists(st.booleans(), min_size=121, max_size=121),
)
def test_a_condition_that_persists_longer_than_the_delay_always_yields_exactly_one_alert(
    quiet_s: int, run_s: int, severities: list[AlertSeverity], read: list[bool]
) -> None:
    # Seen at its start, then each second seen or not (a monitor that drops readings); the timer polls every second.
    steps: list[Step] = _every_second(None, 0, quiet_s)
    for s in range(run_s):
        if s == 0 or read[s]:
            steps.append((quiet_s + s, severities[s]))
        steps.append((quiet_s + s + 0.5, TIMER))
    opened = _run(steps).opened
    assert len(opened) == 1
    assert quiet_s + DELAY_S <= opened[0][0] <= quiet_s + DELAY_S + 1  # within one poll of the delay


@given(
    episodes=st.lists(
        st.tuples(st.integers(1, int(DELAY_S) - 1), st.integers(int(DELAY_S), 60), _below_high), max_size=8
    ),
    high_at=st.one_of(st.none(), st.integers(0, 400)),
)
@settings(max_examples=200)
def test_no_alert_opens_for_a_condition_that_never_lasted_the_delay_unless_it_is_high(
    episodes: list[tuple[int, int, AlertSeverity]], high_at: int | None
) -> None:
    # Episodes shorter than the delay, each followed by a clear run at least as long; one high reading perhaps.
    steps: list[Step] = []
    t = 0
    for present_s, clear_s, severity in episodes:
        steps += _every_second(severity, t, t + present_s) + _every_second(None, t + present_s, t + present_s + clear_s)
        t += present_s + clear_s
    if high_at is not None:
        steps = sorted([*steps, (high_at + 0.25, H)], key=lambda step: step[0])
    opened = _run(steps).opened
    assert [(s, sev) for s, sev, _ in opened] == ([] if high_at is None else [(high_at + 0.25, H)])


# --- in a real store, with a restart in between ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def _open(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    await store.open()
    return store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await _open(tmp_path / "vaktrom.db")
    await store.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("w1", "s1", "Avdeling 1"))
    yield store
    await store.close()


def _seen(severity: AlertSeverity | None, at_s: float) -> Observed:
    return Observed(KEY, severity, f"NEWS2 {severity}", T0 + timedelta(seconds=at_s), "w1")


async def test_a_pending_condition_survives_a_restart_and_opens_at_due(store: SqliteStore, tmp_path: Path) -> None:
    assert await apply_observed(store, _seen(M, 0)) is None
    [pending] = await store.pending_alerts(patient_ids=["p1"])
    assert (pending.since, pending.due_at) == (T0, T0 + timedelta(seconds=DELAY_S))
    await store.close()  # the process dies; another starts on the same database

    restarted = await _open(tmp_path / "vaktrom.db")
    try:
        clock = Clock()
        clock.now = T0 + timedelta(seconds=19)
        assert await fire_due_timers(restarted, clock) == []
        clock.now = T0 + timedelta(seconds=20)
        changes = await fire_due_timers(restarted, clock)
        [alert] = await restarted.list_alerts(patient_ids=["p1"])
        assert next(c.phase for c in changes if c.alert.alert_id == alert.alert_id) is AlertPhase.OPENED
        assert (alert.severity, alert.state, alert.opened_at) == (M, AlertState.OPEN, clock.now)
        assert await restarted.pending_alerts(patient_ids=["p1"]) == []
        history = await restarted.alert_history(alert.alert_id)
        assert history[0].reason == "present since 03:00:00 UTC, not seen clear within 20 s"
        assert await restarted.get_escalation(alert.alert_id) is not None  # it escalates like any other alert
    finally:
        await restarted.close()
        await _open(tmp_path / "vaktrom.db")  # the fixture closes `store` again: give it something to close


async def test_a_condition_cleared_in_the_window_leaves_no_alert_and_no_pending_row(store: SqliteStore) -> None:
    clock = Clock()
    await apply_observed(store, _seen(M, 0))
    await apply_observed(store, _seen(None, 8))
    clock.now = T0 + timedelta(seconds=30)
    assert await fire_due_timers(store, clock) == []
    assert await store.list_alerts(patient_ids=["p1"]) == []
    assert await store.pending_alerts(patient_ids=["p1"]) == []


async def test_high_opens_at_once_and_drops_the_pending_row(store: SqliteStore) -> None:
    await apply_observed(store, _seen(M, 0))
    change = await apply_observed(store, _seen(H, 3))
    assert change is not None and change.phase is AlertPhase.OPENED and change.alert.severity is H
    assert await store.pending_alerts(patient_ids=["p1"]) == []


async def test_a_caller_that_read_an_unchanged_pending_condition_does_not_write(store: SqliteStore) -> None:
    await apply_observed(store, _seen(M, 0))
    [pending] = await store.pending_alerts(patient_ids=["p1"])
    # Same condition 5 s later: nothing to write, so the store is not asked (the scorer's common case).
    assert await apply_observed(store, _seen(M, 5), current=None, pending=pending) is None
    assert await store.pending_alerts(patient_ids=["p1"]) == [pending]
