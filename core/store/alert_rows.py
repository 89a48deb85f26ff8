"""Rows of the alerts table, of its history and of pending conditions, for the modules that change alerts (alerts,
escalations)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.store import schema as s
from core.store.sql import one_of
from core.types import SYSTEM_ACTOR, Alert, AlertKey, AlertKind, AlertPhase, AlertSeverity, AlertState, PendingAlert

__all__ = [
    "alert_of_row",
    "alerts_free_to_lock",
    "insert_transition",
    "insert_transitions",
    "locked_by_id",
    "locked_by_ids",
    "pending_of_row",
    "pending_values",
    "pending_where",
    "transition_row",
]

_a = s.alerts


def alert_of_row(row: Any) -> Alert:
    return Alert(
        alert_id=int(row.alert_id),
        patient_id=row.patient_id,
        ward_id=row.ward_id,
        kind=AlertKind(row.kind),
        severity=AlertSeverity(row.severity),
        state=AlertState(row.state),
        message=row.message,
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        device_id=row.device_id,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolve_reason=row.resolve_reason,
        clear_since=row.clear_since,
        renotify_at=row.renotify_at,
    )


# The statements every alert change runs are built once, their values passed as parameters: built per call (each
# value made a bind parameter, the statement's cache key walked again) they cost about as much CPU as running them
# when a ward's devices raise or end their alerts together.
# FOR UPDATE holds the row until commit on PostgreSQL; SQLite's write transaction already holds the file.
_LOCKED_BY_ID = sa.select(_a).where(_a.c.alert_id == sa.bindparam("wanted_alert_id")).with_for_update()
_INSERT_TRANSITION = sa.insert(s.alert_transitions)


def locked_by_id(conn: sa.Connection, alert_id: int) -> Alert | None:
    row = conn.execute(_LOCKED_BY_ID, {"wanted_alert_id": alert_id}).first()
    return None if row is None else alert_of_row(row)


def locked_by_ids(conn: sa.Connection, alert_ids: Sequence[int]) -> dict[int, Alert]:
    """The alerts of `alert_ids` that exist, locked in id order (two batches sharing alerts never hold one each
    while waiting for the other's), in one statement."""
    query = sa.select(_a).where(one_of(_a.c.alert_id, alert_ids)).order_by(_a.c.alert_id).with_for_update()
    return {alert.alert_id: alert for alert in map(alert_of_row, conn.execute(query).all())}


def alerts_free_to_lock(conn: sa.Connection, alert_ids: Sequence[int]) -> dict[int, Alert]:
    """Those of the alerts that no other transaction holds, locked, by id, in one statement.

    For a worker that already holds the alerts' chain rows (the escalation tick). Every alert change takes the alert
    first, then its chain, then its deliveries; waiting here for an alert would take them the other way round, and
    PostgreSQL would break the two waits by aborting one of them. An alert skipped is being changed: its chain is
    left for the next tick, which reads what the change made of it."""
    query = sa.select(_a).where(one_of(_a.c.alert_id, alert_ids)).with_for_update(skip_locked=True)
    return {alert.alert_id: alert for alert in map(alert_of_row, conn.execute(query).all())}


def transition_row(
    alert: Alert, phase: AlertPhase, *, at: datetime, by: str = SYSTEM_ACTOR, reason: str = ""
) -> dict[str, Any]:
    """One history row of `alert` after `phase`, for `insert_transitions`."""
    return {
        "alert_id": alert.alert_id,
        "at": at,
        "phase": phase.value,
        "state": alert.state.value,
        "severity": alert.severity.value,
        "actor": by,
        "reason": reason,
    }


def insert_transitions(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """History rows (`transition_row`), in one round trip however many."""
    if rows:
        conn.execute(_INSERT_TRANSITION, list(rows))


def insert_transition(
    conn: sa.Connection, alert: Alert, phase: AlertPhase, *, at: datetime, by: str = SYSTEM_ACTOR, reason: str = ""
) -> None:
    conn.execute(_INSERT_TRANSITION, transition_row(alert, phase, at=at, by=by, reason=reason))


# pending_alerts keys its rows by (patient_id, device_id, kind) with '' for a missing id (a primary key column).
_p = s.pending_alerts


def pending_where(key: AlertKey) -> sa.ColumnElement[bool]:
    return sa.and_(
        _p.c.patient_id == (key.patient_id or ""),
        _p.c.device_id == (key.device_id or ""),
        _p.c.kind == key.kind.value,
    )


def pending_of_row(row: Any) -> PendingAlert:
    return PendingAlert(
        key=AlertKey(row.patient_id or None, row.device_id or None, AlertKind(row.kind)),
        ward_id=row.ward_id,
        severity=AlertSeverity(row.severity),
        message=row.message,
        since=row.since,
        due_at=row.due_at,
        clear_since=row.clear_since,
    )


def pending_values(pending: PendingAlert) -> dict[str, Any]:
    return {
        "patient_id": pending.key.patient_id or "",
        "device_id": pending.key.device_id or "",
        "kind": pending.key.kind.value,
        "ward_id": pending.ward_id,
        "severity": pending.severity.value,
        "message": pending.message,
        "since": pending.since,
        "clear_since": pending.clear_since,
        "due_at": pending.due_at,
    }
