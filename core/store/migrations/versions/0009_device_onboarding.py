"""Devices from box to bed: each device's profile (serial, firmware, calibration due), the credentials vaktrom
issues it (hashes only, with their history), and its onboarding history.

- `device_profiles`: serial, declared firmware, calibration due date, and when it was revoked or decommissioned.
- `device_credentials`: every password issued, as a PBKDF2 hash; at most one current per device (a partial unique
  index); `changed_at` indexed, for the embedded broker to apply changes to live connections.
- `device_events`: registered, credentials issued, rotated, paired, unpaired, revoked, decommissioned.

Revision 0009, after 0008. New tables only: devices registered before it keep their rows and have no profile and no
vaktrom-issued credentials (their broker accounts were made by hand) until a technician rotates them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.columns import RowId, UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_profiles",
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("serial", sa.Text, nullable=False),
        sa.Column("firmware", sa.Text, nullable=True),
        sa.Column("calibration_due_at", UtcDateTime, nullable=True),
        sa.Column("revoked_at", UtcDateTime, nullable=True),
        sa.Column("decommissioned_at", UtcDateTime, nullable=True),
    )
    op.create_table(
        "device_credentials",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("issued_by", sa.Text, nullable=False),
        sa.Column("ended_at", UtcDateTime, nullable=True),
        sa.Column("ended_reason", sa.Text, nullable=True),
        sa.Column("changed_at", UtcDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("device_credentials_device", "device_credentials", ["device_id", "issued_at"])
    op.create_index("device_credentials_changed", "device_credentials", ["changed_at"])
    op.create_index(
        "device_credentials_one_current",
        "device_credentials",
        ["device_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "device_events",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("device_events_device", "device_events", ["device_id", "at"])


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
