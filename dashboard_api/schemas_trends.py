"""Response models of a patient's trend charts: NEWS2 history and vitals summarised per time bucket."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from core.store import ObservationBucket
from dashboard_api.schemas import ScoreOut

__all__ = ["BucketOut", "ObservationTrendOut", "ScoreHistoryOut"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ScoreHistoryOut(_Out):
    patient_id: str
    since: datetime
    until: datetime
    scores: list[ScoreOut] = Field(description="Oldest first. An unchanged score is saved at most once a minute.")
    truncated: bool = Field(description="True when `limit` cut the list: ask again from the last computed_at.")


class BucketOut(_Out):
    parameter: str
    starts_at: datetime
    count: int
    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, bucket: ObservationBucket) -> BucketOut:
        return cls(
            parameter=bucket.parameter.value,
            starts_at=bucket.starts_at,
            count=bucket.count,
            mean=bucket.mean,
            low=bucket.low,
            high=bucket.high,
        )


class ObservationTrendOut(_Out):
    patient_id: str
    since: datetime
    until: datetime
    bucket_s: int
    buckets: list[BucketOut] = Field(description="By parameter, then time; empty buckets are absent.")
