"""`vaktrom model evaluate` as a user runs it (a subprocess): the criteria in --json, --rows-out, the table, errors."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from models.artefact import DEFAULT_ARTEFACT_PATH
from models.criteria import ScoredRows, evaluate_criteria
from models.dataset import REQUIRED_COLUMNS
from tests.models.conftest import synthetic_columns
from tests.vaktrom.conftest import VAKTROM_COMMAND, cli_environment
from vaktrom.model_criteria import criteria_table, finite_json

_TIMEOUT_S = 300
_CRITERIA = (
    "same_hour_auroc",
    "auroc_iculos_le_48",
    "auroc_within_septic_patients",
    "early_onset_alerted_share",
    "early_onset_median_lead_h",
    "alerts_per_patient_day_iculos_le_48",
)

needs_model = pytest.mark.skipif(not DEFAULT_ARTEFACT_PATH.is_file(), reason="no shipped model artefact")


def _evaluate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VAKTROM_COMMAND, "model", "evaluate", *args],
        env=cli_environment(cwd / "data"),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
    )


def _cohort(path: Path, *, columns: tuple[str, ...] = REQUIRED_COLUMNS, order: Any = None) -> Path:
    ids, numeric = synthetic_columns(60, seed=5)
    rows = np.arange(len(ids)) if order is None else order(len(ids))
    table = {"patient_id": pa.array(ids[rows].tolist())}
    table.update({name: pa.array(numeric[name][rows].astype(np.float32)) for name in columns[1:]})
    pq.write_table(pa.table(table), path)
    return path


@needs_model
def test_json_and_rows_out_give_every_criterion_and_rows_that_recompute_it(tmp_path: Path) -> None:
    data = _cohort(tmp_path / "cohort.parquet")
    result = _evaluate("--data", str(data), "--json", "--rows-out", str(tmp_path / "rows.parquet"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    criteria = report["criteria"]
    assert (criteria["resamples"], criteria["seed"], criteria["patients"]) == (1000, 0, 60)
    for name in _CRITERIA:
        figure = criteria[name]
        assert figure["model"] is not None and figure["news2"] is not None, (name, figure)
        assert figure["difference"] == pytest.approx(figure["model"] - figure["news2"])
        for which in ("model", "news2", "difference"):
            low, high = figure[f"{which}_ci"]
            assert low <= figure[which] + 1e-9 and figure[which] <= high + 1e-9, (name, which, figure)

    rows = pq.read_table(tmp_path / "rows.parquet")
    assert rows.column_names == ["patient_id", "hour", "ICULOS", "label", "score", "news2"]
    frame = {name: rows.column(name).to_numpy(zero_copy_only=False) for name in rows.column_names}
    source = pq.read_table(data)
    assert rows.num_rows == report["rows"] == int((source.column("SepsisLabel").to_numpy() == 0).sum())
    assert int(frame["label"].sum()) == report["positives"]
    first = {pid: i for i, pid in reversed(list(enumerate(source.column("patient_id").to_pylist())))}
    iculos = source.column("ICULOS").to_numpy()
    assert all(
        h == c - iculos[first[p]] for p, h, c in zip(frame["patient_id"], frame["hour"], frame["ICULOS"], strict=True)
    )
    # Anyone can recompute a criterion from the rows: same-hour AUROC as the pair-weighted mean of each hour's AUROC.
    weighted = pairs = 0.0
    for hour in np.unique(frame["ICULOS"]):
        y, s = frame["label"][frame["ICULOS"] == hour], frame["score"][frame["ICULOS"] == hour]
        if 0 < y.sum() < len(y):
            weighted += roc_auc_score(y, s) * y.sum() * (len(y) - y.sum())
            pairs += y.sum() * (len(y) - y.sum())
    assert criteria["same_hour_auroc"]["model"] == pytest.approx(weighted / pairs)
    early = frame["ICULOS"] <= 48
    assert criteria["news2_alert_rate_iculos_le_48"] == pytest.approx((frame["news2"][early] >= 5).mean())


@needs_model
def test_table_shows_each_criterion_beside_news2_with_its_interval(tmp_path: Path) -> None:
    data = _cohort(tmp_path / "cohort.parquet")
    result = _evaluate("--data", str(data), "--bootstrap", "40", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "95% CIs from 40 resamples of patients (seed 3)" in out
    line = next(line for line in out.splitlines() if line.startswith("same-hour AUROC (pairs at equal ICULOS)"))
    assert line.count("[") == 3  # model, NEWS2 and the difference, each with its interval
    assert "early-onset patients alerted in 6 h" in out and "alerts/patient-day at ICULOS <= 48" in out


@needs_model
def test_stress_tests_are_reported_beside_the_normal_figures(tmp_path: Path) -> None:
    data = _cohort(tmp_path / "cohort.parquet")
    args = ("--data", str(data), "--bootstrap", "20", "--stress", "thin", "--stress", "shuffle-missing")
    report = json.loads(_evaluate(*args, "--json", cwd=tmp_path).stdout)
    assert list(report["stress"]) == ["thin", "shuffle-missing"]
    for criteria in report["stress"].values():
        assert criteria["patients"] == report["criteria"]["patients"] == 60
        assert criteria["septic_patients"] == report["criteria"]["septic_patients"]  # same labels, other charting
        assert criteria["same_hour_auroc"]["model"] != report["criteria"]["same_hour_auroc"]["model"]
        assert criteria["same_hour_auroc"]["news2"] != report["criteria"]["same_hour_auroc"]["news2"]
    table = _evaluate(*args, cwd=tmp_path).stdout
    assert "Stress test thin (models/stress.py):" in table and "Stress test shuffle-missing" in table
    assert table.count("same-hour AUROC (pairs at equal ICULOS)") == 3


def test_help_lists_every_option(tmp_path: Path) -> None:
    result = _evaluate("--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--data", "--model", "--json", "--plot", "--rows-out", "--bootstrap", "--seed", "--stress"):
        assert option in result.stdout
    words = " ".join(result.stdout.split())
    assert "default 1000" in words and "with a 95 % CI from resampling patients" in words
    assert "seed of the bootstrap resamples and of the --stress copies" in words  # both use --seed


def test_a_file_without_the_needed_columns_names_them(tmp_path: Path) -> None:
    data = _cohort(tmp_path / "cohort.parquet", columns=tuple(c for c in REQUIRED_COLUMNS if c != "ICULOS"))
    result = _evaluate("--data", str(data), "--rows-out", str(tmp_path / "rows.parquet"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: cannot use data file {data}: missing columns ['ICULOS']; expected the PhysioNet 2019 schema"
    )
    assert not (tmp_path / "rows.parquet").exists()


def test_a_file_whose_patients_are_not_grouped_is_refused(tmp_path: Path) -> None:
    data = _cohort(tmp_path / "cohort.parquet", order=lambda n: np.r_[np.arange(0, n, 2), np.arange(1, n, 2)])
    result = _evaluate("--data", str(data), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: cannot use data file {data}: rows of a patient_id are not together: "
        "sort the file by patient_id, then hour"
    )


def test_rows_out_into_a_missing_directory_fails_before_any_work(tmp_path: Path) -> None:
    data = _cohort(tmp_path / "cohort.parquet")
    target = tmp_path / "nowhere" / "rows.parquet"
    result = _evaluate("--data", str(data), "--rows-out", str(target), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: cannot write --rows-out {target}: no such directory {target.parent}"
    )


def test_without_septic_patients_the_table_and_json_say_not_defined() -> None:
    hours = np.arange(1, 31, dtype=np.float64)
    rows = ScoredRows(
        patient=np.repeat(np.arange(2, dtype=np.int64), 30),
        iculos=np.r_[hours, hours],
        label=np.zeros(60, dtype=np.int8),
        score=np.linspace(0, 1, 60),
        news2=np.ones(60),
        n_patients=2,
    )
    criteria = evaluate_criteria(rows, resamples=10)
    table = criteria_table(criteria)
    assert "same-hour AUROC (pairs at equal ICULOS)  not defined: no septic patients (no row labelled 1)" in table
    assert "model threshold none (no alerts) gives NEWS2 >= 5's alert rate at ICULOS <= 48 (0.0% of rows)" in table
    report = json.loads(json.dumps(finite_json(asdict(criteria)), allow_nan=False))
    assert report["same_hour_auroc"]["model"] is None
    assert report["early_onset_alerted_share"]["note"] == "not defined: no septic patients (no row labelled 1)"


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--bootstrap", "-1", "--bootstrap must be between 0 and 100000, not -1"),
        ("--bootstrap", "many", "--bootstrap must be a whole number, not 'many'"),
        ("--seed", "-3", f"--seed must be between 0 and {2**63 - 1}, not -3"),
    ],
)
def test_a_bad_bootstrap_or_seed_is_refused_naming_the_option(
    tmp_path: Path, option: str, value: str, said: str
) -> None:
    result = _evaluate("--data", str(tmp_path / "any.parquet"), option, value, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"vaktrom model evaluate: error: argument {option}: {said}"
