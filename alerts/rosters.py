"""Who is on call: shifts from rotations and overrides, as pure functions of their arguments (no clock, no I/O).

Handoff k of a rotation is handoff_times[k % n] on the local date starts_on + k // n (n = len(handoff_times)), and
shift k runs from handoff k to handoff k + 1 with members[k % len(members)]. Both ends come from `handoff_instant`, so
consecutive shifts never leave a gap or overlap, across any clock change. Overrides paint over the rotation's shifts
from its first handoff on; before that the rotation covers nobody, with or without overrides.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import InvalidRoster
from core.oncall import OnCallRole, RosterOverride, Rotation, Shift

__all__ = [
    "coverage_gaps",
    "double_coverage",
    "handoff_instant",
    "on_call",
    "shifts",
    "validate_override",
    "validate_rotation",
]


@dataclass(frozen=True, slots=True)
class _Slot:
    """Shift k of a rotation before overrides, with positive length."""

    index: int
    starts_at: datetime
    ends_at: datetime


def validate_rotation(rotation: Rotation) -> Rotation:
    """The rotation unchanged, or InvalidRoster naming the field and what to change."""
    if not rotation.members:
        raise InvalidRoster("members", reason="add at least one person id; a rotation with no members covers nobody")
    if any(not person_id.strip() for person_id in rotation.members):
        raise InvalidRoster("members", reason="remove the blank person id; every member must be a person id")
    if not rotation.site_ids:
        raise InvalidRoster("site_ids", reason="add at least one site id; the rotation covers no unit")
    _validate_handoff_times(rotation.handoff_times)
    try:
        ZoneInfo(rotation.time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a key naming a tzdata folder, e.g. "Europe"
        raise InvalidRoster(
            "time_zone", reason=f"unknown time zone {rotation.time_zone!r}; use an IANA name such as 'Europe/Oslo'"
        ) from None
    return rotation


def _validate_handoff_times(handoff_times: tuple[time, ...]) -> None:
    if not handoff_times:
        raise InvalidRoster("handoff_times", reason="add at least one handoff time; one time gives 24-hour shifts")
    for at in handoff_times:
        if at.tzinfo is not None:
            wall = at.replace(tzinfo=None).strftime("%H:%M")
            raise InvalidRoster(
                "handoff_times", reason=f"give {wall} without a time zone; the rotation's time_zone applies"
            )
        if at.second or at.microsecond:
            raise InvalidRoster(
                "handoff_times", reason=f"use whole minutes: {at.isoformat()} has seconds; use {at.strftime('%H:%M')}"
            )
    for earlier, later in pairwise(handoff_times):
        if later == earlier:
            raise InvalidRoster("handoff_times", reason=f"remove the repeated {later.strftime('%H:%M')}")
        if later < earlier:
            raise InvalidRoster(
                "handoff_times",
                reason=f"list handoff times in increasing order: {later.strftime('%H:%M')} comes after "
                f"{earlier.strftime('%H:%M')}",
            )


def validate_override(override: RosterOverride, rotation: Rotation) -> RosterOverride:
    """The override unchanged, or InvalidRoster naming the field and what to change."""
    if override.rotation_id != rotation.rotation_id:
        raise InvalidRoster(
            "rotation_id",
            reason=f"override {override.override_id} is for rotation {override.rotation_id}, "
            f"not rotation {rotation.rotation_id}",
        )
    if not override.person_id.strip():
        raise InvalidRoster("person_id", reason="name the person who covers the override")
    for name, value in (("starts_at", override.starts_at), ("ends_at", override.ends_at)):
        if value.utcoffset() is None:
            raise InvalidRoster(name, reason=f"give {value.isoformat()} with a time zone, e.g. in UTC")
    if override.ends_at <= override.starts_at:
        raise InvalidRoster(
            "ends_at",
            reason=f"end the override after it starts: {override.ends_at.isoformat()} is not after "
            f"{override.starts_at.isoformat()}",
        )
    return override


def handoff_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the clock in `zone` reads `at` on `day` (`at` is a naive wall-clock time).

    - A time the clocks skip (spring forward; Europe/Oslo 02:00-02:59 on the last Sunday of March) maps to the
      instant of the jump, the first existing local time after it: 03:00 CEST = 01:00 UTC. Every handoff inside one
      gap maps to that same instant.
    - A time the clocks show twice (fall back; Europe/Oslo 02:00-02:59 on the last Sunday of October) maps to its
      first occurrence (fold=0, still summer time): 02:30 CEST = 00:30 UTC.

    Later wall-clock times never map to earlier instants, so handoffs stay in order across every clock change.
    """
    if at.tzinfo is not None:
        raise ValueError(f"handoff time {at.isoformat()} must be a naive wall-clock time")
    local = datetime.combine(day, at.replace(fold=0), tzinfo=zone)
    instant = local.astimezone(UTC)  # fold=0: the first occurrence of a repeated time
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # Skipped: fold=0 read the time with the old offset (after the jump), fold=1 with the new one (before it).
    return _jump_instant(local.replace(fold=1).astimezone(UTC), instant, zone)


