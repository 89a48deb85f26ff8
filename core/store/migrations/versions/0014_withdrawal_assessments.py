"""Withdrawal assessments: COWS, CIWA-Ar and AWS scorings entered by clinicians item by item.

`withdrawal_assessments` has one row per scoring, never changed: the items as charted (a JSON list of [item, score]
in the scale's order), their total and band as the scale banded them, who assessed and when, and which items a
sensor proposed and the clinician kept.

Revision 0014, after 0013. A new table only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.columns import Json, UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "withdrawal_assessments",
        sa.Column("assessment_id", sa.Text, primary_key=True),
        sa.Column("patient_id", sa.Text, nullable=False),
        sa.Column("scale", sa.Text, nullable=False),
        sa.Column("items", Json, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("band", sa.Integer, nullable=False),
        sa.Column("assessed_at", UtcDateTime, nullable=False),
        sa.Column("assessed_by", sa.Text, nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.Column("proposed", Json, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("withdrawal_assessments_patient", "withdrawal_assessments", ["patient_id", "scale", "assessed_at"])


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
