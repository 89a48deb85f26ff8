"""Care-team routing: a delivery either asks its person to respond (the escalation chain) or informs a member of the
patient's care team (a LAR or FACT team told that its patient is deteriorating), whose answer changes nothing else.

Revision 0006, after 0005. Adds one column; every existing delivery was a request to respond.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("purpose", sa.Text, nullable=False, server_default="respond"))


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
