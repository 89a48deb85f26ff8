"""Personal thresholds and the triage worklist.

- `threshold_sets`: each set of personal thresholds a patient was given (bands per measurement as JSON, who, when,
  why); the newest per patient is in force.
- `worklist_items` gains what a threshold breach, a NEWS2/ML alert, an assignment and an escalation need: the
  measurement, its triage colour, the implicated readings, `open_key` (unique while the item is not closed: one open
  item per patient and measurement), the linked alert, and the assignee. Existing items keep NULL in each.

Revision 0013, after 0012. A new table and nullable columns only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.columns import Json, RowId, UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "threshold_sets",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("patient_id", sa.Text, nullable=False),
        sa.Column("measurements", Json, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("set_by", sa.Text, nullable=False),
        sa.Column("set_at", UtcDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("threshold_sets_patient", "threshold_sets", ["patient_id", "set_at"])
    for name in ("parameter", "triage_colour", "open_key", "assignee"):
        op.add_column("worklist_items", sa.Column(name, sa.Text, nullable=True))
    op.add_column("worklist_items", sa.Column("implicated", Json, nullable=True))
    op.add_column("worklist_items", sa.Column("alert_id", RowId, nullable=True))
    op.create_index("worklist_items_open_key", "worklist_items", ["open_key"], unique=True)
    op.create_index("worklist_items_alert", "worklist_items", ["alert_id"])


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
