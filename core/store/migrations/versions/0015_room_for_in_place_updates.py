"""Room for in-place updates in the tables rewritten on every batch or scoring cycle (PostgreSQL only).

`latest_values` gets one update per patient and parameter in every batch, `scores_current` and `risks_current` one
per patient in every scoring cycle, `device_status` one per status report. With tables packed full (fillfactor 100)
an updated row rarely fits on its own page: PostgreSQL writes it elsewhere and adds a new primary-key entry too, and
the table swells between autovacuum runs (measured: 8 % of `latest_values` updates in place, 15 MB for 5,000 rows
after 40 batches). Half-full pages keep nearly every update on its page without touching the index (HOT): 99.9 % in
place, 0.86 MB, the append of a 10,000-reading batch ~9 % faster (bench/README.md). SQLite has no such setting.

Revision 0015, after 0014. Storage parameters only: no row or column changes.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

REWRITTEN_TABLES = ("latest_values", "scores_current", "risks_current", "device_status")
FILLFACTOR = 50


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in REWRITTEN_TABLES:
        # Applies to pages written from now on; rows already stored move as they are next updated or vacuumed.
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
