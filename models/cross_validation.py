"""Patient-grouped K-fold cross-validation of the training recipe on a file's training part, judged as evaluate is."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.criteria import BOOTSTRAP_RESAMPLES, Criteria, ScoredRows, evaluate_criteria
from models.dataset import LabelledHours
from models.evaluate import scored_rows
from models.features import HourlyGrid, compute_features
from models.predict import RiskModel
from models.split import Part, patient_folds, split_patients
from models.stress import Stress, stressed
from models.train import MAX_ITER, TRIALS, fit_recipe

__all__ = ["CrossValidation", "FoldResult", "cross_validate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FoldResult:
    """One held-out fold, judged by a model fitted on the other folds (never on a patient of this one)."""

    fold: int
    train_patients: int  # of the other folds, in the file's train part: the trees are fitted on their rows
    calibration_patients: int  # of the other folds, in the calibration part: early stopping, trial, Platt, threshold
    held_out_patients: int  # with an eligible row
    rows: int
    chosen_trial: int
    criteria: Criteria
    stress: dict[str, Criteria] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Per fold, and pooled over every fold's held-out predictions (each patient held out once)."""

    folds: int
    seed: int
    training_part_patients: int  # the file's train and calibration parts: what the folds divide
    test_part_patients: int  # never read here
    per_fold: list[FoldResult]
    pooled: Criteria
    pooled_stress: dict[str, Criteria] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def cross_validate(
    hours: LabelledHours,
    *,
    folds: int,
    seed: int = 0,
    trials: Sequence[Mapping[str, Any]] = TRIALS,
    max_iter: int = MAX_ITER,
    resamples: int = BOOTSTRAP_RESAMPLES,
    stresses: Sequence[Stress] = (),
    progress: bool = False,
) -> CrossValidation:
    """K-fold CV on the patients `split_patients(.., seed)` keeps out of the test part.

    For each fold the recipe (models/train.py: fit_recipe) is fitted on the other folds' patients, each in the part
    the split gave it (train: trees; calibration: early stopping, trial choice, calibration), and the held-out fold
    is scored and judged by models/criteria.py beside NEWS2, also on each stressed copy of the file.
    """
    part = split_patients(hours.n_patients, seed)
    fold_of = patient_folds(part, folds=folds, seed=seed)
    rows = np.flatnonzero(hours.eligible & (fold_of[hours.patient] >= 0))
    features = compute_features(hours.grid, rows, progress=progress)
    row_patient = hours.patient[rows]
    row_fold, row_part = fold_of[row_patient], part[row_patient]
    grids = {kind: stressed(hours.grid, kind, seed=seed) for kind in stresses}
    per_fold: list[FoldResult] = []
    held_scores: dict[str, list[ScoredRows]] = {"": [], **{kind.value: [] for kind in stresses}}
    for fold in range(folds):
        held = row_fold == fold
        fitted = fit_recipe(
            features,
            hours.label[rows],
            hours.grid.hours_since_admission[rows],
            train=~held & (row_part == Part.TRAIN),
            calibration=~held & (row_part == Part.CALIBRATION),
            trials=trials,
            max_iter=max_iter,
            seed=seed,
            progress=progress,
        )
        model = RiskModel(fitted.artefact)
        scored = _held_out(hours, rows[held], features[held], model, grids, progress=progress)
        for kind, rows_scored in scored.items():
            held_scores[kind].append(rows_scored)
        other = fold_of[fold_of >= 0] != fold
        per_fold.append(
            FoldResult(
                fold=fold,
                train_patients=int((other & (part[fold_of >= 0] == Part.TRAIN)).sum()),
                calibration_patients=int((other & (part[fold_of >= 0] == Part.CALIBRATION)).sum()),
                held_out_patients=scored[""].n_patients,
                rows=len(scored[""].label),
                chosen_trial=fitted.chosen_trial,
                criteria=evaluate_criteria(scored[""], resamples=resamples, seed=seed),
                stress={
                    kind: evaluate_criteria(s, resamples=resamples, seed=seed) for kind, s in scored.items() if kind
                },
            )
        )
        logger.info("Fold %d of %d judged on %d patients", fold + 1, folds, scored[""].n_patients)
    pooled = {
        kind: evaluate_criteria(_pooled(parts), resamples=resamples, seed=seed) for kind, parts in held_scores.items()
    }
    return CrossValidation(
        folds=folds,
        seed=seed,
        training_part_patients=int((fold_of >= 0).sum()),
        test_part_patients=int((fold_of < 0).sum()),
        per_fold=per_fold,
        pooled=pooled.pop(""),
        pooled_stress=pooled,
    )


def _held_out(
    hours: LabelledHours,
    rows: NDArray[np.int64],
    features: NDArray[np.float64],
    model: RiskModel,
    grids: Mapping[Stress, HourlyGrid],
    *,
    progress: bool,
) -> dict[str, ScoredRows]:
    """The held-out rows scored as charted ("") and as each stressed copy charts them, patients numbered 0..."""
    patient = np.unique(hours.patient[rows], return_inverse=True)[1].astype(np.int64)
    scored = {"": scored_rows(hours, rows, patient, features, model)[0]}
    for kind, grid in grids.items():
        scored[kind.value] = scored_rows(hours, rows, patient, compute_features(grid, rows, progress=progress), model)[
            0
        ]
    return scored


def _pooled(parts: Sequence[ScoredRows]) -> ScoredRows:
    """The folds' held-out rows as one set: each patient keeps its rows together, numbered after earlier folds'."""
    offsets = np.cumsum([0, *(p.n_patients for p in parts)])
    return ScoredRows(
        patient=np.concatenate([p.patient + offset for p, offset in zip(parts, offsets, strict=False)]),
        iculos=np.concatenate([p.iculos for p in parts]),
        label=np.concatenate([p.label for p in parts]),
        score=np.concatenate([p.score for p in parts]),
        news2=np.concatenate([p.news2 for p in parts]),
        n_patients=int(offsets[-1]),
    )
