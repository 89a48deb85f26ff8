"""Live risk: a loaded model turns one patient's features into probability, level and reasons in well under 1 ms."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.types import RiskAssessment, RiskLevel
from models.artefact import ModelArtefact, load_artefact
from models.features import CORE_VITALS, FEATURE_NAMES, MIN_CORE_VITALS, RECENT_HOURS, has_enough_data
from models.history import PatientHistory, ReadingLike, features_of_histories
from models.reasons import describe_feature, feature_subject

__all__ = ["MAX_REASONS", "TOO_LITTLE_DATA", "RiskModel"]

logger = logging.getLogger(__name__)

MAX_REASONS = 3  # what fits on a bed tile
# A contribution below this (in calibrated log-odds, ~1 % relative risk) is noise, not a reason.
_MIN_CONTRIBUTION = 0.01
_BATCH_ROWS = 65_536  # bounds memory of the offline batch path
_NEWS2_COLUMN = FEATURE_NAMES.index("news2_total")
TOO_LITTLE_DATA = (
    f"too little data: fewer than {MIN_CORE_VITALS} of "
    + ", ".join(p.value.replace("_", " ") for p in CORE_VITALS)
    + f" in the last {RECENT_HOURS} h"
)


class RiskModel:
    """The ML deterioration flag. Build with `RiskModel.load()`; nothing is loaded at import."""

    def __init__(self, artefact: ModelArtefact) -> None:
        self.artefact = artefact
        self.threshold = artefact.threshold
        self.version = artefact.version
        self._slope, self._intercept = artefact.calibration
        self._forest = _FlatForest.from_classifier(artefact.classifier)
        # The artefact reads the features it names (a subset of FEATURE_NAMES, in its own order).
        self._columns = np.array([FEATURE_NAMES.index(name) for name in artefact.metadata["feature_names"]])
        reason_features = artefact.metadata.get("reason_features", [])
        self._reason_columns = np.array([FEATURE_NAMES.index(r["name"]) for r in reason_features], dtype=np.int64)
        self._reference = np.array([float(r["reference"]) for r in reason_features])
        self._news2_floor = np.array(artefact.metadata.get("news2_floor", []), dtype=np.float64)

    @classmethod
    def load(cls, path: Path | None = None) -> RiskModel:
        """Load and check an artefact (default: the shipped one); raises core.errors.ModelArtefactError."""
        model = cls(load_artefact(path))
        logger.info(
            "Loaded risk model %s (threshold %.4f) from %s", model.version, model.threshold, model.artefact.path
        )
        return model

    def probabilities(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probabilities of many rows (offline evaluation), whatever their amount of data."""
        raw = np.concatenate(
            [
                self.artefact.classifier.decision_function(features[start : start + _BATCH_ROWS, self._columns])
                for start in range(0, len(features), _BATCH_ROWS)
            ]
        )
        return self._floored(self._calibrated(raw), features)

    def predict(self, features: NDArray[np.float64]) -> tuple[float | None, RiskLevel, tuple[str, ...]]:
        """(probability, level, reasons) for one row of FEATURE_NAMES; probability None when there is too little data.

        Reasons: each of the most important features (by permutation importance at training) is set in turn to
        its typical value; the ones whose change lowers the risk most are named, one per vital sign.
        """
        if features.shape != (len(FEATURE_NAMES),):
            raise ValueError(f"expected one row of {len(FEATURE_NAMES)} features, got shape {features.shape}")
        return self.predict_many(features[None, :])[0]

    def predict_many(self, features: NDArray[np.float64]) -> list[tuple[float | None, RiskLevel, tuple[str, ...]]]:
        """`predict` for each row of a (patients, FEATURE_NAMES) array, walking the trees once for all of them."""
        if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected rows of {len(FEATURE_NAMES)} features, got shape {features.shape}")
        enough = has_enough_data(features)
        known = features[enough]
        # Per patient: its own row, then one row per reason feature set to its typical value.
        per_patient = len(self._reason_columns) + 1
        rows = np.repeat(known, per_patient, axis=0).reshape(len(known), per_patient, features.shape[1])
        rows[:, np.arange(1, per_patient), self._reason_columns] = self._reference
        raw = self._forest.raw(rows.reshape(-1, features.shape[1])[:, self._columns])
        log_odds = (self._slope * raw + self._intercept).reshape(len(known), per_patient)
        results: list[tuple[float | None, RiskLevel, tuple[str, ...]]] = []
        for row, has_data, known_row in zip(features, enough, np.cumsum(enough) - 1, strict=True):
            if not has_data:
                results.append((None, RiskLevel.UNKNOWN, (TOO_LITTLE_DATA,)))
                continue
            odds = log_odds[known_row]
            trend = 1.0 / (1.0 + math.exp(-odds[0]))
            probability = float(self._floored(np.array([trend]), row[None, :])[0])
            level = RiskLevel.RAISED if probability >= self.threshold else RiskLevel.LOW
            reasons = self._reasons(row, odds[0] - odds[1:])
            if probability > trend:  # NEWS2 alone carries the risk here: say so first
                reasons = (f"NEWS2 {row[_NEWS2_COLUMN]:.0f}", *(r for r in reasons if "NEWS2" not in r))[:MAX_REASONS]
            results.append((probability, level, reasons))
        return results

    def assess(
        self,
        patient_id: str,
        history: Sequence[ReadingLike],
        now: datetime,
        *,
        age_years: float | None,
        male: bool | None,
        admitted_at: datetime,
    ) -> RiskAssessment:
        """One patient's risk at `now` from readings of the last GRID_HOURS hours (plus the latest oxygen one)."""
        patient = PatientHistory.from_readings(
            history, now=now, age_years=age_years, male=male, admitted_at=admitted_at
        )
        return self.assess_many([(patient_id, patient)])[0]

    def assess_many(self, patients: Sequence[tuple[str, PatientHistory]]) -> list[RiskAssessment]:
        """Each (patient id, history)'s risk at its history's `now`, computed as one batch (cheaper per patient)."""
        features = features_of_histories([history for _, history in patients])
        return [
            RiskAssessment(
                patient_id=patient_id,
                computed_at=history.now,
                probability=probability,
                level=level,
                reasons=reasons,
                model_version=self.version,
            )
            for (patient_id, history), (probability, level, reasons) in zip(
                patients, self.predict_many(features), strict=True
            )
        ]

    def _floored(self, probabilities: NDArray[np.float64], features: NDArray[np.float64]) -> NDArray[np.float64]:
        """At least the rate of sepsis within 6 h seen at the row's NEWS2 total in training (when the artefact has a
        floor): the risk then never sits below what NEWS2 alone says, and rises whenever NEWS2 does."""
        if len(self._news2_floor) == 0:
            return probabilities
        news2 = np.nan_to_num(features[:, _NEWS2_COLUMN], nan=0.0)
        total = np.clip(news2, 0, len(self._news2_floor) - 1).astype(np.int64)
        result: NDArray[np.float64] = np.maximum(probabilities, self._news2_floor[total])
        return result

    def _calibrated(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        result: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-(self._slope * raw + self._intercept)))
        return result

    def _reasons(self, features: NDArray[np.float64], contributions: NDArray[np.float64]) -> tuple[str, ...]:
        reasons: list[str] = []
        subjects: set[str] = set()
        for i in np.argsort(-contributions):
            if contributions[i] < _MIN_CONTRIBUTION or len(reasons) == MAX_REASONS:
                break
            column = int(self._reason_columns[i])
            name = FEATURE_NAMES[column]
            phrase = describe_feature(name, float(features[column]), float(self._reference[i]))
            if phrase is not None and feature_subject(name) not in subjects:
                subjects.add(feature_subject(name))
                reasons.append(phrase)
        return tuple(reasons)


