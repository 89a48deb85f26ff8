"""A care-team member's daily summary: the GP is not paged at night, but reads each morning what happened to their
patients in the units. The due time is a row (`digest_schedules`), fired by whichever worker claims it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.escalation import ContactPoint, Delivery
from core.types import Alert, CareTeamRole, Patient

__all__ = [
    "DIGEST_LOCAL_TIME",
    "DIGEST_ROLES",
    "DIGEST_ZONE",
    "DigestDecision",
    "DigestFacts",
    "DigestFiring",
    "DigestPatient",
    "DigestSchedule",
    "next_digest_at",
]

# Who gets a daily summary instead of pages: the GP follows a patient over years and acts in office hours; a page at
# 3 a.m. about a patient in a sykestue is for the doctor on call. A later issue can add team roles here.
DIGEST_ROLES = frozenset({CareTeamRole.GP})
# Before the GP's office opens: the night is over, and the day's work (a call to the unit, a home visit) can be
# planned. 08:00 exists on every day in Europe/Oslo (the clocks change at 02:00-03:00).
DIGEST_LOCAL_TIME = time(8, 0)
DIGEST_ZONE = ZoneInfo("Europe/Oslo")


def next_digest_at(after: datetime, *, local: time = DIGEST_LOCAL_TIME, zone: ZoneInfo = DIGEST_ZONE) -> datetime:
    """The first instant strictly after `after` at which the clock in `zone` reads `local`, in UTC. Days are counted
    on the calendar, so a summary is due at 08:00 every day across daylight-saving changes (23 or 25 h apart)."""
    day = after.astimezone(zone).date()
    for offset in range(3):  # today's may have passed; tomorrow's always lies ahead
        candidate = datetime.combine(day + timedelta(days=offset), local, tzinfo=zone)
        if candidate > after:
            return candidate.astimezone(after.tzinfo)
    raise AssertionError("unreachable: a wall-clock time recurs within two days")


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """When `person_id`'s next summary is due, and the time it reports from (the previous one's due time)."""

    person_id: str
    next_due_at: datetime
    covered_from: datetime


@dataclass(frozen=True, slots=True)
class DigestPatient:
    """One of the person's patients, where they are, and their alerts that were unresolved at some moment of the
    period (opened before its end, not resolved before its start)."""

    patient: Patient
    place: str
    alerts: tuple[Alert, ...]


@dataclass(frozen=True, slots=True)
class DigestFacts:
    schedule: DigestSchedule
    at: datetime
    patients: tuple[DigestPatient, ...]
    contacts: tuple[ContactPoint, ...]


@dataclass(frozen=True, slots=True)
class DigestFiring:
    """The schedule after firing, and the summary's deliveries (none when there was nothing to report)."""

    schedule: DigestSchedule
    deliveries: tuple[Delivery, ...]


# Run on a due schedule, locked, with what it reports: pure, no I/O.
DigestDecision = Callable[[DigestFacts], DigestFiring]
