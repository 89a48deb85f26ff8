"""Bodies and responses of the team routes (teams, outreach tasks, the board, plan notes): pydantic at the edge,
extra="forbid", bounded; responses built from domain types with `.of(...)`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.outreach import (
    TEAM_KINDS,
    OutreachEvent,
    OutreachOutcome,
    OutreachTask,
    PlanNote,
    StaffAction,
    Team,
    WorklistMark,
)
from core.types import CareTeamRole
from dashboard_api.schemas import AlertOut, ScoreOut, VitalOut

__all__ = [
    "AssignIn",
    "BoardOut",
    "BoardRowOut",
    "DoneIn",
    "OpenItemOut",
    "PlanNoteHistoryOut",
    "PlanNoteIn",
    "PlanNoteOut",
    "StaffActionOut",
    "StatusOut",
    "TaskDetailOut",
    "TaskEventOut",
    "TaskNoteIn",
    "TaskOut",
    "TeamIn",
    "TeamMemberIn",
    "TeamOut",
    "TeamPatientIn",
    "WhereOut",
]

_MAX_TEXT = 2000
_MAX_PLAN_NOTE = 500  # a short shared plan, read at a glance on the board; the journal holds the rest
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"  # as a user id and a care-team member id
_TEXT = r"^[^\x00-\x1f\x7f]+$"  # printable: names are shown on pages


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


def _not_blank(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise ValueError("write something (it is blank)")
    return stripped


class TeamIn(_In):
    team_id: str = Field(min_length=1, max_length=64, pattern=_ID, description="e.g. fact-vest-finnmark")
    name: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    kind: CareTeamRole = Field(description="fact_team, digital_fact_team, lar_team or psht")
    organisation: str = Field(min_length=1, max_length=200, pattern=_TEXT)

    @field_validator("kind")
    @classmethod
    def _a_team_kind(cls, kind: CareTeamRole) -> CareTeamRole:
        if kind not in TEAM_KINDS:
            raise ValueError(f"a team is one of {', '.join(sorted(k.value for k in TEAM_KINDS))}")
        return kind


class TeamMemberIn(_In):
    user_id: str = Field(min_length=1, max_length=128, pattern=_ID)


class TeamPatientIn(_In):
    patient_id: str = Field(min_length=1, max_length=128, pattern=_ID)


class TeamOut(_Out):
    team_id: str
    name: str
    kind: str
    organisation: str
    created_at: datetime

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        return cls(team_id=team.team_id, name=team.name, kind=team.kind.value, organisation=team.organisation,
                   created_at=team.created_at)  # fmt: skip


class TaskNoteIn(_In):
    text: str = Field(min_length=1, max_length=_MAX_TEXT)
    _text = field_validator("text")(_not_blank)


class AssignIn(_In):
    user_id: str = Field(min_length=1, max_length=128, pattern=_ID, description="A current member of the team.")


class DoneIn(_In):
    outcome: OutreachOutcome = Field(description="reached, home_visit, or not_reached_escalate")
    note: str = Field(min_length=1, max_length=_MAX_TEXT, description="What was done: required.")
    _note = field_validator("note")(_not_blank)


class TaskOut(_Out):
    task_id: str
    team_id: str
    patient_id: str
    item_id: str
    kind: str
    summary: str
    opened_at: datetime
    state: str
    assignee: str | None
    done_at: datetime | None
    outcome: str | None

    @classmethod
    def of(cls, task: OutreachTask) -> TaskOut:
        return cls(
            task_id=task.task_id, team_id=task.team_id, patient_id=task.patient_id, item_id=task.item_id,
            kind=task.kind.value, summary=task.summary, opened_at=task.opened_at, state=task.state.value,
            assignee=task.assignee, done_at=task.done_at, outcome=None if task.outcome is None else task.outcome.value,
        )  # fmt: skip


class TaskEventOut(_Out):
    at: datetime
    actor: str
    action: str
    text: str

    @classmethod
    def of(cls, event: OutreachEvent) -> TaskEventOut:
        return cls(at=event.at, actor=event.actor, action=event.action, text=event.text)


class TaskDetailOut(_Out):
    task: TaskOut
    history: list[TaskEventOut]


class PlanNoteIn(_In):
    text: str = Field(min_length=1, max_length=_MAX_PLAN_NOTE)
    _text = field_validator("text")(_not_blank)


class PlanNoteOut(_Out):
    patient_id: str
    text: str
    written_by: str
    written_at: datetime

    @classmethod
    def of(cls, note: PlanNote) -> PlanNoteOut:
        return cls(patient_id=note.patient_id, text=note.text, written_by=note.written_by, written_at=note.written_at)


class PlanNoteHistoryOut(_Out):
    patient_id: str
    note: PlanNoteOut | None = Field(description="The newest version: the one shown.")
    history: list[PlanNoteOut] = Field(description="Every version, newest first.")


class WhereOut(_Out):
    setting: str = Field(description="home (a home programme), bed (a KAD, sykestue or other bed), or none")
    site_id: str | None
    site_name: str | None
    site_kind: str | None = Field(description="sykestue, kad, home_programme")
    ward_id: str | None
    ward_name: str | None
    bed_label: str | None
    text: str = Field(description='In words, e.g. "KAD bed 1 · Annen kommune" or "At home · DHO"')


class StatusOut(_Out):
    band: str = Field(description="The NEWS2 band: high, medium, low-medium, low; none without a score")
    word: str = Field(description="The band in words, shown beside its colour (colour is never the only signal)")
    news2: int | None
    complete: bool | None


class OpenItemOut(_Out):
    item_id: str
    kind: str
    summary: str
    opened_at: datetime
    state: str

    @classmethod
    def of(cls, item: WorklistMark) -> OpenItemOut:
        return cls(item_id=item.item_id, kind=item.kind, summary=item.summary, opened_at=item.opened_at,
                   state=item.state)  # fmt: skip


class StaffActionOut(_Out):
    at: datetime
    actor: str
    what: str

    @classmethod
    def of(cls, action: StaffAction) -> StaffActionOut:
        return cls(at=action.at, actor=action.actor, what=action.what)


class BoardRowOut(_Out):
    patient_id: str
    display_name: str
    where: WhereOut
    status: StatusOut
    score: ScoreOut | None
    vitals: list[VitalOut]
    alerts: list[AlertOut] = Field(description="Open and acknowledged alerts, in any site, newest first")
    tasks: list[TaskOut] = Field(description="The team's open and taken outreach tasks")
    worklist: list[OpenItemOut] = Field(description="The coordinators' open items of the patient")
    missed_check_ins: int = Field(description="Missed measurements and inactive-patient items in the last 7 days")
    last_reading_at: datetime | None
    last_staff_action: StaffActionOut | None
    plan_note: PlanNoteOut | None


class BoardOut(_Out):
    at: datetime
    team: TeamOut
    rows: list[BoardRowOut] = Field(description="Most urgent first: band, open alerts, missed check-ins, then name")
