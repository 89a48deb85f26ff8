"""Stress tests of charting habits: the same patients, charted differently. A model that learnt how often (or when) a
ward measures, rather than what it measured, falls here; one that reads the vital signs themselves should not.

- `thin`: each vital-sign value (and oxygen charting) is kept with probability THIN_KEEP, as on a ward that charts
  every few hours instead of hourly.
- `late-admission`: the clock of time since admission starts ADMISSION_SHIFT_MAX_H or fewer hours (uniform, per
  patient) earlier, as where patients come from another ward or the admission is charted late. ICU-hour patterns
  (in PhysioNet 2019 record length itself) do not carry over; the criteria still compare rows at the true ICU hour.
- `shuffle-missing`: within each patient and vital sign, the hours that have a value are moved to as many hours
  drawn at random from the same record; each keeps the patient's own latest real value at or before it (the first
  one before any). The count of measurements stays, their timing (which carries a nurse's concern) does not.

NEWS2 is recomputed from the stressed record too, so the comparison stays paired.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from models.features import FloatArray, HourlyGrid

__all__ = ["ADMISSION_SHIFT_MAX_H", "THIN_KEEP", "Stress", "stressed"]

ADMISSION_SHIFT_MAX_H = 48.0  # up to two days: as long as the first two ICU days the criteria look at
# One value in three: hourly ICU charting becomes roughly three-hourly, like a ward round or a home spot check.
THIN_KEEP = 1.0 / 3.0


class Stress(StrEnum):
    THIN = "thin"
    SHUFFLE_MISSING = "shuffle-missing"
    LATE_ADMISSION = "late-admission"


def stressed(grid: HourlyGrid, stress: Stress, *, seed: int = 0) -> HourlyGrid:
    """A copy of `grid` charted as `stress` says (the same seed gives the same copy)."""
    rng = np.random.default_rng(seed)
    if stress is Stress.LATE_ADMISSION:
        shift = np.floor(rng.uniform(0, ADMISSION_SHIFT_MAX_H + 1, len(grid.first_row)))[grid.first_row]
        return replace(grid, hours_since_admission=grid.hours_since_admission + shift)
    series = np.column_stack([grid.vitals, grid.on_oxygen])
    if stress is Stress.THIN:
        series = np.where(rng.random(series.shape) < THIN_KEEP, series, np.nan)
    else:
        series = np.column_stack([_shuffle_missing(series[:, j], grid.first_row, rng) for j in range(series.shape[1])])
    return replace(grid, vitals=series[:, :-1], on_oxygen=series[:, -1])


def _shuffle_missing(values: FloatArray, first_row: NDArray[np.int64], rng: np.random.Generator) -> FloatArray:
    # A permutation inside each patient's block of rows: sort by (patient, random key).
    within = np.lexsort((rng.random(len(values)), first_row))
    measured = ~np.isnan(values)
    moved = measured[within]
    filled = _carried_both_ways(values, first_row)
    result: FloatArray = np.where(moved, filled, np.nan)
    return result


def _carried_both_ways(values: FloatArray, first_row: NDArray[np.int64]) -> FloatArray:
    """Each row's latest value at or before it within the patient, else the patient's first value after it."""
    index = np.arange(len(values), dtype=np.int64)
    has = ~np.isnan(values)
    latest = np.maximum.accumulate(np.where(has, index, -1))
    following = np.minimum.accumulate(np.where(has, index, len(values))[::-1])[::-1]
    starts = np.flatnonzero(np.r_[True, first_row[1:] != first_row[:-1]])
    ends = np.r_[starts[1:], len(values)]
    patient_end = np.repeat(ends, ends - starts)
    padded = np.r_[values, np.nan]
    result: FloatArray = np.where(
        latest >= first_row, padded[np.maximum(latest, 0)], np.where(following < patient_end, padded[following], np.nan)
    )
    return result
