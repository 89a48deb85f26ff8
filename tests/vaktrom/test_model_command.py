"""`vaktrom model train|evaluate`: clear errors for bad input, one JSON object with --json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from models.artefact import DEFAULT_ARTEFACT_PATH
from models.dataset import REQUIRED_COLUMNS
from tests.models.conftest import synthetic_columns
from vaktrom.model_command import add_parser


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="vaktrom")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


def _synthetic_parquet(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids, numeric = synthetic_columns(40, seed=11)
    columns = {"patient_id": pa.array(ids.tolist())}
    columns.update({name: pa.array(numeric[name].astype(np.float32)) for name in REQUIRED_COLUMNS[1:]})
    pq.write_table(pa.table(columns), path)
    return path


def test_evaluate_with_a_missing_data_file_says_so_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run("model", "evaluate", "--data", str(tmp_path / "missing.parquet"))
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == f"error: cannot use data file {tmp_path / 'missing.parquet'}: no such file\n"
    assert "Traceback" not in captured.err


def test_train_with_a_file_that_is_not_parquet_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vitals.csv").write_text("patient_id,HR\np1,80\n")
    code = _run("model", "train", "--data", str(tmp_path / "vitals.csv"), "--out", str(tmp_path / "m.skops"))
    assert code == 2
    assert "not a readable Parquet file" in capsys.readouterr().err
    assert not (tmp_path / "m.skops").exists()


def test_evaluate_with_a_missing_model_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _synthetic_parquet(tmp_path / "cohort.parquet")
    code = _run("model", "evaluate", "--data", str(data), "--model", str(tmp_path / "none.skops"))
    assert code == 2
    assert capsys.readouterr().err == f"error: model artefact {tmp_path / 'none.skops'} does not exist\n"


def test_evaluate_json_prints_one_object_with_the_agreed_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not DEFAULT_ARTEFACT_PATH.is_file():
        pytest.skip(f"no shipped artefact at {DEFAULT_ARTEFACT_PATH}")
    data = _synthetic_parquet(tmp_path / "cohort.parquet")
    code = _run("model", "evaluate", "--data", str(data), "--json", "--plot", str(tmp_path / "curves.png"))
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    keys = {"auroc", "auprc", "news2_auroc", "news2_auprc", "rows", "patients", "alerts_per_patient_day"}
    assert keys | {"news2_alerts_per_patient_day", "sensitivity"} <= result.keys()
    assert result["patients"] == 40
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_table_shows_the_model_beside_news2_within_patients_and_by_time_since_admission(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not DEFAULT_ARTEFACT_PATH.is_file():
        pytest.skip(f"no shipped artefact at {DEFAULT_ARTEFACT_PATH}")
    data = _synthetic_parquet(tmp_path / "cohort.parquet")
    code = _run("model", "evaluate", "--data", str(data))
    out = capsys.readouterr().out
    assert code == 0
    assert "ML risk     NEWS2" in out
    assert "AUROC within the rows of patients who become septic (when, not who):" in out
    band_lines = [line.split() for line in out.splitlines() if line.startswith("  ") and " rows " in line]
    assert [line[0] for line in band_lines] == ["0-24", "24-48", "48+"]
    assert sum(int(line[2]) for line in band_lines) == int(out.split(" eligible hourly rows")[0])
