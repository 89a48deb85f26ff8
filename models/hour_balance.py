"""Training weights that make the ICU hour say nothing about the label (issue 13: criteria record length cannot buy).

In PhysioNet 2019 the rate of sepsis within 6 h climbs with the ICU hour (0.6-1.1 % of rows in the first two days,
3.5-8.8 % later), because non-septic records end by hour 60 while septic ones run on. A model fitted on raw rows
gains by spotting anything that goes with a long stay (a full 24 h window, a long run of one value), which ranks no
better at any one hour and carries over to no other hospital. Weighted so that every ICU-hour band has the same
positive rate, the rows no longer reward that: what the trees learn must tell a patient from another at the same
hour, which is what same-hour AUROC and the early-onset criteria judge. Each band keeps its total weight, so early
hours, where the early-onset patients are, count as much as before.

Grouped CV on set A's training part, one trial, seed 0 (docs/MODEL_CARD.md): same-hour AUROC 0.664 -> 0.666,
within septic patients 0.531 -> 0.535, early-onset patients alerted at NEWS2 >= 5's alert rate 69.3 % -> 72.1 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["HourlyRates", "hour_band", "hour_rates", "hour_weights"]

# One band per ICU hour for three days (where the rate changes fastest and most rows lie), then a band per day up to
# day 10, then one band: enough rows per band for a stable rate.
_HOURLY_BANDS_UNTIL_H = 72
_DAILY_BANDS = 7
_DAY_H = 24
N_BANDS = _HOURLY_BANDS_UNTIL_H + 1 + _DAILY_BANDS + 1


def hour_band(iculos: NDArray[np.float64]) -> NDArray[np.int64]:
    """The band of each ICU hour (ICULOS, 1 = the first hour; 0 and below share band 0)."""
    hours = np.maximum(np.nan_to_num(iculos, nan=0.0), 0.0).astype(np.int64)
    days_after = (hours - _HOURLY_BANDS_UNTIL_H - 1) // _DAY_H
    late = _HOURLY_BANDS_UNTIL_H + 1 + np.minimum(days_after, _DAILY_BANDS)
    band: NDArray[np.int64] = np.where(hours <= _HOURLY_BANDS_UNTIL_H, hours, late)
    return band


@dataclass(frozen=True, slots=True)
class HourlyRates:
    """The positive rate of each band and overall, on the rows they were counted on."""

    band_rate: NDArray[np.float64]  # (N_BANDS,); 0 for a band without rows
    overall_rate: float


def hour_rates(iculos: NDArray[np.float64], label: NDArray[np.int8]) -> HourlyRates:
    band = hour_band(iculos)
    rows = np.bincount(band, minlength=N_BANDS).astype(np.float64)
    positives = np.bincount(band, weights=label.astype(np.float64), minlength=N_BANDS)
    band_rate = np.divide(positives, rows, out=np.zeros(N_BANDS), where=rows > 0)
    return HourlyRates(band_rate=band_rate, overall_rate=float(label.mean()) if len(label) else 0.0)


def hour_weights(
    iculos: NDArray[np.float64], label: NDArray[np.int8], rates: HourlyRates | None = None
) -> NDArray[np.float64]:
    """A weight per row such that, weighted, every band's positive rate is `rates.overall_rate` and its total weight
    is its row count. `rates`: counted on these rows by default; pass the training rows' to weight other rows alike.

    A band whose rate is 0 or 1 cannot be moved to the overall rate: its rows keep weight 1.
    """
    rates = rates if rates is not None else hour_rates(iculos, label)
    rate = rates.band_rate[hour_band(iculos)]
    target = rates.overall_rate
    movable = (rate > 0) & (rate < 1)
    positive = label == 1
    weights = np.ones(len(label))
    weights[movable & positive] = target / rate[movable & positive]
    weights[movable & ~positive] = (1 - target) / (1 - rate[movable & ~positive])
    return weights
