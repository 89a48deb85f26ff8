"""REST: what a patient's trend charts draw, NEWS2 over time and each vital summarised per bucket."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from core.types import Parameter
from dashboard_api.access import Ctx, authorised_patient
from dashboard_api.auth import CLINICAL_ROLES, Principal, require_roles
from dashboard_api.schemas import ScoreOut
from dashboard_api.schemas_trends import BucketOut, ObservationTrendOut, ScoreHistoryOut
from dashboard_api.windows import history_window

__all__ = ["router"]

router = APIRouter(prefix="/patients/{patient_id}")

Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]

MAX_SCORES = 10_000  # a day of scores saved once a minute is 1,440
# A chart a few hundred pixels wide shows no more; 24 h in 5-minute buckets is 288 per vital.
MAX_BUCKETS = 2_000


@router.get("/scores/history", response_model=ScoreHistoryOut, summary="NEWS2 scores over time, oldest first")
async def score_history(
    patient_id: str,
    ctx: Ctx,
    principal: Clinician,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SCORES)] = MAX_SCORES,
) -> ScoreHistoryOut:
    since, until = history_window(since, until, now=ctx.clock())
    await authorised_patient(ctx, principal, patient_id, action="read.score_history")
    scores = await ctx.store.score_history(patient_id, since=since, until=until, limit=limit + 1)
    return ScoreHistoryOut(
        patient_id=patient_id,
        since=since,
        until=until,
        scores=[ScoreOut.of(s) for s in scores[:limit]],
        truncated=len(scores) > limit,
    )


@router.get(
    "/observations/trend",
    response_model=ObservationTrendOut,
    summary="Each vital per time bucket (count, mean, lowest, highest), for trend charts",
)
async def observation_trend(
    patient_id: str,
    ctx: Ctx,
    principal: Clinician,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket_s: Annotated[int, Query(ge=10, le=86_400)] = 300,
    parameter: Annotated[list[Parameter] | None, Query(description="Repeat for several; default all")] = None,
) -> ObservationTrendOut:
    since, until = history_window(since, until, now=ctx.clock())
    if (until - since).total_seconds() / bucket_s > MAX_BUCKETS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"At most {MAX_BUCKETS} buckets: choose a longer bucket_s"
        )
    await authorised_patient(ctx, principal, patient_id, action="read.observation_trend")
    buckets = await ctx.store.observation_buckets(
        patient_id, since=since, until=until, bucket_s=bucket_s, parameters=parameter
    )
    return ObservationTrendOut(
        patient_id=patient_id, since=since, until=until, bucket_s=bucket_s, buckets=[BucketOut.of(b) for b in buckets]
    )
