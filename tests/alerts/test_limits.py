"""The rules with a patient's own limits: tables of values and limits against the conditions they raise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.limits import breaches, limit_problem, scored_conditions
from core.types import (
    NEWS2_PARAMETERS,
    AlertKind,
    AlertSeverity,
    CareSetting,
    Parameter,
    PatientLimit,
    PatientScore,
)
from scoring.news2 import clinical_risk

AT = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
RR, SPO2, OXY, SBP, HR, ACVPU, TEMP = NEWS2_PARAMETERS
LM, M, H = AlertSeverity.LOW_MEDIUM, AlertSeverity.MEDIUM, AlertSeverity.HIGH


def _limit(parameter: Parameter, low: float | None, high: float | None) -> PatientLimit:
    return PatientLimit("p1", parameter, low, high, "KOLS", "dr-berg", AT)


COPD = _limit(SPO2, 88.0, 92.0)
TACHY = _limit(HR, None, 125.0)


def _score(points: dict[Parameter, int]) -> PatientScore:
    full = {p: points.get(p, 0) for p in NEWS2_PARAMETERS}
    total = sum(full.values())
    red = 3 in full.values()
    return PatientScore("p1", AT, total, True, clinical_risk(total, single_param_3=red), red, full)


# (values now, the score they give on the chart, limits) -> (NEWS2 alert severity, patient-limit alert severity)
@pytest.mark.parametrize(
    ("values", "points", "limits", "news2", "own"),
    [
        # COPD at 90 % on air, scale 1: SpO2 scores 3. Without limits a single-3 alert; with 88-92 her normal.
        pytest.param({SPO2: 90, OXY: 0}, {SPO2: 3}, [], LM, None, id="copd-at-90-no-limits"),
        pytest.param({SPO2: 90, OXY: 0}, {SPO2: 3}, [COPD], None, None, id="copd-at-90-within-her-limits"),
        # Below her own limit: her alert, whatever NEWS2 says (86 scores 3 on scale 1, 1 on scale 2).
        pytest.param({SPO2: 86, OXY: 0}, {SPO2: 3}, [COPD], LM, LM, id="copd-at-86-below-her-limits"),
        pytest.param({SPO2: 87, OXY: 0}, {SPO2: 1}, [COPD], None, LM, id="scale-2-87-news2-quiet-limit-alerts"),
        # Hyperoxia: above her target on oxygen; on air there is nothing to turn down.
        pytest.param({SPO2: 96, OXY: 1}, {SPO2: 2, OXY: 2}, [COPD], None, LM, id="hyperoxia-on-oxygen"),
        pytest.param({SPO2: 96, OXY: 0}, {}, [COPD], None, None, id="96-on-air-is-no-hyperoxia"),
        # NEWS2 totals are never suppressed: a 3 within her limits still counts.
        pytest.param({SPO2: 90, OXY: 0}, {SPO2: 3, RR: 2}, [COPD], M, None, id="total-5-never-suppressed"),
        pytest.param({SPO2: 90, OXY: 1}, {SPO2: 3, OXY: 2, RR: 2}, [COPD], H, None, id="total-7-never-suppressed"),
        # A 3 in a parameter she has no limit for is still raised.
        pytest.param({RR: 26}, {RR: 3}, [COPD], LM, None, id="a-red-parameter-without-a-limit-raises"),
        # Chronic tachycardia accepted up to 125: 130 is outside it (and scores 2 only: NEWS2 is quiet).
        pytest.param({HR: 118}, {HR: 2}, [TACHY], None, None, id="tachycardia-within-limit"),
        pytest.param({HR: 130}, {HR: 2}, [TACHY], None, LM, id="tachycardia-above-limit"),
        pytest.param({HR: 135}, {HR: 3}, [TACHY], LM, LM, id="tachycardia-above-limit-and-red"),
        # A stale or missing value raises nothing of its own (the scorer passes fresh values only).
        pytest.param({}, {}, [COPD, TACHY], None, None, id="no-fresh-values"),
        pytest.param({SPO2: 80}, {SPO2: 3}, [_limit(SPO2, None, None)], LM, None, id="a-cleared-limit-is-no-limit"),
    ],
)
def test_conditions_with_limits(
    values: dict[Parameter, float],
    points: dict[Parameter, int],
    limits: list[PatientLimit],
    news2: AlertSeverity | None,
    own: AlertSeverity | None,
) -> None:
    seen_news2, seen_own = scored_conditions(
        _score(points), values, limits, ward_id="w1", at=AT, setting=CareSetting.BEDSIDE
    )
    assert (seen_news2.key.kind, seen_own.key.kind) == (AlertKind.NEWS2, AlertKind.PATIENT_LIMIT)
    assert (seen_news2.severity, seen_own.severity) == (news2, own)


def test_the_limit_alert_names_the_value_the_limits_and_who_set_them() -> None:
    _, seen = scored_conditions(
        _score({SPO2: 2, OXY: 2}), {SPO2: 95, OXY: 1, HR: 130}, [COPD, TACHY], ward_id="w1", at=AT,
        setting=CareSetting.BEDSIDE,
    )  # fmt: skip
    assert seen.message == (
        "Outside the patient's own limits: SpO2 95 on oxygen (hyperoxia), limits 88-92; pulse 130, limits ≤125 "
        "(set by dr-berg)"
    )


def test_only_values_outside_count_as_breaches() -> None:
    assert [b.value for b in breaches({SPO2: 88, HR: 125}, [COPD, TACHY])] == []  # the limits are inclusive
    assert [(b.limit.parameter, b.below) for b in breaches({SPO2: 87.9}, [COPD])] == [(SPO2, True)]


@pytest.mark.parametrize(
    ("parameter", "low", "high", "problem"),
    [
        (SPO2, 88, 92, None),
        (SPO2, None, 92, None),
        (HR, 40, None, None),
        (SPO2, 79, 92, "spo2 low must be between 80 and 100"),
        (SPO2, 92, 92, "spo2 low must be below high"),
        (TEMP, 35, 42, "temperature high must be between 34 and 41"),
        (ACVPU, 0, 1, "consciousness takes no limits (only spo2, pulse, resp_rate, systolic_bp, temperature)"),
        (OXY, 0, 1, "supplemental_o2 takes no limits (only spo2, pulse, resp_rate, systolic_bp, temperature)"),
    ],
)
def test_limits_a_doctor_may_set(parameter: Parameter, low: float | None, high: float | None, problem: str) -> None:
    assert limit_problem(parameter, low, high) == problem
