"""Live risk: probability, level and reasons for one patient; it rises before NEWS2 reaches 7 when a patient drifts."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.types import Consciousness, Parameter, RiskLevel
from models.artefact import DEFAULT_ARTEFACT_PATH
from models.features import FEATURE_NAMES, compute_features
from models.history import PatientHistory
from models.predict import TOO_LITTLE_DATA, RiskModel
from scoring.news2 import Observation, score
from tests.models.conftest import ADMITTED_AT, Reading, synthetic_hours

_STABLE = {
    Parameter.RESP_RATE: 16.0,
    Parameter.SPO2: 97.0,
    Parameter.SYSTOLIC_BP: 128.0,
    Parameter.DIASTOLIC_BP: 72.0,
    Parameter.PULSE: 76.0,
    Parameter.TEMPERATURE: 36.8,
}
# Per hour once the patient starts to deteriorate: a slow, steady slide over a day.
_DRIFT_PER_H = {
    Parameter.RESP_RATE: 0.6,
    Parameter.SPO2: -0.3,
    Parameter.SYSTOLIC_BP: -2.0,
    Parameter.DIASTOLIC_BP: -0.8,
    Parameter.PULSE: 2.2,
    Parameter.TEMPERATURE: 0.1,
}
_STABLE_H = 24


def _deteriorating(hours: int) -> list[Reading]:
    """Hourly vital signs: stable for a day, then sliding steadily."""
    readings = []
    for h in range(hours):
        at = ADMITTED_AT + timedelta(hours=h, minutes=30)
        for parameter, value in _STABLE.items():
            readings.append(Reading(parameter, value + max(0, h - _STABLE_H) * _DRIFT_PER_H[parameter], at))
    return readings


def _news2_at(readings: list[Reading]) -> int:
    latest = {r.parameter: r.value for r in readings}
    observation = Observation(
        resp_rate_per_min=latest[Parameter.RESP_RATE],
        spo2_percent=latest[Parameter.SPO2],
        supplemental_o2=False,
        systolic_bp_mmhg=latest[Parameter.SYSTOLIC_BP],
        pulse_per_min=latest[Parameter.PULSE],
        consciousness=Consciousness.ALERT,
        temperature_c=latest[Parameter.TEMPERATURE],
    )
    return score(observation).total


def _first_hours(model: RiskModel) -> tuple[int, int, tuple[str, ...]]:
    """(first hour the risk is raised, first hour NEWS2 >= 7, reasons at the first raised hour)."""
    readings = _deteriorating(72)
    first_raised, first_news2_7 = -1, -1
    reasons: tuple[str, ...] = ()
    for h in range(1, 72):
        now = ADMITTED_AT + timedelta(hours=h)
        so_far = [r for r in readings if r.measured_at <= now]
        risk = model.assess("p1", so_far, now, age_years=72, male=True, admitted_at=ADMITTED_AT)
        if first_raised < 0 and risk.level is RiskLevel.RAISED:
            first_raised, reasons = h, risk.reasons
        if first_news2_7 < 0 and _news2_at(so_far) >= 7:
            first_news2_7 = h
    return first_raised, first_news2_7, reasons


def test_live_forest_equals_scikit_learn_decision_function(tiny_model: RiskModel) -> None:
    rows = compute_features(synthetic_hours(20, seed=5).grid)[:, tiny_model._columns]
    live = tiny_model._forest.raw(rows)
    np.testing.assert_allclose(live, tiny_model.artefact.classifier.decision_function(rows), rtol=0, atol=1e-9)


def test_steadily_deteriorating_patient_is_flagged_before_news2_reaches_7(tiny_model: RiskModel) -> None:
    first_raised, first_news2_7, reasons = _first_hours(tiny_model)
    assert 0 < first_raised < first_news2_7, (first_raised, first_news2_7)
    assert first_raised > _STABLE_H  # not while the patient was stable
    assert 1 <= len(reasons) <= 3


def test_shipped_models_risk_rises_with_a_steady_slide_before_news2_reaches_7() -> None:
    # Issue 3: "a synthetic steadily deteriorating patient's risk rises before NEWS2 reaches 7".
    if not DEFAULT_ARTEFACT_PATH.is_file():
        pytest.skip(f"no shipped artefact at {DEFAULT_ARTEFACT_PATH}")
    model = RiskModel.load()
    readings = _deteriorating(72)

    def at(hour: int) -> tuple[float, int]:
        now = ADMITTED_AT + timedelta(hours=hour)
        so_far = [r for r in readings if r.measured_at <= now]
        risk = model.assess("p1", so_far, now, age_years=72, male=True, admitted_at=ADMITTED_AT)
        assert risk.probability is not None
        return risk.probability, _news2_at(so_far)

    first_news2_7 = next(h for h in range(_STABLE_H, 72) if at(h)[1] >= 7)
    stable_day = max(at(h)[0] for h in range(12, _STABLE_H + 1))
    assert at(first_news2_7)[0] >= 2 * stable_day, (at(first_news2_7), stable_day)


def test_shipped_model_flags_a_steadily_deteriorating_patient_before_news2_reaches_7() -> None:
    if not DEFAULT_ARTEFACT_PATH.is_file():
        pytest.skip(f"no shipped artefact at {DEFAULT_ARTEFACT_PATH}")
    # Issue 13: the flag crosses its threshold no later than NEWS2 reaches 7 (news_risk_v1: hour 53, NEWS2 7 at 38).
    first_raised, first_news2_7, reasons = _first_hours(RiskModel.load())
    assert _STABLE_H < first_raised <= first_news2_7, (first_raised, first_news2_7)
    assert reasons


def test_patient_with_too_little_data_gets_unknown_risk_and_says_why(tiny_model: RiskModel) -> None:
    now = ADMITTED_AT + timedelta(hours=3)
    only_spo2 = [Reading(Parameter.SPO2, 95.0, now - timedelta(minutes=20))]
    risk = tiny_model.assess("p2", only_spo2, now, age_years=50, male=False, admitted_at=ADMITTED_AT)
    assert risk.probability is None
    assert risk.level is RiskLevel.UNKNOWN
    assert risk.reasons == (TOO_LITTLE_DATA,)
    assert risk.patient_id == "p2"
    assert risk.computed_at == now


def test_raised_risk_names_deteriorating_vitals_in_plain_words(tiny_model: RiskModel) -> None:
    now = ADMITTED_AT + timedelta(hours=60)
    readings = [r for r in _deteriorating(61) if r.measured_at <= now]
    risk = tiny_model.assess("p3", readings, now, age_years=72, male=True, admitted_at=ADMITTED_AT)
    assert risk.level is RiskLevel.RAISED
    assert risk.probability is not None and risk.probability >= tiny_model.threshold
    words = ("heart rate", "respiration rate", "temperature", "SpO2", "blood pressure", "NEWS2", "oxygen")
    assert all(any(w in reason for w in words) for reason in risk.reasons), risk.reasons
    assert risk.model_version == "news_risk_v3"


def test_a_chunk_of_patients_is_assessed_exactly_as_each_one_alone(tiny_model: RiskModel) -> None:
    now = ADMITTED_AT + timedelta(hours=60)
    deteriorating = [r for r in _deteriorating(61) if r.measured_at <= now]
    stable = [
        Reading(p, v, ADMITTED_AT + timedelta(hours=h, minutes=30)) for h in range(40, 60) for p, v in _STABLE.items()
    ]
    too_little = [Reading(Parameter.SPO2, 95.0, now - timedelta(minutes=20))]
    patients = {"p-det": deteriorating, "p-sparse": too_little, "p-stable": stable}
    histories = [
        (patient_id, PatientHistory.from_readings(r, now=now, age_years=72, male=True, admitted_at=ADMITTED_AT))
        for patient_id, r in patients.items()
    ]
    together = tiny_model.assess_many(histories)
    alone = [
        tiny_model.assess(patient_id, r, now, age_years=72, male=True, admitted_at=ADMITTED_AT)
        for patient_id, r in patients.items()
    ]
    assert together == alone
    assert [r.level for r in together] == [RiskLevel.RAISED, RiskLevel.UNKNOWN, RiskLevel.LOW]
    assert tiny_model.assess_many([]) == []


def test_features_row_of_wrong_length_is_not_silently_accepted(tiny_model: RiskModel) -> None:
    with pytest.raises(ValueError, match=f"expected one row of {len(FEATURE_NAMES)} features, got shape"):
        tiny_model.predict(np.zeros(len(FEATURE_NAMES) - 10))


def _shipped_model() -> RiskModel:
    if not DEFAULT_ARTEFACT_PATH.is_file():
        pytest.skip(f"no shipped artefact at {DEFAULT_ARTEFACT_PATH}")
    return RiskModel.load()


def _risk_by_hour(model: RiskModel, readings: list[Reading], hours: int) -> list[float]:
    """The live risk at the end of each hour 1..hours, all hours assessed as one batch."""
    histories = []
    for h in range(1, hours + 1):
        now = ADMITTED_AT + timedelta(hours=h)
        so_far = [r for r in readings if r.measured_at <= now]
        patient = PatientHistory.from_readings(so_far, now=now, age_years=72, male=True, admitted_at=ADMITTED_AT)
        histories.append((f"h{h}", patient))
    risks = [risk.probability for risk in model.assess_many(histories)]
    assert all(r is not None for r in risks)
    return [float(r) for r in risks if r is not None]


def test_shipped_models_risk_never_falls_on_the_steady_slide() -> None:
    # Issue 13: news_risk_v1 fell from 0.016 to 0.007 here while NEWS2 climbed from 9 to 12.
    risks = _risk_by_hour(_shipped_model(), _deteriorating(72), 71)
    assert np.all(np.diff(risks) >= 0), np.round(risks, 4)


# A patient's NEWS2-scored vital signs, each moving away from normal on one side: (parameter, the lowest start of an
# upward path (the bottom of NEWS2's zero band) and the highest start of a downward one (where models/severity.py's
# high side starts), the directions it may take, lowest and highest plausible value).
_WORSENING_SIDES = (
    (Parameter.RESP_RATE, (12.0, 16.0), (1.0, -1.0), (4.0, 60.0)),
    (Parameter.PULSE, (51.0, 70.0), (1.0, -1.0), (25.0, 220.0)),
    (Parameter.TEMPERATURE, (36.1, 37.0), (1.0, -1.0), (32.0, 42.5)),
    (Parameter.SYSTOLIC_BP, (219.0, 219.0), (-1.0,), (50.0, 219.0)),  # NEWS2 scores >= 220 as 3: worse upwards
    (Parameter.SPO2, (100.0, 100.0), (-1.0,), (60.0, 100.0)),
)


@st.composite
def _worsening_patients(draw: st.DrawFn) -> list[Reading]:
    """Hourly readings where, every hour, each NEWS2-scored vital sign stays or moves further from normal on its
    side, oxygen once started stays on, and diastolic BP (not scored) stays put."""
    hours = draw(st.integers(min_value=2, max_value=40))
    readings = []
    for parameter, (low_start, high_start), directions, (low, high) in _WORSENING_SIDES:
        direction = draw(st.sampled_from(directions))
        offset = draw(st.floats(min_value=0.0, max_value=40.0 if high_start > 50 else 6.0))
        start = low_start + offset if direction > 0 else high_start - offset
        steps = draw(st.lists(st.floats(min_value=0.0, max_value=4.0), min_size=hours, max_size=hours))
        values = np.clip(start + direction * np.cumsum(np.r_[0.0, steps[1:]]), low, high)
        readings += [
            Reading(parameter, float(v), ADMITTED_AT + timedelta(hours=h, minutes=30)) for h, v in enumerate(values)
        ]
    oxygen_from = draw(st.integers(min_value=0, max_value=hours))
    for h in range(hours):
        at = ADMITTED_AT + timedelta(hours=h, minutes=30)
        readings += [
            Reading(Parameter.DIASTOLIC_BP, 70.0, at),
            Reading(Parameter.SUPPLEMENTAL_O2, float(h >= oxygen_from), at),
        ]
    return readings


def _never_falls(model: RiskModel, readings: list[Reading]) -> None:
    hours = int((max(r.measured_at for r in readings) - ADMITTED_AT) / timedelta(hours=1)) + 1
    risks = _risk_by_hour(model, readings, hours)
    assert np.all(np.diff(risks) >= 0), np.round(risks, 5)


@settings(max_examples=100, deadline=None)
@given(readings=_worsening_patients())
def test_risk_never_falls_while_the_vitals_news2_scores_worsen(tiny_model: RiskModel, readings: list[Reading]) -> None:
    _never_falls(tiny_model, readings)


@settings(max_examples=40, deadline=None)
@given(readings=_worsening_patients())
def test_shipped_models_risk_never_falls_while_the_vitals_news2_scores_worsen(readings: list[Reading]) -> None:
    _never_falls(_shipped_model(), readings)
