"""The one feature function of the risk model, shared by training (whole files) and live serving (one patient).

Both paths first build an `HourlyGrid` (one row per patient-hour, NaN where nothing was measured; training in
models/dataset.py, live in models/history.py) and then call `compute_features`, which only ever looks back
`GRID_HOURS` rows inside the same patient. A live grid of that many rows ending now therefore yields exactly the
features a training row gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.types import Parameter
from models.severity import SEVERITY_FEATURES, severity_features
from scoring.rounding import round_half_up_array

FloatArray = NDArray[np.float64]

__all__ = [
    "ADMISSION_HOURS_CAP",
    "CORE_VITALS",
    "FEATURE_NAMES",
    "GRID_HOURS",
    "MIN_CORE_VITALS",
    "VITALS",
    "HourlyGrid",
    "compute_features",
    "has_enough_data",
]

# Vital signs the model reads, as vaktrom receives them. MAP is left out on purpose: no device of a municipal unit
# sends it (there is no Parameter for it), so a model leaning on it would see it missing on every live update.
VITALS: tuple[Parameter, ...] = (
    Parameter.PULSE,
    Parameter.SPO2,
    Parameter.TEMPERATURE,
    Parameter.SYSTOLIC_BP,
    Parameter.DIASTOLIC_BP,
    Parameter.RESP_RATE,
)
# "Too little data": fewer than MIN_CORE_VITALS of these seen in the last RECENT_HOURS. Two, because one vital alone
# (e.g. a pulse oximeter's pulse) says nothing about trends across systems.
CORE_VITALS: tuple[Parameter, ...] = (
    Parameter.PULSE,
    Parameter.SPO2,
    Parameter.TEMPERATURE,
    Parameter.SYSTOLIC_BP,
    Parameter.RESP_RATE,
)
MIN_CORE_VITALS = 2
RECENT_HOURS = 12
# Rolling windows: 3 h catches an acute change, 12 h a slow drift over a nursing shift and a half, and the 24 h mean
# is the patient's own baseline that the last value is compared with.
WINDOWS_H: tuple[int, ...] = (3, 6, 12, 24)
BASELINE_HOURS = 24
TREND_WINDOWS_H: tuple[int, ...] = (6, 12, 24)  # min, max and slope
# A last value stays "current" for 12 h: hourly in the ICU, but a temperature is often charted only every 4-8 h.
LAST_VALUE_HOURS = 12
# "Hours since last measurement" saturates here; older is as good as never.
SINCE_CAP_H = 24
NEWS2_CHANGE_H = 6
# The patient's own earlier state: the first, lowest and highest value of the last two days (the admission values
# while the stay is younger). Deviation from one's own baseline transfers across hospitals better than absolute
# values, which differ with case mix and devices.
LONG_BASELINE_HOURS = 48
# Worst (and best) NEWS2 over recent windows: a score that touched 5 an hour ago still counts.
NEWS2_WINDOWS_H: tuple[int, ...] = (6, 12, 24)
SHOCK_INDEX_TREND_H = 12  # hour-by-hour pulse / systolic BP: its slope and highest value
# Time since admission counts only the first day. In setA it is a record-length artefact beyond that: non-septic
# records stop by hour 60 (99 % by hour 59, median 39) while septic ones run for weeks, so "still here at hour 50"
# all but says "septic". A model that learnt it (cap 72 h) flagged a stable patient with normal vital signs after
# 64 h in the unit: in a municipal bed with stays of weeks, nearly every patient. Capped at one day it keeps only
# "just admitted" (often admitted because unwell); grouped cross-validated AUROC falls from 0.767 to 0.710, which is
# what that artefact was worth.
ADMISSION_HOURS_CAP = 24.0
AGE_CENSOR_YEARS = 89.0  # PhysioNet censors ages >= 89 (set B writes 100): clip everyone to the same value
# Rows a live grid needs: every look-back above (the NEWS2 change needs last values 6 h ago, which look back 12 h).
# Rows a live grid needs: every look-back above. A NEWS2 k hours ago rests on last values up to 11 h before it.
GRID_HOURS = (
    max(
        SINCE_CAP_H,
        BASELINE_HOURS,
        LONG_BASELINE_HOURS,
        NEWS2_CHANGE_H + LAST_VALUE_HOURS,
        max(NEWS2_WINDOWS_H) + LAST_VALUE_HOURS - 1,
    )
    + 1
)

_POINT_STATS: tuple[str, ...] = ("last", "hours_since")
_WINDOW_STATS: tuple[str, ...] = (
    *(f"mean_{w}h" for w in WINDOWS_H),
    *(f"{kind}_{w}h" for w in TREND_WINDOWS_H for kind in ("min", "max")),
    *(f"slope_{w}h" for w in TREND_WINDOWS_H),
    f"std_{RECENT_HOURS}h",
    f"change_from_{BASELINE_HOURS}h_mean",
)
# No "measurements per 12 h": in the ICU data how often a nurse charts says how worried she is, but a bedside monitor
# sends on a fixed schedule, so the model would learn a habit that does not exist where it is used (at home a spot
# check's timing does carry concern, but the ICU's charting habit is not that signal). It did not help anyway: 0.764
# against 0.767 without, in patient-grouped cross-validation on setA's training patients.
_NEWS2_SCORED: tuple[Parameter, ...] = (
    Parameter.RESP_RATE,
    Parameter.SPO2,
    Parameter.SUPPLEMENTAL_O2,
    Parameter.SYSTOLIC_BP,
    Parameter.PULSE,
    Parameter.TEMPERATURE,
)
_NEWS2_NUMERIC: tuple[Parameter, ...] = tuple(p for p in _NEWS2_SCORED if p is not Parameter.SUPPLEMENTAL_O2)
# The NEWS2 chart (NEWS2.md): inclusive upper edge of each band on the charted value, and the band's score.
_NEWS2_BANDS: dict[Parameter, tuple[FloatArray, FloatArray]] = {
    p: (np.array(edges, dtype=np.float64), np.array(scores, dtype=np.float64))
    for p, edges, scores in (
        (Parameter.RESP_RATE, (8, 11, 20, 24), (3, 1, 0, 2, 3)),
        (Parameter.SPO2, (91, 93, 95), (3, 2, 1, 0)),
        (Parameter.SYSTOLIC_BP, (90, 100, 110, 219), (3, 2, 1, 0, 3)),
        (Parameter.PULSE, (40, 50, 90, 110, 130), (3, 1, 0, 1, 2, 3)),
        (Parameter.TEMPERATURE, (35.0, 36.0, 38.0, 39.0), (3, 1, 0, 1, 2)),
    )
}
_WHOLE_NUMBER_ROWS: tuple[Parameter, ...] = (
    Parameter.RESP_RATE,
    Parameter.SPO2,
    Parameter.SYSTOLIC_BP,
    Parameter.PULSE,
)

# Point features need only each vital's latest value, so they are computed for every row of a grid at once.
_POINT_FEATURES: tuple[str, ...] = (
    *(f"{vital.value}_{stat}" for vital in VITALS for stat in _POINT_STATS),
    "shock_index",
    "pulse_pressure_mmhg",
    *(f"news2_{p.value}" for p in _NEWS2_SCORED),
    "news2_total",
    "news2_parameters_present",
    f"news2_total_change_{NEWS2_CHANGE_H}h",
    *(f"news2_{p.value}_change_{NEWS2_CHANGE_H}h" for p in _NEWS2_NUMERIC),
    "on_oxygen",
    "age_years",
    "male",
    "hours_since_admission",
    f"core_vitals_seen_{RECENT_HOURS}h",
)
_LONG_STATS: tuple[str, ...] = (
    f"mean_{LONG_BASELINE_HOURS}h",
    *(f"change_from_{kind}_{LONG_BASELINE_HOURS}h" for kind in ("first", "min", "max")),
)
_NEWS2_WINDOW_STATS: tuple[str, ...] = (
    *(f"max_{w}h" for w in NEWS2_WINDOWS_H),
    f"min_{max(NEWS2_WINDOWS_H)}h",
    f"mean_{max(NEWS2_WINDOWS_H)}h",
)
# Window features look back GRID_HOURS rows: computed in chunks of rows (training) or for one row (live).
_WINDOW_FEATURES: tuple[str, ...] = (
    *(f"{vital.value}_{stat}" for stat in _WINDOW_STATS for vital in VITALS),
    "shock_index_mean_6h",
    *(f"{vital.value}_{stat}" for stat in _LONG_STATS for vital in VITALS),
    f"shock_index_slope_{SHOCK_INDEX_TREND_H}h",
    f"shock_index_max_{SHOCK_INDEX_TREND_H}h",
    *(f"news2_total_{stat}" for stat in _NEWS2_WINDOW_STATS),
    *(f"news2_{p.value}_max_{max(NEWS2_WINDOWS_H)}h" for p in _NEWS2_NUMERIC),
)
# The severity features (models/severity.py) come last: an artefact names the features it reads, so one trained
# before they existed still loads.
FEATURE_NAMES: tuple[str, ...] = (*_POINT_FEATURES, *_WINDOW_FEATURES, *SEVERITY_FEATURES)
_ENOUGH_DATA_COLUMN = FEATURE_NAMES.index(f"core_vitals_seen_{RECENT_HOURS}h")
_CHUNK_ROWS = 8_192  # bounds the (rows, series, GRID_HOURS) look-back arrays to ~40 MB each


@dataclass(frozen=True, slots=True)
class HourlyGrid:
    """Patient-hours, patients stacked one after another, each patient's rows consecutive hours in time order."""

    vitals: FloatArray  # (rows, len(VITALS)): mean of the hour's values; NaN when nothing was measured
    on_oxygen: FloatArray  # (rows,): 1.0 oxygen, 0.0 air, NaN not charted that hour (carried forward later)
    age_years: FloatArray  # (rows,)
    male: FloatArray  # (rows,): 1.0 male, 0.0 female, NaN unknown
    hours_since_admission: FloatArray  # (rows,): PhysioNet's ICULOS; 1 in the first hour
    first_row: NDArray[np.int64]  # (rows,): index of the first row of the same patient


