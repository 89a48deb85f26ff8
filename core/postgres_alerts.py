"""PostgresStore's alerts (atomic open-or-raise across processes) and audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core import store_codec as codec
from core.errors import AlertAlreadyAcknowledged, NotFound
from core.postgres_pool import _PostgresPool
from core.store import AlertChange
from core.store_codec import require_utc, utc
from core.types import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertState,
    AuditEntry,
)

__all__: list[str] = []  # parts of PostgresStore: import it from core.store_postgres

_RAISE_ALERT = f"""
INSERT INTO alerts AS a (patient_id, ward_id, kind, severity, state, message, opened_at, updated_at, device_id)
VALUES (%s, %s, %s, %s, 'open', %s, %s, %s, %s)
ON CONFLICT ((COALESCE(patient_id, '')), (COALESCE(device_id, '')), kind) WHERE state <> 'resolved'
DO UPDATE SET severity = EXCLUDED.severity, message = EXCLUDED.message, updated_at = EXCLUDED.updated_at,
    state = 'open', acknowledged_at = NULL, acknowledged_by = NULL, ward_id = COALESCE(EXCLUDED.ward_id, a.ward_id)
WHERE a.severity < EXCLUDED.severity
RETURNING {codec.ALERT_COLUMNS}
"""


class _PostgresAlerts(_PostgresPool):
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
        at = require_utc(at)
        params = (patient_id, ward_id, kind.value, severity.value, message, at, at, device_id)
        async with self._connection() as conn, conn.transaction():
            # ON CONFLICT on the partial unique index makes open-or-raise atomic across processes; when the
            # severity is not higher the conflicting row is still locked, so the read below sees it as it stays.
            cursor = await conn.execute(_RAISE_ALERT.encode(), params)
            row = await cursor.fetchone()
            if row is not None:
                return AlertChange(codec.alert_from_row(row, utc), changed=True)
            cursor = await conn.execute(
                f"SELECT {codec.ALERT_COLUMNS} FROM alerts WHERE COALESCE(patient_id, '') = %s "
                "AND COALESCE(device_id, '') = %s AND kind = %s AND state <> 'resolved'",
                (patient_id or "", device_id or "", kind.value),
            )
            row = await cursor.fetchone()
        if row is None:  # resolved by someone else between the two statements cannot happen: the row is locked
            raise RuntimeError(f"alert for {patient_id}/{device_id}/{kind.value} vanished while raising it")
        return AlertChange(codec.alert_from_row(row, utc), changed=False)

    async def acknowledge_alert(self, alert_id: int, *, by: str, at: datetime) -> Alert:
        rows = await self._fetch(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = %(at)s, acknowledged_by = %(by)s, "
            f"updated_at = %(at)s WHERE alert_id = %(id)s AND state = 'open' RETURNING {codec.ALERT_COLUMNS}",
            {"at": require_utc(at), "by": by, "id": alert_id},
        )
        if rows:
            return codec.alert_from_row(rows[0], utc)
        alert = await self.get_alert(alert_id)
        raise AlertAlreadyAcknowledged(alert_id, by=alert.acknowledged_by)

    async def resolve_alert(self, alert_id: int, *, at: datetime) -> Alert:
        rows = await self._fetch(
            "UPDATE alerts SET state = 'resolved', resolved_at = %(at)s, updated_at = %(at)s "
            f"WHERE alert_id = %(id)s AND state <> 'resolved' RETURNING {codec.ALERT_COLUMNS}",
            {"at": require_utc(at), "id": alert_id},
        )
        return codec.alert_from_row(rows[0], utc) if rows else await self.get_alert(alert_id)

    async def get_alert(self, alert_id: int) -> Alert:
        rows = await self._fetch(f"SELECT {codec.ALERT_COLUMNS} FROM alerts WHERE alert_id = %s", (alert_id,))
        if not rows:
            raise NotFound("alert", alert_id)
        return codec.alert_from_row(rows[0], utc)

    async def list_alerts(
        self,
        *,
        ward_ids: Sequence[str] | None = None,
        patient_ids: Sequence[str] | None = None,
        states: Sequence[AlertState] = (AlertState.OPEN, AlertState.ACKNOWLEDGED),
        limit: int = 500,
    ) -> list[Alert]:
        rows = await self._fetch(
            f"SELECT {codec.ALERT_COLUMNS} FROM alerts WHERE state = ANY(%(states)s::text[]) "
            "AND (%(all_wards)s OR ward_id = ANY(%(wards)s::text[])) "
            "AND (%(all_patients)s OR patient_id = ANY(%(patients)s::text[])) "
            "ORDER BY opened_at DESC, alert_id DESC LIMIT %(limit)s",
            {
                "states": [s.value for s in states],
                "all_wards": ward_ids is None,
                "wards": list(ward_ids or ()),
                "all_patients": patient_ids is None,
                "patients": list(patient_ids or ()),
                "limit": limit,
            },
        )
        return [codec.alert_from_row(row, utc) for row in rows]

    # --- audit ---------------------------------------------------------------------------------------------
    async def audit(self, entry: AuditEntry) -> None:
        await self._exec(
            "INSERT INTO audit_log (at, user_id, role, action, subject, detail) VALUES (%s, %s, %s, %s, %s, %s)",
            (require_utc(entry.at), entry.user_id, entry.role.value, entry.action, entry.subject, entry.detail),
        )

    async def list_audit(self, *, limit: int = 100) -> list[AuditEntry]:
        rows = await self._fetch(
            "SELECT at, user_id, role, action, subject, detail FROM audit_log ORDER BY at DESC, id DESC LIMIT %s",
            (limit,),
        )
        return [codec.audit_from_row(row, utc) for row in rows]
