"""A patient's live NEWS2 from their latest value per parameter, with values past their max age counted missing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from core.types import NEWS2_PARAMETERS, LatestValue, Parameter, PatientScore, SpO2Scale
from scoring.news2 import Observation, score, stored_consciousness, stored_oxygen

__all__ = ["fresh_values", "score_latest"]


def fresh_values(
    latest: Mapping[Parameter, LatestValue], *, now: datetime, max_age_s: Mapping[Parameter, float]
) -> dict[Parameter, float]:
    """The NEWS2 values still valid at `now`: measured at most `max_age_s[parameter]` seconds before it.

    A parameter without an entry in `max_age_s` never goes stale. A value measured after `now` (device clock
    skew that ingest tolerated) counts as fresh.
    """
    fresh: dict[Parameter, float] = {}
    for parameter in NEWS2_PARAMETERS:
        value = latest.get(parameter)
        if value is None:
            continue
        limit_s = max_age_s.get(parameter)
        if limit_s is None or (now - value.measured_at).total_seconds() <= limit_s:
            fresh[parameter] = value.value
    return fresh


def score_latest(
    patient_id: str,
    latest: Mapping[Parameter, LatestValue],
    *,
    now: datetime,
    max_age_s: Mapping[Parameter, float],
    spo2_scale: SpO2Scale,
) -> PatientScore:
    """NEWS2 at `now`. Stored values are numeric: ACVPU as its `Consciousness` code, oxygen as 1.0 / 0.0.

    Raises ValueError for a stored value that cannot be charted (negative, non-finite, unknown code).
    """
    values = fresh_values(latest, now=now, max_age_s=max_age_s)
    result = score(_observation(values, spo2_scale))
    return PatientScore(
        patient_id=patient_id,
        computed_at=now,
        total=result.total,
        complete=result.complete,
        risk=result.risk,
        single_param_3=result.single_param_3,
        parameter_scores=result.parameter_scores,
        missing=result.missing,
        spo2_scale=spo2_scale,
    )


def _observation(values: Mapping[Parameter, float], spo2_scale: SpO2Scale) -> Observation:
    code = values.get(Parameter.CONSCIOUSNESS)
    oxygen = values.get(Parameter.SUPPLEMENTAL_O2)
    return Observation(
        resp_rate_per_min=values.get(Parameter.RESP_RATE),
        spo2_percent=values.get(Parameter.SPO2),
        spo2_scale=spo2_scale,
        supplemental_o2=None if oxygen is None else stored_oxygen(oxygen),
        systolic_bp_mmhg=values.get(Parameter.SYSTOLIC_BP),
        pulse_per_min=values.get(Parameter.PULSE),
        consciousness=None if code is None else stored_consciousness(code),
        temperature_c=values.get(Parameter.TEMPERATURE),
    )
