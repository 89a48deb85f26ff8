"""One patient's live history as the feature function's hourly grid, for one patient or a batch of them.

The live pipeline reads the store's hourly means (plus oxygen chartings, which are carried forward) and the tests
and the offline tools read raw readings; both become a `PatientHistory` of plain arrays, and `hourly_grid` lays
any number of them out as one stacked `HourlyGrid` for `compute_features`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from core.types import HourlyMean, Parameter
from models.features import FEATURE_NAMES, GRID_HOURS, VITALS, FloatArray, HourlyGrid, compute_features

__all__ = ["PatientHistory", "ReadingLike", "features_from_history", "features_of_histories", "hourly_grid"]

_SECONDS_PER_HOUR = 3600.0
_OXYGEN, _IGNORED = -1, -2  # sample columns that are not vital signs
_SAMPLE_COLUMN: dict[Parameter, int] = {
    **{vital: j for j, vital in enumerate(VITALS)},
    Parameter.SUPPLEMENTAL_O2: _OXYGEN,
}


class ReadingLike(Protocol):
    @property
    def parameter(self) -> Parameter: ...

    @property
    def value(self) -> float: ...

    @property
    def measured_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class PatientHistory:
    """What one patient's live update reads, as arrays: each sample's grid column (a vital sign, oxygen or ignored),
    value and age in seconds before `now`. The samples cover the last GRID_HOURS hours and, because oxygen is carried
    forward, the latest oxygen charting before them."""

    columns: NDArray[np.int64]
    values: FloatArray
    ages_s: FloatArray
    now: datetime
    age_years: float | None
    male: bool | None
    admitted_at: datetime

    @classmethod
    def from_readings(
        cls,
        samples: Sequence[ReadingLike],
        *,
        now: datetime,
        age_years: float | None,
        male: bool | None,
        admitted_at: datetime,
    ) -> PatientHistory:
        # A list per field beats a list of tuples by ~2x: this runs for every reading of every live update.
        column = _SAMPLE_COLUMN.get
        return cls(
            columns=np.array([column(s.parameter, _IGNORED) for s in samples], dtype=np.int64),
            values=np.array([s.value for s in samples], dtype=np.float64),
            ages_s=np.array([(now - s.measured_at).total_seconds() for s in samples], dtype=np.float64),
            now=now,
            age_years=age_years,
            male=male,
            admitted_at=admitted_at,
        )

    @classmethod
    def from_hourly_means(
        cls,
        means: Sequence[HourlyMean],
        oxygen: Sequence[ReadingLike],
        *,
        now: datetime,
        age_years: float | None,
        male: bool | None,
        admitted_at: datetime,
    ) -> PatientHistory:
        """The store's hourly means (bucket k ending k hours before `now`) plus raw oxygen chartings. A mean counts
        as one sample in the middle of its bucket, so it lands in the same grid row that its readings would have."""
        charted = cls.from_readings(oxygen, now=now, age_years=age_years, male=male, admitted_at=admitted_at)
        column = _SAMPLE_COLUMN.get
        hours_ago = np.array([m.hours_ago for m in means], dtype=np.float64)
        return cls(
            columns=np.concatenate([[column(m.parameter, _IGNORED) for m in means], charted.columns]).astype(np.int64),
            values=np.concatenate([[m.mean for m in means], charted.values]).astype(np.float64),
            ages_s=np.concatenate([(hours_ago + 0.5) * _SECONDS_PER_HOUR, charted.ages_s]),
            now=now,
            age_years=age_years,
            male=male,
            admitted_at=admitted_at,
        )


def hourly_grid(histories: Sequence[PatientHistory]) -> HourlyGrid:
    """Each patient's last GRID_HOURS hours before its `now`, stacked; a patient's row r covers
    (now-(n-r) h, now-(n-1-r) h]. Several values in one hour are averaged; readings from the future (clock skew)
    belong to a later update. All patients at once: the cost per patient falls with the batch size."""
    rows, n = GRID_HOURS, len(histories)
    patient = np.repeat(np.arange(n, dtype=np.int64), [len(h.values) for h in histories])
    column = np.concatenate([h.columns for h in histories]) if n else np.empty(0, np.int64)
    value = np.concatenate([h.values for h in histories]) if n else np.empty(0)
    age_s = np.concatenate([h.ages_s for h in histories]) if n else np.empty(0)
    usable = (age_s >= 0) & np.isfinite(value)
    row = rows - 1 - np.floor_divide(age_s, _SECONDS_PER_HOUR).astype(np.int64)
    vital = usable & (column >= 0) & (row >= 0)
    # bincount adds each cell's values in the order given, as a loop would: the same float sums as training.
    size = n * rows * len(VITALS)
    cells = (patient[vital] * rows + row[vital]) * len(VITALS) + column[vital]
    sums = np.bincount(cells, weights=value[vital], minlength=size)
    counts = np.bincount(cells, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        vitals = (sums / counts).reshape(n * rows, len(VITALS))
    oxygen = usable & (column == _OXYGEN)
    hours_now = np.array(
        [max(1.0, math.ceil((h.now - h.admitted_at).total_seconds() / _SECONDS_PER_HOUR)) for h in histories]
    )
    return HourlyGrid(
        vitals=vitals,
        on_oxygen=_hourly_oxygen(n, patient[oxygen], row[oxygen], age_s[oxygen], value[oxygen]),
        age_years=_per_row([math.nan if h.age_years is None else h.age_years for h in histories]),
        male=_per_row([math.nan if h.male is None else float(h.male) for h in histories]),
        hours_since_admission=(hours_now[:, None] - np.arange(rows - 1, -1, -1, dtype=np.float64)).ravel(),
        first_row=np.repeat(np.arange(n, dtype=np.int64) * rows, rows),
    )


def features_of_histories(histories: Sequence[PatientHistory]) -> FloatArray:
    """Features of many patients at their `now`s, shape (len(histories), len(FEATURE_NAMES)), each row the same as
    a training row at that hour. One numpy pass for all of them: per patient the cost falls with the batch size."""
    if not histories:
        return np.empty((0, len(FEATURE_NAMES)))
    last_rows = np.arange(1, len(histories) + 1, dtype=np.int64) * GRID_HOURS - 1
    return compute_features(hourly_grid(histories), last_rows)


def features_from_history(
    samples: Sequence[ReadingLike],
    *,
    now: datetime,
    age_years: float | None,
    male: bool | None,
    admitted_at: datetime,
) -> FloatArray:
    """Features of one patient at `now` (shape (len(FEATURE_NAMES),)), the same as a training row at that hour."""
    history = PatientHistory.from_readings(samples, now=now, age_years=age_years, male=male, admitted_at=admitted_at)
    row: FloatArray = features_of_histories([history])[0]
    return row


def _per_row(per_patient: list[float]) -> FloatArray:
    return np.repeat(np.array(per_patient, dtype=np.float64), GRID_HOURS)


def _hourly_oxygen(
    n_patients: int, patient: NDArray[np.int64], row: NDArray[np.int64], age_s: FloatArray, value: FloatArray
) -> FloatArray:
    """Oxygen charted per grid row (the hour's last charting wins; on a tie, the one given last); a patient's row 0
    falls back on the latest charting before the grid (on a tie, the one given first), which carrying forward then
    extends."""
    oxygen = np.full(n_patients * GRID_HOURS, np.nan)
    order = np.arange(len(row))
    inside = row >= 0
    # Sorted by cell, then time, then order given: the last entry of each cell is the one that counts.
    cell = patient * GRID_HOURS + row
    ranked = np.lexsort((order[inside], -age_s[inside], cell[inside]))
    sorted_cell = cell[inside][ranked]
    last = np.r_[sorted_cell[1:] != sorted_cell[:-1], True] if len(sorted_cell) else np.zeros(0, dtype=bool)
    oxygen[sorted_cell[last]] = value[inside][ranked][last]
    before = ~inside
    # Per patient, the latest charting before the grid: sorted by patient, then age, then order, the first counts.
    ranked = np.lexsort((order[before], age_s[before], patient[before]))
    seed_patient, first = np.unique(patient[before][ranked], return_index=True)
    seed_row = seed_patient * GRID_HOURS
    unset = np.isnan(oxygen[seed_row])
    oxygen[seed_row[unset]] = value[before][ranked][first][unset]
    return oxygen