def _jump_instant(before_at: datetime, after_at: datetime, zone: ZoneInfo) -> datetime:
    """The instant the offset changes between before_at (old offset) and after_at (new offset)."""
    old_offset = before_at.astimezone(zone).utcoffset()
    # Bisect on whole seconds: tzdata changes offsets on whole seconds, and a gap is at most a day long.
    low_s, high_s = math.floor(before_at.timestamp()), math.ceil(after_at.timestamp())
    while high_s - low_s > 1:
        middle_s = (low_s + high_s) // 2
        if datetime.fromtimestamp(middle_s, zone).utcoffset() == old_offset:
            low_s = middle_s
        else:
            high_s = middle_s
    return datetime.fromtimestamp(high_s, UTC)


def shifts(
    rotation: Rotation, overrides: Iterable[RosterOverride], *, start_at: datetime, end_at: datetime
) -> list[Shift]:
    """Every shift of `rotation` intersecting [start_at, end_at), in order and contiguous, not clipped to the window.

    Overrides for other rotations are ignored. A shift never spans a handoff unless it comes from an override: the
    override's person is on call for the override's whole window, less what later overrides take. Shifts of zero
    length (handoffs 02:15 and 02:45 on a spring-forward day both map to the jump) are dropped; their member loses
    that turn and the cycle goes on as on any other day, so shift k is always members[k % len(members)].
    Raises InvalidRoster for an invalid rotation or override.
    """
    _require_aware(start_at=start_at, end_at=end_at)
    validate_rotation(rotation)
    mine = _overrides_of(rotation, overrides)
    if end_at <= start_at:
        return []
    touching = [o for o in mine if o.starts_at < end_at and o.ends_at > start_at]
    # Widen to the overrides touching the window, so that their shifts come back whole.
    low_at = min([start_at, *(o.starts_at for o in touching)])
    high_at = max([end_at, *(o.ends_at for o in touching)])
    slots = _slots(rotation, ZoneInfo(rotation.time_zone), start_at=low_at, end_at=high_at)
    return [shift for shift in _paint(rotation, slots, mine) if shift.starts_at < end_at and shift.ends_at > start_at]


def on_call(
    rotations: Iterable[Rotation], overrides: Iterable[RosterOverride], *, site_id: str, role: OnCallRole, at: datetime
) -> list[Shift]:
    """The shift covering `at` of every rotation for `role` at `site_id`, in the order given.

    Normally one; empty when nobody is rostered (the caller escalates to the next step and says so). The same shifts
    `shifts` returns, computed from the local date of `at` rather than by walking from `starts_on`.
    Raises InvalidRoster for an invalid rotation or override.
    """
    _require_aware(at=at)
    all_overrides = tuple(overrides)
    found: list[Shift] = []
    for rotation in _rotations_for(rotations, site_id=site_id, role=role):
        shift = _shift_at(rotation, _overrides_of(rotation, all_overrides), at.astimezone(UTC))
        if shift is not None:
            found.append(shift)
    return found


def coverage_gaps(
    rotations: Iterable[Rotation],
    overrides: Iterable[RosterOverride],
    *,
    site_id: str,
    role: OnCallRole,
    start_at: datetime,
    end_at: datetime,
) -> list[tuple[datetime, datetime]]:
    """The windows within [start_at, end_at) with nobody on call for `role` at `site_id`, in order, as UTC."""
    coverage = _coverage(rotations, overrides, site_id=site_id, role=role, start_at=start_at, end_at=end_at)
    return _windows(coverage, lambda people: people == 0)


