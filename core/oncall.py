"""On-call rosters: rotations of people per role and site, overrides that swap someone in, and the shifts they give."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time

__all__ = ["OnCallRole", "RosterOverride", "Rotation", "Shift"]


class OnCallRole(enum.StrEnum):
    """Who an alert escalates to, in order: the unit's nurse, then the doctor on call, then the hospital specialist."""

    UNIT_NURSE = "unit_nurse"  # the nurse on duty at the unit
    DOCTOR_ON_CALL = "doctor_on_call"  # tilsynslege or legevakt
    HOSPITAL_SPECIALIST = "hospital_specialist"  # covers several sykestuer/KAD units remotely
    HOME_COORDINATOR = "home_coordinator"


@dataclass(frozen=True, slots=True)
class Rotation:
    """A repeating roster. Shift k starts at handoff k and is taken by members[k % len(members)].

    Handoffs are numbered from the first handoff of `starts_on`: handoff k is handoff_times[k % n] on the local date
    starts_on + k // n days, n = len(handoff_times). One handoff time gives 24-hour shifts.
    """

    rotation_id: int
    name: str
    role: OnCallRole
    site_ids: frozenset[str]  # the units it covers
    handoff_times: tuple[time, ...]  # local wall-clock times in `time_zone`, increasing, whole minutes, naive
    members: tuple[str, ...]  # person ids in cycle order
    starts_on: date  # a local date in `time_zone`
    time_zone: str = "Europe/Oslo"  # an IANA name


@dataclass(frozen=True, slots=True)
class RosterOverride:
    """Someone swaps in for part of a rotation over [starts_at, ends_at). Of overlapping overrides the latest wins."""

    override_id: int  # increases with creation time, so the higher id is the later-created override
    rotation_id: int
    person_id: str
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC, exclusive


@dataclass(frozen=True, slots=True)
class Shift:
    """One person on call for a rotation over the half-open [starts_at, ends_at): at ends_at the next person is on."""

    rotation_id: int
    role: OnCallRole
    person_id: str
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC, exclusive
    override_id: int | None = None  # set when the person is on call through an override
