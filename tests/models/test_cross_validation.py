"""Cross-validation of the training recipe: patient-grouped folds of the training part, judged as evaluate judges."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest

from models.criteria import Comparison, Criteria
from models.cross_validation import CrossValidation, FoldResult, cross_validate
from models.split import Part, patient_folds, split_patients
from models.stress import Stress
from tests.models.conftest import TINY_TRIAL, synthetic_hours
from vaktrom.model_criteria import finite_json

_FOLDS = 3
_SEED = 2


@pytest.fixture(scope="module")
def cv() -> CrossValidation:
    # Septic patients' vitals drift for 18 h before onset (conftest): a signal NEWS2 sees only hour by hour.
    return cross_validate(
        synthetic_hours(300, seed=3),
        folds=_FOLDS,
        seed=_SEED,
        trials=[TINY_TRIAL],
        max_iter=60,
        resamples=200,
        stresses=[Stress.THIN],
    )


def test_every_training_part_patient_is_held_out_once_and_the_test_part_never(cv: CrossValidation) -> None:
    part = split_patients(300, _SEED)
    assert (cv.training_part_patients, cv.test_part_patients) == ((part != Part.TEST).sum(), (part == Part.TEST).sum())
    folds = np.bincount(patient_folds(part, folds=_FOLDS, seed=_SEED)[part != Part.TEST])
    # Every synthetic patient has eligible rows (onset at hour 30 or later), so each is judged in its fold.
    assert [f.held_out_patients for f in cv.per_fold] == folds.tolist()
    assert cv.pooled.patients == sum(f.held_out_patients for f in cv.per_fold) == cv.training_part_patients
    for fold in cv.per_fold:  # fitted on the other folds' patients, each in its own part of the split
        assert fold.train_patients + fold.calibration_patients + fold.held_out_patients == cv.training_part_patients
        assert fold.train_patients > 2 * fold.calibration_patients > 0


def test_output_has_every_criterion_per_fold_and_pooled_also_under_stress(cv: CrossValidation) -> None:
    report = json.loads(json.dumps(finite_json(cv.as_json()), allow_nan=False))
    assert {f.name for f in fields(CrossValidation)} == report.keys()
    assert (report["folds"], report["seed"], len(report["per_fold"])) == (_FOLDS, _SEED, _FOLDS)
    assert {f.name for f in fields(FoldResult)} == report["per_fold"][0].keys()
    judged = [report["pooled"], report["pooled_stress"]["thin"]]
    judged += [f["criteria"] for f in report["per_fold"]] + [f["stress"]["thin"] for f in report["per_fold"]]
    for criteria in judged:
        assert {f.name for f in fields(Criteria)} == criteria.keys()
        assert criteria["resamples"] == 200
        for name in ("same_hour_auroc", "auroc_iculos_le_48", "early_onset_alerted_share"):
            assert {f.name for f in fields(Comparison)} == criteria[name].keys()
            assert criteria[name]["model"] is not None and criteria[name]["news2"] is not None, name
            assert criteria[name]["difference_ci"] is not None, name


def test_a_model_trained_on_a_drift_beats_news2_on_held_out_patients(cv: CrossValidation) -> None:
    # The drift's 6 h and 24 h summaries rank the hours before onset above NEWS2's hour-by-hour total; a model
    # that learnt nothing (or was judged on the wrong rows) would not clear NEWS2 with its paired CI above 0.
    for name in ("same_hour_auroc", "auroc_iculos_le_48"):
        pooled: Comparison = getattr(cv.pooled, name)
        assert pooled.difference is not None and pooled.difference_ci is not None
        assert pooled.difference > 0 and pooled.difference_ci[0] > 0, (name, pooled)
        for fold in cv.per_fold:
            assert getattr(fold.criteria, name).difference > 0, (name, fold.fold)
