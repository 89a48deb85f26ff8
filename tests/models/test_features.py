"""The one feature function: training rows and live readings give identical features; missing data is handled."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from core.types import Parameter
from models.dataset import REQUIRED_COLUMNS, labelled_hours
from models.features import (
    ADMISSION_HOURS_CAP,
    FEATURE_NAMES,
    HourlyGrid,
    compute_features,
    has_enough_data,
)
from models.history import features_from_history
from tests.models.conftest import ADMITTED_AT, SETA_PATH, Reading, readings_of, synthetic_hours


def _assert_parity(grid: HourlyGrid, rows: range) -> None:
    """Every row of one patient, recomputed live from readings up to that hour, equals the training row."""
    trained = compute_features(grid)
    first = rows.start
    for r in rows:
        now = ADMITTED_AT + timedelta(hours=float(grid.hours_since_admission[r]))
        live = features_from_history(
            readings_of(grid, range(first, r + 1)),  # everything so far, as a store query would give
            now=now,
            age_years=float(grid.age_years[r]),
            male=bool(grid.male[r]),
            admitted_at=ADMITTED_AT,
        )
        np.testing.assert_array_equal(live, trained[r], err_msg=f"row {r}")


def test_live_features_equal_training_features_for_every_hour_of_a_synthetic_stay() -> None:
    hours = synthetic_hours(3, seed=7)
    for patient in range(3):
        rows = np.flatnonzero(hours.patient == patient)
        _assert_parity(hours.grid, range(int(rows[0]), int(rows[-1]) + 1))


def test_live_features_equal_training_features_on_real_setA_patients() -> None:
    if not SETA_PATH.is_file():
        pytest.skip(f"PhysioNet set A not present at {SETA_PATH}")
    import pyarrow.parquet as pq

    table = pq.read_table(SETA_PATH, columns=list(REQUIRED_COLUMNS)).slice(0, 600)
    ids = np.asarray(table.column("patient_id").to_numpy(zero_copy_only=False)).astype(str)
    numeric = {
        c: np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=np.float64) for c in REQUIRED_COLUMNS[1:]
    }
    hours = labelled_hours(ids, numeric, sha256="slice")
    for patient in range(min(hours.n_patients, 8)):
        rows = np.flatnonzero(hours.patient == patient)
        _assert_parity(hours.grid, range(int(rows[0]), int(rows[-1]) + 1))


def test_oxygen_charted_before_the_window_is_carried_forward_live() -> None:
    now = ADMITTED_AT + timedelta(hours=60)
    readings = [
        Reading(Parameter.SUPPLEMENTAL_O2, 1.0, ADMITTED_AT + timedelta(hours=2)),  # 58 h ago, still on oxygen
        Reading(Parameter.PULSE, 90.0, now - timedelta(minutes=10)),
        Reading(Parameter.RESP_RATE, 22.0, now - timedelta(minutes=10)),
    ]
    features = features_from_history(readings, now=now, age_years=70, male=False, admitted_at=ADMITTED_AT)
    assert features[FEATURE_NAMES.index("on_oxygen")] == 1.0
    assert features[FEATURE_NAMES.index("news2_supplemental_o2")] == 2.0
    assert features[FEATURE_NAMES.index("news2_resp_rate")] == 2.0


def test_rising_respiration_rate_gives_a_positive_slope_and_a_rising_news2() -> None:
    now = ADMITTED_AT + timedelta(hours=30)
    readings = [
        Reading(Parameter.RESP_RATE, 14.0 + 2.0 * (6 - k), now - timedelta(hours=k, minutes=30)) for k in range(7)
    ]
    readings += [Reading(Parameter.PULSE, 80.0, now - timedelta(minutes=5))]
    features = features_from_history(readings, now=now, age_years=60, male=True, admitted_at=ADMITTED_AT)
    assert features[FEATURE_NAMES.index("resp_rate_slope_6h")] == pytest.approx(2.0)
    assert features[FEATURE_NAMES.index("resp_rate_last")] == 26.0
    assert features[FEATURE_NAMES.index("news2_resp_rate")] == 3.0
    assert features[FEATURE_NAMES.index("news2_resp_rate_change_6h")] == 3.0  # 14/min scored 0 six hours ago
    assert features[FEATURE_NAMES.index("hours_since_admission")] == 24.0  # counted up to ADMISSION_HOURS_CAP


def test_a_patient_with_only_a_pulse_has_too_little_data() -> None:
    now = ADMITTED_AT + timedelta(hours=5)
    only_pulse = [Reading(Parameter.PULSE, 88.0, now - timedelta(minutes=m)) for m in (5, 65, 125)]
    features = features_from_history(only_pulse, now=now, age_years=80, male=None, admitted_at=ADMITTED_AT)
    assert not has_enough_data(features)[0]
    with_resp = [*only_pulse, Reading(Parameter.RESP_RATE, 18.0, now - timedelta(hours=11, minutes=30))]
    features = features_from_history(with_resp, now=now, age_years=80, male=None, admitted_at=ADMITTED_AT)
    assert has_enough_data(features)[0]


def test_readings_from_the_future_and_ages_above_89_do_not_leak_in() -> None:
    now = ADMITTED_AT + timedelta(hours=10)
    readings = [
        Reading(Parameter.PULSE, 70.0, now - timedelta(minutes=30)),
        Reading(Parameter.PULSE, 150.0, now + timedelta(minutes=1)),
    ]
    features = features_from_history(readings, now=now, age_years=100, male=True, admitted_at=ADMITTED_AT)
    assert features[FEATURE_NAMES.index("pulse_last")] == 70.0
    assert features[FEATURE_NAMES.index("age_years")] == 89.0


def test_news2_sub_scores_equal_the_scoring_package_on_every_band_edge() -> None:
    from core.types import SpO2Scale
    from scoring.news2 import MISSING_SCORE, ObservationBatch, score_batch

    rng = np.random.default_rng(3)
    n = 4000
    edges = {  # both sides of every band edge of NEWS2.md, at and off the chart's resolution, plus random values
        "resp": [8, 8.5, 9, 11, 11.49, 11.5, 12, 20, 20.5, 21, 24, 25],
        "spo2": [91, 91.5, 92, 93, 94, 95, 95.5, 96],
        "sbp": [90, 90.5, 91, 100, 101, 110, 111, 219, 219.5, 220],
        "pulse": [40, 40.5, 41, 50, 51, 90, 91, 110, 111, 130, 130.5, 131],
        "temp": [35.0, 35.04, 35.05, 35.1, 36.0, 36.05, 36.1, 38.0, 38.05, 38.1, 39.0, 39.05, 39.1],
    }
    ranges = {"resp": (0, 45), "spo2": (70, 100), "sbp": (50, 260), "pulse": (20, 180), "temp": (33, 42)}

    def column(name: str) -> np.ndarray:
        values = np.r_[edges[name], rng.uniform(*ranges[name], n - len(edges[name]))]
        values[rng.random(n) < 0.1] = np.nan
        return rng.permutation(values)

    resp, spo2, sbp, pulse, temp = (column(k) for k in ("resp", "spo2", "sbp", "pulse", "temp"))
    oxygen = rng.choice([0.0, 1.0, np.nan], n)
    vitals = np.column_stack([pulse, spo2, temp, sbp, np.full(n, 70.0), resp])
    grid = HourlyGrid(
        vitals=vitals,
        on_oxygen=oxygen,
        age_years=np.full(n, 70.0),
        male=np.zeros(n),
        hours_since_admission=np.ones(n),
        first_row=np.arange(n, dtype=np.int64),  # every row its own patient
    )
    features = compute_features(grid)
    expected = score_batch(
        ObservationBatch(
            resp_rate_per_min=resp,
            spo2_percent=spo2,
            spo2_scale=np.full(n, SpO2Scale.SCALE_1.value, dtype=np.int64),
            supplemental_o2=oxygen,
            systolic_bp_mmhg=sbp,
            pulse_per_min=pulse,
            consciousness=np.full(n, np.nan),
            temperature_c=temp,
        )
    )
    for parameter, scores in expected.parameter_scores.items():
        if parameter is Parameter.CONSCIOUSNESS:
            continue
        want = np.where(scores == MISSING_SCORE, np.nan, scores.astype(np.float64))
        np.testing.assert_array_equal(features[:, FEATURE_NAMES.index(f"news2_{parameter.value}")], want)
    np.testing.assert_array_equal(features[:, FEATURE_NAMES.index("news2_total")], expected.total)


def test_change_from_the_patients_own_first_value_spans_two_days_of_history() -> None:
    now = ADMITTED_AT + timedelta(hours=40)
    readings = [Reading(Parameter.PULSE, 70.0, ADMITTED_AT + timedelta(minutes=30))]  # admission, 40 h ago
    readings += [Reading(Parameter.PULSE, 80.0 + k, now - timedelta(hours=k, minutes=30)) for k in range(3)]
    readings += [Reading(Parameter.RESP_RATE, 18.0, now - timedelta(minutes=30))]
    features = features_from_history(readings, now=now, age_years=70, male=False, admitted_at=ADMITTED_AT)
    assert features[FEATURE_NAMES.index("pulse_last")] == 80.0
    assert features[FEATURE_NAMES.index("pulse_change_from_first_48h")] == 10.0  # 80 now against 70 at admission
    assert features[FEATURE_NAMES.index("pulse_change_from_max_48h")] == -2.0  # 82 two hours ago
    assert features[FEATURE_NAMES.index("pulse_change_from_min_48h")] == 10.0


def test_worst_news2_of_the_last_day_is_remembered_after_the_patient_settles() -> None:
    now = ADMITTED_AT + timedelta(hours=30)
    # Eight hours ago: respiration 26/min (3) and pulse 125/min (2); since then normal values (0 and 0).
    readings = [
        Reading(Parameter.RESP_RATE, 26.0, now - timedelta(hours=8, minutes=30)),
        Reading(Parameter.PULSE, 125.0, now - timedelta(hours=8, minutes=30)),
    ]
    for k in range(8):
        readings += [
            Reading(Parameter.RESP_RATE, 16.0, now - timedelta(hours=k, minutes=30)),
            Reading(Parameter.PULSE, 80.0, now - timedelta(hours=k, minutes=30)),
        ]
    features = features_from_history(readings, now=now, age_years=70, male=True, admitted_at=ADMITTED_AT)
    assert features[FEATURE_NAMES.index("news2_total")] == 0.0
    assert features[FEATURE_NAMES.index("news2_total_max_6h")] == 0.0
    assert features[FEATURE_NAMES.index("news2_total_max_12h")] == 5.0
    assert features[FEATURE_NAMES.index("news2_total_max_24h")] == 5.0
    assert features[FEATURE_NAMES.index("news2_resp_rate_max_24h")] == 3.0
    assert features[FEATURE_NAMES.index("news2_total_min_24h")] == 0.0


def test_time_since_admission_counts_only_the_first_day() -> None:
    now = ADMITTED_AT + timedelta(hours=200)
    readings = [Reading(Parameter.PULSE, 80.0, now - timedelta(minutes=10))]
    features = features_from_history(readings, now=now, age_years=70, male=True, admitted_at=ADMITTED_AT)
    assert features[FEATURE_NAMES.index("hours_since_admission")] == ADMISSION_HOURS_CAP == 24.0
