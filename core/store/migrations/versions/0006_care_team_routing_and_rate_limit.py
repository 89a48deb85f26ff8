"""Care-team routing, the GP's daily summary and a rate limit per recipient.

- `deliveries.purpose`: a delivery asks its person to respond (the escalation chain), informs a member of the
  patient's care team (a LAR or FACT team told that its patient is deteriorating), or is a care-team member's daily
  summary (the GP's). Only a response acknowledges or moves a chain.
- `deliveries.alert_id` becomes nullable: a daily summary is about several alerts, or none.
- `deliveries.priority` (of the alert when its step fired) and `deliveries.sent_at` (when the last try began),
  indexed per recipient: the sender holds back medium and low messages to a recipient who has had too many.
- `digest_schedules`: when each care-team member's next daily summary is due (a durable timer) and the time from
  which it reports.

Revision 0006, after 0005. Every existing delivery was a request to respond, and its priority is unknown: "high",
so none is ever held back. SQLite cannot drop a NOT NULL constraint in place: the table is copied (same rows).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from core.store.columns import RowId, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_NEW_COLUMNS = ("purpose", "priority", "sent_at")


def _deliveries_columns(*, alert_id_nullable: bool) -> list[sa.Column[Any]]:
    return [
        sa.Column("delivery_id", sa.Text, primary_key=True),
        sa.Column("alert_id", RowId, sa.ForeignKey("alerts.alert_id"), nullable=alert_id_nullable),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("loop", sa.SmallInteger, nullable=False),
        sa.Column("step_index", sa.SmallInteger, nullable=False),
        sa.Column("person_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("endpoint_id", sa.Text, nullable=True),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=True),
        sa.Column("attempts", sa.SmallInteger, nullable=False),
        sa.Column("answered_by", sa.Text, nullable=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False, server_default="respond"),
        sa.Column("priority", sa.Text, nullable=False, server_default="high"),
        sa.Column("sent_at", UtcDateTime, nullable=True),
    ]


def _deliveries_sqlite() -> None:
    op.create_table("deliveries_0006", *_deliveries_columns(alert_id_nullable=True))
    old = [c.name for c in _deliveries_columns(alert_id_nullable=True) if c.name not in _NEW_COLUMNS]
    names = ", ".join(old)
    op.execute(f"INSERT INTO deliveries_0006 ({names}) SELECT {names} FROM deliveries")
    op.drop_table("deliveries")  # and its indexes
    op.rename_table("deliveries_0006", "deliveries")
    due = sa.text("next_attempt_at IS NOT NULL")
    op.create_index("deliveries_alert", "deliveries", ["alert_id", "epoch", "loop", "step_index"])
    op.create_index("deliveries_due", "deliveries", ["next_attempt_at"], sqlite_where=due, postgresql_where=due)
    op.create_index("deliveries_person", "deliveries", ["person_id", "updated_at"])


def _deliveries_postgres() -> None:
    op.add_column("deliveries", sa.Column("purpose", sa.Text, nullable=False, server_default="respond"))
    op.add_column("deliveries", sa.Column("priority", sa.Text, nullable=False, server_default="high"))
    op.add_column("deliveries", sa.Column("sent_at", UtcDateTime, nullable=True))
    op.alter_column("deliveries", "alert_id", nullable=True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _deliveries_sqlite()
    else:
        _deliveries_postgres()
    op.create_index("deliveries_recipient", "deliveries", ["endpoint_id", "address", "sent_at"])
    op.create_table(
        "digest_schedules",
        sa.Column("person_id", sa.Text, primary_key=True),
        sa.Column("next_due_at", UtcDateTime, nullable=False),
        sa.Column("covered_from", UtcDateTime, nullable=False),
    )
    op.create_index("digest_schedules_due", "digest_schedules", ["next_due_at"])


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
