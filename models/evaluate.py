"""Judge risk scores against NEWS2 on the same hourly rows: AUROC, AUPRC, and alert burden at equal sensitivity."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.criteria import BOOTSTRAP_RESAMPLES, NEWS2_ALERT_TOTAL, Criteria, ScoredRows, evaluate_criteria
from models.dataset import LabelledHours, load_labelled_hours
from models.features import FEATURE_NAMES, compute_features, has_enough_data
from models.predict import RiskModel
from models.split import Part, split_patients
from models.stress import Stress, stressed

__all__ = [
    "ADMISSION_BANDS_H",
    "NEWS2_ALERT_TOTAL",
    "Evaluation",
    "evaluate_file",
    "evaluate_scores",
    "live_scores",
    "matched_threshold",
    "plot_curves",
    "scored_rows",
    "write_rows",
]

logger = logging.getLogger(__name__)

# Bands of time since admission for the stratified AUROC: the first day, the second, and beyond, where PhysioNet 2019
# keeps almost only the records of patients who become septic.
ADMISSION_BANDS_H: tuple[tuple[float, float], ...] = ((0, 24), (24, 48), (48, float("inf")))
_HOURS_PER_DAY = 24.0
_NEWS2_COLUMN = FEATURE_NAMES.index("news2_total")


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Metrics over eligible rows (not yet septic). An alert is an hourly row at or above the threshold; an onset
    is an alert whose previous hour of the same patient was not one."""

    rows: int
    patients: int
    positives: int
    auroc: float
    auprc: float
    news2_auroc: float
    news2_auprc: float
    sensitivity: float  # of NEWS2 >= 5, and of the model at `matched_threshold`
    matched_threshold: float
    alerts_per_patient_day: float
    news2_alerts_per_patient_day: float
    alert_onsets_per_patient_day: float
    news2_alert_onsets_per_patient_day: float
    too_little_data_rows: int  # the model gives no risk here (live shows "unknown"); scored 0 above
    auroc_enough_data: float
    # Who, or when? Among the rows of patients who do become septic, how well the hours just before onset stand out
    # from their earlier hours: near 0.5 means the score tells septic patients from others, not when.
    auroc_within_septic_patients: float
    news2_auroc_within_septic_patients: float
    # AUROC inside bands of time since admission, when given: in PhysioNet 2019 only septic records run past ~60 h,
    # so a score that rises with the length of stay gains pooled AUROC that no band shows.
    by_hours_since_admission: list[dict[str, Any]] = field(default_factory=list)
    operating_threshold: float | None = None
    operating_sensitivity: float | None = None
    operating_alerts_per_patient_day: float | None = None
    # The criteria record length cannot buy (same-hour AUROC, ...), with patient-bootstrap CIs: models/criteria.py.
    criteria: Criteria | None = None
    # The same criteria with the file charted differently (models/stress.py), by stress name: a model that leans on
    # charting habits falls here; NEWS2 is recomputed from the same stressed record.
    stress: dict[str, Criteria] = field(default_factory=dict)
    # Whose rows: "all" of the file, or one part of models/split.py's patient split at `split_seed` ("test").
    part: str = "all"
    split_seed: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def live_scores(probabilities: NDArray[np.float64], enough_data: NDArray[np.bool_]) -> NDArray[np.float64]:
    """What the live flag can act on: rows with too little data have no risk, so never alert (scored 0)."""
    return np.where(enough_data, probabilities, 0.0)


def matched_threshold(scores: NDArray[np.float64], label: NDArray[np.int8], *, sensitivity: float) -> float:
    """The highest threshold at which at least `sensitivity` of the positive rows score >= it."""
    positives = np.sort(scores[label == 1])[::-1]
    if len(positives) == 0:
        return float("inf")
    needed = min(len(positives), max(1, int(np.ceil(sensitivity * len(positives) - 1e-9))))
    return float(positives[needed - 1])


