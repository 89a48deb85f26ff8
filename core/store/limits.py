"""Per-patient limits set by a doctor: append-only rows, the newest per (patient, parameter) in force."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from core.store import schema as s
from core.store.sql import SqlStore, one_of
from core.types import Parameter, PatientLimit

__all__ = ["LimitQueries", "limit_of_row", "limits_in_force"]

_l = s.patient_limits
# Oldest first; two changes in the same microsecond keep the order they were written in.
_ORDER = (_l.c.set_at, _l.c.id)


def limit_of_row(row: Any) -> PatientLimit:
    return PatientLimit(
        patient_id=row.patient_id,
        parameter=Parameter(row.parameter),
        low=row.low,
        high=row.high,
        reason=row.reason,
        set_by=row.set_by,
        set_at=row.set_at,
    )


def limits_in_force(conn: sa.Connection, patient_ids: Sequence[str]) -> dict[str, tuple[PatientLimit, ...]]:
    """Each patient's limits in force (the newest per parameter, cleared ones left out), read on `conn`."""
    # A patient has a handful of changes in a stay: reading them all and keeping the newest is one indexed query.
    query = sa.select(_l).where(one_of(_l.c.patient_id, patient_ids)).order_by(*_ORDER)
    newest: dict[tuple[str, Parameter], PatientLimit] = {}
    for row in conn.execute(query).all():
        limit = limit_of_row(row)
        newest[(limit.patient_id, limit.parameter)] = limit
    in_force: dict[str, list[PatientLimit]] = {}
    for (patient_id, _), limit in sorted(newest.items()):
        if not limit.cleared:
            in_force.setdefault(patient_id, []).append(limit)
    return {patient_id: tuple(limits) for patient_id, limits in in_force.items()}


def _row(limit: PatientLimit) -> dict[str, Any]:
    return {
        "patient_id": limit.patient_id,
        "parameter": limit.parameter.value,
        "low": limit.low,
        "high": limit.high,
        "reason": limit.reason,
        "set_by": limit.set_by,
        "set_at": limit.set_at,
    }


class LimitQueries(SqlStore):
    async def set_patient_limits(self, limits: Sequence[PatientLimit]) -> None:
        rows = [_row(limit) for limit in limits]
        if rows:
            await self._write(lambda c: c.execute(sa.insert(_l), rows))

    async def patient_limits(self, patient_ids: Sequence[str]) -> dict[str, tuple[PatientLimit, ...]]:
        return await self._read(lambda c: limits_in_force(c, patient_ids))

    async def patient_limit_history(self, patient_id: str) -> list[PatientLimit]:
        query = sa.select(_l).where(_l.c.patient_id == patient_id).order_by(*_ORDER)
        return [limit_of_row(row) for row in await self._read(lambda c: c.execute(query).all())]
