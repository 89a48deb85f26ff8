"""Reading a PhysioNet 2019-schema file: the 6-hour label, eligible rows, FiO2 and age traps, clear file errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import DatasetError
from models.dataset import REQUIRED_COLUMNS, labelled_hours, load_labelled_hours


def _one_patient(sepsis_label: list[int], fio2: list[float]) -> dict[str, np.ndarray]:
    n = len(sepsis_label)
    numeric = {name: np.full(n, 80.0) for name in REQUIRED_COLUMNS[1:]}
    numeric["ICULOS"] = np.arange(1, n + 1, dtype=np.float64)
    numeric["SepsisLabel"] = np.array(sepsis_label, dtype=np.float64)
    numeric["FiO2"] = np.array(fio2, dtype=np.float64)
    numeric["Age"] = np.full(n, 89.0)
    numeric["Gender"] = np.zeros(n)
    return numeric


def test_label_is_sepsislabel_turning_1_within_the_next_6_hours_on_not_yet_septic_rows() -> None:
    labels = [0] * 10 + [1] * 3
    hours = labelled_hours(np.array(["p1"] * 13), _one_patient(labels, [np.nan] * 13), sha256="x")
    assert hours.eligible.tolist() == [True] * 10 + [False] * 3
    # Row 10 is the first SepsisLabel=1 row: rows 4..9 lie 1..6 hours before it.
    assert hours.label.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0]


def test_labels_never_cross_from_one_patient_to_the_next() -> None:
    first = _one_patient([0] * 5, [np.nan] * 5)
    second = _one_patient([1] * 3, [np.nan] * 3)
    numeric = {k: np.concatenate([first[k], second[k]]) for k in first}
    hours = labelled_hours(np.array(["a"] * 5 + ["b"] * 3), numeric, sha256="x")
    assert hours.label.tolist() == [0] * 8
    assert hours.eligible.tolist() == [True] * 5 + [False] * 3
    assert hours.n_patients == 2
    assert hours.grid.first_row.tolist() == [0] * 5 + [5] * 3


def test_fio2_above_air_means_oxygen_and_absurd_fio2_is_unknown() -> None:
    hours = labelled_hours(np.array(["p"] * 5), _one_patient([0] * 5, [0.21, 0.5, 0.0, 10.0, np.nan]), sha256="x")
    np.testing.assert_array_equal(hours.grid.on_oxygen, [0.0, 1.0, np.nan, np.nan, np.nan])


def test_missing_file_wrong_format_and_wrong_columns_are_reported_clearly(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"cannot use data file .*nope.parquet: no such file"):
        load_labelled_hours(tmp_path / "nope.parquet")
    (tmp_path / "bad.parquet").write_text("patient_id,HR\n")
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        load_labelled_hours(tmp_path / "bad.parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"patient_id": ["p1"], "HR": [80.0]}), tmp_path / "few.parquet")
    with pytest.raises(DatasetError, match=r"missing columns \['O2Sat', 'Temp'"):
        load_labelled_hours(tmp_path / "few.parquet")