def compute_features(grid: HourlyGrid, rows: NDArray[np.int64] | None = None, *, progress: bool = False) -> FloatArray:
    """Features of `rows` of `grid` (default: all), shape (len(rows), len(FEATURE_NAMES)); NaN where unknown."""
    wanted = np.arange(len(grid.first_row), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    point, last, series = _point_features(grid)
    out = np.empty((len(wanted), len(FEATURE_NAMES)))
    starts = range(0, len(wanted), _CHUNK_ROWS)
    if progress:
        from tqdm import tqdm  # only the offline commands show progress

        starts = tqdm(starts, desc="features", unit="chunk")
    for start in starts:
        chunk = wanted[start : start + _CHUNK_ROWS]
        out[start : start + len(chunk), : len(_POINT_FEATURES)] = point[chunk]
        out[start : start + len(chunk), len(_POINT_FEATURES) :] = _window_features(grid, chunk, last[chunk], series)
    out[~np.isfinite(out)] = np.nan  # a zero systolic BP must not become an infinite shock index
    return out


def has_enough_data(features: FloatArray) -> NDArray[np.bool_]:
    """Per row: at least MIN_CORE_VITALS core vital signs seen in the last RECENT_HOURS hours."""
    enough: NDArray[np.bool_] = np.atleast_2d(features)[:, _ENOUGH_DATA_COLUMN] >= MIN_CORE_VITALS
    return enough


_VITAL_COLUMN: dict[Parameter, int] = {vital: j for j, vital in enumerate(VITALS)}


def _point_features(grid: HourlyGrid) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The _POINT_FEATURES of every row, each vital's last value (rows, len(VITALS)), and the hourly series the
    window features summarise (rows, len(_SERIES)): the vitals, the hour's shock index, NEWS2 and its sub-scores."""
    n_rows = len(grid.first_row)
    index = np.arange(n_rows, dtype=np.int64)[:, None]
    latest = np.maximum.accumulate(np.where(np.isnan(grid.vitals), -1, index), axis=0)
    measured = latest >= grid.first_row[:, None]
    hours_ago = index - latest
    columns = np.arange(len(VITALS))
    last = np.where(measured & (hours_ago < LAST_VALUE_HOURS), grid.vitals[np.maximum(latest, 0), columns], np.nan)
    hours_since = np.where(measured, np.minimum(hours_ago, SINCE_CAP_H), SINCE_CAP_H).astype(np.float64)
    by_vital = {vital: last[:, j] for j, vital in enumerate(VITALS)}
    on_oxygen = _carry_forward(grid.on_oxygen, grid.first_row)
    core = [VITALS.index(v) for v in CORE_VITALS]
    sub_scores = _news2_sub_scores(by_vital, on_oxygen)
    news2, known_total = _news2_columns(sub_scores, grid.first_row)
    with np.errstate(divide="ignore", invalid="ignore"):
        shock_index = by_vital[Parameter.PULSE] / by_vital[Parameter.SYSTOLIC_BP]
        hourly_shock_index = (
            grid.vitals[:, _VITAL_COLUMN[Parameter.PULSE]] / grid.vitals[:, _VITAL_COLUMN[Parameter.SYSTOLIC_BP]]
        )
    point = np.column_stack(
        [
            np.stack([last, hours_since], axis=2).reshape(n_rows, -1),  # vital by vital: last, hours_since
            shock_index,
            by_vital[Parameter.SYSTOLIC_BP] - by_vital[Parameter.DIASTOLIC_BP],
            *news2,
            on_oxygen,
            np.minimum(grid.age_years, AGE_CENSOR_YEARS),
            grid.male,
            np.minimum(grid.hours_since_admission, ADMISSION_HOURS_CAP),
            (~np.isnan(last[:, core])).sum(axis=1).astype(np.float64),
        ]
    )
    series = np.column_stack(
        [
            grid.vitals,
            np.where(np.isfinite(hourly_shock_index), hourly_shock_index, np.nan),
            known_total,
            *(sub_scores[p] for p in _NEWS2_NUMERIC),
        ]
    )
    return point, last, series


# What _window_stats computes per series: the vital signs' statistics (mean_6h also for the shock index of the means).
_VITAL_WINDOW_STATS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            *(name for name in _WINDOW_STATS if not name.startswith("change_from")),
            "mean_6h",
            f"mean_{BASELINE_HOURS}h",
            *(f"{kind}_{LONG_BASELINE_HOURS}h" for kind in ("mean", "first", "min", "max")),
        ]
    )
)
_SHOCK_WINDOW_STATS: tuple[str, ...] = (f"slope_{SHOCK_INDEX_TREND_H}h", f"max_{SHOCK_INDEX_TREND_H}h")
# Columns of the hourly series: the vitals first (as in VITALS), then these.
_SHOCK_SERIES = len(VITALS)
_NEWS2_SERIES = len(VITALS) + 1


