"""Home follow-up: a patient's measurement plan and the worklist items it produces (docs/HOME_AND_TEAMS.md).

VKP codes are those of HL7 Norway's Velferdsteknologi DHO profiles ("5.3 inactive patient", "5.3.2 measurement not
reported"); what a missed measurement lacked is named by the LOINC codes of core/vocabulary.py.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time

from core.thresholds import TriageColour
from core.types import Parameter, Reading

__all__ = [
    "ACTIVITY_TIMER",
    "ARRIVAL_GRACE_S",
    "MeasurementPlan",
    "MeasurementWindow",
    "PlanCheckDecide",
    "PlanCheckDecision",
    "PlanCheckFacts",
    "PlanItem",
    "PlanTimer",
    "VkpCode",
    "WorklistChange",
    "WorklistEvent",
    "WorklistItem",
    "WorklistKind",
    "WorklistState",
]

# The item id of a patient's activity timer (no reading of any kind for the plan's inactivity period).
ACTIVITY_TIMER = "_activity"
# A window is checked this long after it closes: a home kit sends what it measured within a minute or two (longer on
# a weak mobile signal), so a measurement taken in the window's last minutes still counts and raises no item.
ARRIVAL_GRACE_S = 300.0


class VkpCode(enum.StrEnum):
    """The DHO alert codes vaktrom raises (HL7 Norway Velferdsteknologi, VKP alert codes)."""

    INACTIVE_PATIENT = "5.3"
    MEASUREMENT_NOT_REPORTED = "5.3.2"
    # "Måledata rapportert": the code system (v0.9.0) has no "out of range" code; the triage colour says how urgent.
    MEASUREMENT_REPORTED = "5.2.1"


class WorklistKind(enum.StrEnum):
    MISSED_MEASUREMENT = "missed_measurement"
    INACTIVE_PATIENT = "inactive_patient"
    THRESHOLD_BREACH = "threshold_breach"  # a reading outside the patient's personal green band
    ALERT = "alert"  # a NEWS2, ML or other alert of a home patient


class WorklistState(enum.StrEnum):
    """open -> claimed (someone owns it) -> closed (with an outcome and a comment); closed is final."""

    OPEN = "open"
    CLAIMED = "claimed"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One scheduled measurement: these parameters, at each local time on the given weekdays, within `window_min`
    minutes from it (a reading at 08:40 counts for "08:00, within 60 min")."""

    item_id: str
    parameters: frozenset[Parameter]
    local_times: tuple[time, ...]
    window_min: int
    weekdays: frozenset[int] = frozenset(range(7))  # Monday = 0, as date.weekday()


@dataclass(frozen=True, slots=True)
class MeasurementPlan:
    """The patient's plan (egenbehandlingsplan), in the patient's own time zone; the newest one set is in force."""

    patient_id: str
    timezone: str  # IANA name, e.g. Europe/Oslo
    items: tuple[PlanItem, ...]
    inactive_after_h: float  # no reading of any kind for this long: "inactive patient"
    set_by: str
    set_at: datetime


@dataclass(frozen=True, slots=True)
class MeasurementWindow:
    item_id: str
    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True, slots=True)
class PlanTimer:
    """A durable timer of a plan: the window of `item_id` to check when it closes (`item_id` "" checks activity)."""

    patient_id: str
    item_id: str
    opens_at: datetime
    due_at: datetime


@dataclass(frozen=True, slots=True)
class WorklistItem:
    item_id: str  # random, not guessable: ids are exposed in URLs
    site_id: str  # the home-monitoring programme
    patient_id: str
    kind: WorklistKind
    vkp_code: VkpCode
    summary: str
    opened_at: datetime
    state: WorklistState = WorklistState.OPEN
    missing_loinc: tuple[str, ...] = ()
    window_opens_at: datetime | None = None
    window_closes_at: datetime | None = None
    owner: str | None = None
    closed_at: datetime | None = None
    outcome: str | None = None
    parameter: Parameter | None = None  # a threshold breach's measurement
    triage_colour: TriageColour | None = None
    implicated: tuple[Reading, ...] = ()  # the readings that made (or raised) a threshold breach, oldest first
    alert_id: int | None = None  # the alert behind an alert item, or the alert an item was escalated into
    assignee: str | None = None  # the coordinator it was assigned to


@dataclass(frozen=True, slots=True)
class WorklistEvent:
    item_id: str
    at: datetime
    actor: str
    action: str  # opened, raised, reading, claimed, assigned, escalated, note, closed
    text: str = field(default="")


@dataclass(frozen=True, slots=True)
class WorklistChange:
    """What a writer did to a programme's worklist, for the live list: `action` is an event's (opened, raised, ...)."""

    item: WorklistItem
    action: str


@dataclass(frozen=True, slots=True)
class PlanCheckFacts:
    """What the store knows when a plan timer is due."""

    timer: PlanTimer
    plan: MeasurementPlan | None  # the plan in force
    site_id: str | None  # the programme of the patient's current home stay; None: not followed at home now
    seen: frozenset[Parameter]  # parameters with a reading measured inside the window (item timers)
    last_reading_at: datetime | None  # the patient's newest reading of any kind
    inactive_open: bool  # an inactive-patient item of this patient is not closed yet
    home_since: datetime | None = None  # when the current home stay began (None: not followed at home now)


@dataclass(frozen=True, slots=True)
class PlanCheckDecision:
    item: WorklistItem | None  # to open now
    next_timer: PlanTimer | None  # None: the timer is disarmed (no plan in force, an item no longer planned)


PlanCheckDecide = Callable[[PlanCheckFacts], PlanCheckDecision]
