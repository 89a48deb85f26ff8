"""How long a stay is meant to last, by the kind of unit: when it passes, an advisory (low-priority) item asks for a
review. Pure functions; the store arms one durable timer per stay and limit (`stay_limit_timers`).

- KAD/ØHD (municipal acute beds): at most 72 hours, counted in elapsed hours (the rule is written in hours, and a
  night with a daylight-saving change is an hour shorter or longer on the wall clock, not in bed).
- Sykestue: 14 days, counted in the unit's calendar (Europe/Oslo): due at the same wall-clock time 14 days later,
  so 335 or 337 elapsed hours across a daylight-saving change. After that the stay needs a specialist's review.
- A home-monitoring programme has no limit.

The length of a stay runs from `admitted_at`: when the patient came to a unit of this kind. A transfer between beds
or units of the same kind keeps it; a transfer to another kind of unit starts it again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.types import SiteKind

__all__ = ["UNIT_TIME_ZONE", "DueStayLimit", "StayLimit", "limit_due_at", "limit_message", "limit_of"]

# Norwegian municipal units: clinical calendars are kept in Norwegian time (STYLE §10).
UNIT_TIME_ZONE = ZoneInfo("Europe/Oslo")
_KAD_LIMIT = timedelta(hours=72)
_SYKESTUE_DAYS = 14


class StayLimit(enum.StrEnum):
    KAD_72H = "kad_72h"
    SYKESTUE_14D = "sykestue_14d"


_LIMIT_OF_KIND = {SiteKind.KAD: StayLimit.KAD_72H, SiteKind.SYKESTUE: StayLimit.SYKESTUE_14D}
_WORDS = {
    StayLimit.KAD_72H: "KAD/ØHD stay beyond 72 h: decide on discharge or transfer",
    StayLimit.SYKESTUE_14D: "sykestue stay beyond 14 days: needs a specialist's review",
}


@dataclass(frozen=True, slots=True)
class DueStayLimit:
    """A length-of-stay timer that came due: the patient's current stay, and since when they have been in this kind
    of unit."""

    patient_id: str
    stay_id: str
    ward_id: str
    limit: StayLimit
    admitted_at: datetime
    due_at: datetime


def limit_of(kind: SiteKind) -> StayLimit | None:
    return _LIMIT_OF_KIND.get(kind)


def limit_due_at(limit: StayLimit, admitted_at: datetime) -> datetime:
    """When a stay that began at `admitted_at` (tz-aware) passes `limit`, in UTC."""
    if limit is StayLimit.KAD_72H:
        return (admitted_at + _KAD_LIMIT).astimezone(UTC)
    local = admitted_at.astimezone(UNIT_TIME_ZONE)
    # Wall-clock arithmetic in the unit's zone: zoneinfo applies the offset of the day it lands on.
    due_local = (local.replace(tzinfo=None) + timedelta(days=_SYKESTUE_DAYS)).replace(tzinfo=UNIT_TIME_ZONE)
    return due_local.astimezone(UTC)


def limit_message(limit: StayLimit) -> str:
    """What the advisory item says to the unit."""
    return _WORDS[limit]
