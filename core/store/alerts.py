"""Alerts: one unresolved alert per (patient or device, kind) across processes, changed only by a decision function
run on the locked row inside one write transaction, with its history written in the same transaction.

The decisions (when to open, raise, re-open, re-notify, resolve) live in `alerts/lifecycle.py` as pure functions;
this module only applies them atomically. `raise_alert` and `resolve_alert` are the two decisions device health
needs (devices/ may not import alerts/). A condition waiting out its confirmation delay is a `pending_alerts` row,
changed with its key's alert in one transaction (`update_alert_condition`) and fired by any worker when due.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.errors import NotFound
from core.store import schema as s
from core.store.alert_rows import (
    alert_of_row,
    insert_transition,
    insert_transitions,
    locked_by_id,
    locked_by_ids,
    pending_of_row,
    pending_values,
    pending_where,
    transition_row,
)
from core.store.escalations import ChainLookups, follow_alert, stop_chains
from core.store.protocols import (
    AlertChange,
    AlertDecision,
    AlertUpdate,
    ConditionDecision,
    ConditionUpdate,
    DueAlertDecision,
)
from core.store.sql import SqlStore, advisory_lock, dialect_insert, lock_patient_stays, one_of
from core.types import (
    Alert,
    AlertKey,
    AlertKind,
    AlertPhase,
    AlertSeverity,
    AlertState,
    AlertTransition,
    PendingAlert,
)

__all__ = ["AlertQueries", "resolve_alerts_in", "update_alert_in"]

_a = s.alerts
_t = s.alert_transitions
_p = s.pending_alerts
# Columns a decision may change; the identity (patient, device, kind) and opened_at never change.
_MUTABLE = (
    "ward_id",
    "severity",
    "state",
    "message",
    "updated_at",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
    "resolve_reason",
    "clear_since",
    "renotify_at",
)


def _values(alert: Alert) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(alert, name) for name in _MUTABLE}
    values["severity"] = alert.severity.value
    values["state"] = alert.state.value
    return values


_LOCKED_BY_KEY = (
    sa.select(_a)
    .where(
        sa.func.coalesce(_a.c.patient_id, "") == sa.bindparam("key_patient_id"),
        sa.func.coalesce(_a.c.device_id, "") == sa.bindparam("key_device_id"),
        _a.c.kind == sa.bindparam("key_kind"),
        s.UNRESOLVED,
    )
    .with_for_update()
)
# SET takes the columns named in the parameters (_values); the row is named by a parameter no column is called.
_UPDATE = sa.update(_a).where(_a.c.alert_id == sa.bindparam("target_alert_id"))
_UPDATE_BY_ID = _UPDATE.returning(*_a.c)


def _locked_by_key(conn: sa.Connection, key: AlertKey) -> Alert | None:
    """The key's unresolved alert, locked. Its statement is built once, as alert_rows' are."""
    params = {"key_patient_id": key.patient_id or "", "key_device_id": key.device_id or "", "key_kind": key.kind.value}
    row = conn.execute(_LOCKED_BY_KEY, params).first()
    return None if row is None else alert_of_row(row)


@functools.lru_cache(maxsize=2)
def _insert_statement(dialect: str) -> sa.Executable:
    insert = dialect_insert(dialect, _a)
    return insert.on_conflict_do_nothing(index_elements=list(s.ALERT_IDENTITY), index_where=s.UNRESOLVED).returning(
        *_a.c
    )


def _record(
    conn: sa.Connection,
    alert: Alert,
    update: AlertUpdate,
    lookups: ChainLookups | None = None,
    *,
    inserted: bool = False,
) -> AlertChange:
    """Write the update's history row and move the alert's chain. `inserted`: the alert row was inserted by this
    transaction, so it has no chain yet to read."""
    if update.phase is not None:
        insert_transition(conn, alert, update.phase, at=alert.updated_at, by=update.by, reason=update.reason)
        follow_alert(conn, alert, update.phase, lookups=lookups, unchained=inserted)
    return AlertChange(alert, changed=update.phase is not None, phase=update.phase)


def _write_existing(
    conn: sa.Connection, update: AlertUpdate, alert_id: int, lookups: ChainLookups | None = None
) -> AlertChange:
    row = conn.execute(_UPDATE_BY_ID, _values(update.alert) | {"target_alert_id": alert_id}).one()
    return _record(conn, alert_of_row(row), update, lookups)


def _insert(conn: sa.Connection, alert: Alert) -> Alert | None:
    """Insert a new unresolved alert; None when another transaction just inserted one for the same key."""
    values = _values(alert) | {
        "patient_id": alert.patient_id,
        "device_id": alert.device_id,
        "kind": alert.kind.value,
        "opened_at": alert.opened_at,
    }
    row = conn.execute(_insert_statement(conn.dialect.name), values).first()
    return None if row is None else alert_of_row(row)


def _placed(conn: sa.Connection, alert: Alert) -> Alert | None:
    """A patient's new alert in the ward the patient is in as it is stored; None when they were discharged since.
    The rule decided on a stay read before this transaction, and a transfer or a discharge may have committed in
    between: patients are moved when they deteriorate, which is when alerts open. Under the patient's stay lock, a
    stay change that committed first is seen here, and one that comes after finds this alert and moves or ends it.
    A device's alert, a wardless one and one of a patient who never had a stay keep the ward they were given."""
    if alert.patient_id is None or alert.device_id is not None or alert.ward_id is None:
        return alert
    lock_patient_stays(conn, alert.patient_id)
    st = s.stays
    newest = sa.select(st.c.ward_id, st.c.end_at).where(st.c.patient_id == alert.patient_id)
    stay = conn.execute(newest.order_by(st.c.start_at.desc()).limit(1)).first()
    if stay is None:
        return alert
    if stay.end_at is not None:
        return None
    return alert if stay.ward_id == alert.ward_id else replace(alert, ward_id=stay.ward_id)


