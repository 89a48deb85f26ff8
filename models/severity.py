"""Severity features: how far each NEWS2-scored vital sign lies from normal, and for how long, on the side that NEWS2
scores as worse. Every one of them can only rise (or stay) while the vital signs worsen, so a model that reads only
these (and NEWS2), with a rising-risk constraint on each, can never lower the risk while the patient gets worse.

"Worse" is moving away from normal on one side: a faster (or slower) pulse or respiration rate, a higher (or lower)
temperature, a lower SpO2 or systolic BP. Each side is its own series, `max(sign * (value - start), 0)`, NaN where
not measured. The statistics summarised over the last hours are all
"monotone under worsening": the last value, means, the highest, and the lowest over a window (the lowest is "bad
for that long"). A change from the patient's own baseline is not: once the baseline has caught up with a patient who
keeps slowly worsening, it falls. None of them counts measurements or hours since one, so how often a ward charts
does not enter (models/stress.py checks that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from core.types import Parameter

FloatArray = NDArray[np.float64]

__all__ = ["SEVERITY_FEATURES", "SEVERITY_SIDES", "SEVERITY_WINDOW_STATS", "SeveritySide", "severity_features"]

# (vital, side, start, sign): each side counts from where NEWS2's zero band starts to matter on it. The high sides
# start at the band's centre (pulse 51-90, RR 12-20, temperature 36.1-38.0), so a drift inside the band still counts;
# the low sides of pulse, RR and temperature start at the band's lower edge, so a patient warming from 36.8 to 37.0
# or a pulse settling from 76 to 70 is not read as "less hypothermic" while the other side takes over. SpO2 and
# systolic BP are worse only downwards (from 100 % and from NEWS2's 220 mmHg, above which it scores 3 anyway).
SeveritySide = tuple[Parameter, str, float, float]
SEVERITY_SIDES: tuple[SeveritySide, ...] = (
    (Parameter.PULSE, "high", 70.0, 1.0),
    (Parameter.PULSE, "low", 50.0, -1.0),
    (Parameter.RESP_RATE, "high", 16.0, 1.0),
    (Parameter.RESP_RATE, "low", 12.0, -1.0),
    (Parameter.TEMPERATURE, "high", 37.0, 1.0),
    (Parameter.TEMPERATURE, "low", 36.0, -1.0),
    (Parameter.SYSTOLIC_BP, "low", 220.0, -1.0),
    (Parameter.SPO2, "low", 100.0, -1.0),
)
# Windows: 6 h for an acute change, 24 h for the day; the lowest over 12 and 24 h says "at least this bad for that
# long". All look back no further than the 24 h baseline the other features use.
SEVERITY_WINDOW_STATS: tuple[str, ...] = ("mean_6h", "mean_24h", "max_24h", "min_12h", "min_24h")
_STATS: tuple[str, ...] = ("last", *SEVERITY_WINDOW_STATS)
SEVERITY_FEATURES: tuple[str, ...] = tuple(
    f"{vital.value}_{side}_{stat}" for stat in _STATS for vital, side, _, _ in SEVERITY_SIDES
)
_LONGEST_H = 24

WindowStats = Callable[[FloatArray, Sequence[str]], Mapping[str, FloatArray]]


def severity_features(
    vitals_lagged: FloatArray, last: FloatArray, vitals: Sequence[Parameter], window_stats: WindowStats
) -> FloatArray:
    """SEVERITY_FEATURES of rows, shape (rows, len(SEVERITY_FEATURES)).

    `vitals_lagged`: (rows, len(vitals), hours) where [.., k] is k hours ago (NaN not measured); `last`: (rows,
    len(vitals)) the current value of each vital; `window_stats`: the feature module's window statistics.
    """
    columns = [vitals.index(vital) for vital, _, _, _ in SEVERITY_SIDES]
    centre = np.array([c for _, _, c, _ in SEVERITY_SIDES])
    sign = np.array([s for _, _, _, s in SEVERITY_SIDES])
    lagged = vitals_lagged[:, columns, :_LONGEST_H]
    stats = dict(window_stats(_severity(lagged, centre[None, :, None], sign[None, :, None]), SEVERITY_WINDOW_STATS))
    stats["last"] = _severity(last[:, columns], centre[None, :], sign[None, :])
    return np.column_stack([stats[stat] for stat in _STATS])


def _severity(values: FloatArray, centre: FloatArray, sign: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):
        result: FloatArray = np.where(np.isnan(values), np.nan, np.maximum(sign * (values - centre), 0.0))
    return result
