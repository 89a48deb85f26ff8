"""Devices from box to bed: device types, onboarding states, device credentials issued, rotated and revoked.

Revision 0009, after 0008. (Placeholder made at the start of the work so the revision chain stays linear while
it is written; its owner fills in upgrade() and this docstring.)
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
