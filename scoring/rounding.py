"""Rounding to the NEWS2 chart's resolution: half up, on the value as written (38.05 °C -> 38.1, 20.5 /min -> 21)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.types import Parameter

__all__ = ["CHART_DECIMALS", "round_half_up", "round_half_up_array", "round_to_chart"]

# The chart's resolution: whole numbers for every numeric row except temperature, which is charted to 0.1 °C.
CHART_DECIMALS: dict[Parameter, int] = {
    Parameter.RESP_RATE: 0,
    Parameter.SPO2: 0,
    Parameter.SYSTOLIC_BP: 0,
    Parameter.PULSE: 0,
    Parameter.TEMPERATURE: 1,
}

# A float x stands for the shortest decimal that reads back as x (its repr, "the value as written"). That decimal
# and x differ by under half an ulp, so x * 10**d lands within a few ulps of the decimal's scaled value. Only
# values whose scaled fraction lies this close (relative) to one half can round differently from the decimal;
# those few go through the exact Decimal path. 1e-9 is ~10^7 ulps: far wider than any float error, far narrower
# than the 0.1 spacing of real sensor values.
_HALF_TOLERANCE_REL = 1e-9
# From 2**52 on, a float has no fractional bits left for the fast path to work with; such values take the exact path.
_FAST_PATH_LIMIT = 2.0**52
# Enough digits for any finite float quantised to a few decimals (the largest float has 309 digits).
_EXACT = Context(prec=400, rounding=ROUND_HALF_UP)


def round_half_up(value: float, *, decimals: int = 0) -> float:
    """Round the decimal written as `repr(value)` half away from zero to `decimals` places.

    NaN and infinities come back unchanged. Python's `round` rounds half to even on the binary float, so
    `round(38.05, 1) == 38.0`; this returns 38.1.
    """
    if not math.isfinite(value):
        return value
    # The same fast path as `round_half_up_array` (see _HALF_TOLERANCE_REL): live scoring rounds every reading.
    scale = 10.0**decimals
    scaled = abs(value) * scale
    if scaled < _FAST_PATH_LIMIT and abs(scaled - math.floor(scaled) - 0.5) > _HALF_TOLERANCE_REL * max(scaled, 1.0):
        return math.copysign(math.floor(scaled + 0.5), value) / scale
    return _exact_half_up(value, decimals)


def _exact_half_up(value: float, decimals: int) -> float:
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(float(value))).quantize(quantum, context=_EXACT))


def round_half_up_array(values: ArrayLike, *, decimals: int = 0) -> NDArray[np.float64]:
    """Vectorised `round_half_up`: agrees with it element for element (NaN stays NaN)."""
    x = np.asarray(values, dtype=np.float64)
    scale = 10.0**decimals
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.abs(x) * scale
        fraction = scaled - np.floor(scaled)
        near_half = np.abs(fraction - 0.5) <= _HALF_TOLERANCE_REL * np.maximum(scaled, 1.0)
        # Dividing a whole number of steps by the scale gives the float nearest the decimal, as float(Decimal) does.
        result: NDArray[np.float64] = np.copysign(np.floor(scaled + 0.5), x) / scale
    finite = np.isfinite(x)
    result = np.where(finite, result, x)
    exact_path = finite & (near_half | ~(scaled < _FAST_PATH_LIMIT))
    if np.any(exact_path):
        result[exact_path] = [_exact_half_up(float(v), decimals) for v in x[exact_path]]
    return result


def round_to_chart(parameter: Parameter, value: float) -> float:
    """`value` rounded to the chart's resolution for `parameter` (a NEWS2 numeric row)."""
    return round_half_up(value, decimals=CHART_DECIMALS[parameter])
