"""Criteria that record length cannot buy: the model beside NEWS2, with CIs from resampling patients (issue 13)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.dataset import HORIZON_H

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "EARLY_ICULOS_H",
    "EARLY_ONSET_ICULOS_H",
    "NEWS2_ALERT_TOTAL",
    "Comparison",
    "Criteria",
    "ScoredRows",
    "evaluate_criteria",
    "stratified_auroc",
]

NEWS2_ALERT_TOTAL = 5  # the key threshold: urgent response by a clinician
# The first two ICU days: in PhysioNet 2019 septic and non-septic records are both present there (non-septic records
# end by ICU hour 60), so a score cannot gain by knowing how long a record will run.
EARLY_ICULOS_H = 48
# Onset late enough for a whole 6 h window inside the stay (ICULOS starts at 1), early enough to lie in the first two
# ICU days.
EARLY_ONSET_ICULOS_H = (HORIZON_H + 1, EARLY_ICULOS_H)
BOOTSTRAP_RESAMPLES = 1000  # enough for stable 2.5/97.5 percentiles; ~20 s on set A
_CONFIDENCE = 0.95
_HOURS_PER_DAY = 24.0
_PAIR = ("model", "news2")


@dataclass(frozen=True, slots=True)
class ScoredRows:
    """The eligible rows (not yet septic) of a file, grouped by patient in hour order, with both scores."""

    patient: NDArray[np.int64]  # 0..n_patients-1
    iculos: NDArray[np.float64]  # hours since ICU admission (ICU hour, 1 = the first)
    label: NDArray[np.int8]  # 1: SepsisLabel turns 1 within the next HORIZON_H rows
    score: NDArray[np.float64]  # the model's live score (0 where it has too little data)
    news2: NDArray[np.float64]
    n_patients: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """One criterion for the model and NEWS2 on the same rows; `difference` is model - NEWS2, paired per resample.
    Figures that are not defined are None, with `note` saying why."""

    model: float | None
    news2: float | None
    difference: float | None
    model_ci: tuple[float, float] | None
    news2_ci: tuple[float, float] | None
    difference_ci: tuple[float, float] | None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Criteria:
    """The time-controlled criteria of issue 13 with 95 % percentile CIs over patient bootstrap resamples."""

    resamples: int
    seed: int
    patients: int
    septic_patients: int  # patients with at least one row labelled 1
    early_onset_patients: int  # septic patients whose onset (first SepsisLabel = 1) is at ICU hour 7-48
    same_hour_auroc: Comparison
    auroc_iculos_le_48: Comparison
    auroc_within_septic_patients: Comparison
    early_onset_alerted_share: Comparison  # at the threshold giving NEWS2 >= 5's alert rate on ICULOS <= 48
    early_onset_median_lead_h: Comparison  # onset minus the ICU hour of the first alert in the window
    alerts_per_patient_day_iculos_le_48: Comparison  # at NEWS2 >= 5's sensitivity on ICULOS <= 48
    news2_alert_rate_iculos_le_48: float  # share of rows with NEWS2 >= 5 (what the model's alert rate is set to)
    rate_matched_threshold: float | None
    news2_sensitivity_iculos_le_48: float | None  # (what the model's sensitivity is set to)
    sensitivity_matched_threshold: float | None


def stratified_auroc(
    score: NDArray[np.float64], label: NDArray[np.int8], stratum: NDArray[np.float64] | None = None
) -> float:
    """AUROC over (positive, negative) pairs in the same stratum only (ties count 1/2); NaN without such pairs."""
    stratum = np.zeros(len(score)) if stratum is None else stratum
    patient = np.zeros(len(score), dtype=np.int64)
    return _StratifiedAuroc(score, label, stratum, patient)(np.ones(1))


class _StratifiedAuroc:
    """Same-stratum AUROC with a weight per patient (a bootstrap resample's counts), in O(rows) per call.

    Negatives are sorted once by (stratum, score); for each positive the negatives of its stratum below, tied with
    and above its score are contiguous ranges, so a cumulative sum of the negatives' weights gives every count.
    """

    def __init__(
        self, score: NDArray[np.float64], label: NDArray[np.int8], stratum: NDArray[np.float64], patient: NDArray[Any]
    ) -> None:
        stratum_rank = np.unique(stratum, return_inverse=True)[1].astype(np.int64)
        score_rank = np.unique(score, return_inverse=True)[1].astype(np.int64)
        width = int(score_rank.max()) + 2 if len(score) else 1
        key = stratum_rank * width + score_rank
        negative = label == 0
        order = np.argsort(key[negative], kind="stable")
        negative_key = key[negative][order]
        positive_key, stratum_key = key[~negative], stratum_rank[~negative] * width
        self._negative_patient = patient[negative][order]
        self._positive_patient = patient[~negative]
        self._stratum_start = np.searchsorted(negative_key, stratum_key, "left")
        self._stratum_end = np.searchsorted(negative_key, stratum_key + width, "left")
        self._tie_start = np.searchsorted(negative_key, positive_key, "left")
        self._tie_end = np.searchsorted(negative_key, positive_key, "right")
        self._cumulative = np.zeros(len(negative_key) + 1)  # reused by every call: [0], then running sums

    def __call__(self, weights: NDArray[np.float64]) -> float:
        cumulative = self._cumulative
        np.cumsum(np.take(weights, self._negative_patient), out=cumulative[1:])
        positive_weight = weights[self._positive_patient]
        start = cumulative[self._stratum_start]
        pairs = _dot(positive_weight, cumulative[self._stratum_end] - start)
        if pairs <= 0:
            return float("nan")
        tie_start = cumulative[self._tie_start]
        wins = _dot(positive_weight, tie_start - start + 0.5 * (cumulative[self._tie_end] - tie_start))
        return float(wins / pairs)


class _PairedAuroc:
    """The model's and NEWS2's stratified AUROC on the same rows."""

    def __init__(self, rows: ScoredRows, member: NDArray[np.bool_], stratum: NDArray[np.float64]) -> None:
        label, patient = rows.label[member], rows.patient[member]
        self._aurocs = [_StratifiedAuroc(s[member], label, stratum[member], patient) for s in (rows.score, rows.news2)]

    def __call__(self, weights: NDArray[np.float64]) -> tuple[float, float]:
        model, news2 = (auroc(weights) for auroc in self._aurocs)
        return model, news2


class _RankedRows:
    """Rows sorted once by score, highest first: weighted counts at or above any threshold by one cumulative sum."""

    def __init__(self, score: NDArray[np.float64], patient: NDArray[np.int64], n_patients: int) -> None:
        order = np.argsort(-score, kind="stable")
        self.sorted_score = score[order]
        self._patient = patient[order]
        self.rows_of_patient = np.bincount(patient, minlength=n_patients).astype(np.float64)

    def cumulative(self, weights: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.cumsum(weights[self._patient])

    def threshold_for(self, cumulative: NDArray[np.float64], needed: float) -> float:
        """The highest score at or above which at least `needed` (weighted) rows lie; inf when none are needed."""
        if needed <= 0 or len(cumulative) == 0:
            return float("inf")
        return float(self.sorted_score[min(int(np.searchsorted(cumulative, needed, "left")), len(cumulative) - 1)])

    def count_at_or_above(self, cumulative: NDArray[np.float64], threshold: float) -> float:
        above = int(np.searchsorted(-self.sorted_score, -threshold, "right"))
        return float(cumulative[above - 1]) if above else 0.0


class _AlertCriteria:
    """On rows with ICULOS <= 48: early-onset septic patients alerted in their 6 h window at NEWS2 >= 5's alert rate,
    the median lead time of their first alert there, and alerts per patient-day at NEWS2 >= 5's sensitivity."""

    def __init__(self, rows: ScoredRows) -> None:
        early = rows.iculos <= EARLY_ICULOS_H
        patient, score, label = rows.patient[early], rows.score[early], rows.label[early]
        news2_alert, positive, n = rows.news2[early] >= NEWS2_ALERT_TOTAL, label == 1, rows.n_patients
        self._all = _RankedRows(score, patient, n)
        self._positives = _RankedRows(score[positive], patient[positive], n)
        self._news2_alerts = np.bincount(patient[news2_alert], minlength=n).astype(np.float64)
        self._news2_positive_alerts = np.bincount(patient[positive & news2_alert], minlength=n).astype(np.float64)
        self.members, self._windows = _onset_windows(rows)

    def thresholds(self, weights: NDArray[np.float64]) -> tuple[NDArray[np.float64], float, float]:
        """(cumulative weights of the ranked rows, alert-rate-matched threshold, sensitivity-matched threshold)."""
        cumulative = self._all.cumulative(weights)
        at_rate = self._all.threshold_for(cumulative, _dot(weights, self._news2_alerts))
        at_sensitivity = self._positives.threshold_for(
            self._positives.cumulative(weights), _dot(weights, self._news2_positive_alerts)
        )
        return cumulative, at_rate, at_sensitivity

    def rate_and_sensitivity(self, weights: NDArray[np.float64]) -> tuple[float, float]:
        """NEWS2 >= 5's share of rows and of positive rows (NaN without any)."""
        rows, positives = _dot(weights, self._all.rows_of_patient), _dot(weights, self._positives.rows_of_patient)
        return (
            _dot(weights, self._news2_alerts) / rows if rows else float("nan"),
            _dot(weights, self._news2_positive_alerts) / positives if positives else float("nan"),
        )

    def __call__(self, weights: NDArray[np.float64]) -> dict[str, tuple[float, float]]:
        cumulative, at_rate, at_sensitivity = self.thresholds(weights)
        share, lead = self._window_alerts(weights[self.members], at_rate)
        days = _dot(weights, self._all.rows_of_patient) / _HOURS_PER_DAY
        burden = (float("nan"), float("nan"))
        if _dot(weights, self._positives.rows_of_patient) > 0:
            model_alerts = self._all.count_at_or_above(cumulative, at_sensitivity)
            burden = (model_alerts / days, _dot(weights, self._news2_alerts) / days)
        return {
            "early_onset_alerted_share": share,
            "early_onset_median_lead_h": lead,
            "alerts_per_patient_day_iculos_le_48": burden,
        }

    def _window_alerts(
        self, weights: NDArray[np.float64], threshold: float
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        total = float(weights.sum())
        if total <= 0:
            return (float("nan"), float("nan")), (float("nan"), float("nan"))
        shares, leads = [], []
        for window, at in zip(self._windows, (threshold, NEWS2_ALERT_TOTAL), strict=True):
            alerts = window >= at
            alerted = alerts.any(axis=1)
            shares.append(float(weights[alerted].sum()) / total)
            lead_h = HORIZON_H - alerts.argmax(axis=1)  # column 0 is 6 h before onset
            leads.append(_weighted_median(lead_h[alerted], weights[alerted]))
        return (shares[0], shares[1]), (leads[0], leads[1])


def _onset_windows(rows: ScoredRows) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Early-onset patients and their window rows: (2, patients, 6) model and NEWS2 scores, -inf where no row.

    Onset is the ICU hour of the first SepsisLabel = 1 row: one after the last eligible row labelled 1.
    """
    positive = rows.label == 1
    onset = np.full(rows.n_patients, -np.inf)
    np.maximum.at(onset, rows.patient[positive], rows.iculos[positive] + 1)
    low, high = EARLY_ONSET_ICULOS_H
    members = np.flatnonzero((onset >= low) & (onset <= high))
    column = rows.iculos - (onset[rows.patient] - HORIZON_H)
    in_window = positive & np.isin(rows.patient, members) & (column >= 0) & (column < HORIZON_H)
    at = (np.searchsorted(members, rows.patient[in_window]), column[in_window].astype(np.int64))
    windows = np.full((2, len(members), HORIZON_H), -np.inf)
    windows[0][at] = rows.score[in_window]
    windows[1][at] = rows.news2[in_window]
    return members, windows


def _dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Sum of products without BLAS: its threads cost more than they save on a busy 2-core machine (measured)."""
    return float(np.einsum("i,i->", a, b))


def _weighted_median(values: NDArray[np.int64], weights: NDArray[np.float64]) -> float:
    """Median of the values repeated by their (whole-number) bootstrap weights; NaN when empty."""
    repeated = np.repeat(values, weights.astype(np.int64))
    return float(np.median(repeated)) if len(repeated) else float("nan")


def evaluate_criteria(rows: ScoredRows, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> Criteria:
    """Every criterion for the model and NEWS2, with CIs from `resamples` resamples of patients (with replacement)."""
    septic = np.zeros(rows.n_patients, dtype=bool)
    septic[rows.patient[rows.label == 1]] = True
    flat = np.zeros(len(rows.label))
    aurocs = {
        "same_hour_auroc": _PairedAuroc(rows, np.ones(len(rows.label), dtype=bool), rows.iculos),
        "auroc_iculos_le_48": _PairedAuroc(rows, rows.iculos <= EARLY_ICULOS_H, flat),
        "auroc_within_septic_patients": _PairedAuroc(rows, septic[rows.patient], flat),
    }
    alerts = _AlertCriteria(rows)

    def measure(weights: NDArray[np.float64]) -> dict[str, tuple[float, float]]:
        return {name: auroc(weights) for name, auroc in aurocs.items()} | alerts(weights)

    ones = np.ones(rows.n_patients)
    point = measure(ones)
    draws = _bootstrap(measure, rows.n_patients, resamples=resamples, seed=seed)
    _, at_rate, at_sensitivity = alerts.thresholds(ones)
    rate, sensitivity = alerts.rate_and_sensitivity(ones)
    comparisons = {
        name: _comparison(pair, draws.get(name), _why_undefined(name, n_septic=int(septic.sum()), alerts=alerts))
        for name, pair in point.items()
    }
    return Criteria(
        resamples=resamples,
        seed=seed,
        patients=rows.n_patients,
        septic_patients=int(septic.sum()),
        early_onset_patients=len(alerts.members),
        news2_alert_rate_iculos_le_48=rate,
        rate_matched_threshold=_finite_or_none(at_rate),
        news2_sensitivity_iculos_le_48=_finite_or_none(sensitivity),
        sensitivity_matched_threshold=_finite_or_none(at_sensitivity),
        **comparisons,
    )


def _bootstrap(measure: Any, n_patients: int, *, resamples: int, seed: int) -> dict[str, NDArray[np.float64]]:
    """(resamples, 2) model and NEWS2 values per criterion; a resample is a weight (0, 1, 2, ...) per patient."""
    rng = np.random.default_rng(seed)
    draws: dict[str, NDArray[np.float64]] = {}
    for resample in range(resamples):
        weights = np.bincount(rng.integers(0, n_patients, n_patients), minlength=n_patients).astype(np.float64)
        for name, pair in measure(weights).items():
            draws.setdefault(name, np.full((resamples, 2), np.nan))[resample] = pair
    return draws


def _comparison(pair: tuple[float, float], draws: NDArray[np.float64] | None, note: str) -> Comparison:
    model, news2 = (_finite_or_none(value) for value in pair)
    defined = model is not None and news2 is not None
    return Comparison(
        model=model,
        news2=news2,
        difference=model - news2 if model is not None and news2 is not None else None,
        model_ci=_interval(None if draws is None else draws[:, 0]),
        news2_ci=_interval(None if draws is None else draws[:, 1]),
        difference_ci=_interval(None if draws is None else draws[:, 0] - draws[:, 1]),
        note=None if defined else note,
    )


def _interval(values: NDArray[np.float64] | None) -> tuple[float, float] | None:
    """The central 95 % of the resamples where the figure is defined (None without any)."""
    if values is None or not np.isfinite(values).any():
        return None
    tail = 100 * (1 - _CONFIDENCE) / 2
    low, high = np.percentile(values[np.isfinite(values)], [tail, 100 - tail])
    return float(low), float(high)


def _why_undefined(name: str, *, n_septic: int, alerts: _AlertCriteria) -> str:
    if n_septic == 0:
        return "not defined: no septic patients (no row labelled 1)"
    if name.startswith("early_onset") and len(alerts.members) == 0:
        return "not defined: no early-onset septic patients (onset at ICU hour 7-48)"
    return {
        "same_hour_auroc": "not defined: no ICU hour has both positive and negative rows",
        "auroc_iculos_le_48": "not defined: rows at ICULOS <= 48 are not both positive and negative",
        "auroc_within_septic_patients": "not defined: septic patients have no negative rows",
        "early_onset_median_lead_h": "not defined: no early-onset septic patient was alerted in the window",
        "alerts_per_patient_day_iculos_le_48": "not defined: no positive rows at ICULOS <= 48",
    }.get(name, "not defined")


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
