"""The deteriorating patient's trajectory, scored on the RCP chart: NEWS2 crosses 5 then 7, then recovers."""

from __future__ import annotations

import random

import pytest

from core.types import Consciousness, SpO2Scale
from devices.scenario import Keyframe, Scenario, Vitals, sepsis_scenario, stable_scenario, vitals_at
from scoring.news2 import Observation, score


def _news2(v: Vitals, scale: SpO2Scale = SpO2Scale.SCALE_1) -> int:
    obs = Observation(
        resp_rate_per_min=v.resp_rate_per_min,
        spo2_percent=v.spo2_percent,
        spo2_scale=scale,
        supplemental_o2=v.on_oxygen,
        systolic_bp_mmhg=v.systolic_bp_mmhg,
        pulse_per_min=v.heart_rate_bpm,
        consciousness=v.consciousness,
        temperature_c=v.temperature_c,
    )
    return score(obs).total


def _first_second_reaching(scenario: Scenario, total: int, rng: random.Random | None = None) -> int:
    return next(t for t in range(3600) if _news2(vitals_at(scenario, t, rng)) >= total)


def test_sepsis_patient_crosses_news2_5_then_7_within_ten_minutes() -> None:
    scenario = sepsis_scenario()
    crosses_5 = _first_second_reaching(scenario, 5)
    crosses_7 = _first_second_reaching(scenario, 7)
    assert scenario.onset_s < crosses_5 < crosses_7 <= scenario.onset_s + 600
    assert crosses_7 - crosses_5 >= 60  # the ward sees the medium band before the high one


def test_sepsis_patient_at_worst_scores_18_by_the_chart() -> None:
    worst = vitals_at(sepsis_scenario(), 60 + 600, None)
    # RR 28 (3), SpO2 90 scale 1 (3), oxygen (2), SBP 90 (3), pulse 130 (2), new confusion (3), 39.3 °C (2)
    assert worst == Vitals(130, 28, 90, 90, 54, 39.3, Consciousness.NEW_CONFUSION, on_oxygen=True)
    assert _news2(worst) == 3 + 3 + 2 + 3 + 2 + 3 + 2


def test_sepsis_trajectory_never_improves_while_deteriorating() -> None:
    scenario = sepsis_scenario()
    totals = [_news2(vitals_at(scenario, t, None)) for t in range(0, int(scenario.onset_s + scenario.decline_s) + 1)]
    assert totals == sorted(totals)
    assert totals[0] == 0


def test_sepsis_patient_recovers_and_the_scenario_starts_again() -> None:
    scenario = sepsis_scenario()
    rest_at = scenario.period_s - scenario.rest_s / 2
    assert vitals_at(scenario, rest_at, None) == scenario.baseline
    assert _news2(vitals_at(scenario, rest_at, None)) == 0
    for t in (0.0, 300.0, 700.0, 1100.0):
        assert vitals_at(scenario, t + scenario.period_s, None) == vitals_at(scenario, t, None)


def test_noisy_sepsis_patient_still_crosses_both_thresholds_within_ten_minutes() -> None:
    scenario = sepsis_scenario()
    for seed in range(5):
        assert _first_second_reaching(scenario, 7, random.Random(seed)) <= scenario.onset_s + 600


def test_noise_is_realistic_and_reported_at_device_resolution() -> None:
    baseline = Vitals(80, 16, 97, 125, 75, 37.0)
    rng = random.Random(1)
    samples = [vitals_at(stable_scenario(baseline), t, rng) for t in range(600)]
    assert {s.heart_rate_bpm for s in samples} != {80}
    assert all(abs(s.heart_rate_bpm - 80) <= 10 for s in samples)
    assert all(s.heart_rate_bpm.is_integer() and s.spo2_percent.is_integer() for s in samples)
    assert all(s.spo2_percent <= 100 for s in samples)
    assert all(round(s.temperature_c, 1) == s.temperature_c for s in samples)


def test_stable_patient_never_changes_without_noise() -> None:
    baseline = Vitals(80, 16, 97, 125, 75, 37.0)
    assert {vitals_at(stable_scenario(baseline), t, None) for t in range(0, 5000, 7)} == {baseline}


def test_scenario_needs_a_baseline_keyframe_and_increasing_times() -> None:
    v = Vitals(80, 16, 97, 125, 75, 37.0)
    with pytest.raises(ValueError, match="first keyframe at 0 s"):
        Scenario(keyframes=(Keyframe(10.0, v),))
    with pytest.raises(ValueError, match="must increase"):
        Scenario(keyframes=(Keyframe(0.0, v), Keyframe(20.0, v), Keyframe(20.0, v)))