def _update_key(
    conn: sa.Connection,
    key: AlertKey,
    decide: AlertDecision,
    lookups: ChainLookups | None = None,
    *,
    by_rule: bool = True,
) -> AlertChange | None:
    """`by_rule`: a rule decided it, and opens nothing for a patient discharged since it read their stay; a
    person's raise (an escalation from the worklist) still opens, in the ward they saw."""
    current = _locked_by_key(conn, key)
    update = decide(current)
    if update is None:
        return None if current is None else AlertChange(current, changed=False)
    if current is not None:
        return _write_existing(conn, update, current.alert_id, lookups)
    if update.alert.state is AlertState.RESOLVED:
        raise ValueError(f"A decision may not open an alert already resolved ({key})")
    placed = _placed(conn, update.alert)
    if placed is None and by_rule:
        return None  # no stay, no alert (ingest/live_scoring.py decides none either once it sees the discharge)
    inserted = _insert(conn, placed or update.alert)
    if inserted is not None:
        return _record(conn, inserted, update, lookups, inserted=True)
    # Another process opened this key's alert between our read and insert (PostgreSQL waited for its commit):
    # decide again against that one, now locked.
    return _update_key(conn, key, decide, lookups, by_rule=by_rule)


def update_alert_in(conn: sa.Connection, key: AlertKey, decide: AlertDecision) -> AlertChange | None:
    """`update_alert` inside a caller's write transaction (a stay change resolves its length-of-stay alert with it)."""
    return _update_key(conn, key, decide)


def resolve_alerts_in(
    conn: sa.Connection, alert_ids: Sequence[int], *, at: datetime, by: str, reason: str
) -> list[AlertChange]:
    """`resolve_alerts` inside a caller's write transaction (a discharge ends the patient's alerts with it)."""
    return _resolve_many(conn, alert_ids, at=at, by=by, reason=reason)


def _update_id(conn: sa.Connection, alert_id: int, decide: DueAlertDecision) -> AlertChange:
    current = locked_by_id(conn, alert_id)
    if current is None:
        raise NotFound("alert", alert_id)
    update = decide(current)
    if update is None:
        return AlertChange(current, changed=False)
    return _write_existing(conn, update, alert_id)


