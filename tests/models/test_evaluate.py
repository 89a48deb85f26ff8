"""Evaluation beside NEWS2: matched sensitivity, alerts per patient-day, the test part, a slice of the real set A."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.artefact import ModelArtefact
from models.dataset import REQUIRED_COLUMNS
from models.evaluate import evaluate_file, evaluate_scores, matched_threshold
from models.predict import RiskModel
from models.split import Part, split_patients
from tests.models.conftest import SETA_PATH, synthetic_columns


def test_matched_threshold_reaches_the_requested_sensitivity() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.2])
    label = np.array([1, 1, 1, 1, 0, 0], dtype=np.int8)
    assert matched_threshold(scores, label, sensitivity=0.5) == 0.8
    assert matched_threshold(scores, label, sensitivity=0.75) == 0.7


def test_alerts_per_patient_day_count_hourly_rows_and_onsets_count_new_alerts() -> None:
    # One patient, 48 eligible hours: NEWS2 >= 5 in 12 scattered hours, the model in 6 consecutive hours.
    label = np.zeros(48, dtype=np.int8)
    label[40:46] = 1
    news2 = np.where(np.arange(48) % 4 == 0, 5.0, 1.0)
    news2[40:46] = [5, 1, 5, 1, 1, 1]
    scores = np.where((np.arange(48) >= 40) & (np.arange(48) < 46), 0.9, 0.01)
    result = evaluate_scores(scores, news2, label, np.zeros(48, dtype=np.int64), np.ones(48, dtype=bool))
    assert result.sensitivity == pytest.approx(2 / 6)
    assert result.news2_alerts_per_patient_day == pytest.approx(news2.__ge__(5).sum() / 2)
    assert result.alerts_per_patient_day == pytest.approx(6 / 2)  # matched threshold 0.9 flags the 6 hours
    assert result.alert_onsets_per_patient_day == pytest.approx(1 / 2)
    assert result.auroc == 1.0
    assert result.rows == 48 and result.patients == 1


def test_a_score_that_only_tells_who_becomes_septic_is_exposed_by_the_within_patient_and_band_aurocs() -> None:
    # Patient 0 becomes septic after a 72 h stay (its last 6 eligible hours are positive); patient 1 leaves at 40 h.
    # A score that is simply "long stay" ranks every positive above every row of patient 1: a high pooled AUROC.
    hours = np.r_[np.arange(1, 73), np.arange(1, 41)].astype(np.float64)
    patient = np.r_[np.zeros(72), np.ones(40)].astype(np.int64)
    label = np.zeros(112, dtype=np.int8)
    label[66:72] = 1
    scores = np.where(hours > 48, 0.9, 0.1)
    news2 = np.ones(112)
    result = evaluate_scores(scores, news2, label, patient, np.ones(112, dtype=bool), hours_since_admission=hours)
    assert result.auroc > 0.85
    assert result.auroc_within_septic_patients == pytest.approx(
        (6 * 48 + 0.5 * 6 * 18) / (6 * 66)  # positives above the first 48 h, tied with hours 49-66
    )
    assert result.news2_auroc_within_septic_patients == 0.5
    first_day, second_day, later = result.by_hours_since_admission
    assert (first_day["hours"], first_day["rows"], first_day["positives"]) == ("0-24", 48, 0)
    assert first_day["auroc"] is None  # no positives: nothing to rank
    assert (later["hours"], later["rows"], later["positives"]) == ("48+", 24, 6)
    assert later["auroc"] == 0.5  # inside the band the score is flat: it knew only the length of stay
    assert second_day["rows"] == 40


def test_evaluate_runs_on_a_slice_of_setA_beside_news2(tmp_path: Path) -> None:
    if not SETA_PATH.is_file():
        pytest.skip(f"PhysioNet set A not present at {SETA_PATH}")
    import pyarrow.parquet as pq

    table = pq.read_table(SETA_PATH, columns=list(REQUIRED_COLUMNS)).slice(0, 20_000)
    pq.write_table(table, tmp_path / "slice.parquet")  # a temporary copy, outside the repository
    result = evaluate_file(tmp_path / "slice.parquet", RiskModel.load(), progress=False)
    assert result.rows == int((table.column("SepsisLabel").to_numpy() == 0).sum())
    assert result.positives > 0
    assert 0.5 < result.auroc <= 1 and 0.4 < result.news2_auroc < 0.9
    assert result.alerts_per_patient_day < result.news2_alerts_per_patient_day
    assert [band["hours"] for band in result.by_hours_since_admission] == ["0-24", "24-48", "48+"]
    assert sum(band["rows"] for band in result.by_hours_since_admission) == result.rows
    assert 0 < result.auroc_within_septic_patients < 1


def _write(path: Path, ids: np.ndarray, numeric: dict[str, np.ndarray], rows: np.ndarray) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = {"patient_id": pa.array(ids[rows].tolist())}
    table.update({name: pa.array(numeric[name][rows].astype(np.float32)) for name in REQUIRED_COLUMNS[1:]})
    pq.write_table(pa.table(table), path)
    return path


def test_test_part_is_the_patients_training_held_out_and_scores_as_if_cut_into_a_file_of_their_own(
    tmp_path: Path, tiny_artefact: ModelArtefact
) -> None:
    # tiny_artefact was trained by train_on on synthetic_columns(400, seed=1) with split seed 0.
    ids, numeric = synthetic_columns(400, seed=1)
    whole = _write(tmp_path / "whole.parquet", ids, numeric, np.arange(len(ids)))
    model = RiskModel(tiny_artefact)
    result = evaluate_file(
        whole, model, part=Part.TEST, split_seed=0, rows_out=tmp_path / "rows.parquet", resamples=50, progress=False
    )
    split = tiny_artefact.metadata["split"]
    assert (result.part, result.split_seed) == ("test", 0)
    assert (result.patients, result.rows) == (split["test_patients"], split["test_eligible_rows"])
    import pyarrow.parquet as pq

    judged = set(pq.read_table(tmp_path / "rows.parquet").column("patient_id").to_pylist())
    patient_ids = np.unique(ids)  # p00000, p00001, ...: file order
    part = split_patients(len(patient_ids), 0)
    assert judged == set(patient_ids[part == Part.TEST].tolist())
    assert judged.isdisjoint(patient_ids[part != Part.TEST].tolist())  # no patient that trained or calibrated it

    cut = _write(tmp_path / "cut.parquet", ids, numeric, np.flatnonzero(np.isin(ids, list(judged))))
    alone = evaluate_file(cut, model, resamples=50, progress=False)
    assert alone.criteria is not None and result.criteria is not None
    assert (alone.auroc, alone.news2_auroc, alone.criteria) == (result.auroc, result.news2_auroc, result.criteria)
