"""On-call rosters: shifts across every Oslo clock change 2020-2040, on call, overrides, validation, properties."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.rosters import (
    coverage_gaps,
    double_coverage,
    handoff_instant,
    on_call,
    shifts,
    validate_override,
    validate_rotation,
)
from core.errors import InvalidRoster
from core.oncall import OnCallRole, RosterOverride, Rotation, Shift

OSLO = ZoneInfo("Europe/Oslo")
HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)
SITE = "sykestue-lyngen"
DOCTOR = OnCallRole.DOCTOR_ON_CALL
MEMBERS = ("anna", "bjorn", "cecilie")
THREE_SHIFTS = (time(8), time(15, 30), time(23))


# The EU rule (Directive 2000/84/EC), which Norway follows: summer time (CEST, UTC+2) from 01:00 UTC on the last
# Sunday of March to 01:00 UTC on the last Sunday of October, otherwise CET (UTC+1). Worked out here without zoneinfo.
def _last_sunday(year: int, month: int) -> date:
    last_day = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last_day - timedelta(days=(last_day.weekday() - 6) % 7)  # weekday() 6 is Sunday


def _change_at(year: int, month: int) -> datetime:
    return datetime.combine(_last_sunday(year, month), time(1), tzinfo=UTC)


def _rule_instant(day: date, at: time) -> datetime:
    """The roster's handoff rule from the EU rule alone: a skipped time at the jump, a repeated one at its first."""
    wall_as_utc = datetime.combine(day, at, tzinfo=UTC)
    summer_from, summer_to = _change_at(day.year, 3), _change_at(day.year, 10)
    as_summer, as_winter = wall_as_utc - 2 * HOUR, wall_as_utc - HOUR
    readings = [as_summer] if summer_from <= as_summer < summer_to else []
    readings += [as_winter] if not summer_from <= as_winter < summer_to else []
    return min(readings) if readings else summer_from


def _local_wall(at: datetime) -> datetime:
    """The Oslo wall clock at `at` (naive), from the EU rule alone."""
    summer = _change_at(at.year, 3) <= at < _change_at(at.year, 10)
    return (at + (2 * HOUR if summer else HOUR)).replace(tzinfo=None)


CHANGES = [(year, month) for year in range(2020, 2041) for month in (3, 10)]
HANDOFF_SETS = {
    "24h-from-08": (time(8),),
    "08-1530-23": THREE_SHIFTS,
    "in-changed-hour": (time(2, 30),),
    "around-changed-hour": (time(1, 59), time(2), time(3)),
}


def _rotation(
    handoff_times: tuple[time, ...] = THREE_SHIFTS, *, starts_on: date = date(2024, 1, 1), **fields: Any
) -> Rotation:
    values: dict[str, Any] = {
        "rotation_id": 1,
        "name": "Legevakt Nord-Troms",
        "role": DOCTOR,
        "site_ids": frozenset({SITE}),
        "members": MEMBERS,
    }
    return Rotation(**(values | fields), handoff_times=handoff_times, starts_on=starts_on)


