"""Administration: sites, wards and beds that retire, national identity numbers kept apart, one current stay per
patient and per bed, and the length-of-stay timers.

- `sites`, `wards`, `beds` gain `retired_at` (NULL: in use). Nothing is deleted: stays and readings name them.
- `stays` gains `admitted_at` (when the patient came to this kind of unit; NULL on older stays: their start_at),
  an index by bed, and two partial unique indexes: one current stay per patient, one per bed.
- `patient_identities`: a patient's fødselsnummer or D-number, one patient per number.
- `stay_limit_timers`: one durable timer per stay and length-of-stay limit, armed here for the current stays of
  KAD/ØHD and sykestue units (a stay already past its limit raises its item at the first poll after the upgrade).

Revision 0007, after 0006. Adds nullable columns, tables and indexes: existing rows stay as they are. A database
holding two current stays of one patient (or of one bed) cannot take the unique indexes: the upgrade stops and
names them, to be ended by hand first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.length_of_stay import limit_due_at, limit_of
from core.store.columns import UtcDateTime
from core.types import SiteKind

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_OPEN = sa.text("end_at IS NULL")
_OPEN_IN_BED = sa.text("end_at IS NULL AND bed_id IS NOT NULL")


def _refuse_double_stays() -> None:
    conn = op.get_bind()
    for column, where in (("patient_id", "TRUE"), ("bed_id", "bed_id IS NOT NULL")):
        doubles = conn.execute(
            sa.text(
                f"SELECT {column} FROM stays WHERE end_at IS NULL AND {where} "  # our own column names, never input
                f"GROUP BY {column} HAVING COUNT(*) > 1 ORDER BY {column}"
            )
        ).scalars()
        found = list(doubles)
        if found:
            raise RuntimeError(
                f"revision 0007: these {column}s have more than one current stay (end_at NULL): "
                f"{', '.join(found)}; end all but one before upgrading"
            )


def upgrade() -> None:
    for table in ("sites", "wards", "beds"):
        op.add_column(table, sa.Column("retired_at", UtcDateTime, nullable=True))
    op.add_column("stays", sa.Column("admitted_at", UtcDateTime, nullable=True))
    _refuse_double_stays()
    op.create_index(
        "stays_one_open_per_patient", "stays", ["patient_id"], unique=True, sqlite_where=_OPEN, postgresql_where=_OPEN
    )
    op.create_index(
        "stays_one_open_per_bed",
        "stays",
        ["bed_id"],
        unique=True,
        sqlite_where=_OPEN_IN_BED,
        postgresql_where=_OPEN_IN_BED,
    )
    op.create_index("stays_bed", "stays", ["bed_id", "start_at"])
    op.create_table(
        "patient_identities",
        sa.Column("patient_id", sa.Text, primary_key=True),
        sa.Column("national_id", sa.Text, nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
    )
    op.create_index("patient_identities_number", "patient_identities", ["national_id"], unique=True)
    op.create_table(
        "stay_limit_timers",
        sa.Column("stay_id", sa.Text, primary_key=True),
        sa.Column("stay_limit", sa.Text, primary_key=True),
        sa.Column("patient_id", sa.Text, nullable=False),
        sa.Column("admitted_at", UtcDateTime, nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=True),
        sa.Column("fired_at", UtcDateTime, nullable=True),
        sa.Column("disarmed_at", UtcDateTime, nullable=True),
    )
    op.create_index("stay_limit_timers_patient", "stay_limit_timers", ["patient_id"])
    op.create_index(
        "stay_limit_timers_due",
        "stay_limit_timers",
        ["due_at"],
        sqlite_where=sa.text("due_at IS NOT NULL"),
        postgresql_where=sa.text("due_at IS NOT NULL"),
    )
    _arm_current_stays()


def _arm_current_stays() -> None:
    conn = op.get_bind()
    t = sa.table(
        "stay_limit_timers",
        sa.column("stay_id", sa.Text),
        sa.column("stay_limit", sa.Text),
        sa.column("patient_id", sa.Text),
        sa.column("admitted_at", UtcDateTime),
        sa.column("due_at", UtcDateTime),
    )
    current = sa.text(
        "SELECT stays.stay_id, stays.patient_id, stays.start_at, sites.kind FROM stays "
        "JOIN wards ON wards.ward_id = stays.ward_id JOIN sites ON sites.site_id = wards.site_id "
        "WHERE stays.end_at IS NULL AND stays.bed_id IS NOT NULL"
    ).columns(stay_id=sa.Text, patient_id=sa.Text, start_at=UtcDateTime, kind=sa.Text)
    rows = []
    for stay_id, patient_id, start_at, kind in conn.execute(current):
        limit = limit_of(SiteKind(kind))
        if limit is not None:
            rows.append(
                {
                    "stay_id": stay_id,
                    "stay_limit": limit.value,
                    "patient_id": patient_id,
                    "admitted_at": start_at,
                    "due_at": limit_due_at(limit, start_at),
                }
            )
    if rows:
        conn.execute(sa.insert(t), rows)


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
