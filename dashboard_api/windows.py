"""The time window a history or chart route reads: `since`/`until` checked once, for every such route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, status

__all__ = ["DEFAULT_SPAN", "EARLIEST", "MAX_SPAN", "history_window"]

# A chart spans a day by default; a KAD stay (and a month of home follow-up) at most; longer spans page by `since`.
DEFAULT_SPAN = timedelta(hours=24)
MAX_SPAN = timedelta(days=31)
# Nothing vaktrom stores is older: an earlier bound is a typo or a probe, and year 1 overflows date arithmetic.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST_AHEAD = timedelta(days=1)


def _bad(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def history_window(since: datetime | None, until: datetime | None, *, now: datetime) -> tuple[datetime, datetime]:
    """(since, until), defaulting to the day before `now`; 422 naming what to fix for a naive time, a bound outside
    2000-01-01 .. tomorrow, since not before until, or a span over `MAX_SPAN`."""
    for name, value in (("since", since), ("until", until)):
        if value is None:
            continue
        if value.tzinfo is None:
            raise _bad(f"{name} needs a timezone, e.g. 2025-01-14T20:00:00Z")
        if not EARLIEST <= value <= now + _LATEST_AHEAD:
            raise _bad(f"{name} must lie between {EARLIEST:%Y-%m-%d} and tomorrow")
    until = until or now
    since = since or until - DEFAULT_SPAN
    if not since < until or until - since > MAX_SPAN:
        raise _bad(f"since must be before until and at most {MAX_SPAN.days} days before it")
    return since, until
