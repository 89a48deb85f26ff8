"""NEWS2 scores (history, and the current one per patient) and ML risk assessments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from core.store import schema as s
from core.store.sql import SqlStore, upsert
from core.types import ClinicalRisk, Parameter, PatientScore, RiskAssessment, RiskLevel, SpO2Scale

__all__ = ["ScoreQueries", "risk_of_row", "score_of_row"]


def _score_row(score: PatientScore) -> dict[str, Any]:
    return {
        "patient_id": score.patient_id,
        "computed_at": score.computed_at,
        "total": score.total,
        "complete": score.complete,
        "risk": score.risk.value,
        "single_param_3": score.single_param_3,
        # keyed by the parameters' wire names
        "parameter_scores": {parameter.value: points for parameter, points in score.parameter_scores.items()},
        "missing": [parameter.value for parameter in score.missing],
        "spo2_scale": score.spo2_scale.value,
    }


def score_of_row(row: Any) -> PatientScore:
    return PatientScore(
        patient_id=row.patient_id,
        computed_at=row.computed_at,
        total=int(row.total),
        complete=bool(row.complete),
        risk=ClinicalRisk(row.risk),
        single_param_3=bool(row.single_param_3),
        parameter_scores={Parameter(k): int(v) for k, v in row.parameter_scores.items()},
        missing=tuple(Parameter(p) for p in row.missing),
        spo2_scale=SpO2Scale(row.spo2_scale),
    )


def risk_of_row(row: Any) -> RiskAssessment:
    return RiskAssessment(
        patient_id=row.patient_id,
        computed_at=row.computed_at,
        probability=row.probability,
        level=RiskLevel(row.level),
        reasons=tuple(row.reasons),
        model_version=row.model_version,
    )


def _newer_score(new: Any) -> sa.ColumnElement[bool]:
    newer: sa.ColumnElement[bool] = new.computed_at >= s.scores_current.c.computed_at
    return newer


def _newer_risk(new: Any) -> sa.ColumnElement[bool]:
    newer: sa.ColumnElement[bool] = new.computed_at >= s.risks_current.c.computed_at
    return newer


def _save_scores(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(sa.insert(s.scores_history), rows)
    upsert(conn, s.scores_current, rows, key=["patient_id"], where=_newer_score)


class ScoreQueries(SqlStore):
    async def save_scores(self, scores: Sequence[PatientScore]) -> None:
        rows = [_score_row(score) for score in scores]
        if rows:
            await self._write(lambda c: _save_scores(c, rows))

    async def current_scores(self, patient_ids: Sequence[str]) -> dict[str, PatientScore]:
        query = sa.select(s.scores_current).where(s.scores_current.c.patient_id.in_(patient_ids))
        return {row.patient_id: score_of_row(row) for row in await self._read(lambda c: c.execute(query).all())}

    async def save_risks(self, risks: Sequence[RiskAssessment]) -> None:
        rows = [
            {
                "patient_id": r.patient_id,
                "computed_at": r.computed_at,
                "probability": r.probability,
                "level": r.level.value,
                "reasons": list(r.reasons),
                "model_version": r.model_version,
            }
            for r in risks
        ]
        await self._write(lambda c: upsert(c, s.risks_current, rows, key=["patient_id"], where=_newer_risk))

    async def current_risks(self, patient_ids: Sequence[str]) -> dict[str, RiskAssessment]:
        query = sa.select(s.risks_current).where(s.risks_current.c.patient_id.in_(patient_ids))
        return {row.patient_id: risk_of_row(row) for row in await self._read(lambda c: c.execute(query).all())}

    async def patients_behind_scoring(self) -> list[str]:
        lv, current = s.latest_values, s.scores_current
        # Values stored before revision 0003 have no arrival time: their measurement time stands in.
        arrived = sa.func.max(sa.func.coalesce(lv.c.received_at, lv.c.measured_at)).label("arrived")
        newest = sa.select(lv.c.patient_id, arrived).group_by(lv.c.patient_id).subquery()
        query = (
            sa.select(newest.c.patient_id)
            .outerjoin(current, current.c.patient_id == newest.c.patient_id)
            .where(sa.or_(current.c.computed_at.is_(None), newest.c.arrived > current.c.computed_at))
            .order_by(newest.c.patient_id)
        )
        return [row.patient_id for row in await self._read(lambda c: c.execute(query).all())]
