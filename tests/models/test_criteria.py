"""The criteria record length cannot buy: each against small cases worked out by hand, edge cases, properties."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score

from models.criteria import Comparison, ScoredRows, evaluate_criteria, stratified_auroc


def _scored(records: list[dict[str, list[float]]]) -> ScoredRows:
    """Rows from one dict per patient: ICULOS, label, score and news2 lists of equal length."""
    columns = {key: np.concatenate([np.asarray(r[key], dtype=np.float64) for r in records]) for key in records[0]}
    return ScoredRows(
        patient=np.concatenate([np.full(len(r["iculos"]), i, dtype=np.int64) for i, r in enumerate(records)]),
        iculos=columns["iculos"],
        label=columns["label"].astype(np.int8),
        score=columns["score"],
        news2=columns["news2"],
        n_patients=len(records),
    )


def _record(hours: int, *, onset: int | None = None, start: int = 1) -> dict[str, list[float]]:
    """Eligible rows ICULOS start..hours (or up to onset - 1), label 1 in the 6 h before onset; score 0, NEWS2 1."""
    last = hours if onset is None else onset - 1
    iculos = list(range(start, last + 1))
    label = [1.0 if onset is not None and h >= onset - 6 else 0.0 for h in iculos]
    return {
        "iculos": [float(h) for h in iculos],
        "label": label,
        "score": [0.0] * len(iculos),
        "news2": [1.0] * len(iculos),
    }


def _set(record: dict[str, list[float]], key: str, at_iculos: float, value: float) -> None:
    record[key][record["iculos"].index(at_iculos)] = value


def test_same_hour_auroc_compares_only_rows_at_the_same_icu_hour() -> None:
    # hour 1: positive 0.8 against negatives 0.5, 0.6 (below) and 0.9 (above): 2 of 3 pairs won.
    # hour 2: positive 0.3 against a negative 0.3: a tie, half a pair won.
    # hour 3: negatives only (0.1, 0.2): no pair. hour 4: a positive only (0.05): no pair.
    # Same-hour AUROC = (2 + 0.5) / (3 + 1) = 0.625. Pooled, the positive 0.05 would lose to everything.
    iculos = np.array([1, 1, 1, 1, 2, 2, 3, 3, 4], dtype=np.float64)
    label = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1], dtype=np.int8)
    score = np.array([0.8, 0.5, 0.6, 0.9, 0.3, 0.3, 0.1, 0.2, 0.05])
    assert stratified_auroc(score, label, iculos) == pytest.approx(0.625)
    assert stratified_auroc(score, label) == pytest.approx(roc_auc_score(label, score))


def test_a_stratum_with_only_negatives_contributes_nothing() -> None:
    iculos = np.array([1, 1, 1, 2, 2], dtype=np.float64)
    label = np.array([1, 0, 0, 1, 0], dtype=np.int8)
    score = np.array([0.7, 0.2, 0.9, 0.4, 0.1])  # hour 1: 1 of 2 won; hour 2: 1 of 1 -> 2/3
    assert stratified_auroc(score, label, iculos) == pytest.approx(2 / 3)
    with_negative_hour = (np.r_[score, 0.0, 0.5, 1.0], np.r_[label, 0, 0, 0].astype(np.int8), np.r_[iculos, 9, 9, 9])
    assert stratified_auroc(*with_negative_hour) == pytest.approx(2 / 3)


def test_same_hour_auroc_is_not_defined_without_a_mixed_hour() -> None:
    label = np.array([1, 0], dtype=np.int8)
    assert np.isnan(stratified_auroc(np.array([0.9, 0.1]), label, np.array([1.0, 2.0])))


@st.composite
def _cohorts(draw: st.DrawFn) -> tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.float64]]:
    n = draw(st.integers(2, 60))
    iculos = np.array(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)), dtype=np.float64)
    label = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int8)
    score = np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=np.float64) / 6
    return iculos, label, score


def _mixed_hours(iculos: NDArray[np.float64], label: NDArray[np.int8]) -> bool:
    return any(0 < label[iculos == h].mean() < 1 for h in np.unique(iculos))


@settings(max_examples=200, deadline=None)
@given(cohort=_cohorts())
def test_a_score_of_the_icu_hour_alone_has_same_hour_auroc_one_half(
    cohort: tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.float64]],
) -> None:
    iculos, label, _ = cohort
    result = stratified_auroc(np.sqrt(iculos) * 3, label, iculos)
    assert result == pytest.approx(0.5) if _mixed_hours(iculos, label) else np.isnan(result)


@settings(max_examples=200, deadline=None)
@given(cohort=_cohorts())
def test_a_perfect_score_has_same_hour_auroc_one_and_its_mirror_zero(
    cohort: tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.float64]],
) -> None:
    iculos, label, noise = cohort
    if not _mixed_hours(iculos, label):
        return
    assert stratified_auroc(label + noise / 2, label, iculos) == 1.0
    assert stratified_auroc(-(label + noise / 2), label, iculos) == 0.0


@settings(max_examples=200, deadline=None)
@given(cohort=_cohorts())
def test_same_hour_auroc_is_the_pair_weighted_mean_of_each_hours_auroc(
    cohort: tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.float64]],
) -> None:
    iculos, label, score = cohort
    if not _mixed_hours(iculos, label):
        return
    weighted, pairs = 0.0, 0
    for hour in np.unique(iculos):
        y, s = label[iculos == hour], score[iculos == hour]
        if 0 < y.mean() < 1:
            n_pairs = int(y.sum() * (len(y) - y.sum()))
            weighted, pairs = weighted + roc_auc_score(y, s) * n_pairs, pairs + n_pairs
    assert stratified_auroc(score, label, iculos) == pytest.approx(weighted / pairs)


def _alert_cohort() -> ScoredRows:
    a, b, c, d, e = _record(9, onset=10), _record(7, onset=8), _record(10), _record(4, onset=5), _record(59, onset=60)
    _set(a, "news2", 5, 5)  # NEWS2 alerts in A's window 5 h before onset, and in C (never septic)
    _set(c, "news2", 3, 6)
    _set(a, "score", 8, 0.9)  # the model alerts in A's window 2 h before onset, in B's 5 h before, and in C
    _set(b, "score", 3, 0.8)
    _set(c, "score", 6, 0.7)
    _set(e, "score", 55, 0.95)  # beyond ICU hour 48: outside every alert criterion
    return _scored([a, b, c, d, e])


def test_early_onset_patients_alerted_in_the_window_at_news2s_alert_rate() -> None:
    # Early onset (ICU hour 7-48): A (onset 10, window hours 4-9) and B (onset 8, window 2-7). D's onset at hour 5
    # leaves no full window, E's at hour 60 is late. Rows at ICULOS <= 48: 9 + 7 + 10 + 4 + 48 = 78, two with
    # NEWS2 >= 5, so the model alerts on its 2 highest rows there: 0.9 (A, hour 8) and 0.8 (B, hour 3); threshold 0.8.
    # Model: A alerted 10 - 8 = 2 h and B 8 - 3 = 5 h before onset: 2 of 2, median lead 3.5 h.
    # NEWS2: A alerted 10 - 5 = 5 h before onset, B never: 1 of 2, median lead 5 h.
    criteria = evaluate_criteria(_alert_cohort(), resamples=0)
    assert (criteria.patients, criteria.septic_patients, criteria.early_onset_patients) == (5, 4, 2)
    assert criteria.news2_alert_rate_iculos_le_48 == pytest.approx(2 / 78)
    assert criteria.rate_matched_threshold == 0.8
    share, lead = criteria.early_onset_alerted_share, criteria.early_onset_median_lead_h
    assert (share.model, share.news2, share.difference) == (1.0, 0.5, 0.5)
    assert (lead.model, lead.news2, lead.difference) == (3.5, 5.0, -1.5)
    assert share.model_ci is None and share.note is None


def test_alerts_per_patient_day_at_news2s_sensitivity_on_the_first_48_icu_hours() -> None:
    # Positive rows at ICULOS <= 48: A's 6, B's 6 and D's 4 = 16 (E's lie beyond hour 48); NEWS2 >= 5 catches one
    # (A, hour 5): sensitivity 1/16. The model catches one at 0.9 (A, hour 8), and only one row of all scores >= 0.9.
    # 78 rows = 3.25 patient-days: model 1 / 3.25, NEWS2 2 / 3.25 alerts per patient-day.
    criteria = evaluate_criteria(_alert_cohort(), resamples=0)
    burden = criteria.alerts_per_patient_day_iculos_le_48
    assert criteria.news2_sensitivity_iculos_le_48 == pytest.approx(1 / 16)
    assert criteria.sensitivity_matched_threshold == 0.9
    assert burden.model == pytest.approx(1 / 3.25) and burden.news2 == pytest.approx(2 / 3.25)
    assert burden.difference == pytest.approx(-1 / 3.25)


def test_auroc_at_iculos_48_or_less_and_within_septic_patients() -> None:
    # Within the septic patients A, B, D, E: positives 6 + 6 + 4 + 6 = 22, negatives 3 + 1 + 0 + 53 = 57, all scored
    # 0. The model's positives 0.9 (A), 0.8 (B) and 0.95 (E, hour 55) win all 57 pairs, the other 19 tie:
    # (3 + 19 / 2) / 22. NEWS2: A's 5 wins, the other 21 positives tie with the negatives' 1: (1 + 21 / 2) / 22.
    criteria = evaluate_criteria(_alert_cohort(), resamples=0)
    assert criteria.auroc_within_septic_patients.model == pytest.approx((3 + 19 / 2) / 22)
    assert criteria.auroc_within_septic_patients.news2 == pytest.approx((1 + 21 / 2) / 22)
    # ICULOS <= 48: E's 0.95 at hour 55 is left out; the positives 0.9 and 0.8 beat 61 of the 62 negatives (C's
    # 0.7 is the only non-zero negative), the other 14 positives tie with 61 and lose to C's 0.7.
    early = criteria.auroc_iculos_le_48
    assert early.model == pytest.approx((2 * 62 + 14 * 0.5 * 61) / (16 * 62))


def test_without_septic_patients_every_criterion_says_it_is_not_defined() -> None:
    criteria = evaluate_criteria(_scored([_record(30), _record(20)]), resamples=20)
    assert criteria.septic_patients == 0 and criteria.early_onset_patients == 0
    comparisons = [getattr(criteria, f.name) for f in fields(criteria)]
    assert len([c for c in comparisons if isinstance(c, Comparison)]) == 6
    for comparison in (c for c in comparisons if isinstance(c, Comparison)):
        assert comparison.model is None and comparison.difference is None and comparison.model_ci is None
        assert comparison.note == "not defined: no septic patients (no row labelled 1)"


def test_no_early_onset_patient_is_not_defined_but_the_aurocs_are() -> None:
    late = _record(59, onset=60)
    _set(late, "score", 56, 0.5)
    criteria = evaluate_criteria(_scored([late, _record(59)]), resamples=0)
    assert criteria.early_onset_alerted_share.note == (
        "not defined: no early-onset septic patients (onset at ICU hour 7-48)"
    )
    assert criteria.same_hour_auroc.model is not None


def test_a_bootstrap_resample_equals_the_patients_drawn_repeated() -> None:
    # With one resample the CI is that resample's value; it must equal the criteria of a cohort in which every
    # patient appears as often as the resample drew it (numpy's generator, seed 7, as in evaluate_criteria).
    rng = np.random.default_rng(3)
    records = []
    for i in range(12):
        record = _record(int(rng.integers(8, 40)), onset=int(rng.integers(8, 30)) if i % 3 == 0 else None)
        record["score"] = list(rng.random(len(record["iculos"])).round(2))
        record["news2"] = list(rng.integers(0, 9, len(record["iculos"])).astype(float))
        records.append(record)
    drawn = np.random.default_rng(7).integers(0, 12, 12)
    repeated = evaluate_criteria(_scored([records[i] for i in drawn]), resamples=0)
    resampled = evaluate_criteria(_scored(records), resamples=1, seed=7)
    for name in ("same_hour_auroc", "auroc_iculos_le_48", "early_onset_alerted_share"):
        expected, interval = getattr(repeated, name), getattr(resampled, name).model_ci
        assert expected.model is not None and interval is not None
        assert interval == pytest.approx((expected.model, expected.model))
    burden = resampled.alerts_per_patient_day_iculos_le_48.difference_ci
    assert burden is not None and burden[0] == pytest.approx(repeated.alerts_per_patient_day_iculos_le_48.difference)