def _rule_shifts(rotation: Rotation, *, start_at: datetime, end_at: datetime) -> list[Shift]:
    """Shift k runs between the rule instants of handoffs k and k + 1 with members[k % m]; empty ones left out."""
    n, expected, index = len(rotation.handoff_times), [], 0

    def handoff(k: int) -> datetime:
        return _rule_instant(rotation.starts_on + timedelta(days=k // n), rotation.handoff_times[k % n])

    while handoff(index) < end_at:
        if handoff(index + 1) > max(handoff(index), start_at):
            person_id = rotation.members[index % len(rotation.members)]
            expected.append(Shift(rotation.rotation_id, rotation.role, person_id, handoff(index), handoff(index + 1)))
        index += 1
    return expected


def _on_call_now(rotation: Rotation, at: datetime, overrides: tuple[RosterOverride, ...] = ()) -> list[Shift]:
    return on_call([rotation], overrides, site_id=SITE, role=rotation.role, at=at)


@pytest.mark.parametrize(("year", "month"), CHANGES)
def test_oslo_clocks_change_at_the_eu_rule_instant(year: int, month: int) -> None:
    change_at = _change_at(year, month)
    before, after = (HOUR, 2 * HOUR) if month == 3 else (2 * HOUR, HOUR)
    assert (change_at - MICROSECOND).astimezone(OSLO).utcoffset() == before
    assert change_at.astimezone(OSLO).utcoffset() == after


@pytest.mark.parametrize("handoff_times", HANDOFF_SETS.values(), ids=HANDOFF_SETS.keys())
@pytest.mark.parametrize(("year", "month"), CHANGES)
def test_shifts_across_clock_change_have_no_gap_no_overlap_and_follow_the_rule(
    year: int, month: int, handoff_times: tuple[time, ...]
) -> None:
    change_day = _last_sunday(year, month)
    rotation = _rotation(handoff_times, starts_on=change_day - timedelta(days=3))
    start_at = datetime.combine(change_day - timedelta(days=1), time(), tzinfo=UTC)
    end_at = start_at + timedelta(days=3)
    found = shifts(rotation, [], start_at=start_at, end_at=end_at)
    assert found == _rule_shifts(rotation, start_at=start_at, end_at=end_at)
    assert all(shift.ends_at > shift.starts_at for shift in found)
    assert all(earlier.ends_at == later.starts_at for earlier, later in pairwise(found))
    assert found[0].starts_at <= start_at < end_at <= found[-1].ends_at


@pytest.mark.parametrize("handoff_times", HANDOFF_SETS.values(), ids=HANDOFF_SETS.keys())
@pytest.mark.parametrize(("year", "month"), CHANGES)
def test_shift_over_clock_change_is_an_hour_shorter_in_spring_and_longer_in_autumn(
    year: int, month: int, handoff_times: tuple[time, ...]
) -> None:
    change_day, n = _last_sunday(year, month), len(handoff_times)
    changed_hour = (datetime.combine(change_day, time(2)), datetime.combine(change_day, time(3)))
    rotation = _rotation(handoff_times, starts_on=change_day - timedelta(days=3))
    start_at = datetime.combine(rotation.starts_on, time(), tzinfo=UTC)
    by_start = {
        shift.starts_at: shift for shift in shifts(rotation, [], start_at=start_at, end_at=start_at + 7 * 24 * HOUR)
    }
    checked = 0
    for index in range(n, 5 * n):  # from two days before the change to the day after
        wall = [
            datetime.combine(rotation.starts_on + timedelta(days=k // n), handoff_times[k % n])
            for k in (index, index + 1)
        ]
        if any(changed_hour[0] <= w < changed_hour[1] for w in wall):
            continue  # an end in the skipped or repeated hour: the table above checks it against the rule
        spans_change = wall[0] < changed_hour[0] and wall[1] >= changed_hour[1]
        expected = wall[1] - wall[0] + (0 * HOUR if not spans_change else -HOUR if month == 3 else HOUR)
        shift = by_start[_rule_instant(wall[0].date(), wall[0].time())]
        assert (shift.ends_at - shift.starts_at, shift.person_id) == (expected, MEMBERS[index % 3])
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize(("month", "hours"), [(3, 8), (10, 10)])
def test_night_shift_is_eight_hours_when_clocks_go_forward_and_ten_when_they_go_back(month: int, hours: int) -> None:
    saturday_23_at = _rule_instant(_last_sunday(2024, month) - timedelta(days=1), time(23))
    (night,) = _on_call_now(_rotation(), saturday_23_at)
    assert (night.starts_at, night.ends_at - night.starts_at) == (saturday_23_at, timedelta(hours=hours))


@pytest.mark.parametrize(("month", "hours"), [(3, 23), (10, 25)])
def test_day_long_shift_is_23_hours_in_spring_and_25_in_autumn(month: int, hours: int) -> None:
    (shift,) = _on_call_now(_rotation((time(8),)), _change_at(2024, month))
    assert shift.ends_at - shift.starts_at == timedelta(hours=hours)


@pytest.mark.parametrize("wall", [time(2), time(2, 30), time(2, 59)])
def test_handoff_in_the_skipped_hour_happens_when_clocks_jump(wall: time) -> None:
    assert handoff_instant(date(2024, 3, 31), wall, OSLO) == datetime(2024, 3, 31, 1, tzinfo=UTC)  # 03:00 CEST


@pytest.mark.parametrize(
    ("wall", "expected_at"),
    [
        (time(2), datetime(2024, 10, 27, 0)),
        (time(2, 30), datetime(2024, 10, 27, 0, 30)),
        (time(3), datetime(2024, 10, 27, 2)),
    ],
)
def test_handoff_in_the_repeated_hour_happens_at_its_first_occurrence(wall: time, expected_at: datetime) -> None:
    assert handoff_instant(date(2024, 10, 27), wall, OSLO) == expected_at.replace(tzinfo=UTC)


def test_shift_swallowed_by_spring_forward_is_dropped_and_its_member_skipped() -> None:
    members = ("anna", "bjorn", "cecilie", "dag")
    rotation = _rotation((time(2, 15), time(2, 45), time(12)), starts_on=date(2024, 3, 30), members=members)
    found = shifts(
        rotation, [], start_at=datetime(2024, 3, 30, 12, tzinfo=UTC), end_at=datetime(2024, 4, 1, tzinfo=UTC)
    )
    # Handoff 3 (02:15) and 4 (02:45) on 31 March both happen at the jump, 01:00 UTC: shift 3 (dag) has no length.
    jump_at = datetime(2024, 3, 31, 1, tzinfo=UTC)
    assert [(shift.person_id, shift.starts_at) for shift in found] == [
        (members[2], datetime(2024, 3, 30, 11, tzinfo=UTC)),  # 12:00 CET
        (members[4 % 4], jump_at),
        (members[5 % 4], datetime(2024, 3, 31, 10, tzinfo=UTC)),  # 12:00 CEST
    ]


def test_incoming_person_is_on_call_at_the_exact_handoff() -> None:
    handoff_at = datetime(2024, 1, 10, 14, 30, tzinfo=UTC)  # 15:30 CET, handoff 9 * 3 + 1
    (incoming,) = _on_call_now(_rotation(), handoff_at)
    (outgoing,) = _on_call_now(_rotation(), handoff_at - MICROSECOND)
    assert (incoming.person_id, incoming.starts_at) == (MEMBERS[28 % 3], handoff_at)
    assert (outgoing.person_id, outgoing.ends_at) == (MEMBERS[27 % 3], handoff_at)


def test_nobody_is_on_call_before_the_rotations_first_handoff() -> None:
    rotation = _rotation(starts_on=date(2024, 1, 10))
    first_at = datetime(2024, 1, 10, 7, tzinfo=UTC)  # 08:00 CET
    assert _on_call_now(rotation, first_at - MICROSECOND) == []
    assert _on_call_now(rotation, first_at - timedelta(days=400)) == []
    assert [shift.person_id for shift in _on_call_now(rotation, first_at)] == [MEMBERS[0]]


def test_on_call_when_clocks_jump_is_the_person_taking_over_at_the_jump() -> None:
    rotation = _rotation((time(2, 30),), starts_on=date(2024, 3, 1))
    jump_at = datetime(2024, 3, 31, 1, tzinfo=UTC)
    (before,) = _on_call_now(rotation, jump_at - MICROSECOND)  # 01:59:59.999999 CET
    (after,) = _on_call_now(rotation, jump_at)  # 03:00 CEST
    assert (before.person_id, after.person_id, after.starts_at) == (MEMBERS[29 % 3], MEMBERS[30 % 3], jump_at)
    # 02:30 CET on the 30th to the jump, and the jump to 02:30 CEST on 1 April: the lost hour is shared.
    assert (before.ends_at - before.starts_at, after.ends_at - after.starts_at) == (23.5 * HOUR, 23.5 * HOUR)


def test_repeated_hour_has_one_handoff_not_two() -> None:
    rotation = _rotation((time(2, 30),), starts_on=date(2024, 10, 1))
    first_0230_at, second_0230_at = datetime(2024, 10, 27, 0, 30, tzinfo=UTC), datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    (before,) = _on_call_now(rotation, first_0230_at - MICROSECOND)
    (incoming,) = _on_call_now(rotation, first_0230_at)
    assert _on_call_now(rotation, second_0230_at) == [incoming]
    assert (before.person_id, incoming.person_id) == (MEMBERS[25 % 3], MEMBERS[26 % 3])
    assert incoming.ends_at - incoming.starts_at == 25 * HOUR


@pytest.mark.timeout(20)
def test_on_call_140_years_after_the_start_answers_from_the_date() -> None:
    members = ("anna", "bjorn", "cecilie", "dag", "eirik")
    rotation = _rotation(starts_on=date(1900, 1, 1), members=members)
    for at in (datetime(2040, 3, 20, tzinfo=UTC) + step * 37 * timedelta(minutes=1) for step in range(600)):
        wall = _local_wall(at)
        passed = sum(1 for handoff in THREE_SHIFTS if handoff <= wall.time())
        index = (wall.date() - rotation.starts_on).days * 3 + passed - 1  # -1: still yesterday's night shift
        assert [shift.person_id for shift in _on_call_now(rotation, at)] == [members[index % 5]]


def test_on_call_only_asks_rotations_for_that_site_and_role() -> None:
    nurses = _rotation(rotation_id=1, role=OnCallRole.UNIT_NURSE, members=("nina",))
    doctors = _rotation(rotation_id=2, members=("dr-ola",))
    elsewhere = _rotation(rotation_id=3, members=("dr-kari",), site_ids=frozenset({"kad-tromso"}))
    at = datetime(2024, 1, 10, 12, tzinfo=UTC)
    found = on_call([nurses, doctors, elsewhere], [], site_id=SITE, role=DOCTOR, at=at)
    assert [(shift.rotation_id, shift.person_id) for shift in found] == [(2, "dr-ola")]
    assert on_call([nurses, doctors], [], site_id=SITE, role=OnCallRole.HOSPITAL_SPECIALIST, at=at) == []


# 10 January 2024 (CET): handoffs 27, 28, 29 at 07:00, 14:30 and 22:00 UTC: anna, bjorn, cecilie.
def _day_at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, 10, hour, minute, tzinfo=UTC)


def _override(override_id: int, person_id: str, starts_at: datetime, ends_at: datetime) -> RosterOverride:
    return RosterOverride(override_id, 1, person_id, starts_at, ends_at)


def _owners(
    overrides: tuple[RosterOverride, ...], *, start_at: datetime, end_at: datetime
) -> list[tuple[str, datetime, datetime]]:
    found = shifts(_rotation(), overrides, start_at=start_at, end_at=end_at)
    for shift in found:  # on_call gives the same shifts, from its first to its last instant
        assert _on_call_now(_rotation(), shift.starts_at, overrides) == [shift]
        assert _on_call_now(_rotation(), shift.ends_at - MICROSECOND, overrides) == [shift]
    return [(shift.person_id, shift.starts_at, shift.ends_at) for shift in found]


def test_override_cuts_into_a_shift_and_the_rostered_person_covers_the_rest() -> None:
    overrides = (_override(1, "dag", _day_at(10), _day_at(12)),)
    assert _owners(overrides, start_at=_day_at(7), end_at=_day_at(14, 30)) == [
        ("anna", _day_at(7), _day_at(10)),
        ("dag", _day_at(10), _day_at(12)),
        ("anna", _day_at(12), _day_at(14, 30)),
    ]


def test_override_covering_a_whole_shift_replaces_only_that_shift() -> None:
    overrides = (_override(1, "dag", _day_at(7), _day_at(14, 30)),)
    assert _owners(overrides, start_at=_day_at(6), end_at=_day_at(15)) == [
        ("cecilie", _day_at(7) - 9 * HOUR, _day_at(7)),
        ("dag", _day_at(7), _day_at(14, 30)),
        ("bjorn", _day_at(14, 30), _day_at(22)),
    ]


def test_override_spanning_a_handoff_is_one_shift() -> None:
    overrides = (_override(1, "dag", _day_at(13), _day_at(17)),)
    assert _owners(overrides, start_at=_day_at(12), end_at=_day_at(18)) == [
        ("anna", _day_at(7), _day_at(13)),
        ("dag", _day_at(13), _day_at(17)),
        ("bjorn", _day_at(17), _day_at(22)),
    ]


@pytest.mark.parametrize("given_order", [1, -1], ids=["oldest-first", "newest-first"])
def test_later_override_wins_where_overrides_overlap(given_order: int) -> None:
    older, newer = _override(1, "dag", _day_at(9), _day_at(13)), _override(2, "eirik", _day_at(11), _day_at(12))
    assert _owners((older, newer)[::given_order], start_at=_day_at(8), end_at=_day_at(14)) == [
        ("anna", _day_at(7), _day_at(9)),
        ("dag", _day_at(9), _day_at(11)),
        ("eirik", _day_at(11), _day_at(12)),
        ("dag", _day_at(12), _day_at(13)),
        ("anna", _day_at(13), _day_at(14, 30)),
    ]
    newer_covering_all = replace(older, override_id=3)
    assert [
        owner for owner, _, _ in _owners((older, newer, newer_covering_all), start_at=_day_at(9), end_at=_day_at(13))
    ] == ["dag"]


def test_override_for_another_rotation_changes_nothing() -> None:
    overrides = (RosterOverride(1, 2, "dag", _day_at(8), _day_at(9)),)
    assert _owners(overrides, start_at=_day_at(8), end_at=_day_at(9)) == [("anna", _day_at(7), _day_at(14, 30))]


def test_override_before_the_rotation_starts_puts_nobody_on_call() -> None:
    rotation = _rotation(starts_on=date(2024, 1, 10))
    overrides = (_override(1, "dag", _day_at(5), _day_at(8)),)
    assert _on_call_now(rotation, _day_at(6), overrides) == []
    (shift,) = _on_call_now(rotation, _day_at(7), overrides)
    assert (shift.person_id, shift.starts_at, shift.override_id) == ("dag", _day_at(7), 1)


Windows = list[tuple[datetime, datetime]]


def _admin_screen(rotations: list[Rotation]) -> tuple[Windows, Windows]:
    """The gaps and the double coverage for doctors at SITE on 10 January 2024, 00:00-23:00 UTC."""
    start_at, end_at = _day_at(0), _day_at(23)
    gaps = coverage_gaps(rotations, [], site_id=SITE, role=DOCTOR, start_at=start_at, end_at=end_at)
    return gaps, double_coverage(rotations, [], site_id=SITE, role=DOCTOR, start_at=start_at, end_at=end_at)


def test_admin_sees_a_gap_until_the_rotation_starts_and_everywhere_without_one() -> None:
    assert _admin_screen([_rotation(starts_on=date(2024, 1, 10))]) == ([(_day_at(0), _day_at(7))], [])
    assert _admin_screen([]) == ([(_day_at(0), _day_at(23))], [])


def test_admin_sees_double_coverage_where_two_people_are_on_call() -> None:
    first = _rotation(members=("dr-ola",))
    second = _rotation(rotation_id=2, members=("dr-kari",), starts_on=date(2024, 1, 10))
    same_person = _rotation(rotation_id=3, members=("dr-ola",))
    assert _admin_screen([first, second]) == ([], [(_day_at(7), _day_at(23))])
    assert _admin_screen([first, same_person]) == ([], [])


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"members": ()}, "members", "add at least one person id; a rotation with no members covers nobody"),
        ({"members": ("anna", " ")}, "members", "remove the blank person id; every member must be a person id"),
        ({"site_ids": frozenset()}, "site_ids", "add at least one site id; the rotation covers no unit"),
        ({"handoff_times": ()}, "handoff_times", "add at least one handoff time; one time gives 24-hour shifts"),
        (
            {"handoff_times": (time(15, 30), time(8))},
            "handoff_times",
            "list handoff times in increasing order: 08:00 comes after 15:30",
        ),
        ({"handoff_times": (time(8), time(8))}, "handoff_times", "remove the repeated 08:00"),
        ({"handoff_times": (time(8, 0, 30),)}, "handoff_times", "use whole minutes: 08:00:30 has seconds; use 08:00"),
        (
            {"handoff_times": (time(8, 0, 0, 5),)},
            "handoff_times",
            "use whole minutes: 08:00:00.000005 has seconds; use 08:00",
        ),
        (
            {"handoff_times": (time(8, tzinfo=UTC),)},
            "handoff_times",
            "give 08:00 without a time zone; the rotation's time_zone applies",
        ),
        (
            {"time_zone": "Europe/Olso"},
            "time_zone",
            "unknown time zone 'Europe/Olso'; use an IANA name such as 'Europe/Oslo'",
        ),
        ({"time_zone": "Europe"}, "time_zone", "unknown time zone 'Europe'; use an IANA name such as 'Europe/Oslo'"),
    ],
)
def test_invalid_rotation_is_rejected_with_what_to_fix(fields: dict[str, Any], field: str, reason: str) -> None:
    rotation = replace(_rotation(), **fields)
    with pytest.raises(InvalidRoster) as caught:
        validate_rotation(rotation)
    assert (caught.value.field, caught.value.reason, str(caught.value)) == (field, reason, f"{field}: {reason}")
    with pytest.raises(InvalidRoster):
        shifts(rotation, [], start_at=_day_at(0), end_at=_day_at(1))


