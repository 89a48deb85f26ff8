"""When a GP's daily summary is due: 08:00 on the wall clock in Oslo, every day, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.digests import DIGEST_ZONE, next_digest_at


@pytest.mark.parametrize(
    ("after", "due"),
    [
        (datetime(2025, 1, 14, 6, 0, tzinfo=UTC), datetime(2025, 1, 14, 7, 0, tzinfo=UTC)),  # winter: UTC+1
        (datetime(2025, 1, 14, 7, 0, tzinfo=UTC), datetime(2025, 1, 15, 7, 0, tzinfo=UTC)),  # exactly 08:00: next day
        (datetime(2025, 7, 1, 5, 59, tzinfo=UTC), datetime(2025, 7, 1, 6, 0, tzinfo=UTC)),  # summer: UTC+2
        # the night the clocks go forward (30 March 2025, 02:00 -> 03:00): 08:00 is 06:00 UTC, 23 h after the last
        (datetime(2025, 3, 29, 7, 0, tzinfo=UTC), datetime(2025, 3, 30, 6, 0, tzinfo=UTC)),
        # the night the clocks go back (26 October 2025, 03:00 -> 02:00): 25 h after the last
        (datetime(2025, 10, 25, 6, 0, tzinfo=UTC), datetime(2025, 10, 26, 7, 0, tzinfo=UTC)),
        (datetime(2025, 12, 31, 23, 30, tzinfo=UTC), datetime(2026, 1, 1, 7, 0, tzinfo=UTC)),  # over the year
    ],
)
def test_a_summary_is_due_at_the_next_eight_oclock_in_oslo(after: datetime, due: datetime) -> None:
    assert next_digest_at(after) == due


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)))
def test_the_next_summary_is_the_first_eight_oclock_strictly_ahead(after: datetime) -> None:
    due = next_digest_at(after)
    local = due.astimezone(DIGEST_ZONE)
    assert (local.hour, local.minute, local.second) == (8, 0, 0)
    assert after < due <= after + timedelta(hours=25)
    assert next_digest_at(due) - due in (timedelta(hours=23), timedelta(hours=24), timedelta(hours=25))
