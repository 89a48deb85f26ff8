"""Measurement plans: windows in the patient's zone across daylight saving, missed and inactive detection."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.plans import InvalidPlan, decide_plan_check, first_timers, next_window, validate_plan
from core.homecare import (
    ACTIVITY_TIMER,
    MeasurementPlan,
    PlanCheckFacts,
    PlanItem,
    PlanTimer,
    VkpCode,
    WorklistKind,
)
from core.types import Parameter

OSLO = "Europe/Oslo"
T_SET = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TWICE_DAILY = PlanItem("spo2-pulse", frozenset({Parameter.SPO2, Parameter.PULSE}), (time(8), time(20)), 60)
WEEKLY_BP = PlanItem(
    "bp", frozenset({Parameter.SYSTOLIC_BP, Parameter.DIASTOLIC_BP}), (time(9),), 180, weekdays=frozenset({0})
)


def plan(*items: PlanItem, zone: str = OSLO, inactive_after_h: float = 48) -> MeasurementPlan:
    return MeasurementPlan("p-1", zone, items or (TWICE_DAILY,), inactive_after_h, "dr.lund", T_SET)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("item", "zone", "after", "opens_at", "closes_at"),
    [
        # winter (CET, UTC+1): 08:00 local is 07:00 UTC; the window lasts 60 min
        (TWICE_DAILY, OSLO, utc(2026, 12, 1, 0, 0), utc(2026, 12, 1, 7), utc(2026, 12, 1, 8)),
        (TWICE_DAILY, OSLO, utc(2026, 12, 1, 7, 0, 1), utc(2026, 12, 1, 19), utc(2026, 12, 1, 20)),
        # summer (CEST, UTC+2)
        (TWICE_DAILY, OSLO, utc(2027, 6, 1, 0, 0), utc(2027, 6, 1, 6), utc(2027, 6, 1, 7)),
        # the night of spring forward (2027-03-28, 02:00 -> 03:00): 20:00 the evening before is still CET
        (TWICE_DAILY, OSLO, utc(2027, 3, 27, 19, 0, 1), utc(2027, 3, 28, 6), utc(2027, 3, 28, 7)),
        # the weekly item: Mondays 09:00, three hours
        (WEEKLY_BP, OSLO, utc(2026, 12, 1, 0, 0), utc(2026, 12, 7, 8), utc(2026, 12, 7, 11)),
        # another zone: Tromsø's patient travelling, plan in New York time (EST, UTC-5)
        (TWICE_DAILY, "America/New_York", utc(2026, 12, 1, 0, 0), utc(2026, 12, 1, 1), utc(2026, 12, 1, 2)),
    ],
)
def test_a_window_opens_at_the_local_time_and_lasts_its_minutes(
    item: PlanItem, zone: str, after: datetime, opens_at: datetime, closes_at: datetime
) -> None:
    window = next_window(item, zone, after=after)

    assert (window.opens_at, window.closes_at) == (opens_at, closes_at)


def test_a_time_the_clocks_skip_opens_at_the_jump_and_a_repeated_time_at_its_first_occurrence() -> None:
    night = PlanItem("night", frozenset({Parameter.SPO2}), (time(2, 30),), 60)

    spring = next_window(night, OSLO, after=utc(2027, 3, 28, 0, 0))  # 02:30 does not exist that night
    autumn = next_window(night, OSLO, after=utc(2026, 10, 25, 0, 0))  # 02:30 happens twice that night

    assert spring.opens_at == utc(2027, 3, 28, 1, 0)  # 03:00 CEST, the first time after the gap
    assert autumn.opens_at == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, the first of the two


def test_a_window_that_spans_the_autumn_change_lasts_its_minutes_of_real_time() -> None:
    late = PlanItem("late", frozenset({Parameter.PULSE}), (time(1, 30),), 120)

    window = next_window(late, OSLO, after=utc(2026, 10, 24, 22, 0))

    assert window.opens_at == utc(2026, 10, 24, 23, 30)  # 01:30 CEST
    assert window.closes_at - window.opens_at == timedelta(minutes=120)  # closes 02:30 CET, not "03:30 local"


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)),
    zone=st.sampled_from([OSLO, "America/New_York", "Australia/Sydney", "UTC"]),
)
def test_windows_follow_each_other_once_per_local_time_and_day(day: date, zone: str) -> None:
    after = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    windows = []
    for _ in range(6):  # three days of a twice-daily plan
        window = next_window(TWICE_DAILY, zone, after=after)
        windows.append(window)
        after = window.opens_at + timedelta(microseconds=1)

    opens = [w.opens_at for w in windows]
    assert opens == sorted(set(opens))  # strictly increasing: no window twice, none out of order
    local = [w.opens_at.astimezone(ZoneInfo(zone)) for w in windows]
    assert [(t.hour, t.minute) for t in local] in ([(8, 0), (20, 0)] * 3, [(20, 0), (8, 0)] * 3)
    assert all(w.closes_at - w.opens_at == timedelta(minutes=60) for w in windows)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (plan(zone="Europe/Tromso"), "timezone"),
        (plan(inactive_after_h=0), "inactive_after_h"),
        (plan(PlanItem("a", frozenset(), (time(8),), 60)), "items[a].parameters"),
        (plan(PlanItem("a", frozenset({Parameter.SPO2}), (), 60)), "items[a].local_times"),
        (plan(PlanItem("a", frozenset({Parameter.SPO2}), (time(8), time(8)), 60)), "items[a].local_times"),
        (plan(PlanItem("a", frozenset({Parameter.SPO2}), (time(8),), 0)), "items[a].window_min"),
        (plan(PlanItem("a", frozenset({Parameter.SPO2}), (time(8),), 60, frozenset({7}))), "items[a].weekdays"),
        (plan(TWICE_DAILY, TWICE_DAILY), "items"),
        (plan(PlanItem(ACTIVITY_TIMER, frozenset({Parameter.SPO2}), (time(8),), 60)), "items"),  # reserved id
    ],
)
def test_a_plan_that_cannot_be_followed_is_refused_naming_its_field(bad: MeasurementPlan, field: str) -> None:
    with pytest.raises(InvalidPlan) as refused:
        validate_plan(bad)

    assert refused.value.field_name == field


def _facts(
    timer: PlanTimer,
    *,
    seen: frozenset[Parameter] = frozenset(),
    last: datetime | None = None,
    inactive_open: bool = False,
    the_plan: MeasurementPlan | None = None,
    site_id: str | None = "hjemme",
) -> PlanCheckFacts:
    return PlanCheckFacts(timer, the_plan or plan(), site_id, seen, last, inactive_open)


MORNING = PlanTimer("p-1", "spo2-pulse", utc(2026, 12, 2, 7), utc(2026, 12, 2, 8))
CLOSED_AT = utc(2026, 12, 2, 8, 0, 1)


def test_a_window_that_closes_without_its_measurements_opens_a_vkp_item_naming_each_by_loinc() -> None:
    decision = decide_plan_check(_facts(MORNING, seen=frozenset({Parameter.PULSE})), now=CLOSED_AT)

    item = decision.item
    assert item is not None
    assert (item.kind, item.vkp_code, item.site_id, item.patient_id) == (
        WorklistKind.MISSED_MEASUREMENT, VkpCode.MEASUREMENT_NOT_REPORTED, "hjemme", "p-1",
    )  # fmt: skip
    assert item.missing_loinc == ("59408-5",)  # SpO2 by pulse oximetry; the pulse came
    assert "spo2" in item.summary and "2026-12-02 08:00-09:00 Europe/Oslo" in item.summary
    assert decision.next_timer == PlanTimer("p-1", "spo2-pulse", utc(2026, 12, 2, 19), utc(2026, 12, 2, 20))


def test_a_window_with_every_measurement_raises_nothing_and_arms_the_next() -> None:
    decision = decide_plan_check(_facts(MORNING, seen=TWICE_DAILY.parameters), now=CLOSED_AT)

    assert decision.item is None
    assert decision.next_timer is not None and decision.next_timer.opens_at == utc(2026, 12, 2, 19)


def test_a_timer_of_an_item_taken_out_of_the_plan_disarms_quietly() -> None:
    decision = decide_plan_check(_facts(MORNING, the_plan=plan(WEEKLY_BP)), now=CLOSED_AT)

    assert (decision.item, decision.next_timer) == (None, None)


ACTIVITY = PlanTimer("p-1", ACTIVITY_TIMER, T_SET, T_SET + timedelta(hours=48))


def test_a_patient_quiet_for_the_plans_period_opens_one_inactive_item_until_it_is_closed() -> None:
    now = ACTIVITY.due_at
    first = decide_plan_check(_facts(ACTIVITY, last=T_SET - timedelta(hours=1)), now=now)
    again = decide_plan_check(_facts(ACTIVITY, last=T_SET - timedelta(hours=1), inactive_open=True), now=now)

    assert first.item is not None and first.item.vkp_code is VkpCode.INACTIVE_PATIENT
    assert "since 2026-12-01T11:00+00:00" in first.item.summary
    assert first.next_timer == PlanTimer("p-1", ACTIVITY_TIMER, now, now + timedelta(hours=48))
    assert again.item is None  # the open item stands for the whole quiet spell


def test_a_reading_since_the_activity_check_was_armed_moves_it_on() -> None:
    last = T_SET + timedelta(hours=30)

    decision = decide_plan_check(_facts(ACTIVITY, last=last), now=ACTIVITY.due_at)

    assert decision.item is None
    assert decision.next_timer == PlanTimer("p-1", ACTIVITY_TIMER, last, last + timedelta(hours=48))


def test_setting_a_plan_arms_each_items_next_window_and_the_activity_check() -> None:
    timers = first_timers(plan(TWICE_DAILY, WEEKLY_BP), now=T_SET, last_reading_at=None)

    assert timers == [
        PlanTimer("p-1", "spo2-pulse", utc(2026, 12, 1, 19), utc(2026, 12, 1, 20)),
        PlanTimer("p-1", "bp", utc(2026, 12, 7, 8), utc(2026, 12, 7, 11)),
        PlanTimer("p-1", ACTIVITY_TIMER, T_SET, T_SET + timedelta(hours=48)),
    ]