@pytest.mark.parametrize(
    ("override", "field", "reason"),
    [
        (
            _override(7, "dag", _day_at(9), _day_at(8)),
            "ends_at",
            "end the override after it starts: 2024-01-10T08:00:00+00:00 is not after 2024-01-10T09:00:00+00:00",
        ),
        (
            _override(7, "dag", _day_at(9), _day_at(9)),
            "ends_at",
            "end the override after it starts: 2024-01-10T09:00:00+00:00 is not after 2024-01-10T09:00:00+00:00",
        ),
        (
            _override(7, "dag", datetime(2024, 1, 10, 9), _day_at(10)),
            "starts_at",
            "give 2024-01-10T09:00:00 with a time zone, e.g. in UTC",
        ),
        (
            _override(7, "dag", _day_at(9), datetime(2024, 1, 10, 10)),
            "ends_at",
            "give 2024-01-10T10:00:00 with a time zone, e.g. in UTC",
        ),
        (_override(7, "", _day_at(9), _day_at(10)), "person_id", "name the person who covers the override"),
        (
            RosterOverride(7, 2, "dag", _day_at(9), _day_at(10)),
            "rotation_id",
            "override 7 is for rotation 2, not rotation 1",
        ),
    ],
)
def test_invalid_override_is_rejected_with_what_to_fix(override: RosterOverride, field: str, reason: str) -> None:
    with pytest.raises(InvalidRoster) as caught:
        validate_override(override, _rotation())
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_valid_rotation_and_override_pass_unchanged() -> None:
    override = _override(1, "dag", _day_at(9), _day_at(10))
    assert validate_rotation(_rotation()) == _rotation()
    assert validate_override(override, _rotation()) == override