def evaluate_scores(
    scores: NDArray[np.float64],
    news2_total: NDArray[np.float64],
    label: NDArray[np.int8],
    patient: NDArray[np.int64],
    enough_data: NDArray[np.bool_],
    *,
    operating_threshold: float | None = None,
    hours_since_admission: NDArray[np.float64] | None = None,
) -> Evaluation:
    """Scores of eligible rows in file order (`scores` already `live_scores`)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    both = bool(label.min() != label.max())
    news2_alerts = news2_total >= NEWS2_ALERT_TOTAL
    sensitivity = float(news2_alerts[label == 1].mean()) if label.any() else float("nan")
    threshold = matched_threshold(scores, label, sensitivity=sensitivity)
    model_alerts = scores >= threshold
    days = len(scores) / _HOURS_PER_DAY
    septic = np.isin(patient, patient[label == 1])

    def metric(fn: Any, y: NDArray[np.int8], s: NDArray[np.float64]) -> float:
        return float(fn(y, s)) if both and y.min() != y.max() else float("nan")

    result = Evaluation(
        rows=len(scores),
        patients=len(np.unique(patient)),
        positives=int(label.sum()),
        auroc=metric(roc_auc_score, label, scores),
        auprc=metric(average_precision_score, label, scores),
        news2_auroc=metric(roc_auc_score, label, news2_total),
        news2_auprc=metric(average_precision_score, label, news2_total),
        sensitivity=sensitivity,
        matched_threshold=threshold,
        alerts_per_patient_day=float(model_alerts.sum() / days),
        news2_alerts_per_patient_day=float(news2_alerts.sum() / days),
        alert_onsets_per_patient_day=float(_onsets(model_alerts, patient) / days),
        news2_alert_onsets_per_patient_day=float(_onsets(news2_alerts, patient) / days),
        too_little_data_rows=int((~enough_data).sum()),
        auroc_enough_data=metric(roc_auc_score, label[enough_data], scores[enough_data]),
        auroc_within_septic_patients=metric(roc_auc_score, label[septic], scores[septic]),
        news2_auroc_within_septic_patients=metric(roc_auc_score, label[septic], news2_total[septic]),
        by_hours_since_admission=[]
        if hours_since_admission is None
        else _by_admission_band(scores, news2_total, label, hours_since_admission),
    )
    if operating_threshold is None:
        return result
    at_operating = scores >= operating_threshold
    return Evaluation(
        **{
            **result.as_json(),
            "operating_threshold": operating_threshold,
            "operating_sensitivity": float(at_operating[label == 1].mean()) if label.any() else float("nan"),
            "operating_alerts_per_patient_day": float(at_operating.sum() / days),
        }
    )


def evaluate_file(
    data_path: Path,
    model: RiskModel,
    *,
    plot_path: Path | None = None,
    rows_out: Path | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    progress: bool = True,
    stresses: Sequence[Stress] = (),
    part: Part | None = None,
    split_seed: int = 0,
) -> Evaluation:
    """Score every eligible row of a PhysioNet 2019-schema file; raises DatasetError for a bad file.

    `rows_out`: a Parquet file with one row per eligible row (patient_id, hour, ICULOS, label, score, news2).
    `stresses`: also judge the criteria on copies of the file charted differently (models/stress.py).
    `part`: only the patients `models/split.py: split_patients(patients in the file, split_seed)` puts there (the
    test part of the file a model was trained on holds the patients it never saw).
    """
    hours = load_labelled_hours(data_path)
    chosen = hours.eligible
    if part is not None:
        chosen = chosen & (split_patients(hours.n_patients, split_seed)[hours.patient] == part)
    rows = np.flatnonzero(chosen)
    # Patients with no eligible row (septic from their first hour) have nothing to resample: number the others.
    kept, patient = np.unique(hours.patient[rows], return_inverse=True)
    features = compute_features(hours.grid, rows, progress=progress)
    scored, enough = scored_rows(hours, rows, patient.astype(np.int64), features, model)
    if plot_path is not None:
        plot_curves(plot_path, scored.label, scored.score, scored.news2)
    if rows_out is not None:
        write_rows(rows_out, hours.patient_ids[kept], rows - hours.grid.first_row[rows], scored)
    evaluation = evaluate_scores(
        scored.score,
        scored.news2,
        scored.label,
        scored.patient,
        enough,
        operating_threshold=model.threshold,
        hours_since_admission=scored.iculos,
    )
    stress_criteria = {
        kind.value: evaluate_criteria(
            scored_rows(
                hours,
                rows,
                scored.patient,
                compute_features(stressed(hours.grid, kind, seed=seed), rows, progress=progress),
                model,
            )[0],
            resamples=resamples,
            seed=seed,
        )
        for kind in stresses
    }
    return replace(
        evaluation,
        criteria=evaluate_criteria(scored, resamples=resamples, seed=seed),
        stress=stress_criteria,
        part="all" if part is None else part.name.lower(),
        split_seed=None if part is None else split_seed,
    )


def scored_rows(
    hours: LabelledHours,
    rows: NDArray[np.int64],
    patient: NDArray[np.int64],
    features: NDArray[np.float64],
    model: RiskModel,
) -> tuple[ScoredRows, NDArray[np.bool_]]:
    """The model's live score and NEWS2 on `rows` of `hours`, from their `features` (of the file's own grid or a
    stressed copy; `patient` numbers the rows' patients 0..), and which rows had enough data for the model."""
    enough = has_enough_data(features)
    scored = ScoredRows(
        patient=patient,
        iculos=hours.grid.hours_since_admission[rows],  # the true ICU hour, whatever the stressed copy says
        label=hours.label[rows],
        score=live_scores(model.probabilities(features), enough),
        news2=features[:, _NEWS2_COLUMN],
        n_patients=int(patient.max()) + 1 if len(patient) else 0,
    )
    return scored, enough


