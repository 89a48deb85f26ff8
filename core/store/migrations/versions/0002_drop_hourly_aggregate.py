"""Drop the TimescaleDB hourly continuous aggregate: no query read it, and its clock-aligned buckets do not match
the ML risk's hours counted back from now (docs/ARCHITECTURE.md, "TimescaleDB").

Revision 0002, after 0001.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # A continuous aggregate is a materialized view to DROP; a database without TimescaleDB has none.
        op.execute("DROP MATERIALIZED VIEW IF EXISTS observations_hourly")


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
