"""The first schema, as the SQL migrations before Alembic created it (databases made by them are stamped here).

Revision 0001, the first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from core.store.columns import Flag, Json, RowId, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id(name: str = "id") -> sa.Column[Any]:
    return sa.Column(name, RowId, sa.Identity(always=True), primary_key=True)


def _text(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Text, nullable=nullable)


def _at(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UtcDateTime, nullable=nullable)


def _partial(predicate: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(predicate), "postgresql_where": sa.text(predicate)}


def _scores() -> list[sa.Column[Any]]:
    return [
        _at("computed_at"),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("complete", Flag, nullable=False),
        _text("risk"),
        sa.Column("single_param_3", Flag, nullable=False),
        sa.Column("parameter_scores", Json, nullable=False),
        sa.Column("missing", Json, nullable=False),
        sa.Column("spo2_scale", sa.SmallInteger, nullable=False),
    ]


def _reference_data() -> None:
    op.create_table("sites", sa.Column("site_id", sa.Text, primary_key=True), _text("name"), _text("kind"))
    op.create_table("wards", sa.Column("ward_id", sa.Text, primary_key=True), _text("site_id"), _text("name"))
    op.create_index("wards_site", "wards", ["site_id"])
    op.create_table("beds", sa.Column("bed_id", sa.Text, primary_key=True), _text("ward_id"), _text("label"))
    op.create_index("beds_ward", "beds", ["ward_id"])
    op.create_table(
        "patients",
        sa.Column("patient_id", sa.Text, primary_key=True),
        _text("display_name"),
        sa.Column("birth_year", sa.Integer),
    )
    op.create_table(
        "spo2_scale_decisions",
        _id(),
        _text("patient_id"),
        sa.Column("scale", sa.SmallInteger, nullable=False),
        _text("set_by"),
        _at("set_at"),
        sqlite_autoincrement=True,
    )
    op.create_index("spo2_scale_decisions_patient", "spo2_scale_decisions", ["patient_id", "set_at"])
    op.create_table(
        "stays",
        sa.Column("stay_id", sa.Text, primary_key=True),
        _text("patient_id"),
        _text("ward_id"),
        _text("setting"),
        _at("start_at"),
        _text("bed_id", nullable=True),
        _at("end_at", nullable=True),
    )
    op.create_index("stays_ward", "stays", ["ward_id", "start_at"])
    op.create_index("stays_patient", "stays", ["patient_id", "start_at"])
    op.create_table(
        "care_team",
        sa.Column("patient_id", sa.Text, primary_key=True),
        sa.Column("member_id", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, primary_key=True),
        _text("organisation"),
        sa.Column("start_at", UtcDateTime, primary_key=True),
        _at("end_at", nullable=True),
    )


def _devices() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.Text, primary_key=True),
        _text("site_id"),
        _text("kind"),
        _text("model"),
        _at("registered_at"),
    )
    op.create_index("devices_site", "devices", ["site_id"])
    op.create_table(
        "pairings",
        _id(),
        _text("device_id"),
        _text("patient_id"),
        _text("bed_id", nullable=True),
        _at("start_at"),
        _at("end_at", nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("pairings_device", "pairings", ["device_id", "start_at"])
    op.create_index("pairings_one_open", "pairings", ["device_id"], unique=True, **_partial("end_at IS NULL"))
    op.create_table(
        "device_status",
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("online", Flag, nullable=False),
        _at("reported_at"),
        sa.Column("battery_percent", sa.Double),
        sa.Column("signal_dbm", sa.Double),
        _text("firmware", nullable=True),
    )


def _observations() -> None:
    op.create_table(
        "observations",
        _text("device_id"),
        _text("patient_id"),
        _text("parameter"),
        sa.Column("value", sa.Double, nullable=False),
        _at("measured_at"),
        _at("received_at"),
        sa.UniqueConstraint("device_id", "measured_at", "parameter", name="observations_key"),
    )
    op.create_index("observations_patient", "observations", ["patient_id", "measured_at"])
    op.create_table(
        "latest_values",
        sa.Column("patient_id", sa.Text, primary_key=True),
        sa.Column("parameter", sa.Text, primary_key=True),
        sa.Column("value", sa.Double, nullable=False),
        _at("measured_at"),
        _text("device_id"),
    )
    op.create_table(
        "dead_letters",
        _id(),
        _text("topic"),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        _text("reason"),
        _text("device_id", nullable=True),
        _at("received_at"),
        sqlite_autoincrement=True,
    )
    op.create_index("dead_letters_received", "dead_letters", ["received_at"])


def _scores_alerts_audit() -> None:
    op.create_table("scores_current", sa.Column("patient_id", sa.Text, primary_key=True), *_scores())
    op.create_table("scores_history", _id(), _text("patient_id"), *_scores(), sqlite_autoincrement=True)
    op.create_index("scores_history_patient", "scores_history", ["patient_id", "computed_at"])
    op.create_table(
        "risks_current",
        sa.Column("patient_id", sa.Text, primary_key=True),
        _at("computed_at"),
        sa.Column("probability", sa.Double),
        _text("level"),
        sa.Column("reasons", Json, nullable=False),
        _text("model_version"),
    )
    op.create_table(
        "alerts",
        _id("alert_id"),
        _text("patient_id", nullable=True),
        _text("ward_id", nullable=True),
        _text("kind"),
        sa.Column("severity", sa.SmallInteger, nullable=False),
        _text("state"),
        _text("message"),
        _at("opened_at"),
        _at("updated_at"),
        _text("device_id", nullable=True),
        _at("acknowledged_at", nullable=True),
        _text("acknowledged_by", nullable=True),
        _at("resolved_at", nullable=True),
        sqlite_autoincrement=True,
    )
    identity: list[str | sa.TextClause] = [
        sa.text("COALESCE(patient_id, '')"),
        sa.text("COALESCE(device_id, '')"),
        "kind",
    ]
    op.create_index("alerts_one_unresolved", "alerts", identity, unique=True, **_partial("state <> 'resolved'"))
    op.create_index("alerts_ward", "alerts", ["ward_id", "opened_at"])
    op.create_index("alerts_patient", "alerts", ["patient_id", "opened_at"])
    op.create_table(
        "audit_log",
        _id(),
        _at("at"),
        _text("user_id"),
        _text("role"),
        _text("action"),
        _text("subject"),
        _text("detail"),
        sqlite_autoincrement=True,
    )
    op.create_index("audit_log_at", "audit_log", ["at"])


def upgrade() -> None:
    _reference_data()
    _devices()
    _observations()
    _scores_alerts_audit()


def downgrade() -> None:
    raise NotImplementedError("vaktrom migrates forward only: restore a backup to go back")