ZONES = ("Europe/Oslo", "UTC", "America/Santiago", "Australia/Lord_Howe", "America/Havana")
PEOPLE = ("anna", "bjorn", "cecilie", "dag", "eirik")
OSLO_CHANGES_AT = [_change_at(year, month) for year in range(2019, 2042) for month in (3, 10)]
# Minutes of the day, often inside the hours in which clocks change, where handoffs move or collapse.
MINUTES_OF_DAY = st.one_of(st.integers(0, 24 * 60 - 1), st.integers(0, 3 * 60), st.integers(23 * 60, 24 * 60 - 1))


@dataclass(frozen=True, slots=True)
class _Case:
    rotation: Rotation
    overrides: tuple[RosterOverride, ...]
    start_at: datetime
    end_at: datetime
    probes_at: tuple[datetime, ...]


@st.composite
def _cases(draw: st.DrawFn) -> _Case:
    minutes = sorted(draw(st.lists(MINUTES_OF_DAY, min_size=1, max_size=4, unique=True)))
    rotation = _rotation(
        tuple(time(m // 60, m % 60) for m in minutes),
        starts_on=draw(st.dates(date(2019, 1, 1), date(2041, 12, 31))),
        members=tuple(draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=5))),
        time_zone=draw(st.sampled_from(ZONES)),
    )
    rotation_start_at = datetime.combine(rotation.starts_on, time(12), tzinfo=UTC)
    anytime = st.datetimes(datetime(2019, 1, 1), datetime(2042, 1, 1), timezones=st.just(UTC))
    anchor_at = draw(st.one_of(st.sampled_from(OSLO_CHANGES_AT), st.just(rotation_start_at), anytime))
    start_at = anchor_at + timedelta(minutes=draw(st.integers(-3 * 24 * 60, 3 * 24 * 60)))
    window_min = draw(st.integers(1, 4 * 24 * 60))
    overrides = []
    for override_id in range(1, draw(st.integers(0, 3)) + 1):
        override_start_at = start_at + timedelta(minutes=draw(st.integers(-600, window_min + 600)))
        override_end_at = override_start_at + timedelta(minutes=draw(st.integers(1, 30 * 60)))
        rotation_id = draw(st.sampled_from((rotation.rotation_id, 99)))
        overrides.append(
            RosterOverride(override_id, rotation_id, draw(st.sampled_from(PEOPLE)), override_start_at, override_end_at)
        )
    offsets_s = draw(st.lists(st.integers(0, window_min * 60 - 1), max_size=8))
    probes_at = tuple(start_at + timedelta(seconds=s) for s in offsets_s)
    return _Case(
        rotation, tuple(draw(st.permutations(overrides))), start_at, start_at + timedelta(minutes=window_min), probes_at
    )


