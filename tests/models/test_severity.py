"""Severity features and the stress tests: small cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from core.types import Parameter
from models.features import FEATURE_NAMES, VITALS, HourlyGrid, compute_features
from models.reasons import describe_feature
from models.severity import SEVERITY_FEATURES
from models.stress import ADMISSION_SHIFT_MAX_H, THIN_KEEP, Stress, stressed


def _grid(pulse: list[float], temperature: list[float]) -> HourlyGrid:
    """One patient; pulse and temperature as given, the other vital signs normal and steady."""
    hours = len(pulse)
    vitals = np.full((hours, len(VITALS)), np.nan)
    steady = {Parameter.SPO2: 97.0, Parameter.SYSTOLIC_BP: 130.0, Parameter.DIASTOLIC_BP: 70.0}
    steady[Parameter.RESP_RATE] = 16.0
    for vital, value in steady.items():
        vitals[:, VITALS.index(vital)] = value
    vitals[:, VITALS.index(Parameter.PULSE)] = pulse
    vitals[:, VITALS.index(Parameter.TEMPERATURE)] = temperature
    return HourlyGrid(
        vitals=vitals,
        on_oxygen=np.full(hours, np.nan),
        age_years=np.full(hours, 70.0),
        male=np.ones(hours),
        hours_since_admission=np.arange(1, hours + 1, dtype=np.float64),
        first_row=np.zeros(hours, dtype=np.int64),
    )


def _value(features: np.ndarray, name: str) -> float:
    return float(features[-1, FEATURE_NAMES.index(name)])


def test_severity_is_the_distance_from_normal_on_the_worse_side_and_for_how_long() -> None:
    # Pulse over 8 h: 70 70 80 90 100 110 110 100 (the high side starts at 70). Over the last 6 h: 80 90 100 110 110
    # 100, i.e. 10 20 30 40 40 30 above 70: mean 170 / 6, highest of the day 40, lowest of the last 12 h 0.
    pulse = [70.0, 70.0, 80.0, 90.0, 100.0, 110.0, 110.0, 100.0]
    # Temperature 35.0 throughout: 1.0 below where the low side starts (36.0), 0 on the high side (from 37.0).
    features = compute_features(_grid(pulse, [35.0] * 8))
    assert _value(features, "pulse_high_last") == pytest.approx(30.0)
    assert _value(features, "pulse_low_last") == 0.0
    assert _value(features, "pulse_high_mean_6h") == pytest.approx(170.0 / 6)
    assert _value(features, "pulse_high_max_24h") == pytest.approx(40.0)
    assert _value(features, "pulse_high_min_12h") == 0.0
    assert _value(features, "temperature_low_min_24h") == pytest.approx(1.0)
    assert _value(features, "temperature_high_max_24h") == 0.0
    assert _value(features, "spo2_low_last") == pytest.approx(3.0)
    assert _value(features, "systolic_bp_low_mean_24h") == pytest.approx(90.0)


def test_every_severity_feature_can_only_rise_while_the_vital_signs_worsen() -> None:
    # A day of worsening: pulse up 2/min and temperature down 0.1 degrees every hour.
    hours = 30
    worsening = compute_features(_grid([80.0 + 2 * h for h in range(hours)], [36.9 - 0.1 * h for h in range(hours)]))
    columns = [FEATURE_NAMES.index(name) for name in SEVERITY_FEATURES]
    assert np.all(np.diff(np.nan_to_num(worsening[:, columns], nan=-1.0), axis=0) >= 0)


def test_warming_from_36_8_to_37_5_is_not_read_as_less_hypothermic() -> None:
    # Inside NEWS2's zero band the low side of temperature stays 0: nothing falls while the fever side takes over.
    features = compute_features(_grid([80.0] * 8, [36.8 + 0.1 * h for h in range(8)]))
    low = [FEATURE_NAMES.index(name) for name in SEVERITY_FEATURES if name.startswith("temperature_low")]
    assert np.all(features[:, low] == 0.0)
    assert _value(features, "temperature_high_last") == pytest.approx(0.5)


def test_severity_reasons_give_the_value_back_in_plain_words() -> None:
    assert describe_feature("pulse_high_last", 30.0, 0.0) == "heart rate 100 /min now"
    assert describe_feature("spo2_low_min_12h", 6.0, 0.0) == "SpO2 at most 94 % throughout the last 12 h"
    assert describe_feature("temperature_high_max_24h", 1.5, 0.0) == "temperature up to 38.5 °C in 24 h"
    assert describe_feature("systolic_bp_low_mean_6h", 120.0, 0.0) == (
        "systolic blood pressure 100 mmHg on average over 6 h"
    )


def test_thinning_keeps_about_one_value_in_three_and_never_invents_one() -> None:
    grid = _grid([70.0 + h % 7 for h in range(3000)], [37.0] * 3000)
    thin = stressed(grid, Stress.THIN, seed=3)
    kept = ~np.isnan(thin.vitals)
    assert kept.mean() == pytest.approx(THIN_KEEP, abs=0.02)
    np.testing.assert_array_equal(thin.vitals[kept], grid.vitals[kept])
    np.testing.assert_array_equal(stressed(grid, Stress.THIN, seed=3).vitals, thin.vitals)  # seeded


def test_shuffled_missingness_keeps_each_patients_count_and_carries_real_values_only() -> None:
    # Two patients of 4 hours; pulse measured at hours 1 and 3 (values 80, 90) and at hour 0 (value 60).
    pulse = [np.nan, 80.0, np.nan, 90.0, 60.0, np.nan, np.nan, np.nan]
    grid = _grid(pulse, [37.0] * 8)
    grid = HourlyGrid(**{**{f: getattr(grid, f) for f in grid.__slots__}, "first_row": np.array([0] * 4 + [4] * 4)})
    column = VITALS.index(Parameter.PULSE)
    for seed in range(20):
        moved = stressed(grid, Stress.SHUFFLE_MISSING, seed=seed).vitals[:, column]
        assert (~np.isnan(moved[:4])).sum() == 2 and (~np.isnan(moved[4:])).sum() == 1
        # Before hour 1 the patient's first value (80) stands in; from hour 3 on, 90: never the other patient's 60.
        expected_first = [80.0, 80.0, 80.0, 90.0]
        assert all(np.isnan(v) or v == e for v, e in zip(moved[:4], expected_first, strict=True))
        assert np.nansum(moved[4:]) == 60.0


def test_late_admission_moves_each_patients_clock_by_one_shift_and_nothing_else() -> None:
    grid = _grid([80.0] * 6, [37.0] * 6)
    two = HourlyGrid(**{**{f: getattr(grid, f) for f in grid.__slots__}, "first_row": np.array([0] * 3 + [3] * 3)})
    for seed in range(10):
        late = stressed(two, Stress.LATE_ADMISSION, seed=seed)
        shift = late.hours_since_admission - two.hours_since_admission
        assert len(set(shift[:3])) == 1 and len(set(shift[3:])) == 1
        assert shift.min() >= 0 and shift.max() <= ADMISSION_SHIFT_MAX_H and np.all(shift == np.round(shift))
        np.testing.assert_array_equal(late.vitals, two.vitals)
