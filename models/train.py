"""Train the risk model: patient-level splits, a few fixed trials, Platt calibration, threshold matched to NEWS2."""

from __future__ import annotations

import logging
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import sklearn
from numpy.typing import NDArray

from core.types import Parameter
from models.artefact import FORMAT_VERSION, ModelArtefact, save_artefact
from models.criteria import ScoredRows, evaluate_criteria, stratified_auroc
from models.dataset import HORIZON_H, LabelledHours, load_labelled_hours
from models.evaluate import evaluate_scores, live_scores, matched_threshold
from models.features import FEATURE_NAMES, GRID_HOURS, compute_features, has_enough_data
from models.hour_balance import hour_rates, hour_weights
from models.predict import RiskModel
from models.severity import SEVERITY_FEATURES
from models.split import Part, split_patients

__all__ = ["MODEL_FEATURES", "MODEL_VERSION", "TRIALS", "FittedRecipe", "fit_recipe", "train_model", "train_on"]

logger = logging.getLogger(__name__)

MODEL_VERSION = "news_risk_v3"
# Three settings fixed before looking at any test result, compared only on the calibration split. The first won a
# 3-fold patient-grouped cross-validation on the training patients (docs/MODEL_CARD.md); the others are the previous
# model's choice and a more heavily regularised one. Few trials keep setA's quirks from being tuned in; >= 300 rows
# per leaf keeps single ICU stays from owning a leaf. Depth <= 6 also keeps live inference fast (one step per level).
TRIALS: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.05, "max_leaf_nodes": 31, "max_depth": 6, "min_samples_leaf": 500, "l2_regularization": 1.0},
    {"learning_rate": 0.03, "max_leaf_nodes": 31, "max_depth": 6, "min_samples_leaf": 300, "l2_regularization": 1.0},
    {"learning_rate": 0.05, "max_leaf_nodes": 15, "max_depth": 5, "min_samples_leaf": 1000, "l2_regularization": 1.0},
)
MAX_ITER = 500
_PATIENCE = 30  # iterations without a better calibration-split loss before stopping
_MAX_FEATURES = 0.5  # each split sees half the features: less reliance on any single quirky one
REASON_FEATURES = 12  # features perturbed per live prediction to explain it: cost grows with this
_IMPORTANCE_ROWS = 20_000
_AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("18-49", 0, 50),
    ("50-64", 50, 65),
    ("65-79", 65, 80),
    ("80+", 80, 200),
)
_T = TypeVar("_T")
# What the model reads (as news_risk_v2 did; v3 weighs the training rows by ICU hour, models/hour_balance.py): how
# far each NEWS2-scored vital sign lies from normal and for how long (models/severity.py), and NEWS2 itself now and
# over the last hours. Every one of them can only rise while the vital signs worsen, and the risk may only rise with
# each (`monotonic_cst` +1 throughout), so the risk never falls while the patient gets worse.
# Left out on purpose, as habits of one hospital rather than the patient: hours since each measurement and how many
# vitals were charted, time since ICU admission, oxygen (FiO2 charting) apart from its NEWS2 points, changes from the
# patient's own baseline (they fall once the baseline catches up with a slow slide), slopes and variability (not
# monotone under worsening), and age and sex (grouped CV: 0.664 without against 0.662 with, docs/MODEL_CARD.md).
_NEWS2_NUMERIC: tuple[Parameter, ...] = (
    Parameter.RESP_RATE,
    Parameter.SPO2,
    Parameter.SYSTOLIC_BP,
    Parameter.PULSE,
    Parameter.TEMPERATURE,
)
_NEWS2_FEATURES: tuple[str, ...] = (
    *(f"news2_{p.value}" for p in _NEWS2_NUMERIC),
    "news2_total",
    *(f"news2_total_{stat}" for stat in ("max_6h", "max_12h", "max_24h", "min_24h", "mean_24h")),
    *(f"news2_{p.value}_max_24h" for p in _NEWS2_NUMERIC),
)
MODEL_FEATURES: tuple[str, ...] = (*SEVERITY_FEATURES, *_NEWS2_FEATURES)
_MONOTONIC = [1] * len(MODEL_FEATURES)
NEWS2_MAX = 20  # the highest NEWS2 total (3 in each of six parameters, 2 for oxygen)
_MODEL_COLUMNS = np.array([FEATURE_NAMES.index(name) for name in MODEL_FEATURES], dtype=np.int64)


