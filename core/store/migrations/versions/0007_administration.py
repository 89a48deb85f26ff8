"""Administration: sites, wards and beds that retire, patients' identity numbers apart, stays through the API.

Revision 0007, after 0006. (Placeholder made at the start of the work so the revision chain stays linear while
it is written; its owner fills in upgrade() and this docstring.)
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