def _window_features(grid: HourlyGrid, rows: NDArray[np.int64], last: FloatArray, series: FloatArray) -> FloatArray:
    """The _WINDOW_FEATURES of `rows`, from a (rows, series, GRID_HOURS) look-back where [.., k] is k hours ago."""
    lag_rows = rows[:, None] - np.arange(GRID_HOURS, dtype=np.int64)[None, :]
    inside = lag_rows >= grid.first_row[rows][:, None]
    lagged = np.where(inside[:, None, :], series[np.maximum(lag_rows, 0)].transpose(0, 2, 1), np.nan)
    longest = max(NEWS2_WINDOWS_H)
    # Each series only as far back as its features look: the cumulative sums below are most of the cost.
    stats = _window_stats(lagged[:, : len(VITALS)], _VITAL_WINDOW_STATS)
    shock = _window_stats(lagged[:, _SHOCK_SERIES : _SHOCK_SERIES + 1, :SHOCK_INDEX_TREND_H], _SHOCK_WINDOW_STATS)
    news2 = _window_stats(lagged[:, _NEWS2_SERIES:, :longest], (*_NEWS2_WINDOW_STATS, f"max_{longest}h"))
    stats[f"change_from_{BASELINE_HOURS}h_mean"] = last - stats[f"mean_{BASELINE_HOURS}h"]
    for kind in ("first", "min", "max"):
        name = f"change_from_{kind}_{LONG_BASELINE_HOURS}h"
        stats[name] = last - stats[f"{kind}_{LONG_BASELINE_HOURS}h"]
    mean_6h = stats["mean_6h"]
    with np.errstate(divide="ignore", invalid="ignore"):
        shock_index_mean_6h = (
            mean_6h[:, VITALS.index(Parameter.PULSE)] / mean_6h[:, VITALS.index(Parameter.SYSTOLIC_BP)]
        )
    return np.column_stack(
        [
            *(stats[name] for name in _WINDOW_STATS),
            shock_index_mean_6h,
            *(stats[name] for name in _LONG_STATS),
            shock[f"slope_{SHOCK_INDEX_TREND_H}h"][:, 0],
            shock[f"max_{SHOCK_INDEX_TREND_H}h"][:, 0],
            *(news2[name][:, 0] for name in _NEWS2_WINDOW_STATS),
            news2[f"max_{longest}h"][:, 1:],
            severity_features(lagged[:, : len(VITALS)], last, VITALS, _window_stats),
        ]
    )