def double_coverage(
    rotations: Iterable[Rotation],
    overrides: Iterable[RosterOverride],
    *,
    site_id: str,
    role: OnCallRole,
    start_at: datetime,
    end_at: datetime,
) -> list[tuple[datetime, datetime]]:
    """The windows within [start_at, end_at) with more than one person on call for `role` at `site_id`, as UTC.

    One person on call through two rotations counts once: they are paged twice but nobody is unsure who acts.
    """
    coverage = _coverage(rotations, overrides, site_id=site_id, role=role, start_at=start_at, end_at=end_at)
    return _windows(coverage, lambda people: people > 1)


def _require_aware(**instants: datetime) -> None:
    for name, value in instants.items():
        if value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware (UTC), got {value.isoformat()}")


def _rotations_for(rotations: Iterable[Rotation], *, site_id: str, role: OnCallRole) -> list[Rotation]:
    chosen = [rotation for rotation in rotations if rotation.role is role and site_id in rotation.site_ids]
    return [validate_rotation(rotation) for rotation in chosen]


def _overrides_of(rotation: Rotation, overrides: Iterable[RosterOverride]) -> tuple[RosterOverride, ...]:
    """The rotation's overrides, validated, with their times in UTC."""
    mine = (validate_override(o, rotation) for o in overrides if o.rotation_id == rotation.rotation_id)
    return tuple(replace(o, starts_at=o.starts_at.astimezone(UTC), ends_at=o.ends_at.astimezone(UTC)) for o in mine)


def _slot_start(rotation: Rotation, zone: ZoneInfo, index: int) -> datetime:
    days, position = divmod(index, len(rotation.handoff_times))
    return handoff_instant(rotation.starts_on + timedelta(days=days), rotation.handoff_times[position], zone)


def _slot_index_at(rotation: Rotation, zone: ZoneInfo, at: datetime) -> int | None:
    """The index of the shift covering `at`, or None before the first handoff. A few steps, however old the rotation."""
    # Every handoff of the local day before `at` has already happened, since the clock read a later date at `at`.
    days = (at.astimezone(zone).date() - rotation.starts_on).days - 1
    index = max(days, 0) * len(rotation.handoff_times)
    if _slot_start(rotation, zone, index) > at:
        return None
    while _slot_start(rotation, zone, index + 1) <= at:
        index += 1
    return index


def _slots(rotation: Rotation, zone: ZoneInfo, *, start_at: datetime, end_at: datetime) -> list[_Slot]:
    """The rotation's shifts of positive length intersecting [start_at, end_at), before overrides."""
    index = _slot_index_at(rotation, zone, start_at)
    index = 0 if index is None else index
    slots: list[_Slot] = []
    slot_start_at = _slot_start(rotation, zone, index)
    while slot_start_at < end_at:
        slot_end_at = _slot_start(rotation, zone, index + 1)
        if slot_end_at > slot_start_at:  # two handoffs in one spring-forward gap leave nothing between them
            slots.append(_Slot(index, slot_start_at, slot_end_at))
        index, slot_start_at = index + 1, slot_end_at
    return slots


def _winner(overrides: tuple[RosterOverride, ...], at: datetime) -> RosterOverride | None:
    covering = [o for o in overrides if o.starts_at <= at < o.ends_at]
    return max(covering, key=lambda o: o.override_id, default=None)


def _paint(rotation: Rotation, slots: list[_Slot], overrides: tuple[RosterOverride, ...]) -> list[Shift]:
    """Cut the slots where overrides start and end, give each piece to its owner, and join each owner's pieces."""
    if not slots:
        return []
    first_at, last_at = slots[0].starts_at, slots[-1].ends_at
    cuts = {t for o in overrides for t in (o.starts_at, o.ends_at) if first_at < t < last_at}
    bounds = sorted({slot.starts_at for slot in slots} | {last_at} | cuts)
    owned: list[tuple[tuple[bool, int], Shift]] = []  # owner: (True, override_id) or (False, slot index)
    position = 0
    for begin_at, end_at in pairwise(bounds):
        while slots[position].ends_at <= begin_at:
            position += 1
        slot, winner = slots[position], _winner(overrides, begin_at)
        owner = (False, slot.index) if winner is None else (True, winner.override_id)
        if owned and owned[-1][0] == owner:
            owned[-1] = (owner, replace(owned[-1][1], ends_at=end_at))
            continue
        person_id = _member(rotation, slot.index) if winner is None else winner.person_id
        override_id = None if winner is None else winner.override_id
        owned.append(
            (owner, Shift(rotation.rotation_id, rotation.role, person_id, begin_at, end_at, override_id=override_id))
        )
    return [shift for _, shift in owned]


