"""Bodies and responses of the team routes (teams, outreach tasks, the board, plan notes): pydantic at the edge,
extra="forbid", bounded; responses built from domain types with `.of(...)`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.outreach import TEAM_KINDS, OutreachEvent, OutreachOutcome, OutreachTask, PlanNote, Team
from core.types import CareTeamRole

__all__ = [
    "AssignIn",
    "DoneIn",
    "PlanNoteIn",
    "PlanNoteOut",
    "TaskDetailOut",
    "TaskEventOut",
    "TaskNoteIn",
    "TaskOut",
    "TeamIn",
    "TeamMemberIn",
    "TeamOut",
    "TeamPatientIn",
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