def _resolve_many(
    conn: sa.Connection, alert_ids: Sequence[int], *, at: datetime, by: str, reason: str
) -> list[AlertChange]:
    """End the alerts (one change per id, in their order; an alert already ended is unchanged) in a fixed number of
    round trips: the alerts locked in id order, then the ended ones written, their history rows and their chains
    stopped, each for all of them at once. Raises NotFound."""
    current = locked_by_ids(conn, alert_ids)
    ended: dict[int, Alert] = {}
    changes: list[AlertChange] = []
    for alert_id in alert_ids:
        if alert_id not in current:
            raise NotFound("alert", alert_id)
        update = None if alert_id in ended else _resolved(current[alert_id], at=at, by=by, reason=reason)
        if update is None:
            changes.append(AlertChange(ended.get(alert_id, current[alert_id]), changed=False))
            continue
        ended[alert_id] = update.alert
        changes.append(AlertChange(update.alert, changed=True, phase=AlertPhase.RESOLVED))
    if ended:
        conn.execute(_UPDATE, [_values(alert) | {"target_alert_id": i} for i, alert in ended.items()])
        phase = AlertPhase.RESOLVED
        insert_transitions(conn, [transition_row(a, phase, at=at, by=by, reason=reason) for a in ended.values()])
        stop_chains(conn, list(ended.values()), phase)
    return changes


