"""Bodies and responses of the per-patient limits routes: pydantic at the edge, extra="forbid", bounds on every
number; responses built from domain types with `.of(...)`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.limits import LIMIT_RANGES, limit_problem
from core.types import Parameter, PatientLimit

__all__ = ["LimitIn", "LimitOut", "LimitsIn", "LimitsOut"]

# Wider than any parameter's range (alerts.limits.LIMIT_RANGES): the per-parameter check then names the range.
_ANY_LOW, _ANY_HIGH = 0.0, 300.0
_MIN_REASON = 3  # "KOLS" is a reason; "." is not


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class LimitIn(_In):
    """One parameter's limits. `low` and `high` both null clears the parameter's limit (kept as history)."""

    parameter: Parameter = Field(description="spo2, pulse, resp_rate, systolic_bp or temperature.")
    low: float | None = Field(default=None, ge=_ANY_LOW, le=_ANY_HIGH, description="Lowest acceptable value.")
    high: float | None = Field(default=None, ge=_ANY_LOW, le=_ANY_HIGH, description="Highest acceptable value.")
    reason: str = Field(max_length=500, description="Why: the clinical reason, kept with who set it and when.")

    @model_validator(mode="after")
    def _sensible(self) -> LimitIn:
        if len(self.reason.strip()) < _MIN_REASON:
            raise ValueError(f"{self.parameter.value}: give a reason for the change (at least {_MIN_REASON} letters)")
        problem = limit_problem(self.parameter, self.low, self.high)
        if problem is not None:
            raise ValueError(problem)
        return self


class LimitsIn(_In):
    """The parameters to set or clear; parameters not named keep their limits."""

    limits: list[LimitIn] = Field(min_length=1, max_length=len(LIMIT_RANGES))

    @model_validator(mode="after")
    def _each_parameter_once(self) -> LimitsIn:
        named = [limit.parameter for limit in self.limits]
        twice = sorted({p.value for p in named if named.count(p) > 1})
        if twice:
            raise ValueError(f"each parameter at most once; named twice: {', '.join(twice)}")
        return self


class LimitOut(_Out):
    parameter: str
    low: float | None
    high: float | None
    reason: str
    set_by: str
    set_at: datetime

    @classmethod
    def of(cls, limit: PatientLimit) -> LimitOut:
        return cls(
            parameter=limit.parameter.value,
            low=limit.low,
            high=limit.high,
            reason=limit.reason,
            set_by=limit.set_by,
            set_at=limit.set_at,
        )


class LimitsOut(_Out):
    patient_id: str
    limits: list[LimitOut]
