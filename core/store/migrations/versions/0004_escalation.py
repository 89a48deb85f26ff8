"""Escalation: policies per site and priority, each alert's running chain, webhook endpoints and contact points,
deliveries with their state, on-call rotations with the sites they cover, and roster overrides.

Revision 0004, after 0003. Only adds tables: existing rows stay as they are. Written out here rather than imported
from `core/store/schema.py`: a revision must stay what it was when the schema moves on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.columns import Json, RowId, UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _due_index(name: str, table: str, column: str) -> None:
    due = sa.text(f"{column} IS NOT NULL")
    op.create_index(name, table, [column], sqlite_where=due, postgresql_where=due)


def _policies_and_chains() -> None:
    op.create_table(
        "escalation_policies",
        sa.Column("site_id", sa.Text, primary_key=True),
        sa.Column("priority", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("repeat", sa.SmallInteger, nullable=False),
        sa.Column("steps", Json, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
    )
    op.create_table(
        "alert_escalations",
        sa.Column("alert_id", RowId, sa.ForeignKey("alerts.alert_id"), primary_key=True),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("site_id", sa.Text, nullable=False),
        sa.Column("policy", Json, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("step_index", sa.SmallInteger, nullable=False),
        sa.Column("loop", sa.SmallInteger, nullable=False),
        sa.Column("next_step_at", UtcDateTime, nullable=True),
        sa.Column("stopped_at", UtcDateTime, nullable=True),
        sa.Column("stop_reason", sa.Text, nullable=False),
    )
    _due_index("alert_escalations_due", "alert_escalations", "next_step_at")


def _endpoints_and_deliveries() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("endpoint_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "contact_points",
        sa.Column("person_id", sa.Text, primary_key=True),
        sa.Column("endpoint_id", sa.Text, sa.ForeignKey("webhook_endpoints.endpoint_id"), primary_key=True),
        sa.Column("address", sa.Text, primary_key=True),
    )
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.Text, primary_key=True),
        sa.Column("alert_id", RowId, sa.ForeignKey("alerts.alert_id"), nullable=False),
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
    )
    op.create_index("deliveries_alert", "deliveries", ["alert_id", "epoch", "loop", "step_index"])
    _due_index("deliveries_due", "deliveries", "next_attempt_at")
    op.create_index("deliveries_person", "deliveries", ["person_id", "updated_at"])


def _rosters() -> None:
    op.create_table(
        "rotations",
        sa.Column("rotation_id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("handoff_times", Json, nullable=False),
        sa.Column("members", Json, nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("time_zone", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "rotation_sites",
        sa.Column("rotation_id", RowId, sa.ForeignKey("rotations.rotation_id"), primary_key=True),
        sa.Column("site_id", sa.Text, primary_key=True),
    )
    op.create_index("rotation_sites_site", "rotation_sites", ["site_id"])
    op.create_table(
        "roster_overrides",
        sa.Column("override_id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("rotation_id", RowId, sa.ForeignKey("rotations.rotation_id"), nullable=False),
        sa.Column("person_id", sa.Text, nullable=False),
        sa.Column("starts_at", UtcDateTime, nullable=False),
        sa.Column("ends_at", UtcDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("roster_overrides_rotation", "roster_overrides", ["rotation_id", "ends_at"])


def upgrade() -> None:
    _policies_and_chains()
    _endpoints_and_deliveries()
    _rosters()


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