def train_model(
    data_path: Path, out_path: Path, *, seed: int = 0, bootstrap_rounds: int = 200, progress: bool = True
) -> ModelArtefact:
    """Train on a PhysioNet 2019-schema file and write the artefact (+ JSON metadata) to `out_path`."""
    hours = load_labelled_hours(data_path)
    artefact = train_on(
        hours, seed=seed, bootstrap_rounds=bootstrap_rounds, progress=progress, data_name=data_path.name
    )
    save_artefact(artefact, out_path)
    logger.info("Wrote model artefact %s", out_path)
    return ModelArtefact(classifier=artefact.classifier, metadata=artefact.metadata, path=out_path)


def train_on(
    hours: LabelledHours,
    *,
    seed: int = 0,
    trials: Sequence[Mapping[str, Any]] = TRIALS,
    max_iter: int = MAX_ITER,
    bootstrap_rounds: int = 200,
    progress: bool = False,
    data_name: str = "",
) -> ModelArtefact:
    """Fit, calibrate and choose the threshold on patient-level splits of `hours`; metrics come from the test split."""
    features = compute_features(hours.grid, progress=progress)
    enough = has_enough_data(features)
    part = split_patients(hours.n_patients, seed)[hours.patient]
    train = hours.eligible & enough & (part == Part.TRAIN)
    calibration = hours.eligible & (part == Part.CALIBRATION)
    test = hours.eligible & (part == Part.TEST)
    label = hours.label
    fitted = fit_recipe(
        features,
        label,
        hours.grid.hours_since_admission,
        train=train,
        calibration=calibration,
        trials=trials,
        max_iter=max_iter,
        seed=seed,
        progress=progress,
    )
    best, metadata, threshold = fitted.artefact.classifier, dict(fitted.artefact.metadata), fitted.artefact.threshold
    news2 = features[:, FEATURE_NAMES.index("news2_total")]
    model = RiskModel(fitted.artefact)
    test_scores = live_scores(model.probabilities(features[test]), enough[test])
    evaluation = evaluate_scores(
        test_scores,
        news2[test],
        label[test],
        hours.patient[test],
        enough[test],
        operating_threshold=threshold,
        hours_since_admission=hours.grid.hours_since_admission[test],
    )
    # Issue 13's criteria on the test split, as `vaktrom model evaluate --part test` prints them, travel with the model.
    test_patients, test_patient = np.unique(hours.patient[test], return_inverse=True)
    test_rows = ScoredRows(
        patient=test_patient.astype(np.int64),
        iculos=hours.grid.hours_since_admission[test],
        label=label[test],
        score=test_scores,
        news2=news2[test],
        n_patients=len(test_patients),
    )
    evaluation = replace(evaluation, criteria=evaluate_criteria(test_rows, resamples=bootstrap_rounds, seed=seed))
    metadata.update(
        {
            "threshold_rule": "calibration split: model sensitivity equal to that of NEWS2 >= 5",
            "reason_features": _reason_features(best, features, label, train, calibration & enough, seed=seed),
            "label": f"SepsisLabel turns 1 within the next {HORIZON_H} h; rows where it is already 1 excluded",
            "grid_hours": GRID_HOURS,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "training_data": {"file": data_name, "sha256": hours.sha256, "rows": len(label)},
            "split": _split_summary(hours, part, seed),
            "trials": fitted.trials,
            "chosen_trial": fitted.chosen_trial,
            "test_metrics": evaluation.as_json(),
            "test_confidence_intervals": _bootstrap(
                test_scores, news2[test], label[test], hours.patient[test], threshold, bootstrap_rounds, seed, progress
            ),
            "test_calibration": _calibration_table(test_scores[enough[test]], label[test][enough[test]]),
            "test_subgroups": _subgroups(hours, test, test_scores, news2, threshold),
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
            "python_version": platform.python_version(),
        }
    )
    return ModelArtefact(classifier=best, metadata=metadata)