def write_rows(path: Path, patient_ids: NDArray[np.str_], hour: NDArray[np.int64], scored: ScoredRows) -> None:
    """One Parquet row per eligible row, so any criterion can be recomputed; written whole or not at all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "patient_id": pa.array(patient_ids[scored.patient]),
            "hour": pa.array(hour, type=pa.int32()),  # 0-based row of the patient's record
            "ICULOS": pa.array(scored.iculos, type=pa.int32()),
            "label": pa.array(scored.label, type=pa.int8()),
            "score": pa.array(scored.score, type=pa.float64()),
            "news2": pa.array(scored.news2, type=pa.float64()),
        }
    )
    partial = path.with_name(f".{path.name}.partial")
    try:
        pq.write_table(table, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    logger.info("Wrote %d scored rows to %s", table.num_rows, path)


def plot_curves(
    path: Path, label: NDArray[np.int8], scores: NDArray[np.float64], news2_total: NDArray[np.float64]
) -> None:
    """ROC and precision-recall curves of the model and NEWS2 side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    figure, (roc_axes, pr_axes) = plt.subplots(1, 2, figsize=(11, 5))
    for name, values in (("ML risk", scores), ("NEWS2", news2_total)):
        fpr, tpr, _ = roc_curve(label, values)
        precision, recall, _ = precision_recall_curve(label, values)
        roc_axes.plot(fpr, tpr, label=name)
        pr_axes.plot(recall, precision, label=name)
    roc_axes.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc_axes.set(xlabel="false positive rate", ylabel="sensitivity", title="ROC: sepsis within 6 h")
    pr_axes.set(xlabel="sensitivity (recall)", ylabel="precision", title="Precision-recall")
    roc_axes.legend()
    pr_axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    logger.info("Wrote ROC and precision-recall curves to %s", path)


def _by_admission_band(
    scores: NDArray[np.float64],
    news2_total: NDArray[np.float64],
    label: NDArray[np.int8],
    hours_since_admission: NDArray[np.float64],
) -> list[dict[str, Any]]:
    from sklearn.metrics import roc_auc_score

    bands = []
    for low, high in ADMISSION_BANDS_H:
        member = (hours_since_admission > low) & (hours_since_admission <= high)
        y = label[member]
        both = len(y) > 0 and y.min() != y.max()
        bands.append(
            {
                "hours": f"{low:.0f}-{high:.0f}" if np.isfinite(high) else f"{low:.0f}+",
                "rows": int(member.sum()),
                "positives": int(y.sum()),
                "auroc": float(roc_auc_score(y, scores[member])) if both else None,
                "news2_auroc": float(roc_auc_score(y, news2_total[member])) if both else None,
            }
        )
    return bands


def _onsets(alerts: NDArray[np.bool_], patient: NDArray[np.int64]) -> int:
    continued = np.r_[False, alerts[:-1] & (patient[1:] == patient[:-1])]
    return int((alerts & ~continued).sum())
