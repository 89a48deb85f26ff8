"""Live NEWS2 from a patient's latest values: stale values count as missing, the rest score as on the chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.types import ClinicalRisk, Consciousness, LatestValue, Parameter, SpO2Scale
from scoring.live import score_latest

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
MAX_AGE_S = {
    Parameter.RESP_RATE: 900.0,
    Parameter.SPO2: 300.0,
    Parameter.SUPPLEMENTAL_O2: 12 * 3600.0,
    Parameter.SYSTOLIC_BP: 3600.0,
    Parameter.PULSE: 300.0,
    Parameter.CONSCIOUSNESS: 12 * 3600.0,
    Parameter.TEMPERATURE: 4 * 3600.0,
}

# The worked example from NEWS2.md, as the store holds it (ACVPU as its code, oxygen as 1.0).
_WORKED_EXAMPLE = {
    Parameter.RESP_RATE: 22.0,
    Parameter.SPO2: 94.0,
    Parameter.SUPPLEMENTAL_O2: 1.0,
    Parameter.SYSTOLIC_BP: 105.0,
    Parameter.PULSE: 115.0,
    Parameter.CONSCIOUSNESS: float(Consciousness.ALERT),
    Parameter.TEMPERATURE: 38.4,
}


def _latest(values: dict[Parameter, float], *, age_s: float = 60) -> dict[Parameter, LatestValue]:
    at = NOW - timedelta(seconds=age_s)
    return {p: LatestValue(parameter=p, value=v, measured_at=at, device_id="mon-1") for p, v in values.items()}


def test_fresh_worked_example_scores_9_high_and_complete() -> None:
    result = score_latest("p1", _latest(_WORKED_EXAMPLE), now=NOW, max_age_s=MAX_AGE_S, spo2_scale=SpO2Scale.SCALE_1)
    assert (result.patient_id, result.computed_at) == ("p1", NOW)
    assert (result.total, result.complete, result.risk) == (9, True, ClinicalRisk.HIGH)
    assert result.missing == ()
    assert result.spo2_scale is SpO2Scale.SCALE_1
    assert result.parameter_scores[Parameter.SUPPLEMENTAL_O2] == 2


def test_value_older_than_its_max_age_counts_as_missing() -> None:
    latest = _latest(_WORKED_EXAMPLE)
    latest[Parameter.PULSE] = LatestValue(Parameter.PULSE, 115.0, NOW - timedelta(seconds=301), "mon-1")
    result = score_latest("p1", latest, now=NOW, max_age_s=MAX_AGE_S, spo2_scale=SpO2Scale.SCALE_1)
    assert result.missing == (Parameter.PULSE,)
    assert not result.complete
    assert result.total == 7  # 9 without the pulse's 2: still a lower bound that reaches "high"
    assert result.risk is ClinicalRisk.HIGH


def test_value_exactly_at_its_max_age_still_counts() -> None:
    latest = _latest({Parameter.PULSE: 135.0}, age_s=300)
    result = score_latest("p1", latest, now=NOW, max_age_s=MAX_AGE_S, spo2_scale=SpO2Scale.SCALE_1)
    assert result.parameter_scores == {Parameter.PULSE: 3}
    assert result.single_param_3
    assert result.risk is ClinicalRisk.LOW_MEDIUM


def test_all_values_stale_gives_an_empty_incomplete_score() -> None:
    latest = _latest(_WORKED_EXAMPLE, age_s=13 * 3600)
    result = score_latest("p1", latest, now=NOW, max_age_s=MAX_AGE_S, spo2_scale=SpO2Scale.SCALE_1)
    assert (result.total, result.complete, result.parameter_scores) == (0, False, {})
    assert len(result.missing) == 7


def test_parameter_without_a_max_age_never_goes_stale() -> None:
    latest = _latest({Parameter.TEMPERATURE: 39.5}, age_s=10 * 24 * 3600)
    result = score_latest("p1", latest, now=NOW, max_age_s={}, spo2_scale=SpO2Scale.SCALE_1)
    assert result.parameter_scores == {Parameter.TEMPERATURE: 2}


def test_diastolic_bp_is_shown_but_not_scored() -> None:
    latest = _latest({Parameter.DIASTOLIC_BP: 40.0})
    result = score_latest("p1", latest, now=NOW, max_age_s=MAX_AGE_S, spo2_scale=SpO2Scale.SCALE_1)
    assert result.parameter_scores == {}
    assert Parameter.DIASTOLIC_BP not in result.missing


def test_scale_2_patient_on_oxygen_scores_high_spo2() -> None:
    latest = _latest({Parameter.SPO2: 97.0, Parameter.SUPPLEMENTAL_O2: 1.0})
    result = score_latest("p1", latest, now=NOW, max_age_s=MAX_AGE_S, spo2_scale=SpO2Scale.SCALE_2)
    assert result.parameter_scores == {Parameter.SPO2: 3, Parameter.SUPPLEMENTAL_O2: 2}
    assert result.spo2_scale is SpO2Scale.SCALE_2
    assert result.risk is ClinicalRisk.MEDIUM


def test_stored_consciousness_code_scores_as_its_letter() -> None:
    latest = _latest({Parameter.CONSCIOUSNESS: float(Consciousness.NEW_CONFUSION)})
    result = score_latest("p1", latest, now=NOW, max_age_s=MAX_AGE_S, spo2_scale=SpO2Scale.SCALE_1)
    assert result.parameter_scores == {Parameter.CONSCIOUSNESS: 3}


@pytest.mark.parametrize(
    ("parameter", "value"),
    [(Parameter.CONSCIOUSNESS, 7.0), (Parameter.CONSCIOUSNESS, 1.5), (Parameter.SUPPLEMENTAL_O2, 0.5)],
)
def test_stored_value_that_cannot_be_charted_is_refused(parameter: Parameter, value: float) -> None:
    with pytest.raises(ValueError):
        score_latest("p1", _latest({parameter: value}), now=NOW, max_age_s=MAX_AGE_S, spo2_scale=SpO2Scale.SCALE_1)
