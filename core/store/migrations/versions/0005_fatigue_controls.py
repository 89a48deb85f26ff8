"""Fewer false alarms: conditions waiting out their confirmation delay (a durable timer per patient and kind), and
per-patient limits set by a doctor (append-only: every change is a row, the newest per parameter is in force).

Revision 0005, after 0004. Only adds tables: existing rows stay as they are. Written out here rather than imported
from `core/store/schema.py`: a revision must stay what it was when the schema moves on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.columns import RowId, UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_alerts",
        sa.Column("patient_id", sa.Text, primary_key=True),
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("ward_id", sa.Text, nullable=True),
        sa.Column("severity", sa.SmallInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("since", UtcDateTime, nullable=False),
        sa.Column("clear_since", UtcDateTime, nullable=True),
        sa.Column("due_at", UtcDateTime, nullable=False),
    )
    op.create_index("pending_alerts_due", "pending_alerts", ["due_at"])
    op.create_table(
        "patient_limits",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("patient_id", sa.Text, nullable=False),
        sa.Column("parameter", sa.Text, nullable=False),
        sa.Column("low", sa.Double, nullable=True),
        sa.Column("high", sa.Double, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("set_by", sa.Text, nullable=False),
        sa.Column("set_at", UtcDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("patient_limits_patient", "patient_limits", ["patient_id", "parameter", "set_at"])


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
