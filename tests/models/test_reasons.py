"""Reasons in words a nurse understands, for the trend and baseline features as well as the point ones."""

from __future__ import annotations

import math

import pytest

from models.features import FEATURE_NAMES
from models.reasons import describe_feature, feature_subject


@pytest.mark.parametrize(
    ("name", "value", "phrase"),
    [
        ("resp_rate_slope_6h", 1.5, "respiration rate rising over 6 h"),
        ("pulse_change_from_first_48h", 31.0, "heart rate up 31 /min since admission or 48 h ago"),
        ("systolic_bp_change_from_max_48h", -28.0, "systolic blood pressure 28 mmHg below its highest in 48 h"),
        ("temperature_change_from_min_48h", 1.4, "temperature 1.4 °C above its lowest in 48 h"),
        ("temperature_last", 38.6, "temperature 38.6 °C now"),
        ("resp_rate_min_24h", 16.0, "respiration rate not below 16 /min in 24 h"),
        ("spo2_min_6h", 0.0, "SpO2 down to 0 % in 6 h"),
        ("temperature_max_24h", 38.4, "temperature up to 38.4 °C in 24 h"),
        ("systolic_bp_max_12h", 0.2, "systolic blood pressure not above 0 mmHg in 12 h"),
        ("pulse_mean_48h", 96.0, "heart rate 96 /min on average over 48 h"),
        ("news2_total_max_24h", 7.0, "NEWS2 up to 7 in the last 24 h"),
        ("news2_pulse_max_24h", 2.0, "NEWS2 heart rate score up to 2 in the last 24 h"),
        ("news2_total_change_6h", 3.0, "NEWS2 up 3 in 6 h"),
        ("shock_index_slope_12h", 0.02, "heart rate rising relative to blood pressure over 12 h"),
        ("on_oxygen", 1.0, "on oxygen"),
        ("hours_since_admission", 5.0, "5 h since admission"),
        ("hours_since_admission", 24.0, "admitted more than 24 h ago"),
    ],
)
def test_feature_is_described_in_plain_words(name: str, value: float, phrase: str) -> None:
    assert name in FEATURE_NAMES
    assert describe_feature(name, value, reference=0.5) == phrase


def test_unknown_value_gives_no_reason() -> None:
    assert describe_feature("pulse_change_from_first_48h", math.nan, reference=0.0) is None


def test_every_feature_has_a_phrase_and_one_subject_per_vital_sign() -> None:
    for name in FEATURE_NAMES:
        phrase = describe_feature(name, 1.0, reference=0.0)
        assert phrase and "_" not in phrase, (name, phrase)
    assert feature_subject("pulse_change_from_first_48h") == feature_subject("pulse_last") == "pulse"
    assert feature_subject("news2_total_max_24h") == "news2"
    assert feature_subject("pulse_pressure_mmhg") == "pulse_pressure_mmhg"