def _member(rotation: Rotation, index: int) -> str:
    return rotation.members[index % len(rotation.members)]


def _shift_at(rotation: Rotation, overrides: tuple[RosterOverride, ...], at: datetime) -> Shift | None:
    """The shift covering `at` (UTC), the same one `_paint` makes, from the slot and the overrides around `at`."""
    zone = ZoneInfo(rotation.time_zone)
    index = _slot_index_at(rotation, zone, at)
    if index is None:
        return None
    winner = _winner(overrides, at)
    if winner is None:  # the rotation's member, from the handoff or the last override before `at` to the next
        start_at, end_at = _slot_start(rotation, zone, index), _slot_start(rotation, zone, index + 1)
        start_at = max([start_at, *(o.ends_at for o in overrides if start_at < o.ends_at <= at)])
        end_at = min([end_at, *(o.starts_at for o in overrides if at < o.starts_at < end_at)])
        return Shift(rotation.rotation_id, rotation.role, _member(rotation, index), start_at, end_at)
    # The override's person, for its window less what later overrides take, from the rotation's first handoff on.
    later = [o for o in overrides if o.override_id > winner.override_id]
    start_at = max([winner.starts_at, _slot_start(rotation, zone, 0), *(o.ends_at for o in later if o.ends_at <= at)])
    end_at = min([winner.ends_at, *(o.starts_at for o in later if o.starts_at > at)])
    return Shift(rotation.rotation_id, rotation.role, winner.person_id, start_at, end_at, winner.override_id)


def _coverage(
    rotations: Iterable[Rotation],
    overrides: Iterable[RosterOverride],
    *,
    site_id: str,
    role: OnCallRole,
    start_at: datetime,
    end_at: datetime,
) -> list[tuple[datetime, datetime, int]]:
    """[start_at, end_at) cut into windows (UTC), each with how many distinct people are on call throughout."""
    _require_aware(start_at=start_at, end_at=end_at)
    start_at, end_at = start_at.astimezone(UTC), end_at.astimezone(UTC)
    all_overrides = tuple(overrides)
    changes: list[tuple[datetime, int, str]] = []  # (instant, +1 on / -1 off, person)
    for rotation in _rotations_for(rotations, site_id=site_id, role=role):
        for shift in shifts(rotation, all_overrides, start_at=start_at, end_at=end_at):
            changes.append((max(shift.starts_at, start_at), 1, shift.person_id))
            changes.append((min(shift.ends_at, end_at), -1, shift.person_id))
    changes.sort(key=lambda change: change[0])
    bounds = sorted({start_at, end_at} | {change[0] for change in changes}) if end_at > start_at else []
    on_duty: Counter[str] = Counter()
    windows: list[tuple[datetime, datetime, int]] = []
    position = 0
    for begin_at, window_end_at in pairwise(bounds):
        while position < len(changes) and changes[position][0] <= begin_at:
            on_duty[changes[position][2]] += changes[position][1]
            position += 1
        windows.append((begin_at, window_end_at, sum(1 for shifts_on in on_duty.values() if shifts_on > 0)))
    return windows


def _windows(
    coverage: list[tuple[datetime, datetime, int]], wanted: Callable[[int], bool]
) -> list[tuple[datetime, datetime]]:
    """The windows whose head count is wanted, adjacent ones joined."""
    found: list[tuple[datetime, datetime]] = []
    for begin_at, end_at, people in coverage:
        if not wanted(people):
            continue
        if found and found[-1][1] == begin_at:
            found[-1] = (found[-1][0], end_at)
        else:
            found.append((begin_at, end_at))
    return found
