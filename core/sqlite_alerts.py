"""SqliteStore's alerts (read-then-write inside one IMMEDIATE transaction) and audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core import store_codec as codec
from core.errors import AlertAlreadyAcknowledged, NotFound
from core.sqlite_worker import _Conn, _marks, _SqliteWorker
from core.store import AlertChange
from core.store_codec import from_us, to_us
from core.types import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertState,
    AuditEntry,
)

__all__: list[str] = []  # parts of SqliteStore: import it from core.store_sqlite


class _SqliteAlerts(_SqliteWorker):
    """Alert lifecycle (raise, acknowledge, resolve, list) and the audit log."""

    # --- alerts --------------------------------------------------------------------------------------------
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
        at_us = to_us(at)

        def raise_(conn: _Conn) -> AlertChange:
            row = conn.execute(
                f"SELECT {codec.ALERT_COLUMNS} FROM alerts WHERE COALESCE(patient_id, '') = ? "
                "AND COALESCE(device_id, '') = ? AND kind = ? AND state <> 'resolved'",
                (patient_id or "", device_id or "", kind.value),
            ).fetchone()
            if row is None:
                (alert_id,) = conn.execute(
                    "INSERT INTO alerts (patient_id, ward_id, kind, severity, state, message, opened_at, updated_at, "
                    "device_id) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?) RETURNING alert_id",
                    (patient_id, ward_id, kind.value, severity.value, message, at_us, at_us, device_id),
                ).fetchone()
            elif severity > row[4]:
                alert_id = row[0]
                conn.execute(
                    "UPDATE alerts SET severity = ?, message = ?, updated_at = ?, state = 'open', "
                    "acknowledged_at = NULL, acknowledged_by = NULL, ward_id = COALESCE(?, ward_id) WHERE alert_id = ?",
                    (severity.value, message, at_us, ward_id, alert_id),
                )
            else:
                return AlertChange(codec.alert_from_row(row, from_us), changed=False)
            return AlertChange(_get_alert(conn, alert_id), changed=True)

        return await self._write(raise_)

    async def acknowledge_alert(self, alert_id: int, *, by: str, at: datetime) -> Alert:
        def acknowledge(conn: _Conn) -> Alert:
            alert = _get_alert(conn, alert_id)
            if alert.state is not AlertState.OPEN:
                raise AlertAlreadyAcknowledged(alert_id, by=alert.acknowledged_by)
            conn.execute(
                "UPDATE alerts SET state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, updated_at = ? "
                "WHERE alert_id = ?",
                (to_us(at), by, to_us(at), alert_id),
            )
            return _get_alert(conn, alert_id)

        return await self._write(acknowledge)

    async def resolve_alert(self, alert_id: int, *, at: datetime) -> Alert:
        def resolve(conn: _Conn) -> Alert:
            conn.execute(
                "UPDATE alerts SET state = 'resolved', resolved_at = ?, updated_at = ? "
                "WHERE alert_id = ? AND state <> 'resolved'",
                (to_us(at), to_us(at), alert_id),
            )
            return _get_alert(conn, alert_id)

        return await self._write(resolve)

    async def get_alert(self, alert_id: int) -> Alert:
        return await self._run(lambda conn: _get_alert(conn, alert_id))

    async def list_alerts(
        self,
        *,
        ward_ids: Sequence[str] | None = None,
        patient_ids: Sequence[str] | None = None,
        states: Sequence[AlertState] = (AlertState.OPEN, AlertState.ACKNOWLEDGED),
        limit: int = 500,
    ) -> list[Alert]:
        where = [f"state IN ({_marks(states)})"]
        params: list[Any] = [s.value for s in states]
        if ward_ids is not None:
            where.append(f"ward_id IN ({_marks(ward_ids)})")
            params += ward_ids
        if patient_ids is not None:
            where.append(f"patient_id IN ({_marks(patient_ids)})")
            params += patient_ids
        rows = await self._fetch(
            f"SELECT {codec.ALERT_COLUMNS} FROM alerts WHERE {' AND '.join(where)} "
            "ORDER BY opened_at DESC, alert_id DESC LIMIT ?",
            [*params, limit],
        )
        return [codec.alert_from_row(row, from_us) for row in rows]

    # --- audit ---------------------------------------------------------------------------------------------
    async def audit(self, entry: AuditEntry) -> None:
        await self._exec(
            "INSERT INTO audit_log (at, user_id, role, action, subject, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (to_us(entry.at), entry.user_id, entry.role.value, entry.action, entry.subject, entry.detail),
        )

    async def list_audit(self, *, limit: int = 100) -> list[AuditEntry]:
        rows = await self._fetch(
            "SELECT at, user_id, role, action, subject, detail FROM audit_log ORDER BY at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [codec.audit_from_row(row, from_us) for row in rows]


def _get_alert(conn: _Conn, alert_id: int) -> Alert:
    row = conn.execute(f"SELECT {codec.ALERT_COLUMNS} FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
    if row is None:
        raise NotFound("alert", alert_id)
    return codec.alert_from_row(row, from_us)
