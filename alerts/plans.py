"""Measurement plans: when each scheduled window opens and closes in the patient's zone, and what a closed window
or a quiet patient becomes on the worklist. Pure functions; the store fires them from durable timers."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.rosters import handoff_instant
from core.errors import VaktromError
from core.homecare import (
    ACTIVITY_TIMER,
    MeasurementPlan,
    MeasurementWindow,
    PlanCheckDecision,
    PlanCheckFacts,
    PlanItem,
    PlanTimer,
    VkpCode,
    WorklistItem,
    WorklistKind,
)
from core.types import Parameter
from core.vocabulary import measurement_of

__all__ = [
    "InvalidPlan",
    "decide_plan_check",
    "first_timers",
    "inactive_item",
    "missed_item",
    "next_window",
    "validate_plan",
]

MAX_WINDOW_MIN = 24 * 60  # a window longer than a day would overlap the next day's
MAX_INACTIVE_AFTER_H = 30 * 24.0


class InvalidPlan(VaktromError):
    def __init__(self, field_name: str, reason: str) -> None:
        self.field_name = field_name
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


def validate_plan(plan: MeasurementPlan) -> MeasurementPlan:
    """The plan, or InvalidPlan naming the field that is wrong."""
    try:
        ZoneInfo(plan.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidPlan("timezone", f"{plan.timezone!r} is not an IANA time zone (e.g. Europe/Oslo)") from None
    if not 1 <= plan.inactive_after_h <= MAX_INACTIVE_AFTER_H:
        raise InvalidPlan("inactive_after_h", f"must be 1-{MAX_INACTIVE_AFTER_H:g} hours")
    ids = [item.item_id for item in plan.items]
    if len(set(ids)) != len(ids):
        raise InvalidPlan("items", "every item needs its own item_id")
    if ACTIVITY_TIMER in ids:  # the id of the activity check's timer, beside the items' own
        raise InvalidPlan("items", f"{ACTIVITY_TIMER!r} is reserved; name the item otherwise")
    for item in plan.items:
        if not item.parameters:
            raise InvalidPlan(f"items[{item.item_id}].parameters", "name at least one measurement")
        if not item.local_times or len(set(item.local_times)) != len(item.local_times):
            raise InvalidPlan(f"items[{item.item_id}].local_times", "give one or more distinct times")
        if not 1 <= item.window_min <= MAX_WINDOW_MIN:
            raise InvalidPlan(f"items[{item.item_id}].window_min", f"must be 1-{MAX_WINDOW_MIN} minutes")
        if not item.weekdays or not item.weekdays <= set(range(7)):
            raise InvalidPlan(f"items[{item.item_id}].weekdays", "days are 0 (Monday) to 6 (Sunday), at least one")
        if any(t.tzinfo is not None for t in item.local_times):
            raise InvalidPlan(f"items[{item.item_id}].local_times", "wall-clock times, without a zone")
    return plan


def next_window(item: PlanItem, zone_name: str, *, after: datetime) -> MeasurementWindow:
    """The first window of `item` that opens at or after `after` (UTC). A time the clocks skip opens at the jump, a
    time they show twice at its first occurrence (alerts/rosters.handoff_instant), so windows keep their order and
    each local time gives one window a day, on every daylight-saving change."""
    zone = ZoneInfo(zone_name)
    day = after.astimezone(zone).date() - timedelta(days=1)  # a window may open "yesterday" local, after `after`
    for offset in range(9):  # within 8 days every weekday has come round
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() not in item.weekdays:
            continue
        for opens_at in sorted(handoff_instant(candidate_day, t, zone) for t in item.local_times):
            if opens_at >= after:
                return MeasurementWindow(item.item_id, opens_at, opens_at + timedelta(minutes=item.window_min))
    raise AssertionError("a validated plan item has a window every week")  # validate_plan guarantees weekdays


def missed_item(
    *,
    site_id: str,
    patient_id: str,
    window: MeasurementWindow,
    zone_name: str,
    missing: Collection[Parameter],
    at: datetime,
) -> WorklistItem:
    """A closed window lacking `missing`: VKP 5.3.2, naming each missing measurement by its LOINC code."""
    names = ", ".join(sorted(p.value for p in missing))
    zone = ZoneInfo(zone_name)
    opens, closes = window.opens_at.astimezone(zone), window.closes_at.astimezone(zone)
    when = f"{opens:%Y-%m-%d %H:%M}-{closes:%H:%M} {zone_name}"
    return WorklistItem(
        item_id=uuid.uuid4().hex,
        site_id=site_id,
        patient_id=patient_id,
        kind=WorklistKind.MISSED_MEASUREMENT,
        vkp_code=VkpCode.MEASUREMENT_NOT_REPORTED,
        summary=f"Measurement not reported: {names} (window {when})",
        opened_at=at,
        missing_loinc=tuple(sorted(measurement_of(p).loinc for p in missing)),
        window_opens_at=window.opens_at,
        window_closes_at=window.closes_at,
    )


def inactive_item(*, site_id: str, patient_id: str, last_reading_at: datetime | None, at: datetime) -> WorklistItem:
    """No reading of any kind for the plan's period: VKP 5.3."""
    since = f"since {last_reading_at.astimezone(UTC).isoformat(timespec='minutes')}" if last_reading_at else "ever"
    return WorklistItem(
        item_id=uuid.uuid4().hex,
        site_id=site_id,
        patient_id=patient_id,
        kind=WorklistKind.INACTIVE_PATIENT,
        vkp_code=VkpCode.INACTIVE_PATIENT,
        summary=f"Inactive patient: no measurement {since}",
        opened_at=at,
    )