def _update_due(conn: sa.Connection, now: datetime, decide: DueAlertDecision, limit: int) -> list[AlertChange]:
    query = (
        sa.select(_a)
        .where(_a.c.renotify_at <= now, s.UNRESOLVED)
        .order_by(_a.c.renotify_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # a second worker takes the others; SQLite: the one writer
    )
    changes = []
    for row in conn.execute(query).all():
        alert = alert_of_row(row)
        update = decide(alert) or AlertUpdate(replace(alert, renotify_at=None))
        if update.alert.renotify_at is not None and update.alert.renotify_at <= now:
            # A timer left due would be claimed again at once: a decision that keeps it disarms it.
            update = replace(update, alert=replace(update.alert, renotify_at=None))
        changes.append(_write_existing(conn, update, alert.alert_id))
    return changes


def _locked_pending(conn: sa.Connection, key: AlertKey) -> PendingAlert | None:
    row = conn.execute(sa.select(_p).where(pending_where(key)).with_for_update()).first()
    return None if row is None else pending_of_row(row)


def _write_pending(conn: sa.Connection, key: AlertKey, before: PendingAlert | None, after: PendingAlert | None) -> None:
    if after == before:
        return
    if after is not None and after.key != key:
        raise ValueError(f"A decision on {key} may not write the pending condition of {after.key}")
    if after is None:
        conn.execute(sa.delete(_p).where(pending_where(key)))
    elif before is None:
        conn.execute(sa.insert(_p).values(pending_values(after)))
    else:
        conn.execute(sa.update(_p).where(pending_where(key)).values(pending_values(after)))


def _decide_condition(
    conn: sa.Connection, key: AlertKey, pending: PendingAlert | None, decide: ConditionDecision
) -> tuple[ConditionUpdate, AlertChange | None]:
    """Decide on the locked alert and apply the alert's part; the caller writes the pending part."""
    current = _locked_by_key(conn, key)
    update = decide(current, pending)
    if update.alert is None:
        return update, None if current is None else AlertChange(current, changed=False)
    if current is not None:
        return update, _write_existing(conn, update.alert, current.alert_id)
    if update.alert.alert.state is AlertState.RESOLVED:
        raise ValueError(f"A decision may not open an alert already resolved ({key})")
    placed = _placed(conn, update.alert.alert)
    if placed is None:  # discharged since the rule read the stay: no stay, no alert
        return replace(update, alert=None), None
    inserted = _insert(conn, placed)
    if inserted is not None:
        return update, _record(conn, inserted, update.alert, inserted=True)
    # Another path (raise_alert) opened this key's alert between our read and insert: decide again on that one.
    return _decide_condition(conn, key, pending, decide)


def _update_condition(conn: sa.Connection, key: AlertKey, decide: ConditionDecision) -> AlertChange | None:
    # No pending row may exist yet to lock: serialise the key's read-then-insert across processes (SQLite: no-op, its
    # write transaction holds the file). Lock order everywhere: pending row, then alert row.
    advisory_lock(conn, f"alert-condition:{key.patient_id or ''}:{key.device_id or ''}:{key.kind.value}")
    pending = _locked_pending(conn, key)
    update, change = _decide_condition(conn, key, pending, decide)
    _write_pending(conn, key, pending, update.pending)
    return change


def _fire_due_confirmations(
    conn: sa.Connection, now: datetime, decide: ConditionDecision, limit: int
) -> list[AlertChange]:
    query = (
        sa.select(_p)
        .where(_p.c.due_at <= now)
        .order_by(_p.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # a second worker takes the others; SQLite: the one writer
    )
    changes = []
    for row in conn.execute(query).all():
        pending = pending_of_row(row)
        update, change = _decide_condition(conn, pending.key, pending, decide)
        after = update.pending
        if after is not None and after.due_at <= now:
            after = None  # left due, it would be claimed again at once: a decision that keeps it drops it
        _write_pending(conn, pending.key, pending, after)
        if change is not None and change.changed:
            changes.append(change)
    return changes


def _raise(current: Alert | None, proposed: Alert) -> AlertUpdate | None:
    if current is None:
        return AlertUpdate(proposed, AlertPhase.OPENED)
    if proposed.severity <= current.severity:
        return None
    reopened = current.state is AlertState.ACKNOWLEDGED
    raised = replace(
        current,
        severity=proposed.severity,
        message=proposed.message,
        updated_at=proposed.updated_at,
        state=AlertState.OPEN,
        acknowledged_at=None,
        acknowledged_by=None,
        ward_id=current.ward_id or proposed.ward_id,  # moving an alert is a transfer's (stay_alerts.py)
        clear_since=None,
        renotify_at=None,
    )
    return AlertUpdate(raised, AlertPhase.REOPENED if reopened else AlertPhase.RAISED)


def _resolved(alert: Alert, *, at: datetime, by: str, reason: str) -> AlertUpdate | None:
    if alert.state is AlertState.RESOLVED:
        return None
    return AlertUpdate(alert.resolved(at=at, by=by, reason=reason), AlertPhase.RESOLVED, by=by, reason=reason)


class AlertQueries(SqlStore):
    async def update_alert(self, key: AlertKey, decide: AlertDecision) -> AlertChange | None:
        return await self._write(lambda c: _update_key(c, key, decide))

    async def update_alert_by_id(self, alert_id: int, decide: DueAlertDecision) -> AlertChange:
        return await self._write(lambda c: _update_id(c, alert_id, decide))

    async def update_due_alerts(
        self, now: datetime, decide: DueAlertDecision, *, limit: int = 100
    ) -> list[AlertChange]:
        return await self._write(lambda c: _update_due(c, now, decide, limit))

    async def raise_alert(
        self,
        *,
        patient_id: str | None,
        device_id: str | None,
        ward_id: str | None,
        kind: AlertKind,
        severity: AlertSeverity,
        message: str,
        at: datetime,
    ) -> AlertChange:
        proposed = Alert(0, patient_id, ward_id, kind, severity, AlertState.OPEN, message, at, at, device_id=device_id)
        (change,) = await self.raise_alerts([proposed])
        return change

    async def raise_alerts(self, proposed: Sequence[Alert]) -> list[AlertChange]:
        def raise_each(conn: sa.Connection) -> list[AlertChange]:
            changes: list[AlertChange] = []
            lookups = ChainLookups()  # a chunk is mostly one ward: its site and policy read once
            for alert in proposed:
                raised = functools.partial(_raise, proposed=alert)
                change = _update_key(conn, alert.key, raised, lookups, by_rule=False)
                assert change is not None, "_raise opens an alert when there is none"
                changes.append(change)
            return changes

        return await self._write(raise_each) if proposed else []

    async def resolve_alert(self, alert_id: int, *, at: datetime, by: str, reason: str) -> Alert:
        change = await self.update_alert_by_id(alert_id, lambda a: _resolved(a, at=at, by=by, reason=reason))
        return change.alert

    async def resolve_alerts(
        self, alert_ids: Sequence[int], *, at: datetime, by: str, reason: str
    ) -> list[AlertChange]:
        if not alert_ids:
            return []
        return await self._write(lambda c: _resolve_many(c, alert_ids, at=at, by=by, reason=reason))

    async def update_alert_condition(self, key: AlertKey, decide: ConditionDecision) -> AlertChange | None:
        return await self._write(lambda c: _update_condition(c, key, decide))

    async def fire_due_confirmations(
        self, now: datetime, decide: ConditionDecision, *, limit: int = 100
    ) -> list[AlertChange]:
        return await self._write(lambda c: _fire_due_confirmations(c, now, decide, limit))

    async def pending_alerts(
        self, *, patient_ids: Sequence[str], kinds: Sequence[AlertKind] | None = None
    ) -> list[PendingAlert]:
        query = sa.select(_p).where(one_of(_p.c.patient_id, patient_ids))
        if kinds is not None:
            query = query.where(_p.c.kind.in_([kind.value for kind in kinds]))
        return [pending_of_row(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def patients_with_unresolved(self, patient_ids: Sequence[str], *, kinds: Sequence[AlertKind]) -> set[str]:
        kind_values = [kind.value for kind in kinds]
        unresolved = sa.select(_a.c.patient_id).where(
            one_of(_a.c.patient_id, patient_ids),
            _a.c.kind.in_(kind_values),
            _a.c.state.in_([AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value]),
        )
        pending = sa.select(_p.c.patient_id).where(one_of(_p.c.patient_id, patient_ids), _p.c.kind.in_(kind_values))
        rows = await self._read(lambda c: c.execute(sa.union(unresolved, pending)).all())
        return {patient_id for (patient_id,) in rows}

    async def get_alert(self, alert_id: int) -> Alert:
        row = await self._read(lambda c: c.execute(sa.select(_a).where(_a.c.alert_id == alert_id)).first())
        if row is None:
            raise NotFound("alert", alert_id)
        return alert_of_row(row)

    async def alert_history(self, alert_id: int) -> list[AlertTransition]:
        query = sa.select(_t).where(_t.c.alert_id == alert_id).order_by(_t.c.at, _t.c.id)
        return [
            AlertTransition(
                alert_id=int(row.alert_id),
                at=row.at,
                phase=AlertPhase(row.phase),
                state=AlertState(row.state),
                severity=AlertSeverity(row.severity),
                by=row.actor,
                reason=row.reason,
            )
            for row in await self._read(lambda c: c.execute(query).all())
        ]

    async def list_alerts(
        self,
        *,
        ward_ids: Sequence[str] | None = None,
        patient_ids: Sequence[str] | None = None,
        kinds: Sequence[AlertKind] | None = None,
        states: Sequence[AlertState] = (AlertState.OPEN, AlertState.ACKNOWLEDGED),
        limit: int = 500,
    ) -> list[Alert]:
        query = sa.select(_a).where(_a.c.state.in_([state.value for state in states]))
        if ward_ids is not None:
            query = query.where(one_of(_a.c.ward_id, ward_ids))
        if patient_ids is not None:
            query = query.where(one_of(_a.c.patient_id, patient_ids))
        if kinds is not None:
            query = query.where(_a.c.kind.in_([kind.value for kind in kinds]))
        query = query.order_by(_a.c.opened_at.desc(), _a.c.alert_id.desc()).limit(limit)
        return [alert_of_row(row) for row in await self._read(lambda c: c.execute(query).all())]
