"""Home follow-up: measurement plans (append-only), their durable timers, and the coordinators' worklist.

- `measurement_plans`: each plan a patient was given (items as JSON, zone, inactivity period, who, when); the
  newest per patient is in force.
- `plan_timers`: per plan item the window to check when it closes, and per patient the activity check.
- `worklist_items` and `worklist_events`: what a closed window or a quiet patient raised, and everything done with it.

Revision 0010, after 0009. New tables only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.columns import Json, RowId, UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measurement_plans",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("patient_id", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("items", Json, nullable=False),
        sa.Column("inactive_after_h", sa.Double, nullable=False),
        sa.Column("set_by", sa.Text, nullable=False),
        sa.Column("set_at", UtcDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("measurement_plans_patient", "measurement_plans", ["patient_id", "set_at"])
    op.create_table(
        "plan_timers",
        sa.Column("patient_id", sa.Text, primary_key=True),
        sa.Column("item_id", sa.Text, primary_key=True),
        sa.Column("opens_at", UtcDateTime, nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
    )
    op.create_index("plan_timers_due", "plan_timers", ["due_at"])
    op.create_table(
        "worklist_items",
        sa.Column("item_id", sa.Text, primary_key=True),
        sa.Column("site_id", sa.Text, nullable=False),
        sa.Column("patient_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("vkp_code", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("missing_loinc", Json, nullable=False),
        sa.Column("window_opens_at", UtcDateTime, nullable=True),
        sa.Column("window_closes_at", UtcDateTime, nullable=True),
        sa.Column("owner", sa.Text, nullable=True),
        sa.Column("closed_at", UtcDateTime, nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
    )
    op.create_index("worklist_items_site", "worklist_items", ["site_id", "state", "opened_at"])
    op.create_index("worklist_items_patient", "worklist_items", ["patient_id", "kind", "state"])
    op.create_table(
        "worklist_events",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("item_id", sa.Text, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("worklist_events_item", "worklist_events", ["item_id", "at"])


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
