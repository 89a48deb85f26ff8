"""People and access: the user registry, care-team membership as a grant, an audit trail naming every patient.

- `users`: who may sign in, with the roles a token may ask for and the sites they serve (JSON lists, one row read
  by key on every call), and when they were disabled.
- `access_changes`: a row per change that may take access away, polled by every API node to close open sockets.
- `audit_log` gains the patient, the grant that allowed the access, the source address and the token id (NULL on
  rows written before), indexes per patient and per user, and becomes append-only: a trigger refuses UPDATE and
  DELETE on both engines (and TRUNCATE on PostgreSQL), whichever database user tries.
- `care_team_member`: a member's memberships by key, for the care-team grant.

Revision 0008, after 0007. Adds tables, nullable columns, indexes and triggers: existing rows stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.store.columns import Json, RowId, UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_REFUSAL = "audit_log is append-only"

_PG_FUNCTION = f"""
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{_REFUSAL}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("organisation", sa.Text, nullable=False),
        sa.Column("roles", Json, nullable=False),
        sa.Column("site_ids", Json, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("disabled_at", UtcDateTime, nullable=True),
    )
    op.create_table(
        "access_changes",
        sa.Column("id", RowId, sa.Identity(always=True), primary_key=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("what", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("access_changes_at", "access_changes", ["at"])
    op.create_index("care_team_member", "care_team", ["member_id", "patient_id"])


def _audit_columns() -> None:
    for name in ("patient_id", "access_grant", "source_address", "token_id"):
        op.add_column("audit_log", sa.Column(name, sa.Text, nullable=True))
    op.create_index("audit_log_patient", "audit_log", ["patient_id", "at"])
    op.create_index("audit_log_user", "audit_log", ["user_id", "at"])


def _append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}: {event} refused'); END"
        )


def upgrade() -> None:
    _users()
    _audit_columns()
    _append_only()


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
