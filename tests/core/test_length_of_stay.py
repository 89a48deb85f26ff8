"""When a stay passes its unit's limit: KAD/ØHD after 72 elapsed hours, a sykestue after 14 days of the unit's
calendar (Europe/Oslo), across both daylight-saving changes; a home programme never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.length_of_stay import UNIT_TIME_ZONE, StayLimit, limit_due_at, limit_of
from core.types import SiteKind


def oslo(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UNIT_TIME_ZONE)


@pytest.mark.parametrize(
    ("kind", "admitted_at", "due_at", "elapsed_h"),
    [
        # KAD: elapsed hours, so the wall clock shows 73 h across the spring change and 71 h across the autumn one
        (SiteKind.KAD, oslo(2025, 1, 6, 9, 0), oslo(2025, 1, 9, 9, 0), 72),
        (SiteKind.KAD, oslo(2025, 3, 29, 12, 0), oslo(2025, 4, 1, 13, 0), 72),
        (SiteKind.KAD, oslo(2025, 10, 25, 12, 0), oslo(2025, 10, 28, 11, 0), 72),
        # sykestue: the same wall-clock time 14 days later, so 335 h over the spring change and 337 h over autumn
        (SiteKind.SYKESTUE, oslo(2025, 1, 6, 9, 0), oslo(2025, 1, 20, 9, 0), 336),
        (SiteKind.SYKESTUE, oslo(2025, 3, 20, 10, 0), oslo(2025, 4, 3, 10, 0), 335),
        (SiteKind.SYKESTUE, oslo(2025, 10, 20, 10, 0), oslo(2025, 11, 3, 10, 0), 337),
        # a wall-clock time the spring change skips (02:30 on 30 March) lands an hour later, 03:30 CEST
        (SiteKind.SYKESTUE, oslo(2025, 3, 16, 2, 30), oslo(2025, 3, 30, 3, 30), 336),
    ],
)
def test_a_stay_passes_its_limit_when_the_unit_kind_says(
    kind: SiteKind, admitted_at: datetime, due_at: datetime, elapsed_h: int
) -> None:
    limit = limit_of(kind)
    assert limit is not None

    due = limit_due_at(limit, admitted_at.astimezone(UTC))

    assert due == due_at
    assert due.tzinfo is UTC
    assert due - admitted_at == timedelta(hours=elapsed_h)


def test_each_unit_kind_has_its_own_limit_and_home_follow_up_has_none() -> None:
    assert limit_of(SiteKind.KAD) is StayLimit.KAD_72H
    assert limit_of(SiteKind.SYKESTUE) is StayLimit.SYKESTUE_14D
    assert limit_of(SiteKind.HOME_PROGRAMME) is None