def _window_stats(lagged: FloatArray, wanted: Sequence[str]) -> dict[str, FloatArray]:
    """The `wanted` statistics ("{kind}_{w}h": mean, min, max, least-squares slope per hour, SD, or the first, i.e.
    earliest, value in the last w hours, now included), each of shape (rows, series). Only what is asked for is
    computed: for one live row the cost is the number of numpy calls, not their size."""
    kinds = {name.rsplit("_", 1)[0] for name in wanted}
    seen = ~np.isnan(lagged)
    x = np.where(seen, lagged, 0.0)
    # Running sums along the look-back: column w-1 holds the sum over the last w hours.
    n, sum_x = np.cumsum(seen, axis=2, dtype=np.float64), np.cumsum(x, axis=2)
    if "slope" in kinds:
        t = np.where(seen, -np.arange(lagged.shape[2], dtype=np.float64), 0.0)  # hours relative to now
        sum_t, sum_tt, sum_tx = np.cumsum(t, axis=2), np.cumsum(t * t, axis=2), np.cumsum(t * x, axis=2)
    if "std" in kinds:
        sum_xx = np.cumsum(x * x, axis=2)
    if "min" in kinds:
        running_min = np.fmin.accumulate(lagged, axis=2)
    if "max" in kinds:
        running_max = np.fmax.accumulate(lagged, axis=2)
    if "first" in kinds:  # the earliest value seen so far along the look-back
        oldest_seen = np.maximum.accumulate(np.where(seen, np.arange(lagged.shape[2], dtype=np.int64), -1), axis=2)
        earliest = np.take_along_axis(lagged, np.maximum(oldest_seen, 0), axis=2)
        earliest = np.where(oldest_seen >= 0, earliest, np.nan)
    # One set of numpy calls per kind for all its windows at once: for a live row, calls are the cost.
    windows: dict[str, list[str]] = {}
    for name in wanted:
        windows.setdefault(name.rsplit("_", 1)[0], []).append(name)
    stats: dict[str, FloatArray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for kind, names in windows.items():
            k = np.array([int(name.rsplit("_", 1)[1].removesuffix("h")) - 1 for name in names])
            if kind == "mean":
                values = np.where(n[..., k] > 0, sum_x[..., k] / n[..., k], np.nan)
            elif kind == "min":
                values = running_min[..., k]
            elif kind == "max":
                values = running_max[..., k]
            elif kind == "first":
                values = earliest[..., k]
            elif kind == "slope":
                denominator = n[..., k] * sum_tt[..., k] - sum_t[..., k] ** 2
                slope = (n[..., k] * sum_tx[..., k] - sum_t[..., k] * sum_x[..., k]) / denominator
                values = np.where((n[..., k] >= 2) & (denominator > 0), slope, np.nan)  # per hour
            elif kind == "std":
                mean = sum_x[..., k] / n[..., k]
                variance = np.maximum(sum_xx[..., k] / n[..., k] - mean**2, 0.0)
                values = np.where(n[..., k] >= 2, np.sqrt(variance), np.nan)
            else:
                raise ValueError(f"unknown window statistic {names[0]!r}")
            stats.update((name, values[..., j]) for j, name in enumerate(names))
    return stats


def _carry_forward(values: FloatArray, first_row: NDArray[np.int64]) -> FloatArray:
    """Each row's latest non-NaN value at or before it within the same patient (NaN if none)."""
    index = np.where(np.isnan(values), -1, np.arange(len(values), dtype=np.int64))
    latest = np.maximum.accumulate(index) if len(index) else index
    carried: FloatArray = np.where(latest >= first_row, values[np.maximum(latest, 0)], np.nan)
    return carried


def _news2_columns(
    sub_scores: dict[Parameter, FloatArray], first_row: NDArray[np.int64]
) -> tuple[list[FloatArray], FloatArray]:
    """NEWS2 sub-scores of the last values (NaN when missing; consciousness is never known here), their partial
    total (a lower bound, as on the ward), how many were present, and the changes over NEWS2_CHANGE_H hours; and
    the total as a series that is NaN where no parameter at all is known."""
    stacked = np.column_stack([sub_scores[p] for p in _NEWS2_SCORED])
    present = (~np.isnan(stacked)).sum(axis=1).astype(np.float64)
    total = np.where(np.isnan(stacked), 0.0, stacked).sum(axis=1)
    known_total = np.where(present > 0, total, np.nan)  # no parameter at all is no score, not a score of 0
    columns = [sub_scores[p] for p in _NEWS2_SCORED]
    columns.extend([total, present, _change(known_total, first_row, NEWS2_CHANGE_H)])
    columns.extend(_change(sub_scores[p], first_row, NEWS2_CHANGE_H) for p in _NEWS2_NUMERIC)
    return columns, known_total


def _news2_sub_scores(last: dict[Parameter, FloatArray], on_oxygen: FloatArray) -> dict[Parameter, FloatArray]:
    """NEWS2 chart rows (SpO2 scale 1) of the given values, NaN where missing. The same chart as
    scoring.news2.score_batch (a test holds them equal) without its per-call validation, which would cost a
    third of the live budget for a one-patient grid."""
    whole = round_half_up_array(np.column_stack([_non_negative(last[p]) for p in _WHOLE_NUMBER_ROWS]), decimals=0)
    charted = {p: whole[:, i] for i, p in enumerate(_WHOLE_NUMBER_ROWS)}
    charted[Parameter.TEMPERATURE] = round_half_up_array(_non_negative(last[Parameter.TEMPERATURE]), decimals=1)
    scores: dict[Parameter, FloatArray] = {}
    for parameter, (upper_edges, band_scores) in _NEWS2_BANDS.items():
        band = np.searchsorted(upper_edges, charted[parameter], side="left")
        values = band_scores[np.minimum(band, len(band_scores) - 1)]
        scores[parameter] = np.where(np.isnan(charted[parameter]), np.nan, values)
    scores[Parameter.SUPPLEMENTAL_O2] = np.where(on_oxygen == 1.0, 2.0, np.where(on_oxygen == 0.0, 0.0, np.nan))
    return scores


def _change(values: FloatArray, first_row: NDArray[np.int64], hours: int) -> FloatArray:
    """values[i] - values[i - hours] within the same patient; NaN when the earlier row does not exist."""
    earlier = np.arange(len(values), dtype=np.int64) - hours
    before = np.where(earlier >= first_row, values[np.maximum(earlier, 0)], np.nan)
    change: FloatArray = values - before
    return change


def _non_negative(values: FloatArray) -> FloatArray:
    # A negative vital is a recording error: unknown, not a score.
    return np.where(values >= 0, values, np.nan)