@settings(max_examples=300, deadline=None)
@given(case=_cases())
def test_every_instant_has_exactly_one_person_on_call_and_on_call_agrees_with_shifts(case: _Case) -> None:
    rotation, window = case.rotation, {"start_at": case.start_at, "end_at": case.end_at}
    found = shifts(rotation, case.overrides, **window)
    first_at = handoff_instant(rotation.starts_on, rotation.handoff_times[0], ZoneInfo(rotation.time_zone))
    assert all(shift.ends_at > shift.starts_at for shift in found)
    assert all(earlier.ends_at == later.starts_at for earlier, later in pairwise(found))
    boundaries_at = [shift.starts_at for shift in found if case.start_at <= shift.starts_at < case.end_at]
    for at in (*case.probes_at, *boundaries_at):
        covering = [shift for shift in found if shift.starts_at <= at < shift.ends_at]
        assert len(covering) == (1 if at >= first_at else 0)
        assert on_call([rotation], case.overrides, site_id=SITE, role=DOCTOR, at=at) == covering
    expected_gaps = [] if case.start_at >= first_at else [(case.start_at, min(first_at, case.end_at))]
    assert coverage_gaps([rotation], case.overrides, site_id=SITE, role=DOCTOR, **window) == expected_gaps
    assert double_coverage([rotation], case.overrides, site_id=SITE, role=DOCTOR, **window) == []


@settings(max_examples=300, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    day=st.one_of(
        st.sampled_from([at.date() for at in OSLO_CHANGES_AT]), st.dates(date(2019, 1, 1), date(2041, 12, 31))
    ),
    minutes=st.lists(MINUTES_OF_DAY, min_size=2, max_size=2),
)
def test_handoff_is_the_first_instant_the_local_clock_reaches_the_handoff_time(
    zone_name: str, day: date, minutes: list[int]
) -> None:
    zone = ZoneInfo(zone_name)
    earlier, later = (time(m // 60, m % 60) for m in sorted(minutes))
    handoff_at = handoff_instant(day, earlier, zone)
    wall = datetime.combine(day, earlier)
    assert handoff_at.astimezone(zone).replace(tzinfo=None) >= wall
    assert (handoff_at - MICROSECOND).astimezone(zone).replace(tzinfo=None) < wall
    assert handoff_at <= handoff_instant(day, later, zone) <= handoff_instant(day + timedelta(days=1), earlier, zone)
