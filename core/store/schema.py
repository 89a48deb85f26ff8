"""The one schema both engines use: every table, key and index, as SQLAlchemy Core metadata.

Alembic revisions in `migrations/versions/` create and change it; `tests/core/test_store_schema.py` checks that a
database migrated to head matches this metadata exactly, on both engines. Times are `UtcDateTime` (UTC µs on SQLite,
timestamptz on PostgreSQL); enum columns hold the enums' `.value`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.store.columns import Flag, Json, RowId, UtcDateTime

__all__ = [
    "ALERT_IDENTITY",
    "UNRESOLVED",
    "access_changes",
    "alert_escalations",
    "alert_transitions",
    "alerts",
    "audit_log",
    "beds",
    "care_flags",
    "care_team",
    "contact_points",
    "dead_letters",
    "deliveries",
    "device_credentials",
    "device_events",
    "device_profiles",
    "device_status",
    "devices",
    "digest_schedules",
    "escalation_policies",
    "latest_values",
    "measurement_plans",
    "metadata",
    "observations",
    "outreach_events",
    "outreach_tasks",
    "pairings",
    "patient_identities",
    "patient_limits",
    "patients",
    "pending_alerts",
    "plan_timers",
    "risks_current",
    "roster_overrides",
    "rotation_sites",
    "rotations",
    "scores_current",
    "scores_history",
    "sites",
    "spo2_scale_decisions",
    "stay_limit_timers",
    "stays",
    "team_members",
    "team_plan_notes",
    "teams",
    "threshold_sets",
    "users",
    "wards",
    "webhook_endpoints",
    "withdrawal_assessments",
    "worklist_events",
    "worklist_items",
]

metadata = sa.MetaData()


def _row_id(name: str = "id") -> sa.Column[Any]:
    return sa.Column(name, RowId, sa.Identity(always=True), primary_key=True)


def _text(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Text, nullable=nullable)


def _at(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UtcDateTime, nullable=nullable)


# --- reference data --------------------------------------------------------------------------------------------
sites = sa.Table("sites", metadata, sa.Column("site_id", sa.Text, primary_key=True), _text("name"), _text("kind"))

wards = sa.Table(
    "wards",
    metadata,
    sa.Column("ward_id", sa.Text, primary_key=True),
    _text("site_id"),
    _text("name"),
    sa.Index("wards_site", "site_id"),
)

beds = sa.Table(
    "beds",
    metadata,
    sa.Column("bed_id", sa.Text, primary_key=True),
    _text("ward_id"),
    _text("label"),
    sa.Index("beds_ward", "ward_id"),
)

patients = sa.Table(
    "patients",
    metadata,
    sa.Column("patient_id", sa.Text, primary_key=True),
    _text("display_name"),
    sa.Column("birth_year", sa.Integer),
)

spo2_scale_decisions = sa.Table(
    "spo2_scale_decisions",
    metadata,
    _row_id(),
    _text("patient_id"),
    sa.Column("scale", sa.SmallInteger, nullable=False),
    _text("set_by"),
    _at("set_at"),
    sa.Index("spo2_scale_decisions_patient", "patient_id", "set_at"),
    sqlite_autoincrement=True,
)

stays = sa.Table(
    "stays",
    metadata,
    sa.Column("stay_id", sa.Text, primary_key=True),
    _text("patient_id"),
    _text("ward_id"),
    _text("setting"),
    _at("start_at"),
    _text("bed_id", nullable=True),
    _at("end_at", nullable=True),
    sa.Index("stays_ward", "ward_id", "start_at"),
    sa.Index("stays_patient", "patient_id", "start_at"),
)

care_team = sa.Table(
    "care_team",
    metadata,
    sa.Column("patient_id", sa.Text, primary_key=True),
    sa.Column("member_id", sa.Text, primary_key=True),
    sa.Column("role", sa.Text, primary_key=True),
    _text("organisation"),
    sa.Column("start_at", UtcDateTime, primary_key=True),
    _at("end_at", nullable=True),
)

# --- devices ---------------------------------------------------------------------------------------------------
devices = sa.Table(
    "devices",
    metadata,
    sa.Column("device_id", sa.Text, primary_key=True),
    _text("site_id"),
    _text("kind"),
    _text("model"),
    _at("registered_at"),
    sa.Index("devices_site", "site_id"),
)

pairings = sa.Table(
    "pairings",
    metadata,
    _row_id(),
    _text("device_id"),
    _text("patient_id"),
    _text("bed_id", nullable=True),
    _at("start_at"),
    _at("end_at", nullable=True),
    sa.Index("pairings_device", "device_id", "start_at"),
    sqlite_autoincrement=True,
)
# A device is paired to at most one patient at a time.
sa.Index(
    "pairings_one_open",
    pairings.c.device_id,
    unique=True,
    sqlite_where=pairings.c.end_at.is_(None),
    postgresql_where=pairings.c.end_at.is_(None),
)

device_status = sa.Table(
    "device_status",
    metadata,
    sa.Column("device_id", sa.Text, primary_key=True),
    sa.Column("online", Flag, nullable=False),
    _at("reported_at"),
    sa.Column("battery_percent", sa.Double),
    sa.Column("signal_dbm", sa.Double),
    _text("firmware", nullable=True),
)

# --- device onboarding (revision 0009; issue 10, the devices helper) -------------------------------------------
# What the technician records at registration, and the two end states (a revoked device may get new credentials; a
# decommissioned one never again). One row per device registered since 0009; an older device has none.
device_profiles = sa.Table(
    "device_profiles",
    metadata,
    sa.Column("device_id", sa.Text, primary_key=True),
    _text("serial"),
    _text("firmware", nullable=True),
    _at("calibration_due_at", nullable=True),
    _at("revoked_at", nullable=True),
    _at("decommissioned_at", nullable=True),
)

# Every password vaktrom issued to a device, as a hash only (PBKDF2; vaktrom/broker_policy.py). At most one current
# (ended_at NULL) per device; rotated, revoked and decommissioned ones stay as history. `changed_at` (issue or end)
# is what the embedded broker polls to apply a change to live connections.
device_credentials = sa.Table(
    "device_credentials",
    metadata,
    _row_id(),
    _text("device_id"),
    _text("password_hash"),
    _at("issued_at"),
    _at("expires_at"),
    _text("issued_by"),
    _at("ended_at", nullable=True),
    _text("ended_reason", nullable=True),
    _at("changed_at"),
    sa.Index("device_credentials_device", "device_id", "issued_at"),
    sa.Index("device_credentials_changed", "changed_at"),
    sqlite_autoincrement=True,
)
sa.Index(
    "device_credentials_one_current",
    device_credentials.c.device_id,
    unique=True,
    sqlite_where=device_credentials.c.ended_at.is_(None),
    postgresql_where=device_credentials.c.ended_at.is_(None),
)

# A device's history from box to bed (registered, credentials issued, rotated, paired, unpaired, revoked,
# decommissioned): who did what when. Append-only.
device_events = sa.Table(
    "device_events",
    metadata,
    _row_id(),
    _text("device_id"),
    _at("at"),
    _text("event"),
    _text("actor"),
    _text("detail"),
    sa.Index("device_events_device", "device_id", "at"),
    sqlite_autoincrement=True,
)

# --- observations ----------------------------------------------------------------------------------------------
# No surrogate key: a TimescaleDB hypertable's unique constraints must include its time column. Key columns in this
# order so the key also serves per-device time queries: a separate (device_id, measured_at) index would cost ~20 % of
# append throughput for nothing.
observations = sa.Table(
    "observations",
    metadata,
    _text("device_id"),
    _text("patient_id"),
    _text("parameter"),
    sa.Column("value", sa.Double, nullable=False),
    _at("measured_at"),
    _at("received_at"),
    sa.UniqueConstraint("device_id", "measured_at", "parameter", name="observations_key"),
    sa.Index("observations_patient", "patient_id", "measured_at"),
)

# latest_values, scores_current, risks_current and device_status are rewritten on every batch or scoring cycle: on
# PostgreSQL revision 0015 leaves half of each page free for in-place (HOT) updates. SQLAlchemy's Table has no
# option for it, so the revision alone sets it; tests/core/test_store_in_place_updates.py checks the databases.
latest_values = sa.Table(
    "latest_values",
    metadata,
    sa.Column("patient_id", sa.Text, primary_key=True),
    sa.Column("parameter", sa.Text, primary_key=True),
    sa.Column("value", sa.Double, nullable=False),
    _at("measured_at"),
    _text("device_id"),
    # When the newest value arrived. A patient whose newest value arrived after their current score was computed
    # is re-scored when ingest starts (a reading stored just before a crash still gets its alert). NULL: before 0003.
    _at("received_at", nullable=True),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    _row_id(),
    _text("topic"),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    _text("reason"),
    _text("device_id", nullable=True),
    _at("received_at"),
    sa.Index("dead_letters_received", "received_at"),
    sqlite_autoincrement=True,
)


# --- scores ----------------------------------------------------------------------------------------------------
def _score_columns() -> list[sa.Column[Any]]:
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


scores_current = sa.Table(
    "scores_current", metadata, sa.Column("patient_id", sa.Text, primary_key=True), *_score_columns()
)

scores_history = sa.Table(
    "scores_history",
    metadata,
    _row_id(),
    _text("patient_id"),
    *_score_columns(),
    sa.Index("scores_history_patient", "patient_id", "computed_at"),
    sqlite_autoincrement=True,
)

risks_current = sa.Table(
    "risks_current",
    metadata,
    sa.Column("patient_id", sa.Text, primary_key=True),
    _at("computed_at"),
    sa.Column("probability", sa.Double),
    _text("level"),
    sa.Column("reasons", Json, nullable=False),
    _text("model_version"),
)

# --- alerts ----------------------------------------------------------------------------------------------------
alerts = sa.Table(
    "alerts",
    metadata,
    _row_id("alert_id"),
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
    _text("resolved_by", nullable=True),
    _text("resolve_reason", nullable=True),
    _at("clear_since", nullable=True),
    _at("renotify_at", nullable=True),
    sa.Index("alerts_ward", "ward_id", "opened_at"),
    sa.Index("alerts_patient", "patient_id", "opened_at"),
    # The re-notify timers: workers poll for due ones every second.
    sa.Index(
        "alerts_renotify_due",
        "renotify_at",
        sqlite_where=sa.text("renotify_at IS NOT NULL"),
        postgresql_where=sa.text("renotify_at IS NOT NULL"),
    ),
    sqlite_autoincrement=True,
)
UNRESOLVED = sa.text("state <> 'resolved'")
# At most one unresolved alert per (patient, device, kind), across processes; '' stands in for a missing id.
# raise_alert targets this index with INSERT ... ON CONFLICT.
# The '' is a literal, not a parameter: ON CONFLICT must name the index's expressions exactly.
_NO_ID: sa.ColumnClause[str] = sa.literal_column("''")
ALERT_IDENTITY = (
    sa.func.coalesce(alerts.c.patient_id, _NO_ID),
    sa.func.coalesce(alerts.c.device_id, _NO_ID),
    alerts.c.kind,
)
sa.Index("alerts_one_unresolved", *ALERT_IDENTITY, unique=True, sqlite_where=UNRESOLVED, postgresql_where=UNRESOLVED)

# Every transition of every alert: who, when, why. Written in the same transaction as the change it records.
alert_transitions = sa.Table(
    "alert_transitions",
    metadata,
    _row_id(),
    sa.Column("alert_id", RowId, sa.ForeignKey("alerts.alert_id"), nullable=False),
    _at("at"),
    _text("phase"),
    _text("state"),
    sa.Column("severity", sa.SmallInteger, nullable=False),
    _text("actor"),
    _text("reason"),
    sa.Index("alert_transitions_alert", "alert_id", "at"),
    sqlite_autoincrement=True,
)

# --- escalation, rosters, deliveries ----------------------------------------------------------------------------
# A site's policy per priority; sites without one use vaktrom's defaults (core/escalation.py). Steps are JSON: a
# policy is read and replaced whole, and a started chain keeps a copy of it.
escalation_policies = sa.Table(
    "escalation_policies",
    metadata,
    sa.Column("site_id", sa.Text, primary_key=True),
    sa.Column("priority", sa.Text, primary_key=True),
    _text("name"),
    sa.Column("repeat", sa.SmallInteger, nullable=False),
    sa.Column("steps", Json, nullable=False),
    _at("updated_at"),
    _text("updated_by"),
)

# Each alert's current chain (one row per alert: a new epoch replaces it). `next_step_at` is the durable timer.
alert_escalations = sa.Table(
    "alert_escalations",
    metadata,
    sa.Column("alert_id", RowId, sa.ForeignKey("alerts.alert_id"), primary_key=True),
    sa.Column("epoch", sa.Integer, nullable=False),
    _text("site_id"),
    sa.Column("policy", Json, nullable=False),
    _at("started_at"),
    sa.Column("step_index", sa.SmallInteger, nullable=False),
    sa.Column("loop", sa.SmallInteger, nullable=False),
    _at("next_step_at", nullable=True),
    _at("stopped_at", nullable=True),
    _text("stop_reason"),
    sa.Index(
        "alert_escalations_due",
        "next_step_at",
        sqlite_where=sa.text("next_step_at IS NOT NULL"),
        postgresql_where=sa.text("next_step_at IS NOT NULL"),
    ),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("endpoint_id", sa.Text, primary_key=True),
    _text("name"),
    _text("url"),
    sa.Column("secret", sa.LargeBinary, nullable=False),
)

contact_points = sa.Table(
    "contact_points",
    metadata,
    sa.Column("person_id", sa.Text, primary_key=True),
    sa.Column("endpoint_id", sa.Text, sa.ForeignKey("webhook_endpoints.endpoint_id"), primary_key=True),
    sa.Column("address", sa.Text, primary_key=True),
)

# Every notification of a person for one step. `next_attempt_at` is the sender's durable timer: due when queued,
# a lease while sending (a sender that died mid-send leaves it to be claimed again), the backoff after a failure.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("delivery_id", sa.Text, primary_key=True),
    # None for a care-team member's daily summary: it is about several alerts (epoch, loop and step are then 0)
    sa.Column("alert_id", RowId, sa.ForeignKey("alerts.alert_id"), nullable=True),
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("loop", sa.SmallInteger, nullable=False),
    sa.Column("step_index", sa.SmallInteger, nullable=False),
    _text("person_id"),
    _text("reason"),
    _text("endpoint_id", nullable=True),
    _text("address"),
    _text("state"),
    _at("created_at"),
    _at("updated_at"),
    _at("next_attempt_at", nullable=True),
    sa.Column("attempts", sa.SmallInteger, nullable=False),
    _text("answered_by", nullable=True),
    _text("outcome"),  # what happened last, in words: "HTTP 503 from gateway", "cancelled: acknowledged"
    sa.Column("body", sa.LargeBinary, nullable=False),
    # "respond" (on the chain: accepting acknowledges), "inform" (a care-team member: the answer is only recorded) or
    # "digest" (a care-team member's daily summary)
    sa.Column("purpose", sa.Text, nullable=False, server_default="respond"),
    # The alert's priority when the step fired, and when the last try began: the per-recipient rate limit
    # (core/escalation.py `held_back_until`) reads them.
    sa.Column("priority", sa.Text, nullable=False, server_default="high"),
    _at("sent_at", nullable=True),
    sa.Index("deliveries_alert", "alert_id", "epoch", "loop", "step_index"),
    sa.Index("deliveries_recipient", "endpoint_id", "address", "sent_at"),
    sa.Index(
        "deliveries_due",
        "next_attempt_at",
        sqlite_where=sa.text("next_attempt_at IS NOT NULL"),
        postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
    ),
    sa.Index("deliveries_person", "person_id", "updated_at"),
)

# When each care-team member's next daily summary is due (a durable timer, fired by any worker with SKIP LOCKED), and
# the time it reports from (the previous summary's due time).
digest_schedules = sa.Table(
    "digest_schedules",
    metadata,
    sa.Column("person_id", sa.Text, primary_key=True),
    _at("next_due_at"),
    _at("covered_from"),
    sa.Index("digest_schedules_due", "next_due_at"),
)

# On-call rotations (alerts/rosters.py turns them into shifts): handoff times and members are JSON lists, read whole.
rotations = sa.Table(
    "rotations",
    metadata,
    _row_id("rotation_id"),
    _text("name"),
    _text("role"),
    sa.Column("handoff_times", Json, nullable=False),
    sa.Column("members", Json, nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False),
    _text("time_zone"),
    sqlite_autoincrement=True,
)

# Which sites each rotation covers (a hospital specialist's rotation covers several units).
rotation_sites = sa.Table(
    "rotation_sites",
    metadata,
    sa.Column("rotation_id", RowId, sa.ForeignKey("rotations.rotation_id"), primary_key=True),
    sa.Column("site_id", sa.Text, primary_key=True),
    sa.Index("rotation_sites_site", "site_id"),
)

roster_overrides = sa.Table(
    "roster_overrides",
    metadata,
    _row_id("override_id"),
    sa.Column("rotation_id", RowId, sa.ForeignKey("rotations.rotation_id"), nullable=False),
    _text("person_id"),
    _at("starts_at"),
    _at("ends_at"),
    sa.Index("roster_overrides_rotation", "rotation_id", "ends_at"),
    sqlite_autoincrement=True,
)

# --- fatigue controls ------------------------------------------------------------------------------------------
# A condition waiting out its confirmation delay before its alert opens (alerts/confirmation.py): one row per alert
# key, '' standing in for a missing patient or device id. `due_at` is the durable timer any worker may fire.
pending_alerts = sa.Table(
    "pending_alerts",
    metadata,
    sa.Column("patient_id", sa.Text, primary_key=True),
    sa.Column("device_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    _text("ward_id", nullable=True),
    sa.Column("severity", sa.SmallInteger, nullable=False),
    _text("message"),
    _at("since"),
    _at("clear_since", nullable=True),
    _at("due_at"),
    sa.Index("pending_alerts_due", "due_at"),
)

# Limits a doctor set for one patient and parameter. Append-only: every change is a row (who, when, why), the newest
# row per (patient, parameter) is in force, and one with low and high both NULL clears the limit.
patient_limits = sa.Table(
    "patient_limits",
    metadata,
    _row_id(),
    _text("patient_id"),
    _text("parameter"),
    sa.Column("low", sa.Double),
    sa.Column("high", sa.Double),
    _text("reason"),
    _text("set_by"),
    _at("set_at"),
    sa.Index("patient_limits_patient", "patient_id", "parameter", "set_at"),
    sqlite_autoincrement=True,
)

# --- audit -----------------------------------------------------------------------------------------------------
audit_log = sa.Table(
    "audit_log",
    metadata,
    _row_id(),
    _at("at"),
    _text("user_id"),
    _text("role"),
    _text("action"),
    _text("subject"),
    _text("detail"),
    # people and audit (revision 0008): which patient, what allowed it, from where, with which token
    _text("patient_id", nullable=True),
    _text("access_grant", nullable=True),
    _text("source_address", nullable=True),
    _text("token_id", nullable=True),
    sa.Index("audit_log_at", "at"),
    sa.Index("audit_log_patient", "patient_id", "at"),
    sa.Index("audit_log_user", "user_id", "at"),
    sqlite_autoincrement=True,
)

# --- people (revision 0008): the user registry, and what tells every API node that someone's access changed ------
# Roles and sites are JSON lists on the user's row: the API reads this one row by key on every call.
users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    _text("name"),
    _text("organisation"),
    sa.Column("roles", Json, nullable=False),
    sa.Column("site_ids", Json, nullable=False),
    _at("created_at"),
    _at("disabled_at", nullable=True),
)

# One row per change that may take access away (disable, roles or sites changed, care-team membership ended),
# written in the change's transaction. Each API node polls it to close that user's open sockets.
access_changes = sa.Table(
    "access_changes",
    metadata,
    _row_id(),
    _at("at"),
    _text("user_id"),
    _text("what"),
    sa.Index("access_changes_at", "at"),
    sqlite_autoincrement=True,
)

# A member's open memberships, for the care-team grant on every patient read.
care_team_member = sa.Index("care_team_member", care_team.c.member_id, care_team.c.patient_id)


# --- administration (revision 0007; issue 9, the administration helper) ------------------------------------------
# Sites, wards and beds retire, never go: stays, readings and alerts name them. A retired one leaves boards and
# pickers and stays in history.
for _place in (sites, wards, beds):
    _place.append_column(_at("retired_at", nullable=True))
# When the patient came to a unit of this kind (kept across transfers between units of one kind): the length of stay
# runs from it (core/length_of_stay.py). NULL on stays before 0007, whose length runs from start_at.
stays.append_column(_at("admitted_at", nullable=True))
# A bed holds one current stay, a patient has one, across processes (the admin calls check first and answer 409).
_OPEN_STAY = stays.c.end_at.is_(None)
sa.Index(
    "stays_one_open_per_patient", stays.c.patient_id, unique=True, sqlite_where=_OPEN_STAY, postgresql_where=_OPEN_STAY
)
_OPEN_BED_STAY = sa.and_(stays.c.end_at.is_(None), stays.c.bed_id.is_not(None))
sa.Index(
    "stays_one_open_per_bed", stays.c.bed_id, unique=True, sqlite_where=_OPEN_BED_STAY, postgresql_where=_OPEN_BED_STAY
)
sa.Index("stays_bed", stays.c.bed_id, stays.c.start_at)

# The national identity number (fødselsnummer or D-number), apart from the patient's row so that no query that
# reads patients can carry it by accident. One patient per number.
patient_identities = sa.Table(
    "patient_identities",
    metadata,
    sa.Column("patient_id", sa.Text, primary_key=True),
    _text("national_id"),
    _at("recorded_at"),
    _text("recorded_by"),
    sa.Index("patient_identities_number", "national_id", unique=True),
)

# One durable timer per stay and length-of-stay limit (`stay_id`: the stay that began the time in this kind of unit).
# Armed while `due_at` is set; when it fires, the advisory alert opens and `fired_at` is written in one transaction,
# so it fires once. A discharge, or a transfer to another kind of unit, disarms it (`disarmed_at`).
stay_limit_timers = sa.Table(
    "stay_limit_timers",
    metadata,
    sa.Column("stay_id", sa.Text, primary_key=True),
    sa.Column("stay_limit", sa.Text, primary_key=True),
    _text("patient_id"),
    _at("admitted_at"),
    _at("due_at", nullable=True),
    _at("fired_at", nullable=True),
    _at("disarmed_at", nullable=True),
    sa.Index("stay_limit_timers_patient", "patient_id"),
    sa.Index(
        "stay_limit_timers_due",
        "due_at",
        sqlite_where=sa.text("due_at IS NOT NULL"),
        postgresql_where=sa.text("due_at IS NOT NULL"),
    ),
)

# --- home follow-up (core/homecare.py) ---------------------------------------------------------------------------
# A patient's measurement plans, append-only: the newest row per patient is in force (who set it, when).
measurement_plans = sa.Table(
    "measurement_plans",
    metadata,
    _row_id(),
    _text("patient_id"),
    _text("timezone"),
    sa.Column("items", Json, nullable=False),
    sa.Column("inactive_after_h", sa.Double, nullable=False),
    _text("set_by"),
    _at("set_at"),
    sa.Index("measurement_plans_patient", "patient_id", "set_at"),
    sqlite_autoincrement=True,
)

# The plans' durable timers: one per plan item (its current window, checked when it closes at `due_at`) and one per
# patient for activity (item_id "_activity"). A worker claims due rows, writes the item it raises and the next due
# time in one transaction, so each window is checked once.
plan_timers = sa.Table(
    "plan_timers",
    metadata,
    sa.Column("patient_id", sa.Text, primary_key=True),
    sa.Column("item_id", sa.Text, primary_key=True),
    _at("opens_at"),
    _at("due_at"),
    sa.Index("plan_timers_due", "due_at"),
)

worklist_items = sa.Table(
    "worklist_items",
    metadata,
    sa.Column("item_id", sa.Text, primary_key=True),
    _text("site_id"),
    _text("patient_id"),
    _text("kind"),
    _text("vkp_code"),
    _text("summary"),
    _at("opened_at"),
    _text("state"),
    sa.Column("missing_loinc", Json, nullable=False),
    _at("window_opens_at", nullable=True),
    _at("window_closes_at", nullable=True),
    _text("owner", nullable=True),
    _at("closed_at", nullable=True),
    _text("outcome", nullable=True),
    # Threshold breaches (revision 0013): the measurement, its triage colour and the readings it implicates;
    # `open_key` ("patient/measurement" while not closed, NULL once closed) keeps one open item per pair.
    _text("parameter", nullable=True),
    _text("triage_colour", nullable=True),
    sa.Column("implicated", Json, nullable=True),
    _text("open_key", nullable=True),
    sa.Column("alert_id", RowId, nullable=True),  # a NEWS2/ML alert's item, or the alert an item escalated into
    _text("assignee", nullable=True),
    sa.Index("worklist_items_site", "site_id", "state", "opened_at"),
    sa.Index("worklist_items_patient", "patient_id", "kind", "state"),
    sa.Index("worklist_items_open_key", "open_key", unique=True),
    sa.Index("worklist_items_alert", "alert_id"),
)

worklist_events = sa.Table(
    "worklist_events",
    metadata,
    _row_id(),
    _text("item_id"),
    _at("at"),
    _text("actor"),
    _text("action"),
    _text("text"),
    sa.Index("worklist_events_item", "item_id", "at"),
    sqlite_autoincrement=True,
)

# Personal thresholds (core/thresholds.py): append-only, each set a patient was given (bands as JSON, who, when,
# why); the newest per patient is in force.
threshold_sets = sa.Table(
    "threshold_sets",
    metadata,
    _row_id(),
    _text("patient_id"),
    sa.Column("measurements", Json, nullable=False),
    _text("reason"),
    _text("set_by"),
    _at("set_at"),
    sa.Index("threshold_sets_patient", "patient_id", "set_at"),
    sqlite_autoincrement=True,
)

# --- care flags (core/care_flags.py) ------------------------------------------------------------------------------
# Append-only: each setting or clearing of a flag is a row (who, when, why); the newest per patient and flag holds.
care_flags = sa.Table(
    "care_flags",
    metadata,
    _row_id(),
    _text("patient_id"),
    _text("flag"),
    sa.Column("active", Flag, nullable=False),
    _text("reason"),
    _text("set_by"),
    _at("set_at"),
    sa.Index("care_flags_patient", "patient_id", "flag", "set_at"),
    sqlite_autoincrement=True,
)

# --- withdrawal assessments (core/withdrawal.py) -------------------------------------------------------------------
# One row per scoring, never changed: the items as charted ([item, score] in the scale's order), the total and band
# the scale gave them, who assessed when, and the items a sensor proposed that the clinician kept.
withdrawal_assessments = sa.Table(
    "withdrawal_assessments",
    metadata,
    sa.Column("assessment_id", sa.Text, primary_key=True),
    _text("patient_id"),
    _text("scale"),
    sa.Column("items", Json, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("band", sa.Integer, nullable=False),
    _at("assessed_at"),
    _text("assessed_by"),
    _at("recorded_at"),
    sa.Column("proposed", Json, nullable=False),
    _text("note"),
    sa.Index("withdrawal_assessments_patient", "patient_id", "scale", "assessed_at"),
)

# --- teams, outreach and the team board (core/outreach.py) --------------------------------------------------------
# A team (FACT, digital FACT, LAR, PSHT) is a member of its patients' care teams under its own id; its people are
# `team_members` for a period.
teams = sa.Table(
    "teams",
    metadata,
    sa.Column("team_id", sa.Text, primary_key=True),
    _text("name"),
    _text("kind"),
    _text("organisation"),
    _at("created_at"),
)

team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column("team_id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("start_at", UtcDateTime, primary_key=True),
    _at("end_at", nullable=True),
    sa.Index("team_members_user", "user_id", "team_id"),
)

# One task per worklist item and team (the unique key makes a repeated check a no-op).
outreach_tasks = sa.Table(
    "outreach_tasks",
    metadata,
    sa.Column("task_id", sa.Text, primary_key=True),
    _text("team_id"),
    _text("patient_id"),
    _text("item_id"),
    _text("kind"),
    _text("summary"),
    _at("opened_at"),
    _text("state"),
    _text("assignee", nullable=True),
    _at("done_at", nullable=True),
    _text("outcome", nullable=True),
    sa.UniqueConstraint("item_id", "team_id", name="outreach_tasks_item_team"),
    sa.Index("outreach_tasks_team", "team_id", "state", "opened_at"),
)

outreach_events = sa.Table(
    "outreach_events",
    metadata,
    _row_id(),
    _text("task_id"),
    _at("at"),
    _text("actor"),
    _text("action"),
    _text("text"),
    sa.Index("outreach_events_task", "task_id", "at"),
    sqlite_autoincrement=True,
)

# Append-only: each edit of a team's shared plan note for a patient is a row; the newest is shown.
team_plan_notes = sa.Table(
    "team_plan_notes",
    metadata,
    _row_id(),
    _text("team_id"),
    _text("patient_id"),
    _text("text"),
    _text("written_by"),
    _at("written_at"),
    sa.Index("team_plan_notes_patient", "team_id", "patient_id", "written_at"),
    sqlite_autoincrement=True,
)
