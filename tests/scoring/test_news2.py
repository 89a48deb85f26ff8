"""NEWS2 against the RCP chart (NEWS2.md): every band edge from both sides, the worked example, and properties."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.types import NEWS2_PARAMETERS, ClinicalRisk, Consciousness, Parameter, SpO2Scale
from scoring.news2 import (
    MISSING_SCORE,
    Observation,
    ObservationBatch,
    clinical_risk,
    parameter_score,
    score,
    score_batch,
)

_FIELD_OF = {
    Parameter.RESP_RATE: "resp_rate_per_min",
    Parameter.SPO2: "spo2_percent",
    Parameter.SUPPLEMENTAL_O2: "supplemental_o2",
    Parameter.SYSTOLIC_BP: "systolic_bp_mmhg",
    Parameter.PULSE: "pulse_per_min",
    Parameter.CONSCIOUSNESS: "consciousness",
    Parameter.TEMPERATURE: "temperature_c",
}

# (value, score) straight from the chart: both sides of every band edge.
_RESP_RATE = [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)]
_SYSTOLIC_BP = [(50, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (300, 3)]
_PULSE = [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3), (200, 3)]
_TEMPERATURE = [(34.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2)]
_SPO2_SCALE_1 = [(80, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
_SPO2_SCALE_2_LOW = [(80, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0)]
_SPO2_SCALE_2_AIR_HIGH = [(93, 0), (94, 0), (96, 0), (97, 0), (100, 0)]
_SPO2_SCALE_2_OXYGEN_HIGH = [(93, 1), (94, 1), (95, 2), (96, 2), (97, 3), (100, 3)]


def _only(parameter: Parameter, value: object, **extra: object) -> int:
    return score(Observation(**{_FIELD_OF[parameter]: value}, **extra)).parameter_scores[parameter]  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "expected"), _RESP_RATE)
def test_respiration_rate_band(value: float, expected: int) -> None:
    assert _only(Parameter.RESP_RATE, value) == expected


@pytest.mark.parametrize(("value", "expected"), _SYSTOLIC_BP)
def test_systolic_bp_band(value: float, expected: int) -> None:
    assert _only(Parameter.SYSTOLIC_BP, value) == expected


@pytest.mark.parametrize(("value", "expected"), _PULSE)
def test_pulse_band(value: float, expected: int) -> None:
    assert _only(Parameter.PULSE, value) == expected


@pytest.mark.parametrize(("value", "expected"), _TEMPERATURE)
def test_temperature_band(value: float, expected: int) -> None:
    assert _only(Parameter.TEMPERATURE, value) == expected


@pytest.mark.parametrize("on_oxygen", [False, True, None])
@pytest.mark.parametrize(("value", "expected"), _SPO2_SCALE_1)
def test_spo2_scale_1_band_ignores_oxygen(value: float, expected: int, on_oxygen: bool | None) -> None:
    assert _only(Parameter.SPO2, value, spo2_scale=SpO2Scale.SCALE_1, supplemental_o2=on_oxygen) == expected


@pytest.mark.parametrize("on_oxygen", [False, True, None])
@pytest.mark.parametrize(("value", "expected"), _SPO2_SCALE_2_LOW)
def test_spo2_scale_2_band_up_to_92_ignores_oxygen(value: float, expected: int, on_oxygen: bool | None) -> None:
    assert _only(Parameter.SPO2, value, spo2_scale=SpO2Scale.SCALE_2, supplemental_o2=on_oxygen) == expected


@pytest.mark.parametrize(("value", "expected"), _SPO2_SCALE_2_AIR_HIGH)
def test_spo2_scale_2_at_93_or_more_on_air_scores_0(value: float, expected: int) -> None:
    assert _only(Parameter.SPO2, value, spo2_scale=SpO2Scale.SCALE_2, supplemental_o2=False) == expected


@pytest.mark.parametrize(("value", "expected"), _SPO2_SCALE_2_OXYGEN_HIGH)
def test_spo2_scale_2_at_93_or_more_on_oxygen(value: float, expected: int) -> None:
    assert _only(Parameter.SPO2, value, spo2_scale=SpO2Scale.SCALE_2, supplemental_o2=True) == expected


@pytest.mark.parametrize("value", [93, 95, 97])
def test_spo2_scale_2_with_unknown_oxygen_scores_the_lower_bound_and_is_incomplete(value: float) -> None:
    result = score(Observation(spo2_percent=value, spo2_scale=SpO2Scale.SCALE_2))
    assert result.parameter_scores[Parameter.SPO2] == 0
    assert not result.complete
    assert Parameter.SUPPLEMENTAL_O2 in result.missing


@pytest.mark.parametrize(("on_oxygen", "expected"), [(False, 0), (True, 2)])
def test_air_or_oxygen(on_oxygen: bool, expected: int) -> None:
    assert _only(Parameter.SUPPLEMENTAL_O2, on_oxygen) == expected


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (Consciousness.ALERT, 0),
        (Consciousness.NEW_CONFUSION, 3),
        (Consciousness.VOICE, 3),
        (Consciousness.PAIN, 3),
        (Consciousness.UNRESPONSIVE, 3),
    ],
)
def test_consciousness_acvpu(level: Consciousness, expected: int) -> None:
    assert _only(Parameter.CONSCIOUSNESS, level) == expected


@pytest.mark.parametrize(
    ("parameter", "value", "expected"),
    [
        (Parameter.TEMPERATURE, 38.05, 1),  # charted 38.1
        (Parameter.TEMPERATURE, 38.04, 0),  # charted 38.0
        (Parameter.TEMPERATURE, 35.05, 1),  # charted 35.1
        (Parameter.TEMPERATURE, 35.04, 3),  # charted 35.0
        (Parameter.TEMPERATURE, 36.05, 0),  # charted 36.1
        (Parameter.TEMPERATURE, 39.05, 2),  # charted 39.1
        (Parameter.RESP_RATE, 20.5, 2),  # charted 21
        (Parameter.RESP_RATE, 20.49, 0),
        (Parameter.RESP_RATE, 8.5, 1),  # charted 9
        (Parameter.RESP_RATE, 24.5, 3),  # charted 25
        (Parameter.SPO2, 95.5, 0),  # charted 96 on scale 1
        (Parameter.SPO2, 91.5, 2),  # charted 92
        (Parameter.SYSTOLIC_BP, 90.5, 2),  # charted 91
        (Parameter.SYSTOLIC_BP, 219.5, 3),  # charted 220
        (Parameter.PULSE, 40.5, 1),  # charted 41
        (Parameter.PULSE, 130.5, 3),  # charted 131
        (Parameter.PULSE, 90.49, 0),
    ],
)
def test_sensor_values_are_rounded_half_up_to_the_chart_before_banding(
    parameter: Parameter, value: float, expected: int
) -> None:
    assert _only(parameter, value) == expected


_WORKED_EXAMPLE = Observation(
    resp_rate_per_min=22,
    spo2_percent=94,
    spo2_scale=SpO2Scale.SCALE_1,
    supplemental_o2=True,
    systolic_bp_mmhg=105,
    pulse_per_min=115,
    consciousness=Consciousness.ALERT,
    temperature_c=38.4,
)


def test_worked_example_scores_9_high_risk() -> None:
    result = score(_WORKED_EXAMPLE)
    assert result.total == 9
    assert result.complete
    assert result.risk is ClinicalRisk.HIGH
    assert result.missing == ()
    assert not result.single_param_3
    assert result.parameter_scores == {
        Parameter.RESP_RATE: 2,
        Parameter.SPO2: 1,
        Parameter.SUPPLEMENTAL_O2: 2,
        Parameter.SYSTOLIC_BP: 1,
        Parameter.PULSE: 2,
        Parameter.CONSCIOUSNESS: 0,
        Parameter.TEMPERATURE: 1,
    }


def test_worked_example_scores_the_same_in_a_batch() -> None:
    batch = score_batch(ObservationBatch.from_observations([_WORKED_EXAMPLE]))
    assert batch.total.tolist() == [9]
    assert batch.complete.tolist() == [True]
    assert batch.risk_at(0) is ClinicalRisk.HIGH


@pytest.mark.parametrize(
    ("total", "single_param_3", "risk"),
    [
        (0, False, ClinicalRisk.LOW),
        (4, False, ClinicalRisk.LOW),
        (3, True, ClinicalRisk.LOW_MEDIUM),
        (4, True, ClinicalRisk.LOW_MEDIUM),
        (5, False, ClinicalRisk.MEDIUM),
        (6, True, ClinicalRisk.MEDIUM),
        (7, False, ClinicalRisk.HIGH),
        (7, True, ClinicalRisk.HIGH),
        (20, True, ClinicalRisk.HIGH),
    ],
)
def test_clinical_risk_thresholds(total: int, single_param_3: bool, risk: ClinicalRisk) -> None:
    assert clinical_risk(total, single_param_3=single_param_3) is risk


def test_a_single_3_makes_low_medium_risk() -> None:
    result = score(Observation(consciousness=Consciousness.VOICE, resp_rate_per_min=16))
    assert (result.total, result.single_param_3, result.risk) == (3, True, ClinicalRisk.LOW_MEDIUM)


def test_empty_observation_is_incomplete_with_everything_missing() -> None:
    result = score(Observation())
    assert (result.total, result.complete, result.risk) == (0, False, ClinicalRisk.LOW)
    assert result.missing == NEWS2_PARAMETERS


def test_incomplete_set_that_reaches_a_threshold_carries_its_risk() -> None:
    result = score(Observation(resp_rate_per_min=26, pulse_per_min=135, temperature_c=39.5))
    assert (result.total, result.complete, result.risk) == (8, False, ClinicalRisk.HIGH)
    assert result.missing == (
        Parameter.SPO2,
        Parameter.SUPPLEMENTAL_O2,
        Parameter.SYSTOLIC_BP,
        Parameter.CONSCIOUSNESS,
    )


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_observation_rejects_values_that_cannot_be_charted(bad: float) -> None:
    with pytest.raises(ValueError, match="pulse_per_min"):
        Observation(pulse_per_min=bad)


def test_batch_rejects_unknown_consciousness_code() -> None:
    batch = ObservationBatch.from_observations([Observation()])
    with pytest.raises(ValueError, match="consciousness"):
        dataclasses.replace(batch, consciousness=np.array([7.0]))


# --- properties ----------------------------------------------------------------------------------------------

_AS_WRITTEN = st.one_of(
    st.integers(0, 3000).map(lambda k: k / 10),  # one decimal, as nurses chart
    st.integers(0, 30000).map(lambda k: k / 100),  # sensor values, hitting the .x5 edges
    st.floats(0, 400, allow_nan=False),
)


@st.composite
def full_observations(draw: st.DrawFn) -> Observation:
    return Observation(
        resp_rate_per_min=draw(st.one_of(st.integers(0, 60), _AS_WRITTEN)),
        spo2_percent=draw(st.one_of(st.integers(70, 100), st.floats(70, 100))),
        spo2_scale=draw(st.sampled_from(SpO2Scale)),
        supplemental_o2=draw(st.booleans()),
        systolic_bp_mmhg=draw(st.one_of(st.integers(40, 260), _AS_WRITTEN)),
        pulse_per_min=draw(st.one_of(st.integers(20, 220), _AS_WRITTEN)),
        consciousness=draw(st.sampled_from(Consciousness)),
        temperature_c=draw(st.one_of(st.integers(330, 420).map(lambda k: k / 10), st.floats(30, 44), _AS_WRITTEN)),
    )


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    full = draw(full_observations())
    dropped = draw(st.sets(st.sampled_from(NEWS2_PARAMETERS)))
    return dataclasses.replace(full, **{_FIELD_OF[p]: None for p in dropped})  # type: ignore[arg-type]


@given(obs=observations())
def test_total_is_sum_of_parameter_scores_and_bounded(obs: Observation) -> None:
    result = score(obs)
    assert result.total == sum(result.parameter_scores.values())
    assert 0 <= result.total <= 20
    assert result.complete == (result.missing == ())
    assert set(result.parameter_scores) | set(result.missing) == set(NEWS2_PARAMETERS)
    assert result.single_param_3 == (3 in result.parameter_scores.values())
    assert result.risk is clinical_risk(result.total, single_param_3=result.single_param_3)


@given(full=full_observations(), dropped=st.sets(st.sampled_from(NEWS2_PARAMETERS), min_size=1))
def test_missing_parameters_give_a_lower_bound(full: Observation, dropped: set[Parameter]) -> None:
    partial = dataclasses.replace(full, **{_FIELD_OF[p]: None for p in dropped})  # type: ignore[arg-type]
    partial_result, full_result = score(partial), score(full)
    assert partial_result.total <= full_result.total
    assert not partial_result.complete
    assert set(partial_result.missing) == dropped
    risks = list(ClinicalRisk)
    assert risks.index(partial_result.risk) <= risks.index(full_result.risk)


@given(obs=observations())
def test_scale_2_equals_scale_1_except_the_spo2_row(obs: Observation) -> None:
    scale_1 = score(dataclasses.replace(obs, spo2_scale=SpO2Scale.SCALE_1))
    scale_2 = score(dataclasses.replace(obs, spo2_scale=SpO2Scale.SCALE_2))
    assert scale_1.missing == scale_2.missing
    others_1 = {p: s for p, s in scale_1.parameter_scores.items() if p is not Parameter.SPO2}
    others_2 = {p: s for p, s in scale_2.parameter_scores.items() if p is not Parameter.SPO2}
    assert others_1 == others_2


@given(batch=st.lists(observations(), max_size=30))
def test_batch_scores_equal_scalar_scores(batch: list[Observation]) -> None:
    scored = score_batch(ObservationBatch.from_observations(batch))
    assert len(scored) == len(batch)
    for row, obs in enumerate(batch):
        assert scored.result_at(row) == score(obs)
        expected = score(obs).parameter_scores
        assert {p: int(s[row]) for p, s in scored.parameter_scores.items()} == {
            p: expected.get(p, MISSING_SCORE) for p in NEWS2_PARAMETERS
        }


@given(obs=observations())
def test_one_parameter_scores_as_it_does_in_its_set(obs: Observation) -> None:
    """What live scoring's shortcut compares a new reading by (ingest/settled_patients.py)."""
    stored = {
        Parameter.SUPPLEMENTAL_O2: None if obs.supplemental_o2 is None else float(obs.supplemental_o2),
        Parameter.CONSCIOUSNESS: None if obs.consciousness is None else float(obs.consciousness.value),
    }
    for parameter, expected in score(obs).parameter_scores.items():
        value = stored.get(parameter, getattr(obs, _FIELD_OF[parameter]))
        assert value is not None
        got = parameter_score(parameter, value, spo2_scale=obs.spo2_scale, supplemental_o2=obs.supplemental_o2)
        assert got == expected, parameter


@pytest.mark.parametrize(
    ("parameter", "value"),
    [(Parameter.SUPPLEMENTAL_O2, 0.5), (Parameter.CONSCIOUSNESS, 1.5), (Parameter.PULSE, -1.0),
     (Parameter.SPO2, float("nan")), (Parameter.DIASTOLIC_BP, 80.0)],
)  # fmt: skip
def test_one_parameter_that_cannot_be_charted_is_refused(parameter: Parameter, value: float) -> None:
    with pytest.raises(ValueError, match=parameter.value):
        parameter_score(parameter, value, spo2_scale=SpO2Scale.SCALE_1, supplemental_o2=None)
