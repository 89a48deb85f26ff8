"""When a NEWS2 score raises an alert, and what the alert says to the nurse. Pure functions."""

from __future__ import annotations

from collections.abc import Collection

from core.types import AlertSeverity, ClinicalRisk, Parameter, PatientScore

__all__ = ["PARAMETER_NAMES", "alert_message", "news2_alert_severity"]

# How each parameter is named to a nurse.
PARAMETER_NAMES: dict[Parameter, str] = {
    Parameter.RESP_RATE: "respiration rate",
    Parameter.SPO2: "SpO2",
    Parameter.SUPPLEMENTAL_O2: "air or oxygen",
    Parameter.SYSTOLIC_BP: "systolic BP",
    Parameter.DIASTOLIC_BP: "diastolic BP",
    Parameter.PULSE: "pulse",
    Parameter.CONSCIOUSNESS: "consciousness",
    Parameter.TEMPERATURE: "temperature",
}

_SEVERITY_OF_RISK: dict[ClinicalRisk, AlertSeverity | None] = {
    ClinicalRisk.LOW: None,
    ClinicalRisk.LOW_MEDIUM: AlertSeverity.LOW_MEDIUM,
    ClinicalRisk.MEDIUM: AlertSeverity.MEDIUM,
    ClinicalRisk.HIGH: AlertSeverity.HIGH,
}

# The chart's response column, in a municipal unit's words ("medical team" = the supervising or out-of-hours doctor).
_RESPONSE: dict[ClinicalRisk, str] = {
    ClinicalRisk.LOW: "nurse assesses",
    ClinicalRisk.LOW_MEDIUM: "urgent ward-based response: inform the doctor",
    ClinicalRisk.MEDIUM: "urgent response: inform the doctor now",
    ClinicalRisk.HIGH: "emergency response",
}
_RED_SCORE = 3
_MEDIUM_TOTAL = 5
_HIGH_TOTAL = 7


def _risk_of(score: PatientScore) -> ClinicalRisk:
    # Recomputed from the numbers rather than trusting `score.risk`, so a stale or hand-built score cannot hide one.
    if score.total >= _HIGH_TOTAL:
        return ClinicalRisk.HIGH
    if score.total >= _MEDIUM_TOTAL:
        return ClinicalRisk.MEDIUM
    if score.single_param_3 or _RED_SCORE in score.parameter_scores.values():
        return ClinicalRisk.LOW_MEDIUM
    return ClinicalRisk.LOW


def news2_alert_severity(score: PatientScore, *, accepted: Collection[Parameter] = ()) -> AlertSeverity | None:
    """>= 7 HIGH, 5-6 MEDIUM, a single parameter scoring 3 LOW_MEDIUM, otherwise no alert.

    An incomplete score is a lower bound, so one that already reaches a threshold alerts like a complete one.
    `accepted`: parameters whose value lies within limits a doctor set for this patient (alerts/limits.py). A single
    3 in such a parameter is the patient's known normal and raises nothing; a 3 in any other parameter still does,
    and the totals (5-6, >= 7) are never suppressed: the score itself stays exact.
    """
    risk = _risk_of(score)
    if risk is ClinicalRisk.LOW_MEDIUM and accepted:
        red = [parameter for parameter, points in score.parameter_scores.items() if points == _RED_SCORE]
        if red and all(parameter in accepted for parameter in red):
            return None
    return _SEVERITY_OF_RISK[risk]


def alert_message(score: PatientScore) -> str:
    """One line for the nurse, e.g. "NEWS2 7 (high risk) — emergency response" or
    "NEWS2 ≥5 (medium risk; incomplete: no temperature) — urgent response: inform the doctor now"."""
    risk = _risk_of(score)
    total = str(score.total) if score.complete else f"≥{score.total}"
    details = [f"{risk.value} risk"]
    if risk is ClinicalRisk.LOW_MEDIUM:
        red = [PARAMETER_NAMES[p] for p, s in score.parameter_scores.items() if s == _RED_SCORE]
        details[0] += f": 3 in {', '.join(red)}" if red else ""
    if not score.complete:
        missing = ", ".join(f"no {PARAMETER_NAMES[p]}" for p in score.missing)
        details.append(f"incomplete: {missing or 'parameters missing'}")
    return f"NEWS2 {total} ({'; '.join(details)}) — {_RESPONSE[risk]}"
