"""Weights that make the ICU hour say nothing about the label: hand-computed cases and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.hour_balance import N_BANDS, hour_band, hour_rates, hour_weights


def test_each_of_the_first_three_days_is_its_own_band_then_each_day_then_one() -> None:
    iculos = np.array([0, 1, 2, 72, 73, 96, 97, 120, 240, 1000, np.nan])
    assert hour_band(iculos).tolist() == [0, 1, 2, 72, 73, 73, 74, 74, 79, 80, 0]
    assert N_BANDS == 81


def test_weights_by_hand_give_both_hours_the_overall_rate_and_keep_their_row_counts() -> None:
    iculos = np.array([1, 1, 1, 1, 2, 2, 2, 2], dtype=np.float64)
    label = np.array([1, 0, 0, 0, 1, 1, 0, 0], dtype=np.int8)  # hour 1: 25 %, hour 2: 50 %, overall 3/8

    weights = hour_weights(iculos, label)

    # hour 1: positives 0.375 / 0.25, negatives 0.625 / 0.75; hour 2: 0.375 / 0.5 and 0.625 / 0.5
    assert weights == pytest.approx([1.5, 5 / 6, 5 / 6, 5 / 6, 0.75, 0.75, 1.25, 1.25])


def test_an_hour_with_no_positives_or_only_positives_keeps_weight_one() -> None:
    iculos = np.array([1, 1, 2, 2, 3, 3, 3], dtype=np.float64)
    label = np.array([0, 0, 1, 1, 1, 0, 0], dtype=np.int8)  # overall 3/7; hour 3: 1/3
    weights = hour_weights(iculos, label)
    assert weights[:4].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert weights[4] == pytest.approx((3 / 7) / (1 / 3))


def test_other_rows_are_weighted_by_the_rates_of_the_rows_given() -> None:
    train_hours = np.array([1, 1, 1, 1, 2, 2], dtype=np.float64)
    train_label = np.array([1, 0, 0, 0, 1, 0], dtype=np.int8)  # overall 2/6; hour 1: 1/4, hour 2: 1/2
    rates = hour_rates(train_hours, train_label)
    weights = hour_weights(np.array([2.0, 1.0]), np.array([1, 1], dtype=np.int8), rates)
    assert weights == pytest.approx([(1 / 3) / (1 / 2), (1 / 3) / (1 / 4)])


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(min_value=1, max_value=400), st.booleans()), min_size=1, max_size=300),
)
def test_weighted_every_band_has_the_overall_rate_and_its_own_row_count(rows: list[tuple[int, bool]]) -> None:
    iculos = np.array([h for h, _ in rows], dtype=np.float64)
    label = np.array([int(y) for _, y in rows], dtype=np.int8)
    weights = hour_weights(iculos, label)
    assert np.all(weights > 0)
    band = hour_band(iculos)
    overall = label.mean()
    for b in np.unique(band):
        member = band == b
        assert weights[member].sum() == pytest.approx(member.sum())
        rate = label[member].mean()
        if 0 < rate < 1:
            assert (weights[member] * label[member]).sum() / member.sum() == pytest.approx(overall)
