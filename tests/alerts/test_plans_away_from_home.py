"""Measurement plans across breaks in home follow-up and plan edits: what a coordinator sees on the worklist."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.plans import decide_plan_check, first_timers, next_window
from core.homecare import ACTIVITY_TIMER, ARRIVAL_GRACE_S, MeasurementPlan, PlanCheckFacts, PlanItem, PlanTimer
from core.types import Parameter

OSLO = "Europe/Oslo"
T_SET = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # winter: Oslo is UTC+1
ENROLLED = T_SET - timedelta(days=30)
PERIOD = timedelta(hours=48)
GRACE = timedelta(seconds=ARRIVAL_GRACE_S)
TWICE_DAILY = PlanItem("spo2-pulse", frozenset({Parameter.SPO2, Parameter.PULSE}), (time(8), time(20)), 60)
PLAN = MeasurementPlan("p-1", OSLO, (TWICE_DAILY,), 48, "dr.lund", T_SET)
MORNING = PlanTimer("p-1", "spo2-pulse", datetime(2026, 12, 2, 7, tzinfo=UTC), datetime(2026, 12, 2, 8, tzinfo=UTC))
EVENING = PlanTimer("p-1", "spo2-pulse", datetime(2026, 12, 2, 19, tzinfo=UTC), datetime(2026, 12, 2, 20, tzinfo=UTC))
ACTIVITY = PlanTimer("p-1", ACTIVITY_TIMER, T_SET, T_SET + PERIOD)
NOW = ACTIVITY.due_at + GRACE  # when the activity check is made


def _facts(timer: PlanTimer, *, last: datetime | None = None, home_since: datetime | None = ENROLLED) -> PlanCheckFacts:
    site_id = "hjemme" if home_since is not None else None
    return PlanCheckFacts(timer, PLAN, site_id, frozenset(), last, False, home_since)


@pytest.mark.parametrize(
    ("timer", "now", "next_timer"),
    [
        (MORNING, MORNING.due_at + GRACE, EVENING),  # the evening window is still checked
        (ACTIVITY, NOW, PlanTimer("p-1", ACTIVITY_TIMER, NOW, NOW + PERIOD)),  # looked at again a period on
    ],
)
def test_a_check_while_the_patient_is_away_from_home_follow_up_raises_nothing_and_keeps_the_plans_timer(
    timer: PlanTimer, now: datetime, next_timer: PlanTimer
) -> None:
    decision = decide_plan_check(_facts(timer, last=T_SET - timedelta(days=9), home_since=None), now=now)

    assert (decision.item, decision.next_timer) == (None, next_timer)


@pytest.mark.parametrize(
    ("last", "home_since", "inactive", "quiet_since"),
    [
        # back from a week in a KAD bed 10 h ago, last reading before it: 38 h to go
        (NOW - timedelta(days=9), NOW - timedelta(hours=10), False, NOW - timedelta(hours=10)),
        # back 50 h ago and nothing since: a full period at home without a reading
        (NOW - timedelta(days=9), NOW - timedelta(hours=50), True, None),
        # measured once since the return: counted from that reading
        (NOW - timedelta(hours=5), NOW - timedelta(hours=10), False, NOW - timedelta(hours=5)),
        # never measured, enrolled an hour ago
        (None, NOW - timedelta(hours=1), False, NOW - timedelta(hours=1)),
        # never measured, at home for three days
        (None, NOW - timedelta(hours=72), True, None),
    ],
)
def test_an_inactive_patient_back_home_is_counted_from_the_return_or_the_last_reading_whichever_is_later(
    last: datetime | None, home_since: datetime, inactive: bool, quiet_since: datetime | None
) -> None:
    decision = decide_plan_check(_facts(ACTIVITY, last=last, home_since=home_since), now=NOW)

    assert (decision.item is not None) is inactive
    if inactive:
        assert decision.next_timer == PlanTimer("p-1", ACTIVITY_TIMER, NOW, NOW + PERIOD)
    else:
        assert quiet_since is not None
        assert decision.next_timer == PlanTimer("p-1", ACTIVITY_TIMER, quiet_since, quiet_since + PERIOD)


@pytest.mark.parametrize(
    ("last", "due_at"),
    [
        (T_SET - timedelta(hours=40), T_SET + timedelta(hours=8)),  # quiet 40 h at the edit: 8 h to go, not 48
        (T_SET - timedelta(hours=60), T_SET - timedelta(hours=12)),  # already due: raised at the next check
        (None, T_SET + PERIOD),  # never a reading: from the plan
    ],
)
def test_editing_the_plan_keeps_the_inactive_check_at_the_last_reading_plus_the_period(
    last: datetime | None, due_at: datetime
) -> None:
    (activity,) = [t for t in first_timers(PLAN, now=T_SET, last_reading_at=last) if t.item_id == ACTIVITY_TIMER]

    assert activity.due_at == due_at


# Breaks in home follow-up: (hours after the plan was set, hours away), possibly overlapping.
_BREAKS = st.lists(st.tuples(st.integers(0, 14 * 24), st.integers(1, 6 * 24)), max_size=4)
_HORIZON = T_SET + timedelta(days=22)  # past the end of every break


def _home_since(breaks: list[tuple[int, int]], at: datetime) -> datetime | None:
    """When the patient came home (last), or None while away."""
    spans = [(T_SET + timedelta(hours=start), T_SET + timedelta(hours=start + hours)) for start, hours in breaks]
    if any(start <= at < end for start, end in spans):
        return None
    return max((end for _, end in spans if end <= at), default=ENROLLED)


@settings(max_examples=200, deadline=None)
@given(breaks=_BREAKS)
def test_every_window_that_closes_at_home_is_raised_once_and_none_while_away_whatever_the_breaks(
    breaks: list[tuple[int, int]],
) -> None:
    timer, _ = first_timers(PLAN, now=T_SET, last_reading_at=None)
    window = next_window(TWICE_DAILY, OSLO, after=T_SET)
    while timer.due_at < _HORIZON:
        assert (timer.opens_at, timer.due_at) == (window.opens_at, window.closes_at)  # no window skipped
        now = timer.due_at + GRACE
        home_since = _home_since(breaks, now)

        decision = decide_plan_check(_facts(timer, home_since=home_since), now=now)

        assert (decision.item is not None) is (home_since is not None)
        assert decision.next_timer is not None  # a plan in force keeps its timer through every break
        timer = decision.next_timer
        window = next_window(TWICE_DAILY, OSLO, after=window.opens_at + timedelta(microseconds=1))


@settings(max_examples=200, deadline=None)
@given(breaks=_BREAKS, reading_hours=st.lists(st.integers(0, 20 * 24), max_size=5))
def test_an_inactive_item_comes_only_at_home_after_a_full_quiet_period_and_always_comes(
    breaks: list[tuple[int, int]], reading_hours: list[int]
) -> None:
    readings = sorted(T_SET + timedelta(hours=h) for h in reading_hours)
    (timer,) = [t for t in first_timers(PLAN, now=T_SET, last_reading_at=None) if t.item_id == ACTIVITY_TIMER]
    raised_at = []
    while timer.due_at < _HORIZON:
        now = timer.due_at + GRACE
        last = max((r for r in readings if r <= now), default=None)
        home_since = _home_since(breaks, now)

        decision = decide_plan_check(_facts(timer, last=last, home_since=home_since), now=now)

        if decision.item is not None:  # each is closed at once by the coordinator (inactive_open stays False)
            assert home_since is not None
            assert max(t for t in (last, home_since) if t is not None) + PERIOD <= now
            raised_at.append(now)
        assert decision.next_timer is not None and decision.next_timer.due_at > timer.due_at
        timer = decision.next_timer
    quiet_since = max([T_SET, *readings, *(T_SET + timedelta(hours=s + h) for s, h in breaks)])
    if quiet_since + PERIOD + GRACE < _HORIZON:  # the last quiet spell at home is a full period long
        assert any(quiet_since + PERIOD <= at <= quiet_since + PERIOD + GRACE for at in raised_at)