@dataclass(frozen=True, slots=True)
class FittedRecipe:
    """The recipe's model (classifier, calibration, NEWS2 floor, threshold: what RiskModel needs) and its trials."""

    artefact: ModelArtefact
    trials: list[dict[str, Any]]
    chosen_trial: int


def fit_recipe(
    features: NDArray[np.float64],
    label: NDArray[np.int8],
    iculos: NDArray[np.float64],
    *,
    train: NDArray[np.bool_],
    calibration: NDArray[np.bool_],
    trials: Sequence[Mapping[str, Any]] = TRIALS,
    max_iter: int = MAX_ITER,
    seed: int = 0,
    progress: bool = False,
) -> FittedRecipe:
    """The model recipe on rows of FEATURE_NAMES: trees on the `train` rows, early stopping, trial choice, Platt
    calibration and threshold on the `calibration` rows. Both mark eligible rows of whole patients; rows with too
    little data are left out of fitting (the calibration split's threshold counts them, scored 0, as live).

    `iculos`: each row's ICU hour. The trees and their early stopping see the rows weighted so that every ICU hour
    has the same positive rate (models/hour_balance.py), and the trial with the best same-hour AUROC on the
    calibration rows is chosen: the ICU hour, a record-length artefact, buys nothing. Calibration is unweighted."""
    from sklearn.metrics import roc_auc_score

    enough = has_enough_data(features)
    train = train & enough
    fit_cal = calibration & enough
    model_x = features[:, _MODEL_COLUMNS]
    train_x = _fillable(model_x[train])
    rates = hour_rates(iculos[train], label[train])
    weights = hour_weights(iculos[train], label[train], rates)
    cal_weights = hour_weights(iculos[fit_cal], label[fit_cal], rates)
    trial_results: list[dict[str, Any]] = []
    best: Any = None
    best_auroc = -1.0
    for params in _progress(trials, progress, "trials"):
        classifier = _classifier(params, max_iter=max_iter, seed=seed)
        classifier.fit(
            train_x,
            label[train],
            sample_weight=weights,
            X_val=model_x[fit_cal],
            y_val=label[fit_cal],
            sample_weight_val=cal_weights,
        )
        raw = classifier.decision_function(model_x[fit_cal])
        same_hour = stratified_auroc(raw, label[fit_cal], iculos[fit_cal])
        pooled = float(roc_auc_score(label[fit_cal], raw))
        trial_results.append(
            {
                "params": dict(params),
                "iterations": int(classifier.n_iter_),
                "calibration_same_hour_auroc": same_hour,
                "calibration_auroc": pooled,
            }
        )
        logger.info(
            "Trial %s: %d iterations, calibration same-hour AUROC %.4f (pooled %.4f)",
            dict(params),
            classifier.n_iter_,
            same_hour,
            pooled,
        )
        if same_hour > best_auroc:
            best, best_auroc = classifier, same_hour
    slope, intercept = _platt(best.decision_function(model_x[fit_cal]), label[fit_cal])
    news2 = features[:, FEATURE_NAMES.index("news2_total")]
    metadata: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model_version": MODEL_VERSION,
        "feature_names": list(MODEL_FEATURES),
        "calibration": [slope, intercept],
        "news2_floor": _news2_floor(news2[train], label[train]),
        "threshold": 0.5,  # replaced below, once the calibrated model exists
    }
    model = RiskModel(ModelArtefact(classifier=best, metadata=metadata))
    cal_scores = live_scores(model.probabilities(features[calibration]), enough[calibration])
    news2_sensitivity = float((news2[calibration][label[calibration] == 1] >= 5).mean())
    metadata["threshold"] = matched_threshold(cal_scores, label[calibration], sensitivity=news2_sensitivity)
    chosen = [t["calibration_same_hour_auroc"] for t in trial_results].index(best_auroc)
    return FittedRecipe(ModelArtefact(classifier=best, metadata=metadata), trial_results, chosen)