@dataclass(frozen=True, slots=True)
class _FlatForest:
    """The classifier's trees as flat arrays, walked for all trees and rows at once: sklearn's own predict walks
    tree by tree in Python and costs ~1 ms for one row. Leaves point to themselves, so extra steps are no-ops."""

    feature: NDArray[np.int64]
    threshold: NDArray[np.float64]
    missing_left: NDArray[np.bool_]
    children: NDArray[np.int64]  # node n's right child at 2n, left child at 2n + 1: indexed by "goes left"
    value: NDArray[np.float64]
    roots: NDArray[np.int64]
    depth: int
    baseline: float

    @classmethod
    def from_classifier(cls, classifier: Any) -> _FlatForest:
        trees = [predictors[0].nodes for predictors in classifier._predictors]  # binary: one tree per iteration
        offsets = np.cumsum([0, *(len(nodes) for nodes in trees)])[:-1]
        nodes = np.concatenate(trees)
        if np.any(nodes["is_categorical"]):
            raise ValueError("categorical splits are not supported by the live predictor")
        shift = np.repeat(offsets, [len(t) for t in trees])
        leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes), dtype=np.int64)
        return cls(
            feature=np.where(leaf, 0, nodes["feature_idx"]).astype(np.int64),
            threshold=np.where(leaf, np.inf, nodes["num_threshold"]).astype(np.float64),
            missing_left=np.where(leaf, True, nodes["missing_go_to_left"].astype(bool)),
            children=np.column_stack(
                [
                    np.where(leaf, own, nodes["right"].astype(np.int64) + shift),
                    np.where(leaf, own, nodes["left"].astype(np.int64) + shift),
                ]
            ).ravel(),
            value=np.where(leaf, nodes["value"], 0.0).astype(np.float64),
            roots=offsets.astype(np.int64),
            depth=int(nodes["depth"].max()) if len(nodes) else 0,
            baseline=float(np.ravel(classifier._baseline_prediction)[0]),
        )

    def raw(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raw log-odds of each row, equal to the classifier's decision_function."""
        flat = np.ascontiguousarray(rows, dtype=np.float64).ravel()
        row_start = (np.arange(len(rows), dtype=np.int64) * rows.shape[1])[:, None]
        node = np.broadcast_to(self.roots, (len(rows), len(self.roots)))
        for _ in range(self.depth):
            x = flat[row_start + self.feature[node]]
            # NaN compares False: it goes left only where the tree learnt that missing values go left.
            go_left = (x <= self.threshold[node]) | (np.isnan(x) & self.missing_left[node])
            node = self.children[2 * node + go_left]
        result: NDArray[np.float64] = self.baseline + self.value[node].sum(axis=1)
        return result
