"""The audit log: who read or changed what, which patient, what allowed it; append-only, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from core.store import schema as s
from core.store.protocols import AuditFilter, PatientAccess
from core.store.sql import SqlStore
from core.types import AuditEntry, Role

__all__ = ["AuditQueries"]


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "user_id": entry.user_id,
        "role": entry.role.value,
        "action": entry.action,
        "subject": entry.subject,
        "detail": entry.detail,
        "patient_id": entry.patient_id,
        "access_grant": entry.grant,
        "source_address": entry.source_address,
        "token_id": entry.token_id,
    }


def _entry(r: Any) -> AuditEntry:
    return AuditEntry(
        r.at,
        r.user_id,
        Role(r.role),
        r.action,
        r.subject,
        r.detail,
        patient_id=r.patient_id,
        grant=r.access_grant or "",
        source_address=r.source_address or "",
        token_id=r.token_id or "",
    )


def _where(f: AuditFilter) -> list[sa.ColumnElement[bool]]:
    t = s.audit_log
    found: list[sa.ColumnElement[bool]] = []
    if f.user_id is not None:
        found.append(t.c.user_id == f.user_id)
    if f.patient_id is not None:
        found.append(t.c.patient_id == f.patient_id)
    if f.action is not None:
        found.append(t.c.action == f.action)
    if f.since is not None:
        found.append(t.c.at >= f.since)
    if f.until is not None:
        found.append(t.c.at < f.until)
    if f.before_id is not None:
        found.append(t.c.id < f.before_id)
    return found


class AuditQueries(SqlStore):
    async def audit(self, entry: AuditEntry) -> None:
        await self.audit_many([entry])

    async def audit_many(self, entries: Sequence[AuditEntry]) -> None:
        """Several rows in one transaction (a ward board's patients)."""
        if entries:
            rows = [_row(e) for e in entries]
            await self._write(lambda c: c.execute(sa.insert(s.audit_log), rows))

    async def list_audit(self, *, limit: int = 100) -> list[AuditEntry]:
        return [entry for _, entry in await self.find_audit(AuditFilter(), limit=limit)]

    async def find_audit(self, where: AuditFilter, *, limit: int) -> list[tuple[int, AuditEntry]]:
        """(row id, entry), newest first (by id: the order rows were written in)."""
        t = s.audit_log
        query = sa.select(t).where(*_where(where)).order_by(t.c.id.desc()).limit(limit)
        rows = await self._read(lambda c: c.execute(query).all())
        return [(r.id, _entry(r)) for r in rows]

    async def patient_access_report(self, patient_id: str) -> list[PatientAccess]:
        """Everyone who read (or tried to read) the patient's data, by user, role and grant; most recent first."""
        t = s.audit_log
        refused = t.c.action.like("denied.%")
        query = (
            sa.select(
                t.c.user_id,
                t.c.role,
                t.c.access_grant,
                refused.label("refused"),
                sa.func.count().label("accesses"),
                sa.func.min(t.c.at).label("first_at"),
                sa.func.max(t.c.at).label("last_at"),
            )
            .where(t.c.patient_id == patient_id)
            .group_by(t.c.user_id, t.c.role, t.c.access_grant, refused)
            .order_by(sa.func.max(t.c.at).desc(), t.c.user_id)
        )
        rows = await self._read(lambda c: c.execute(query).all())
        return [
            PatientAccess(
                r.user_id, Role(r.role), r.access_grant or "", bool(r.refused), r.accesses, r.first_at, r.last_at
            )
            for r in rows
        ]
