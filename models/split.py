"""Which patients of a file train, calibrate and test the risk model, and the folds of its cross-validation."""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

__all__ = ["SPLIT", "Part", "patient_folds", "split_patients"]

# Patients, not rows, are split: 60 % train, 20 % calibration (early stopping, trial choice, calibration, threshold),
# 20 % test (reported only).
SPLIT = (0.6, 0.2, 0.2)
# Folds are dealt from a random stream of their own, so they do not echo the order of the split's permutation.
_FOLD_STREAM = 1


class Part(IntEnum):
    TRAIN = 0
    CALIBRATION = 1
    TEST = 2


def split_patients(n_patients: int, seed: int) -> NDArray[np.int64]:
    """The Part of each patient number 0..n_patients-1 (patients numbered in file order)."""
    order = np.random.default_rng(seed).permutation(n_patients)
    part = np.empty(n_patients, dtype=np.int64)
    cut_train, cut_cal = int(SPLIT[0] * n_patients), int((SPLIT[0] + SPLIT[1]) * n_patients)
    part[order[:cut_train]], part[order[cut_train:cut_cal]], part[order[cut_cal:]] = (
        Part.TRAIN,
        Part.CALIBRATION,
        Part.TEST,
    )
    return part


def patient_folds(part: NDArray[np.int64], *, folds: int, seed: int) -> NDArray[np.int64]:
    """The fold 0..folds-1 of each patient outside the test part (as even as whole patients allow), -1 in it."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, not {folds}")
    outside = np.flatnonzero(part != Part.TEST)
    fold = np.full(len(part), -1, dtype=np.int64)
    fold[np.random.default_rng((seed, _FOLD_STREAM)).permutation(outside)] = np.arange(len(outside)) % folds
    return fold
