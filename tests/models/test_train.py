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
