"""The alert lifecycle: who resolved an alert and why, its hysteresis and re-notify times, the history of every
transition; and when each patient's newest value arrived (the re-score watermark).

Revision 0003, after 0002. Only adds nullable columns, a table and indexes: existing rows stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.columns import RowId, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("latest_values", sa.Column("received_at", UtcDateTime, nullable=True))
    for name, type_ in (
        ("resolved_by", sa.Text),
        ("resolve_reason", sa.Text),
        ("clear_since", UtcDateTime),
        ("renotify_at", UtcDateTime),
    ):
        op.add_column("alerts", sa.Column(name, type_, nullable=True))
    due = sa.text("renotify_at IS NOT NULL")
    op.create_index("alerts_renotify_due", "alerts", ["renotify_at"], sqlite_where=due, postgresql_where=due)
    op.create_table(
        "alert_transitions",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("alert_id", RowId, sa.ForeignKey("alerts.alert_id"), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("severity", sa.SmallInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("alert_transitions_alert", "alert_transitions", ["alert_id", "at"])


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
