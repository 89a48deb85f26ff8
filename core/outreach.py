"""Teams around a patient (FACT, digital FACT, LAR, PSHT), their outreach tasks, and the board's shared plan notes.

A missed measurement or an inactive patient (core/homecare.py) of a patient a FACT, digital FACT or LAR team follows
also becomes an outreach task for that team, so a patient who drops out is followed up by the people who know them
(docs/HOME_AND_TEAMS.md, "Outreach").
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from core.homecare import WorklistItem, WorklistKind
from core.types import CareTeamRole

__all__ = [
    "OUTREACH_TEAM_KINDS",
    "TEAM_KINDS",
    "OutreachEvent",
    "OutreachOutcome",
    "OutreachState",
    "OutreachTask",
    "PatientFollowUp",
    "PlanNote",
    "StaffAction",
    "Team",
    "TeamChanges",
    "WorklistMark",
    "outreach_task_for",
]

# The teams a board is kept for: those that follow patients across levels of care (docs/ALERTS.md, routing).
TEAM_KINDS = frozenset(
    {CareTeamRole.FACT_TEAM, CareTeamRole.DIGITAL_FACT_TEAM, CareTeamRole.LAR_TEAM, CareTeamRole.PSHT}
)
# The teams a missed check-in becomes outreach for: ACT/FACT and LAR teams seek out a patient who drops away (issue
# 12); a PSHT coordinates and is informed, it does not do outreach itself.
OUTREACH_TEAM_KINDS = frozenset({CareTeamRole.FACT_TEAM, CareTeamRole.DIGITAL_FACT_TEAM, CareTeamRole.LAR_TEAM})


class OutreachState(enum.StrEnum):
    """open -> taken (a team member owns it) -> done (with an outcome and a note); done is final."""

    OPEN = "open"
    TAKEN = "taken"
    DONE = "done"


class OutreachOutcome(enum.StrEnum):
    REACHED = "reached"  # reached the patient (phone, video, message answered)
    HOME_VISIT = "home_visit"  # went to see the patient
    NOT_REACHED_ESCALATE = "not_reached_escalate"  # not reached: escalated (the note says to whom)


@dataclass(frozen=True, slots=True)
class Team:
    team_id: str  # also the member id of the team's rows in a patient's care team
    name: str
    kind: CareTeamRole
    organisation: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutreachTask:
    task_id: str  # random, not guessable: ids are in URLs
    team_id: str
    patient_id: str
    item_id: str  # the worklist item it came from: one task per item and team
    kind: WorklistKind
    summary: str
    opened_at: datetime
    state: OutreachState = OutreachState.OPEN
    assignee: str | None = None
    done_at: datetime | None = None
    outcome: OutreachOutcome | None = None


@dataclass(frozen=True, slots=True)
class OutreachEvent:
    task_id: str
    at: datetime
    actor: str
    action: str  # opened, taken, assigned, note, done
    text: str = ""


@dataclass(frozen=True, slots=True)
class PlanNote:
    """One version of a team's short shared plan for a patient; append-only, the newest is shown."""

    team_id: str
    patient_id: str
    text: str
    written_by: str
    written_at: datetime


@dataclass(frozen=True, slots=True)
class WorklistMark:
    """An open coordinator item of a team patient, as the board shows it (kinds as stored: the worklist grows)."""

    item_id: str
    kind: str
    summary: str
    opened_at: datetime
    state: str


@dataclass(frozen=True, slots=True)
class StaffAction:
    """The newest thing a person did about a patient: an alert acknowledged, a worklist item or task handled."""

    at: datetime
    actor: str
    what: str


@dataclass(frozen=True, slots=True)
class PatientFollowUp:
    """What the board shows of a team patient's follow-up beside vitals and alerts."""

    open_items: tuple[WorklistMark, ...] = ()
    missed_check_ins: int = 0  # missed-measurement and inactive-patient items opened in the board's period
    last_staff_action: StaffAction | None = None


@dataclass(frozen=True, slots=True)
class TeamChanges:
    """Where a live board has read up to (the newest row ids of task history, plan notes and worklist history), and
    the patients whose rows changed after the previous cursor."""

    task_event_id: int = 0
    note_id: int = 0
    worklist_event_id: int = 0
    patient_ids: frozenset[str] = frozenset()


def outreach_task_for(item: WorklistItem, team_id: str) -> OutreachTask:
    """The team's task for a worklist item: same patient, what and when."""
    return OutreachTask(
        task_id=uuid.uuid4().hex,
        team_id=team_id,
        patient_id=item.patient_id,
        item_id=item.item_id,
        kind=item.kind,
        summary=item.summary,
        opened_at=item.opened_at,
    )
