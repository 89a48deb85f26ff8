"""Care flags: opioid agonist treatment, opioid or alcohol withdrawal, other opioids, set and cleared by clinicians.

`care_flags` is append-only: each change a row with who, when and why; the newest row per patient and flag is in
force. The live scorer reads them to watch opioid patients for respiratory depression.

Revision 0011, after 0010. A new table only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.columns import Flag, RowId, UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "care_flags",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("patient_id", sa.Text, nullable=False),
        sa.Column("flag", sa.Text, nullable=False),
        sa.Column("active", Flag, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("set_by", sa.Text, nullable=False),
        sa.Column("set_at", UtcDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("care_flags_patient", "care_flags", ["patient_id", "flag", "set_at"])


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
