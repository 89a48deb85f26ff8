"""Teams and outreach: FACT, digital FACT, LAR and PSHT teams with their members, the outreach tasks a missed
check-in of their patients opens, and the team board's shared plan notes.

`outreach_tasks` has one row per worklist item and team (a unique key); `outreach_events` is a task's history and
`team_plan_notes` is append-only (the newest note per team and patient is shown).

Revision 0012, after 0011. New tables only.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from core.store.columns import RowId, UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=nullable)


def _at(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UtcDateTime, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("team_id", sa.Text, primary_key=True),
        _text("name"),
        _text("kind"),
        _text("organisation"),
        _at("created_at"),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("start_at", UtcDateTime, primary_key=True),
        _at("end_at", nullable=True),
    )
    op.create_index("team_members_user", "team_members", ["user_id", "team_id"])
    op.create_table(
        "outreach_tasks",
        sa.Column("task_id", sa.Text, primary_key=True),
        *(_text(name) for name in ("team_id", "patient_id", "item_id", "kind", "summary")),
        _at("opened_at"),
        _text("state"),
        _text("assignee", nullable=True),
        _at("done_at", nullable=True),
        _text("outcome", nullable=True),
        sa.UniqueConstraint("item_id", "team_id", name="outreach_tasks_item_team"),
    )
    op.create_index("outreach_tasks_team", "outreach_tasks", ["team_id", "state", "opened_at"])
    op.create_table(
        "outreach_events",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        _text("task_id"),
        _at("at"),
        *(_text(name) for name in ("actor", "action", "text")),
        sqlite_autoincrement=True,
    )
    op.create_index("outreach_events_task", "outreach_events", ["task_id", "at"])
    op.create_table(
        "team_plan_notes",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        *(_text(name) for name in ("team_id", "patient_id", "text", "written_by")),
        _at("written_at"),
        sqlite_autoincrement=True,
    )
    op.create_index("team_plan_notes_patient", "team_plan_notes", ["team_id", "patient_id", "written_at"])


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
