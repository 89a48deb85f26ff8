"""The patient split (train, calibration, test) and the cross-validation folds of the training part."""

from __future__ import annotations

import numpy as np
import pytest

from models.split import Part, patient_folds, split_patients


def test_split_gives_each_patient_one_part_in_the_agreed_shares() -> None:
    part = split_patients(1000, seed=0)
    assert np.bincount(part).tolist() == [600, 200, 200]
    np.testing.assert_array_equal(part, split_patients(1000, seed=0))  # the same seed, the same patients
    assert (part != split_patients(1000, seed=1)).any()


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_folds_divide_the_training_part_into_disjoint_sets_of_whole_patients(folds: int) -> None:
    part = split_patients(1003, seed=4)
    fold = patient_folds(part, folds=folds, seed=4)
    assert (fold[part == Part.TEST] == -1).all()  # the test part is in no fold
    training = part != Part.TEST
    assert set(fold[training].tolist()) == set(range(folds))  # every other patient is in exactly one fold
    sizes = np.bincount(fold[training], minlength=folds)
    assert sizes.sum() == training.sum() and sizes.max() - sizes.min() <= 1
    for k in range(folds):  # each fold holds patients of both the train and the calibration part
        assert {Part.TRAIN, Part.CALIBRATION} <= set(part[fold == k].tolist())
    assert (fold != patient_folds(part, folds=folds, seed=5)).any()


def test_fewer_than_two_folds_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 folds, not 1"):
        patient_folds(split_patients(10, seed=0), folds=1, seed=0)
