"""Care-team routing and a rate limit per recipient.

A delivery either asks its person to respond (the escalation chain) or informs a member of the patient's care team
(a LAR or FACT team told that its patient is deteriorating), whose answer changes nothing else: `purpose`. The
sender holds back medium and low messages to a recipient who has had too many in the last minute: `priority` (of
the alert when the step fired) and `sent_at` (when the last try began), indexed per recipient.

Revision 0006, after 0005. Adds columns and an index; every existing delivery was a request to respond, and its
priority is unknown: "high", so that none of them is ever held back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.columns import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("purpose", sa.Text, nullable=False, server_default="respond"))
    op.add_column("deliveries", sa.Column("priority", sa.Text, nullable=False, server_default="high"))
    op.add_column("deliveries", sa.Column("sent_at", UtcDateTime, nullable=True))
    op.create_index("deliveries_recipient", "deliveries", ["endpoint_id", "address", "sent_at"])


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
