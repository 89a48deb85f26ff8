"""Training: patient-level splits, calibrated probabilities, a threshold at NEWS2 >= 5's sensitivity, full metadata."""

from __future__ import annotations

import numpy as np
import sklearn

from models.artefact import ModelArtefact
from models.features import FEATURE_NAMES, compute_features, has_enough_data
from models.predict import RiskModel
from tests.models.conftest import synthetic_hours


def test_calibrated_probabilities_match_the_observed_rate_on_unseen_patients(tiny_model: RiskModel) -> None:
    held_out = synthetic_hours(300, seed=99)  # patients the model never saw
    features = compute_features(held_out.grid)
    rows = held_out.eligible & has_enough_data(features)
    predicted = tiny_model.probabilities(features[rows])
    observed = held_out.label[rows].mean()
    assert abs(predicted.mean() - observed) < 0.25 * observed, (predicted.mean(), observed)
    high = predicted >= np.quantile(predicted, 0.9)
    assert held_out.label[rows][high].mean() > 3 * held_out.label[rows][~high].mean()


def test_metadata_records_features_versions_data_hash_split_and_metrics(tiny_artefact: ModelArtefact) -> None:
    metadata = tiny_artefact.metadata
    assert metadata["feature_names"] == list(FEATURE_NAMES)
    assert metadata["sklearn_version"] == sklearn.__version__
    assert metadata["numpy_version"] == np.__version__
    assert metadata["training_data"]["sha256"] == "synthetic"
    assert metadata["split"]["unit"] == "patient"
    assert (
        metadata["split"]["train_patients"]
        + metadata["split"]["calibration_patients"]
        + metadata["split"]["test_patients"]
        == 400
    )
    metrics = metadata["test_metrics"]
    assert {"auroc", "auprc", "news2_auroc", "sensitivity", "alerts_per_patient_day"} <= metrics.keys()
    assert metrics["auroc"] > metrics["news2_auroc"]
    low, high = metadata["test_confidence_intervals"]["auroc"]
    assert 0 <= low <= high <= 1
    assert {g["group"] for g in metadata["test_subgroups"]} == {
        "age 18-49",
        "age 50-64",
        "age 65-79",
        "age 80+",
        "female",
        "male",
    }
    assert metadata["created_at"].endswith("+00:00")


def test_threshold_gives_about_the_sensitivity_of_news2_at_5(tiny_artefact: ModelArtefact) -> None:
    metrics = tiny_artefact.metadata["test_metrics"]
    assert abs(metrics["operating_sensitivity"] - metrics["sensitivity"]) < 0.15
    assert metrics["operating_alerts_per_patient_day"] < metrics["news2_alerts_per_patient_day"]


def _probability_as(model: RiskModel, row: np.ndarray, name: str, values: np.ndarray) -> np.ndarray:
    rows = np.repeat(row[None, :], len(values), axis=0)
    rows[:, FEATURE_NAMES.index(name)] = values
    return model.probabilities(rows)


def test_worse_vital_signs_never_lower_the_risk(tiny_model: RiskModel) -> None:
    rows = compute_features(synthetic_hours(30, seed=11).grid)[::17]
    rising = {
        "news2_total": np.arange(0, 15, dtype=np.float64),
        "pulse_last": np.linspace(50, 160, 23),
        "resp_rate_slope_6h": np.linspace(-3, 3, 13),
        "shock_index": np.linspace(0.4, 1.6, 13),
    }
    falling = {"systolic_bp_last": np.linspace(70, 180, 23), "spo2_min_12h": np.linspace(80, 100, 21)}
    for row in rows:
        for name, values in rising.items():
            assert np.all(np.diff(_probability_as(tiny_model, row, name, values)) >= 0), name
        for name, values in falling.items():
            assert np.all(np.diff(_probability_as(tiny_model, row, name, values)) <= 0), name


def test_time_since_admission_shifts_the_risk_but_never_changes_how_vitals_are_read(tiny_model: RiskModel) -> None:
    stable, sliding = compute_features(synthetic_hours(30, seed=12).grid)[[40, 41]]
    stable[FEATURE_NAMES.index("pulse_last")], sliding[FEATURE_NAMES.index("pulse_last")] = 75.0, 125.0
    stable[FEATURE_NAMES.index("news2_total")], sliding[FEATURE_NAMES.index("news2_total")] = 0.0, 7.0

    def log_odds(row: np.ndarray, hours: float) -> float:
        probability = _probability_as(tiny_model, row, "hours_since_admission", np.array([hours]))[0]
        return float(np.log(probability / (1 - probability)))

    gaps = [log_odds(sliding, hours) - log_odds(stable, hours) for hours in (2.0, 20.0, 38.0, 72.0)]
    np.testing.assert_allclose(gaps, gaps[0], atol=1e-6)
