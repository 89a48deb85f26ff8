"""NEWS2 scores (history, and the current one per patient), ML risk assessments, and the series trend charts draw."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from core.store import schema as s
from core.store.columns import UtcDateTime, to_us
from core.store.protocols import ObservationBucket
from core.store.reference import open_at
from core.store.sql import SqlStore, one_of, upsert
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


def _bucket_index(conn: sa.Connection, since: datetime, column: Any, bucket_s: int) -> sa.ColumnElement[int]:
    """Whole `bucket_s` periods from `since` to `column` (0 for the first), as the engine counts time."""
    if conn.dialect.name == "postgresql":
        elapsed = sa.extract("epoch", column - sa.literal(since, UtcDateTime))
        return sa.cast(sa.func.floor(elapsed / sa.literal(bucket_s)), sa.Integer)
    # SQLite keeps integer microseconds: integer division is the floor for times at or after `since`.
    return (sa.type_coerce(column, sa.Integer) - to_us(since)) // (bucket_s * 1_000_000)


def _observation_buckets(
    conn: sa.Connection,
    patient_id: str,
    window: tuple[datetime, datetime],
    bucket_s: int,
    parameters: Sequence[Parameter] | None,
) -> list[ObservationBucket]:
    since, until = window
    o = s.observations
    index = _bucket_index(conn, since, o.c.measured_at, bucket_s).label("bucket")
    query = (
        sa.select(o.c.parameter, index, sa.func.count(), sa.func.avg(o.c.value), sa.func.min(o.c.value),
                  sa.func.max(o.c.value))
        .where(o.c.patient_id == patient_id, o.c.measured_at >= since, o.c.measured_at < until)
        .group_by(o.c.parameter, index)
        .order_by(o.c.parameter, index)
    )  # fmt: skip
    if parameters is not None:
        query = query.where(o.c.parameter.in_([p.value for p in parameters]))
    return [
        ObservationBucket(Parameter(p), since + timedelta(seconds=int(k) * bucket_s), int(n), float(mean),
                          float(low), float(high))
        for p, k, n, mean, low, high in conn.execute(query)
    ]  # fmt: skip


def _save_scores(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(sa.insert(s.scores_history), rows)
    upsert(conn, s.scores_current, rows, key=["patient_id"], where=_newer_score)


class ScoreQueries(SqlStore):
    async def save_scores(self, scores: Sequence[PatientScore]) -> None:
        rows = [_score_row(score) for score in scores]
        if rows:
            await self._write(lambda c: _save_scores(c, rows))

    async def current_scores(self, patient_ids: Sequence[str]) -> dict[str, PatientScore]:
        query = sa.select(s.scores_current).where(one_of(s.scores_current.c.patient_id, patient_ids))
        return {row.patient_id: score_of_row(row) for row in await self._read(lambda c: c.execute(query).all())}

    async def scored_patients(self, *, at: datetime) -> list[str]:
        """The patients in a stay at `at` who have a current score, sorted (the stale sweep checks the ages of the
        values their scores counted). A discharged patient's score stays in the table: the stay bounds the read."""
        current, stays = s.scores_current.c, s.stays
        in_stay = sa.select(stays.c.patient_id).where(open_at(stays, at))
        query = sa.select(current.patient_id).where(current.patient_id.in_(in_stay)).order_by(current.patient_id)
        return list(await self._read(lambda c: c.execute(query).scalars().all()))

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
        query = sa.select(s.risks_current).where(one_of(s.risks_current.c.patient_id, patient_ids))
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

    async def score_history(
        self, patient_id: str, *, since: datetime, until: datetime, limit: int = 10_000
    ) -> list[PatientScore]:
        h = s.scores_history
        query = (
            sa.select(h)
            .where(h.c.patient_id == patient_id, h.c.computed_at.between(since, until))
            .order_by(h.c.computed_at, h.c.id)
            .limit(limit)
        )
        return [score_of_row(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def observation_buckets(
        self,
        patient_id: str,
        *,
        since: datetime,
        until: datetime,
        bucket_s: int,
        parameters: Sequence[Parameter] | None = None,
    ) -> list[ObservationBucket]:
        if bucket_s <= 0:
            raise ValueError(f"bucket_s must be positive, not {bucket_s}")
        window = (since, until)
        return await self._read(lambda c: _observation_buckets(c, patient_id, window, bucket_s, parameters))
