"""The audit log: who read or changed what, newest first."""

from __future__ import annotations

import sqlalchemy as sa

from core.store import schema as s
from core.store.sql import SqlStore
from core.types import AuditEntry, Role

__all__ = ["AuditQueries"]


class AuditQueries(SqlStore):
    async def audit(self, entry: AuditEntry) -> None:
        row = {
            "at": entry.at,
            "user_id": entry.user_id,
            "role": entry.role.value,
            "action": entry.action,
            "subject": entry.subject,
            "detail": entry.detail,
        }
        await self._write(lambda c: c.execute(sa.insert(s.audit_log), row))

    async def list_audit(self, *, limit: int = 100) -> list[AuditEntry]:
        t = s.audit_log
        query = sa.select(t).order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)
        rows = await self._read(lambda c: c.execute(query).all())
        return [AuditEntry(r.at, r.user_id, Role(r.role), r.action, r.subject, r.detail) for r in rows]
