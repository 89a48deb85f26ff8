"""Per-patient limits set by a doctor, and what the rules make of them. Pure functions.

Two rules (docs/ALERTS.md, "Per-patient limits"): a fresh value outside the patient's own limits is a condition of
its own (`AlertKind.PATIENT_LIMIT`), even when NEWS2 does not alert; and a single NEWS2 parameter scoring 3 whose
value lies within the patient's limits is their accepted normal (`accepted`), so the single-3 alert is not raised
for it. NEWS2 itself, and its totals 5-6 and >= 7, are never changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from alerts.lifecycle import Observed, news2_observed
from alerts.rules import PARAMETER_NAMES
from core.types import AlertKey, AlertKind, AlertSeverity, CareSetting, Parameter, PatientLimit, PatientScore

__all__ = [
    "LIMIT_RANGES",
    "LIMIT_SEVERITY",
    "Breach",
    "accepted_parameters",
    "breaches",
    "limit_observed",
    "limit_problem",
    "scored_conditions",
]

# Which parameters a doctor may set limits for, and the widest limits that still mean something (a limit outside
# these is a typing error, not a prescription). SpO2: no target below 80 % is prescribed in practice, and 100 is the
# top of the scale. The others: beyond these the chart's own 3-point bands already apply to every patient.
LIMIT_RANGES: dict[Parameter, tuple[float, float]] = {
    Parameter.SPO2: (80.0, 100.0),
    Parameter.PULSE: (30.0, 180.0),
    Parameter.RESP_RATE: (5.0, 40.0),
    Parameter.SYSTOLIC_BP: (60.0, 240.0),
    Parameter.TEMPERATURE: (34.0, 41.0),
}
# A value outside the patient's own limits asks for the prompt response of a single 3 (the doctor who set the limits
# asked to hear of it): medium priority, below the chart's NEWS2 5-6.
LIMIT_SEVERITY = AlertSeverity.LOW_MEDIUM
_ON_OXYGEN = 1.0


@dataclass(frozen=True, slots=True)
class Breach:
    """A value outside the patient's limit: below `low`, or above `high` (for SpO2 only on oxygen: hyperoxia)."""

    limit: PatientLimit
    value: float

    @property
    def below(self) -> bool:
        return self.limit.low is not None and self.value < self.limit.low

    def describe(self) -> str:
        name = PARAMETER_NAMES[self.limit.parameter]
        if self.below:
            return f"{name} {_number(self.value)}, limits {_bounds(self.limit)}"
        hyperoxia = " on oxygen (hyperoxia)" if self.limit.parameter is Parameter.SPO2 else ""
        return f"{name} {_number(self.value)}{hyperoxia}, limits {_bounds(self.limit)}"


def limit_problem(parameter: Parameter, low: float | None, high: float | None) -> str | None:
    """What is wrong with a limit as a doctor would set it, in words; None when it is fine."""
    if parameter not in LIMIT_RANGES:
        allowed = ", ".join(p.value for p in LIMIT_RANGES)
        return f"{parameter.value} takes no limits (only {allowed})"
    least, most = LIMIT_RANGES[parameter]
    for side, bound in (("low", low), ("high", high)):
        if bound is not None and not least <= bound <= most:
            return f"{parameter.value} {side} must be between {_number(least)} and {_number(most)}"
    if low is not None and high is not None and not low < high:
        return f"{parameter.value} low must be below high"
    return None


def breaches(values: Mapping[Parameter, float], limits: Sequence[PatientLimit]) -> list[Breach]:
    """Fresh values outside the patient's limits. SpO2 above the target counts only on oxygen: on air there is
    nothing to turn down, and a COPD patient breathing air at 95 % is not harmed by it."""
    found = []
    for limit in limits:
        value = values.get(limit.parameter)
        if value is None or limit.cleared:
            continue
        low = limit.low is not None and value < limit.low
        high = limit.high is not None and value > limit.high
        if high and limit.parameter is Parameter.SPO2 and values.get(Parameter.SUPPLEMENTAL_O2) != _ON_OXYGEN:
            high = False
        if low or high:
            found.append(Breach(limit, value))
    return found


def accepted_parameters(values: Mapping[Parameter, float], limits: Sequence[PatientLimit]) -> frozenset[Parameter]:
    """Parameters whose fresh value lies within the patient's limits (both bounds given or not): what the doctor
    accepted as this patient's normal."""
    accepted = set()
    for limit in limits:
        value = values.get(limit.parameter)
        if value is None or limit.cleared:
            continue
        if (limit.low is None or value >= limit.low) and (limit.high is None or value <= limit.high):
            accepted.add(limit.parameter)
    return frozenset(accepted)


def limit_observed(
    patient_id: str,
    values: Mapping[Parameter, float],
    limits: Sequence[PatientLimit],
    *,
    ward_id: str | None,
    at: datetime,
    setting: CareSetting,
) -> Observed:
    """The patient-limit condition now: clear when every fresh value is within the patient's limits (or they have
    none left: a cleared limit lets its alert resolve after the hold). A clear is evidence only when every limited
    parameter has a fresh value: a probe that stopped is not a value back within its limit."""
    found = breaches(values, limits)
    key = AlertKey(patient_id, None, AlertKind.PATIENT_LIMIT)
    if not found:
        measured = all(limit.parameter in values for limit in limits if limit.low is not None or limit.high is not None)
        return Observed(key, None, "", at, ward_id, setting, conclusive=measured)
    message = "Outside the patient's own limits: " + "; ".join(breach.describe() for breach in found)
    setters = sorted({breach.limit.set_by for breach in found})
    return Observed(key, LIMIT_SEVERITY, f"{message} (set by {', '.join(setters)})", at, ward_id, setting)


def scored_conditions(
    score: PatientScore,
    values: Mapping[Parameter, float],
    limits: Sequence[PatientLimit],
    *,
    ward_id: str | None,
    at: datetime,
    setting: CareSetting,
) -> tuple[Observed, Observed]:
    """What one score shows of the two conditions the scorer decides: NEWS2 (a single 3 within the patient's limits
    accepted) and the patient's own limits. `values`: the fresh values the score was computed from."""
    accepted = accepted_parameters(values, limits)
    return (
        news2_observed(score, ward_id=ward_id, at=at, setting=setting, accepted=accepted),
        limit_observed(score.patient_id, values, limits, ward_id=ward_id, at=at, setting=setting),
    )


def _number(value: float) -> str:
    return f"{value:g}"


def _bounds(limit: PatientLimit) -> str:
    if limit.low is not None and limit.high is not None:
        return f"{_number(limit.low)}-{_number(limit.high)}"
    return f"≥{_number(limit.low)}" if limit.low is not None else f"≤{_number(limit.high or 0.0)}"
