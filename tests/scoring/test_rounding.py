"""Rounding to the chart's resolution: half up on the value as written, scalar and vectorised alike."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.types import Parameter
from scoring.rounding import round_half_up, round_half_up_array, round_to_chart


def _written_half_up(value: float, decimals: int) -> float:
    """The reference: the decimal the float was written as, rounded half up by the decimal module."""
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(value)).quantize(quantum, context=Context(prec=400, rounding=ROUND_HALF_UP)))


@pytest.mark.parametrize(
    ("value", "decimals", "charted"),
    [
        (38.05, 1, 38.1),  # stored as 38.0499...; Python's round gives 38.0
        (38.04, 1, 38.0),
        (35.05, 1, 35.1),
        (36.05, 1, 36.1),
        (39.05, 1, 39.1),
        (38.15, 1, 38.2),
        (38.25, 1, 38.3),  # round-half-even would give 38.2
        (20.5, 0, 21.0),
        (20.49, 0, 20.0),
        (24.5, 0, 25.0),
        (22.5, 0, 23.0),  # round-half-even would give 22
        (8.5, 0, 9.0),
        (95.5, 0, 96.0),
        (0.5, 0, 1.0),
        (90.0, 0, 90.0),
        (0.0, 1, 0.0),
        (0.49999999999999994, 0, 0.0),  # written below a half, though adding 0.5 to it gives 1.0 in floats
    ],
)
def test_values_round_half_up_as_written(value: float, decimals: int, charted: float) -> None:
    assert round_half_up(value, decimals=decimals) == charted
    assert round_half_up_array(np.array([value]), decimals=decimals).tolist() == [charted]


@pytest.mark.parametrize(
    ("parameter", "value", "charted"),
    [
        (Parameter.TEMPERATURE, 38.05, 38.1),
        (Parameter.TEMPERATURE, 36.94, 36.9),
        (Parameter.RESP_RATE, 20.5, 21.0),
        (Parameter.SPO2, 93.5, 94.0),
        (Parameter.SYSTOLIC_BP, 110.5, 111.0),
        (Parameter.PULSE, 90.4, 90.0),
    ],
)
def test_each_parameter_rounds_to_its_chart_resolution(parameter: Parameter, value: float, charted: float) -> None:
    assert round_to_chart(parameter, value) == charted


def test_missing_values_stay_missing_in_arrays() -> None:
    result = round_half_up_array(np.array([math.nan, 38.05, math.inf]), decimals=1)
    assert math.isnan(result[0])
    assert result[1] == 38.1
    assert result[2] == math.inf


_ANY_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_HALVES = st.tuples(st.integers(-(10**9), 10**9), st.sampled_from([0, 1])).map(
    lambda pair: ((pair[0] + 0.5) / 10 ** pair[1], pair[1])
)


@given(value=_ANY_FINITE, decimals=st.sampled_from([0, 1]))
def test_vectorised_rounding_agrees_with_decimal_for_any_float(value: float, decimals: int) -> None:
    assert round_half_up_array(np.array([value]), decimals=decimals)[0] == _written_half_up(value, decimals)
    assert round_half_up(value, decimals=decimals) == _written_half_up(value, decimals)


@given(case=_HALVES)
def test_rounding_agrees_with_decimal_on_exact_halves(case: tuple[float, int]) -> None:
    value, decimals = case
    assert round_half_up_array(np.array([value]), decimals=decimals)[0] == _written_half_up(value, decimals)
    assert round_half_up(value, decimals=decimals) == _written_half_up(value, decimals)


@given(hundredths=st.integers(-(10**7), 10**7), decimals=st.sampled_from([0, 1]))
def test_rounding_agrees_with_decimal_on_values_as_sensors_write_them(hundredths: int, decimals: int) -> None:
    value = hundredths / 100  # 38.05, 20.5, 97.25: the float nearest a short decimal, halves included
    assert round_half_up(value, decimals=decimals) == _written_half_up(value, decimals)


@given(values=st.lists(st.one_of(_ANY_FINITE, st.integers(0, 4000).map(lambda k: k / 100)), max_size=50))
def test_vectorised_rounding_agrees_elementwise_on_arrays(values: list[float]) -> None:
    result = round_half_up_array(np.array(values, dtype=np.float64), decimals=1)
    assert result.tolist() == [_written_half_up(v, 1) for v in values]
