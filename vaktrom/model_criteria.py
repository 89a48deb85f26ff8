"""How `vaktrom model evaluate` prints the criteria of models/criteria.py: a table for people, strict JSON for tools."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.criteria import Comparison, Criteria

__all__ = ["criteria_table", "finite_json"]

# (field of Criteria, label, how a value is shown)
_ROWS: tuple[tuple[str, str, str], ...] = (
    ("same_hour_auroc", "same-hour AUROC (pairs at equal ICULOS)", "{:.3f}"),
    ("auroc_iculos_le_48", "AUROC on rows at ICULOS <= 48", "{:.3f}"),
    ("auroc_within_septic_patients", "AUROC within septic patients (when)", "{:.3f}"),
    ("early_onset_alerted_share", "early-onset patients alerted in 6 h", "{:.1%}"),
    ("early_onset_median_lead_h", "  median lead of first alert (h)", "{:.1f}"),
    ("alerts_per_patient_day_iculos_le_48", "alerts/patient-day at ICULOS <= 48", "{:.2f}"),
)
_LABEL_WIDTH = 41
_COLUMN_WIDTH = 26


def criteria_table(criteria: Criteria) -> str:
    """The criteria with CIs and the paired difference; a figure that is not defined says why."""
    c = criteria
    lines = [
        f"Criteria record length cannot buy: {c.patients} patients, {c.septic_patients} septic, "
        f"{c.early_onset_patients} with onset at ICU hour 7-48; "
        + (f"95% CIs from {c.resamples} resamples of patients (seed {c.seed})" if c.resamples else "no CIs"),
        f"{'':{_LABEL_WIDTH}}{'ML risk':<{_COLUMN_WIDTH}}{'NEWS2':<{_COLUMN_WIDTH}}model - NEWS2",
    ]
    for name, label, form in _ROWS:
        comparison: Comparison = getattr(c, name)
        if comparison.note is not None and comparison.model is None and comparison.news2 is None:
            lines.append(f"{label:{_LABEL_WIDTH}}{comparison.note}")
            continue
        cells = (
            _cell(comparison.model, comparison.model_ci, form),
            _cell(comparison.news2, comparison.news2_ci, form),
            _cell(comparison.difference, comparison.difference_ci, form),
        )
        lines.append(f"{label:{_LABEL_WIDTH}}{cells[0]:<{_COLUMN_WIDTH}}{cells[1]:<{_COLUMN_WIDTH}}{cells[2]}".rstrip())
        if comparison.note is not None:
            lines.append(f"{'':{_LABEL_WIDTH}}{comparison.note}")
    lines.append(
        f"Alerts in the window: model threshold {_number(c.rate_matched_threshold)} gives NEWS2 >= 5's alert rate "
        f"at ICULOS <= 48 ({c.news2_alert_rate_iculos_le_48:.1%} of rows)"
    )
    lines.append(
        f"Alerts per patient-day: model threshold {_number(c.sensitivity_matched_threshold)} gives NEWS2 >= 5's "
        f"sensitivity at ICULOS <= 48 ({_percent(c.news2_sensitivity_iculos_le_48)})"
    )
    return "\n".join(lines) + "\n"


def finite_json(value: Any) -> Any:
    """The value with NaN and infinities as null (JSON has neither) and tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(item) for item in value]
    return value


def _cell(value: float | None, interval: tuple[float, float] | None, form: str) -> str:
    if value is None:
        return "not defined"
    shown = form.format(value)
    return f"{shown} [{form.format(interval[0])}, {form.format(interval[1])}]" if interval else shown


def _number(value: float | None) -> str:
    return "none (no alerts)" if value is None else f"{value:.4f}"


def _percent(value: float | None) -> str:
    return "not defined" if value is None else f"{value:.1%}"
