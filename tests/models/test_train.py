"""Training: patient-level splits, calibrated probabilities, a threshold at NEWS2 >= 5's sensitivity, full metadata."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sklearn

from models.artefact import ModelArtefact
from models.features import FEATURE_NAMES, compute_features, has_enough_data
from models.predict import RiskModel
from models.split import Part, split_patients
from models.train import MODEL_FEATURES, NEWS2_MAX, _news2_floor, fit_recipe
from tests.models.conftest import TINY_TRIAL, synthetic_hours


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
    assert metadata["feature_names"] == list(MODEL_FEATURES)
    assert metadata["model_version"] == "news_risk_v3"
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
    criteria = metrics["criteria"]  # issue 13's, beside NEWS2 on the same test rows, with CIs
    assert criteria["patients"] == metadata["split"]["test_patients"]
    for name in ("same_hour_auroc", "auroc_iculos_le_48", "early_onset_alerted_share"):
        figure = criteria[name]
        assert 0 <= figure["model"] <= 1 and 0 <= figure["news2"] <= 1, (name, figure)
        assert figure["difference"] == pytest.approx(figure["model"] - figure["news2"])
        assert figure["difference_ci"][0] <= figure["difference_ci"][1]
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


def test_worse_vital_signs_never_lower_the_risk(tiny_artefact: ModelArtefact) -> None:
    # Every feature the model reads is a distance from normal, or NEWS2: raising any one never lowers the risk.
    model = _without_floor(tiny_artefact)
    assert tiny_artefact.metadata["feature_names"] == list(MODEL_FEATURES)
    for row in compute_features(synthetic_hours(30, seed=11).grid)[::300]:
        rows, steps = [], 13
        for name in MODEL_FEATURES:
            values = np.linspace(0, 60, steps) if not name.startswith("news2_") else np.linspace(0, 14, steps)
            changed = np.repeat(row[None, :], steps, axis=0)
            changed[:, FEATURE_NAMES.index(name)] = values
            rows.append(changed)
        risk = model.probabilities(np.concatenate(rows)).reshape(len(MODEL_FEATURES), steps)
        assert np.all(np.diff(risk, axis=1) >= 0), [MODEL_FEATURES[i] for i in np.flatnonzero(np.diff(risk) < 0)]


def _without_floor(artefact: ModelArtefact) -> RiskModel:
    return RiskModel(dataclasses.replace(artefact, metadata={**artefact.metadata, "news2_floor": []}))


def test_charting_habits_and_time_since_admission_never_change_the_risk(tiny_model: RiskModel) -> None:
    # How often and how lately each vital was charted, how many were, the ICU hour and FiO2 charting on its own.
    habits = [n for n in FEATURE_NAMES if n.endswith("hours_since") or n.startswith("core_vitals_seen")]
    habits += ["hours_since_admission", "on_oxygen", "age_years", "male"]
    row = compute_features(synthetic_hours(30, seed=12).grid)[41]
    for name in habits:
        values = np.array([0.0, 1.0, 5.0, 24.0, 80.0])
        np.testing.assert_allclose(
            _probability_as(tiny_model, row, name, values), tiny_model.probabilities(row[None])[0]
        )


def test_news2_floor_is_the_observed_rate_at_each_total_never_falling() -> None:
    # NEWS2 0: 0 of 2 septic within 6 h; NEWS2 1: 1 of 2; NEWS2 2: 0 of 2. Rates 0, 0.5, 0 fall at 2, so 1 and 2
    # are pooled (1 of 4 = 0.25); above the highest total seen, the last value holds.
    news2 = np.array([0, 0, 1, 1, 2, 2], dtype=np.float64)
    label = np.array([0, 0, 1, 0, 0, 0], dtype=np.int8)
    floor = _news2_floor(news2, label)
    assert len(floor) == NEWS2_MAX + 1
    np.testing.assert_allclose(floor[:4], [0.0, 0.25, 0.25, 0.25])
    assert floor[-1] == 0.25


def test_risk_is_never_below_the_news2_floor(tiny_artefact: ModelArtefact) -> None:
    floor = [0.0] * 7 + [0.5] * (NEWS2_MAX - 6)  # from NEWS2 7 on, at least 0.5
    model = RiskModel(dataclasses.replace(tiny_artefact, metadata={**tiny_artefact.metadata, "news2_floor": floor}))
    row = compute_features(synthetic_hours(30, seed=12).grid)[41]
    plain = _without_floor(tiny_artefact)
    floored, own = (_probability_as(m, row, "news2_total", np.array([6.0, 7.0])) for m in (model, plain))
    assert floored[0] == pytest.approx(own[0])  # at NEWS2 6 the model's own risk
    assert own[0] < 0.5
    assert floored[1] == pytest.approx(max(own[1], 0.5))  # from NEWS2 7 at least the floor


def test_the_trial_ranking_best_at_the_same_icu_hour_is_chosen() -> None:
    hours = synthetic_hours(300, seed=5)
    features = compute_features(hours.grid)
    part = split_patients(hours.n_patients, 0)[hours.patient]
    trials = [dict(TINY_TRIAL, max_depth=1, max_leaf_nodes=2), TINY_TRIAL, dict(TINY_TRIAL, learning_rate=0.02)]
    fitted = fit_recipe(
        features,
        hours.label,
        hours.grid.hours_since_admission,
        train=hours.eligible & (part == Part.TRAIN),
        calibration=hours.eligible & (part == Part.CALIBRATION),
        trials=trials,
        max_iter=40,
    )
    same_hour = [t["calibration_same_hour_auroc"] for t in fitted.trials]
    assert all(0.0 <= a <= 1.0 for a in same_hour)
    assert fitted.chosen_trial == int(np.argmax(same_hour))
    assert fitted.artefact.classifier.get_params()["max_depth"] == trials[fitted.chosen_trial]["max_depth"]
