"""Home scenarios: the COPD patient's days, scored on NEWS2's SpO2 scale 2 and against her 88-92 % target, and when a
home patient measures (her plan's times in her zone, across daylight-saving changes, until she stops)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.plans import next_window
from core.homecare import PlanItem
from core.types import Parameter, SpO2Scale
from devices.scenario import vitals_at
from devices.scenarios_home import (
    COPD_TARGET_SPO2_PERCENT,
    MeasuringHabit,
    check_times,
    copd_home_exacerbation_scenario,
)
from tests.devices.test_scenario import _news2

DAY_S = 86_400
COPD = copd_home_exacerbation_scenario()
OSLO = ZoneInfo("Europe/Oslo")


@pytest.mark.parametrize(
    ("at_d", "scale_2", "scale_1"),
    [(0, 2, 5), (1, 2, 5), (2, 3, 6), (3, 7, 8), (4, 10, 10)],  # by the chart, no ACVPU at home
)
def test_copd_news2_on_her_scale_2_against_scale_1(at_d: int, scale_2: int, scale_1: int) -> None:
    vitals = vitals_at(COPD, at_d * DAY_S, None)
    assert _news2(vitals, SpO2Scale.SCALE_2) == scale_2
    assert _news2(vitals, SpO2Scale.SCALE_1) == scale_1  # scale 1 alerts (>= 5) from her first stable day


def test_copd_spo2_falls_out_of_her_target_after_two_days_and_never_rises_while_falling() -> None:
    low, high = COPD_TARGET_SPO2_PERCENT
    course = [vitals_at(COPD, t, None) for t in range(0, 4 * DAY_S + 1, 3600)]
    spo2 = [v.spo2_percent for v in course]
    assert spo2 == sorted(spo2, reverse=True)
    left_at_h = next(h for h, value in enumerate(spo2) if value < low)
    assert 48 < left_at_h < 72
    assert all(low <= value <= high for value in spo2[:48])
    assert all(v.on_oxygen for v in course)  # her home oxygen throughout


def test_copd_medium_news2_on_scale_2_comes_on_the_third_day_and_high_before_the_fourth() -> None:
    totals = [_news2(vitals_at(COPD, t, None), SpO2Scale.SCALE_2) for t in range(0, 4 * DAY_S + 1, 3600)]
    assert totals == sorted(totals)
    medium_at_h = next(h for h, total in enumerate(totals) if total >= 5)
    high_at_h = next(h for h, total in enumerate(totals) if total >= 7)
    assert 48 < medium_at_h < high_at_h <= 72


def test_copd_recovers_and_rests_in_her_target() -> None:
    rest = vitals_at(COPD, COPD.period_s - DAY_S, None)
    assert rest == COPD.baseline
    assert COPD_TARGET_SPO2_PERCENT[0] <= rest.spo2_percent <= COPD_TARGET_SPO2_PERCENT[1]


@given(day_s=st.floats(1.0, 2 * DAY_S), fraction=st.floats(0.0, 1.0))
def test_copd_compressed_is_the_same_course(day_s: float, fraction: float) -> None:
    at_d = 4 * fraction
    compressed = copd_home_exacerbation_scenario(day_s=day_s)
    assert vitals_at(compressed, at_d * day_s, None) == vitals_at(COPD, at_d * DAY_S, None)


def _oslo(day: int, hour: int, minute: int = 0, *, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=OSLO).astimezone(UTC)


MORNING_EVENING = MeasuringHabit((time(8), time(20)))


@pytest.mark.parametrize(
    ("start", "until", "expected"),
    [
        # A winter day: 08:20 and 20:20 Oslo are 07:20 and 19:20 UTC.
        (_oslo(2, 0), _oslo(3, 0), [_oslo(2, 8, 20), _oslo(2, 20, 20)]),
        # The night the clocks go forward (29 March 2026): her times are on the new clock.
        (_oslo(28, 12), _oslo(30, 0), [_oslo(28, 20, 20), _oslo(29, 8, 20), _oslo(29, 20, 20)]),
        # The night they go back (25 October 2026).
        (_oslo(25, 0, month=10), _oslo(26, 0, month=10), [_oslo(25, 8, 20, month=10), _oslo(25, 20, 20, month=10)]),
    ],
)
def test_she_measures_20_min_after_each_plan_time_on_her_wall_clock(
    start: datetime, until: datetime, expected: list[datetime]
) -> None:
    assert check_times(MORNING_EVENING, start=start, until=until) == expected


def test_a_time_the_clocks_skip_is_measured_on_the_new_clock_once() -> None:
    habit = MeasuringHabit((time(2, 10),), delay_min=20.0)  # 02:30 does not exist on 29 March in Oslo
    checks = check_times(habit, start=_oslo(29, 0), until=_oslo(30, 0))
    assert checks == [datetime(2026, 3, 29, 1, 30, tzinfo=UTC)]  # 03:30 CEST: an hour after 02:30 CET would be


def test_she_measures_no_more_from_when_she_stops() -> None:
    stops_at = _oslo(3, 12)
    habit = MeasuringHabit((time(8), time(20)), stops_at=stops_at)
    checks = check_times(habit, start=_oslo(1, 0), until=_oslo(6, 0))
    assert checks == [_oslo(d, h, 20) for d in (1, 2) for h in (8, 20)] + [_oslo(3, 8, 20)]


@given(
    start=st.datetimes(datetime(2020, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
    days=st.integers(1, 10),
    delay_min=st.floats(0.0, 110.0),
)
def test_every_check_lands_in_a_plan_window_and_every_window_gets_one(
    start: datetime, days: int, delay_min: float
) -> None:
    """Her habit and the plan's windows (alerts/plans.next_window, 2 h) agree in every zone rule of 2020-2040."""
    item = PlanItem("spo2", frozenset({Parameter.SPO2}), (time(8), time(20)), 120)
    habit = MeasuringHabit(item.local_times, delay_min=delay_min)
    until = start + timedelta(days=days)
    checks = check_times(habit, start=start, until=until)
    assert checks == sorted(set(checks))
    windows = []  # every window whose time plus her delay falls in [start, until)
    after = start - timedelta(days=1)
    while (window := next_window(item, "Europe/Oslo", after=after)).opens_at < until:
        if start <= window.opens_at + timedelta(minutes=delay_min) < until:
            windows.append(window)
        after = window.opens_at + timedelta(microseconds=1)
    in_windows = [c for c in checks if any(w.opens_at <= c < w.closes_at for w in windows)]
    assert in_windows == checks
    assert all(any(w.opens_at <= c < w.closes_at for c in checks) for w in windows)


def test_a_habit_needs_a_time_and_no_negative_delay() -> None:
    with pytest.raises(ValueError, match="time of day"):
        MeasuringHabit(())
    with pytest.raises(ValueError, match="delay_min"):
        MeasuringHabit((time(8),), delay_min=-1)
