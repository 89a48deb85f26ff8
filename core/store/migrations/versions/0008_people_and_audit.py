"""People and access: the user registry, care-team membership as a grant, an audit trail naming every patient.

Revision 0008, after 0007. (Placeholder made at the start of the work so the revision chain stays linear while
it is written; its owner fills in upgrade() and this docstring.)
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
