"""The store's interface for teams, outreach tasks and plan notes (core/store/outreach.py); part of `Store`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.outreach import (
    OutreachEvent,
    OutreachOutcome,
    OutreachState,
    OutreachTask,
    PatientFollowUp,
    PlanNote,
    Team,
    TeamChanges,
)

__all__ = ["OutreachStore"]


class OutreachStore(Protocol):
    """Teams and their members for a period, the outreach tasks a missed check-in opens (in the transaction of the
    worklist item, HomecareStore.fire_due_plan_checks), and the board's append-only plan notes."""

    async def add_team(self, team: Team) -> Team:
        """Conflict when the id is taken."""

    async def get_team(self, team_id: str) -> Team:
        """Raises NotFound."""

    async def list_teams(self) -> list[Team]: ...
    async def add_team_member(self, team_id: str, user_id: str, *, at: datetime) -> None:
        """NotFound for an unknown team; Conflict for a current member."""

    async def end_team_member(self, team_id: str, user_id: str, *, at: datetime) -> None:
        """NotFound when not a member now; recorded as an access change."""

    async def team_members(self, team_id: str, *, at: datetime) -> list[str]: ...
    async def is_team_member(self, team_id: str, user_id: str, *, at: datetime) -> bool: ...
    async def teams_of_member(self, user_id: str, *, at: datetime) -> list[Team]: ...
    async def team_patients(self, team_id: str, *, at: datetime) -> list[str]:
        """Patients whose care team has the team as a member at `at`."""

    async def outreach_tasks(
        self,
        team_id: str,
        *,
        states: Sequence[OutreachState],
        patient_ids: Sequence[str] | None = None,
        limit: int = 500,
    ) -> list[OutreachTask]:
        """Each patient's most pressing task (open, then taken, then done; the newest) first, the newest of those
        first, then each patient's next; of `patient_ids` only (None: any). Ordered and chosen before the limit."""

    async def outreach_task(self, task_id: str) -> tuple[OutreachTask, list[OutreachEvent]]:
        """Raises NotFound."""

    async def update_outreach_task(
        self,
        task_id: str,
        *,
        actor: str,
        action: str,
        at: datetime,
        text: str = "",
        assignee: str | None = None,
        outcome: OutreachOutcome | None = None,
    ) -> OutreachTask:
        """taken / assigned / note / done, with a history row. NotFound, or Conflict on a done task or on taking
        one another member has."""

    async def follow_up(self, patient_ids: Sequence[str], *, since: datetime) -> dict[str, PatientFollowUp]:
        """Per patient: open worklist items, missed check-ins opened since `since`, the newest staff action."""

    async def team_changes(self, team_id: str, patient_ids: Sequence[str], *, after: TeamChanges) -> TeamChanges:
        """The newest ids of the team's task history, plan notes and its patients' worklist history above `after`,
        and the patients whose rows they touch (a live board's poll)."""

    async def display_names(self, patient_ids: Sequence[str]) -> dict[str, str]:
        """Patient id -> name in one query (the board's rows)."""

    async def bed_labels(self, bed_ids: Sequence[str]) -> dict[str, str]:
        """Bed id -> label in one query."""

    async def add_plan_note(self, note: PlanNote) -> None: ...
    async def plan_notes(self, team_id: str, patient_ids: Sequence[str]) -> dict[str, PlanNote]: ...
    async def plan_note_history(self, team_id: str, patient_id: str) -> list[PlanNote]:
        """Newest first."""
