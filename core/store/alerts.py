"""Alerts: open-or-raise (one unresolved alert per patient or device and kind, across processes), acknowledge,
resolve, list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from core.errors import AlertAlreadyAcknowledged, NotFound
from core.store import schema as s
from core.store.protocols import AlertChange
from core.store.sql import SqlStore
from core.types import Alert, AlertKind, AlertSeverity, AlertState

__all__ = ["AlertQueries"]

_a = s.alerts


def _alert(row: Any) -> Alert:
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
    )


def _get(conn: sa.Connection, alert_id: int) -> Alert:
    row = conn.execute(sa.select(_a).where(_a.c.alert_id == alert_id)).first()
    if row is None:
        raise NotFound("alert", alert_id)
    return _alert(row)


def _raise(conn: sa.Connection, values: dict[str, Any]) -> AlertChange:
    # ON CONFLICT on the partial unique index makes open-or-raise one atomic statement on both engines. When the
    # severity is not higher nothing is returned, but the conflicting row stays locked (PostgreSQL) or the file
    # stays write-locked (SQLite), so the read below sees it as it stays.
    insert = postgresql.insert(_a) if conn.dialect.name == "postgresql" else sqlite.insert(_a)
    statement = (
        insert.values(values)
        .on_conflict_do_update(
            index_elements=list(s.ALERT_IDENTITY),
            index_where=s.UNRESOLVED,
            set_={
                "severity": insert.excluded.severity,
                "message": insert.excluded.message,
                "updated_at": insert.excluded.updated_at,
                "state": AlertState.OPEN.value,
                "acknowledged_at": None,
                "acknowledged_by": None,
                "ward_id": sa.func.coalesce(insert.excluded.ward_id, _a.c.ward_id),
            },
            where=_a.c.severity < insert.excluded.severity,
        )
        .returning(*_a.c)
    )
    row = conn.execute(statement).first()
    if row is not None:
        return AlertChange(_alert(row), changed=True)
    same = sa.and_(
        sa.func.coalesce(_a.c.patient_id, "") == (values["patient_id"] or ""),
        sa.func.coalesce(_a.c.device_id, "") == (values["device_id"] or ""),
        _a.c.kind == values["kind"],
        s.UNRESOLVED,
    )
    return AlertChange(_alert(conn.execute(sa.select(_a).where(same)).one()), changed=False)


def _acknowledge(conn: sa.Connection, alert_id: int, by: str, at: datetime) -> Alert:
    row = conn.execute(
        sa.update(_a)
        .where(_a.c.alert_id == alert_id, _a.c.state == AlertState.OPEN.value)
        .values(state=AlertState.ACKNOWLEDGED.value, acknowledged_at=at, acknowledged_by=by, updated_at=at)
        .returning(*_a.c)
    ).first()
    if row is None:
        raise AlertAlreadyAcknowledged(alert_id, by=_get(conn, alert_id).acknowledged_by)
    return _alert(row)


def _resolve(conn: sa.Connection, alert_id: int, at: datetime) -> Alert:
    conn.execute(
        sa.update(_a)
        .where(_a.c.alert_id == alert_id, s.UNRESOLVED)
        .values(state=AlertState.RESOLVED.value, resolved_at=at, updated_at=at)
    )
    return _get(conn, alert_id)


class AlertQueries(SqlStore):
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
        values = {
            "patient_id": patient_id,
            "ward_id": ward_id,
            "kind": kind.value,
            "severity": severity.value,
            "state": AlertState.OPEN.value,
            "message": message,
            "opened_at": at,
            "updated_at": at,
            "device_id": device_id,
        }
        return await self._write(lambda c: _raise(c, values))

    async def acknowledge_alert(self, alert_id: int, *, by: str, at: datetime) -> Alert:
        return await self._write(lambda c: _acknowledge(c, alert_id, by, at))

    async def resolve_alert(self, alert_id: int, *, at: datetime) -> Alert:
        return await self._write(lambda c: _resolve(c, alert_id, at))

    async def get_alert(self, alert_id: int) -> Alert:
        return await self._read(lambda c: _get(c, alert_id))

    async def list_alerts(
        self,
        *,
        ward_ids: Sequence[str] | None = None,
        patient_ids: Sequence[str] | None = None,
        states: Sequence[AlertState] = (AlertState.OPEN, AlertState.ACKNOWLEDGED),
        limit: int = 500,
    ) -> list[Alert]:
        query = sa.select(_a).where(_a.c.state.in_([state.value for state in states]))
        if ward_ids is not None:
            query = query.where(_a.c.ward_id.in_(ward_ids))
        if patient_ids is not None:
            query = query.where(_a.c.patient_id.in_(patient_ids))
        query = query.order_by(_a.c.opened_at.desc(), _a.c.alert_id.desc()).limit(limit)
        return [_alert(row) for row in await self._read(lambda c: c.execute(query).all())]
