"""Withdrawal assessments: one row per scoring; adding one decides the patient's withdrawal alert in its transaction,
against the newest earlier ones of every scale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from core.errors import Conflict
from core.store import schema as s
from core.store.alerts import update_alert_in
from core.store.protocols import AlertChange, WithdrawalDecision
from core.store.sql import SqlStore, advisory_lock
from core.withdrawal import WithdrawalAssessment, WithdrawalBand, WithdrawalHistory, WithdrawalScale

__all__ = ["WithdrawalQueries"]

_w = s.withdrawal_assessments
_NEWEST_FIRST = (_w.c.assessed_at.desc(), _w.c.recorded_at.desc())


def _assessment_of_row(row: Any) -> WithdrawalAssessment:
    return WithdrawalAssessment(
        assessment_id=row.assessment_id,
        patient_id=row.patient_id,
        scale=WithdrawalScale(row.scale),
        items=tuple((str(item), int(score)) for item, score in row.items),
        total=row.total,
        band=WithdrawalBand(row.band),
        assessed_at=row.assessed_at,
        assessed_by=row.assessed_by,
        recorded_at=row.recorded_at,
        proposed=tuple(row.proposed),
        note=row.note,
    )


def _row_of(a: WithdrawalAssessment) -> dict[str, Any]:
    return {
        "assessment_id": a.assessment_id, "patient_id": a.patient_id, "scale": a.scale.value,
        "items": [[item, score] for item, score in a.items], "total": a.total, "band": int(a.band),
        "assessed_at": a.assessed_at, "assessed_by": a.assessed_by, "recorded_at": a.recorded_at,
        "proposed": list(a.proposed), "note": a.note,
    }  # fmt: skip


def _add(conn: sa.Connection, assessment: WithdrawalAssessment, decide: WithdrawalDecision) -> AlertChange | None:
    # The decision reads every scale's history, which a concurrent save of another scale (READ COMMITTED) would not
    # show until it commits: one patient's saves take turns from the read on (SQLite: no-op, the one writer).
    advisory_lock(conn, "withdrawal-patient:" + assessment.patient_id)
    if conn.execute(sa.select(_w.c.assessment_id).where(_w.c.assessment_id == assessment.assessment_id)).first():
        raise Conflict(assessment.assessment_id, reason=f"Assessment {assessment.assessment_id} is already stored")
    history = _history(conn, assessment.patient_id)
    previous = next(iter(history.get(assessment.scale, ())), None)
    conn.execute(sa.insert(_w), _row_of(assessment))
    if previous is not None and previous.assessed_at > assessment.assessed_at:
        return None  # entered late: history, not news
    decision = decide(history)
    return None if decision is None else update_alert_in(conn, *decision)


def _history(conn: sa.Connection, patient_id: str) -> WithdrawalHistory:
    """Per scale the patient was scored on, the newest two assessments, newest first: one indexed read per scale."""
    history: dict[WithdrawalScale, tuple[WithdrawalAssessment, ...]] = {}
    for scale in WithdrawalScale:
        query = (
            sa.select(_w)
            .where(_w.c.patient_id == patient_id, _w.c.scale == scale.value)
            .order_by(*_NEWEST_FIRST)
            .limit(2)
        )
        if rows := conn.execute(query).all():
            history[scale] = tuple(_assessment_of_row(row) for row in rows)
    return history


class WithdrawalQueries(SqlStore):
    async def add_withdrawal_assessment(
        self, assessment: WithdrawalAssessment, decide: WithdrawalDecision
    ) -> AlertChange | None:
        return await self._write(lambda c: _add(c, assessment, decide))

    async def withdrawal_assessments(
        self, patient_id: str, *, scales: Sequence[WithdrawalScale] | None = None, limit: int = 500
    ) -> list[WithdrawalAssessment]:
        query = sa.select(_w).where(_w.c.patient_id == patient_id).order_by(*_NEWEST_FIRST).limit(limit)
        if scales is not None:
            query = query.where(_w.c.scale.in_([scale.value for scale in scales]))
        return [_assessment_of_row(r) for r in await self._read(lambda c: c.execute(query).all())]