def _news2_floor(news2: NDArray[np.float64], label: NDArray[np.int8]) -> list[float]:
    """The rate of sepsis within 6 h at each NEWS2 total 0..NEWS2_MAX on the training rows, made non-decreasing
    (isotonic regression): the least risk the flag shows at that NEWS2."""
    from sklearn.isotonic import IsotonicRegression

    known = ~np.isnan(news2)
    fitted = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=0.999)
    fitted.fit(news2[known], label[known].astype(np.float64))
    floor = np.maximum.accumulate(fitted.predict(np.arange(NEWS2_MAX + 1, dtype=np.float64)))
    return [float(p) for p in floor]


def _classifier(params: Mapping[str, Any], *, max_iter: int, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        **params,
        monotonic_cst=_MONOTONIC,
        max_iter=max_iter,
        max_features=_MAX_FEATURES,
        early_stopping=True,
        scoring="loss",  # a scorer object would not survive the skops round trip
        n_iter_no_change=_PATIENCE,
        random_state=seed,
    )


def _fillable(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """scikit-learn's binning fails on a column that is NaN in every training row: make it a constant there (a
    constant is never split on, so prediction ignores the column either way)."""
    empty = np.isnan(x).all(axis=0)
    if empty.any():
        logger.warning(
            "No training row has %s; the model will not use it", [MODEL_FEATURES[i] for i in np.flatnonzero(empty)]
        )
        x = x.copy()
        x[:, empty] = 0.0
    return x


def _platt(raw: NDArray[np.float64], label: NDArray[np.int8]) -> tuple[float, float]:
    """Logistic regression on the raw log-odds (sigmoid calibration): keeps the ranking, fixes the scale."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=1e6).fit(raw[:, None], label)
    return float(fitted.coef_[0, 0]), float(fitted.intercept_[0])


def _reason_features(
    classifier: Any,
    features: NDArray[np.float64],
    label: NDArray[np.int8],
    train: NDArray[np.bool_],
    calibration: NDArray[np.bool_],
    *,
    seed: int,
) -> list[dict[str, Any]]:
    """The REASON_FEATURES most important features (permutation importance on AUROC, calibration split) with their
    training medians, which the live explanation substitutes one at a time."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(calibration)
    rows = rng.choice(rows, size=min(_IMPORTANCE_ROWS, len(rows)), replace=False)
    x, y = features[rows], label[rows]
    if y.min() == y.max():
        return []
    base = roc_auc_score(y, classifier.decision_function(x[:, _MODEL_COLUMNS]))
    drops = np.zeros(len(MODEL_FEATURES))
    for j, column in enumerate(_MODEL_COLUMNS):
        shuffled = x.copy()
        shuffled[:, column] = rng.permutation(shuffled[:, column])
        drops[j] = base - roc_auc_score(y, classifier.decision_function(shuffled[:, _MODEL_COLUMNS]))
    chosen = [int(_MODEL_COLUMNS[j]) for j in np.argsort(-drops)[:REASON_FEATURES] if drops[j] > 0]
    train_x = features[train]
    result = []
    for column in chosen:
        known = train_x[:, column][~np.isnan(train_x[:, column])]
        reference = float(np.median(known)) if len(known) else 0.0
        importance = float(drops[list(_MODEL_COLUMNS).index(column)])
        result.append({"name": FEATURE_NAMES[column], "reference": reference, "importance": importance})
    return result


def _bootstrap(
    scores: NDArray[np.float64],
    news2: NDArray[np.float64],
    label: NDArray[np.int8],
    patient: NDArray[np.int64],
    threshold: float,
    rounds: int,
    seed: int,
    progress: bool,
) -> dict[str, list[float]]:
    """95 % intervals by resampling patients (rows of one patient move together)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    patients, row_patient = np.unique(patient, return_inverse=True)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {
        "auroc": [],
        "auprc": [],
        "news2_auroc": [],
        "news2_auprc": [],
        "alert_ratio": [],
    }
    for _ in _progress(range(rounds), progress, "bootstrap"):
        weight = np.bincount(rng.integers(0, len(patients), len(patients)), minlength=len(patients))[row_patient]
        if label[weight > 0].min() == label[weight > 0].max():
            continue
        samples["auroc"].append(roc_auc_score(label, scores, sample_weight=weight))
        samples["auprc"].append(average_precision_score(label, scores, sample_weight=weight))
        samples["news2_auroc"].append(roc_auc_score(label, news2, sample_weight=weight))
        samples["news2_auprc"].append(average_precision_score(label, news2, sample_weight=weight))
        news2_alerts = float(((news2 >= 5) * weight).sum())
        samples["alert_ratio"].append(float(((scores >= threshold) * weight).sum()) / max(news2_alerts, 1.0))
    return {
        name: [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if values else []
        for name, values in samples.items()
    }


def _calibration_table(scores: NDArray[np.float64], label: NDArray[np.int8]) -> dict[str, Any]:
    """Mean predicted against observed rate, overall and by decile of predicted risk."""
    edges = np.quantile(scores, np.linspace(0, 1, 11)) if len(scores) else np.zeros(11)
    decile = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, 9)
    bins = [
        {"mean_predicted": float(scores[decile == d].mean()), "observed": float(label[decile == d].mean())}
        for d in range(10)
        if np.any(decile == d)
    ]
    return {"mean_predicted": float(scores.mean()), "observed": float(label.mean()), "deciles": bins}


def _subgroups(
    hours: LabelledHours,
    test: NDArray[np.bool_],
    scores: NDArray[np.float64],
    news2: NDArray[np.float64],
    threshold: float,
) -> list[dict[str, Any]]:
    from sklearn.metrics import roc_auc_score

    age = hours.grid.age_years[test]
    male = hours.grid.male[test]
    label, news2_test = hours.label[test], news2[test]
    groups = [(f"age {name}", (age >= low) & (age < high)) for name, low, high in _AGE_BANDS]
    groups += [("female", male == 0), ("male", male == 1)]
    result = []
    for name, member in groups:
        y = label[member]
        both = len(y) > 0 and y.min() != y.max()
        result.append(
            {
                "group": name,
                "rows": int(member.sum()),
                "positives": int(y.sum()),
                "auroc": float(roc_auc_score(y, scores[member])) if both else None,
                "news2_auroc": float(roc_auc_score(y, news2_test[member])) if both else None,
                "alerts_per_patient_day": float((scores[member] >= threshold).sum() / max(member.sum() / 24, 1e-9)),
                "news2_alerts_per_patient_day": float((news2_test[member] >= 5).sum() / max(member.sum() / 24, 1e-9)),
            }
        )
    return result


def _split_summary(hours: LabelledHours, part: NDArray[np.int64], seed: int) -> dict[str, Any]:
    patient_part = np.zeros(hours.n_patients, dtype=np.int64)
    patient_part[hours.patient] = part
    names = ("train", "calibration", "test")
    return {
        "seed": seed,
        "unit": "patient",
        **{f"{name}_patients": int((patient_part == i).sum()) for i, name in enumerate(names)},
        **{f"{name}_eligible_rows": int((hours.eligible & (part == i)).sum()) for i, name in enumerate(names)},
    }


def _progress(items: Iterable[_T], show: bool, description: str) -> Iterable[_T]:
    if not show:
        return items
    from tqdm import tqdm

    wrapped: Iterable[_T] = tqdm(items, desc=description)
    return wrapped