def first_timers(plan: MeasurementPlan, *, now: datetime, last_reading_at: datetime | None) -> list[PlanTimer]:
    """The timers a plan arms when it is set: each item's next window, and the activity check."""
    timers = []
    for item in plan.items:
        window = next_window(item, plan.timezone, after=now)
        timers.append(PlanTimer(plan.patient_id, item.item_id, window.opens_at, window.closes_at))
    # An edit does not restart the quiet spell: due one period after the last reading, or from now if there never
    # was one. A due time already past is claimed by the next poll (every due_at up to now less ARRIVAL_GRACE_S).
    since = last_reading_at if last_reading_at is not None else now
    timers.append(PlanTimer(plan.patient_id, ACTIVITY_TIMER, since, since + timedelta(hours=plan.inactive_after_h)))
    return timers


def decide_plan_check(facts: PlanCheckFacts, *, now: datetime) -> PlanCheckDecision:
    """A due plan timer: the worklist item it raises (if any) and when it is due next."""
    plan, timer = facts.plan, facts.timer
    if plan is None:
        return PlanCheckDecision(item=None, next_timer=None)  # no plan
    # A plan in force keeps its timers while its patient is away from home follow-up (a night in a KAD bed, an
    # admission, a gap between programmes): they roll on without raising anything, so the first window after the
    # return is checked with no one having to save the plan again, however the patient came back (re-arming on
    # enrolment instead would make every way back into home follow-up need to know of plans).
    if timer.item_id == ACTIVITY_TIMER:
        return _activity(facts, plan, now)
    item = next((i for i in plan.items if i.item_id == timer.item_id), None)
    if item is None:
        return PlanCheckDecision(item=None, next_timer=None)  # taken out of the plan
    window = MeasurementWindow(item.item_id, timer.opens_at, timer.due_at)
    missing = item.parameters - facts.seen
    raised = None
    if missing and facts.site_id is not None:
        raised = missed_item(
            site_id=facts.site_id, patient_id=plan.patient_id, window=window, zone_name=plan.timezone,
            missing=missing, at=now,
        )  # fmt: skip
    following = next_window(item, plan.timezone, after=timer.opens_at + timedelta(microseconds=1))
    next_timer = PlanTimer(plan.patient_id, item.item_id, following.opens_at, following.closes_at)
    return PlanCheckDecision(item=raised, next_timer=next_timer)


def _activity(facts: PlanCheckFacts, plan: MeasurementPlan, now: datetime) -> PlanCheckDecision:
    period = timedelta(hours=plan.inactive_after_h)
    if facts.site_id is None:  # away: not a quiet spell; look again a period on
        return PlanCheckDecision(item=None, next_timer=PlanTimer(plan.patient_id, ACTIVITY_TIMER, now, now + period))
    last = facts.last_reading_at
    # Time away is not silence: the quiet spell counts from the return home or the last reading, whichever is later.
    quiet_since = max((t for t in (last, facts.home_since) if t is not None), default=None)
    if quiet_since is not None and quiet_since + period > now:  # a reading (or the return) since it was armed
        next_timer = PlanTimer(plan.patient_id, ACTIVITY_TIMER, quiet_since, quiet_since + period)
        return PlanCheckDecision(item=None, next_timer=next_timer)
    raised = None
    if not facts.inactive_open:  # one open item per quiet spell, however long it lasts
        raised = inactive_item(site_id=facts.site_id, patient_id=plan.patient_id, last_reading_at=last, at=now)
    return PlanCheckDecision(item=raised, next_timer=PlanTimer(plan.patient_id, ACTIVITY_TIMER, now, now + period))
