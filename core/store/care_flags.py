"""Care flags: append-only changes, the newest per patient and flag in force."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from core.care_flags import CareFlag, CareFlagChange
from core.store import schema as s
from core.store.sql import SqlStore, one_of

__all__ = ["CareFlagQueries"]

_f = s.care_flags


def _change_of_row(row: Any) -> CareFlagChange:
    return CareFlagChange(row.patient_id, CareFlag(row.flag), bool(row.active), row.reason, row.set_by, row.set_at)


class CareFlagQueries(SqlStore):
    async def set_care_flags(self, changes: Sequence[CareFlagChange]) -> None:
        rows = [
            {"patient_id": c.patient_id, "flag": c.flag.value, "active": c.active, "reason": c.reason,
             "set_by": c.set_by, "set_at": c.set_at}
            for c in changes
        ]  # fmt: skip
        if rows:
            await self._write(lambda c: c.execute(sa.insert(_f), rows))

    async def care_flags(self, patient_ids: Sequence[str]) -> dict[str, frozenset[CareFlag]]:
        """The flags in force per patient (patients without any are absent)."""
        if not patient_ids:
            return {}
        newest = (
            sa.select(_f.c.patient_id, _f.c.flag, sa.func.max(_f.c.id).label("id"))
            .where(one_of(_f.c.patient_id, patient_ids))
            .group_by(_f.c.patient_id, _f.c.flag)
            .subquery()
        )
        query = sa.select(_f.c.patient_id, _f.c.flag).join(newest, _f.c.id == newest.c.id).where(_f.c.active)
        rows = await self._read(lambda c: c.execute(query).all())
        flags: dict[str, set[CareFlag]] = {}
        for row in rows:
            flags.setdefault(row.patient_id, set()).add(CareFlag(row.flag))
        return {patient_id: frozenset(found) for patient_id, found in flags.items()}

    async def care_flag_history(self, patient_id: str) -> list[CareFlagChange]:
        query = sa.select(_f).where(_f.c.patient_id == patient_id).order_by(_f.c.set_at, _f.c.id)
        return [_change_of_row(r) for r in await self._read(lambda c: c.execute(query).all())]
