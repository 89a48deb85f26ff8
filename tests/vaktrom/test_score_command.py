"""`vaktrom score`: a CSV of observation sets in, the same rows with their NEWS2 out."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pytest

from vaktrom.score_command import ScoreCsvError, add_parser, run_score_csv

HEADER = "patient_id,time,resp_rate,spo2,spo2_scale,supplemental_o2,systolic_bp,pulse,consciousness,temperature"
WORKED_EXAMPLE = "p1,2025-03-04T12:00:00Z,22,94,1,true,105,115,A,38.4"


def _write_csv(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_worked_example_row_scores_9_high(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert run_score_csv(_write_csv(tmp_path, HEADER, WORKED_EXAMPLE), out) == 1
    [row] = _read_csv(out)
    assert row == {
        **dict(zip(HEADER.split(","), WORKED_EXAMPLE.split(","), strict=True)),
        "news2": "9",
        "news2_complete": "true",
        "risk": "high",
        "single_param_3": "false",
    }


def test_rows_keep_their_order_and_cells_and_get_scored_by_the_chart(tmp_path: Path) -> None:
    lines = [
        HEADER,
        "p1,t1,16,97,,false,120,70,A,37.0",  # all normal: 0, low
        "p2,t2,16,97,1,0,120,70,V,37.0",  # voice: a single 3, low-medium
        "p3,t3,21,95,,,,,, 38.05",  # 2 + 1 + 1 (38.05 charted 38.1), incomplete
        "p4,t4,16,97,2,1,120,70,a,37.0",  # scale 2 on oxygen at 97: 3 + 2
        "p5,t5,,,,,,,,",  # nothing observed
        "p6,t6,25,91,1,TRUE,90,131,U,35.0",  # every row at its worst: 3+3+2+3+3+3+3
    ]
    out = tmp_path / "out.csv"
    assert run_score_csv(_write_csv(tmp_path, *lines), out) == 6
    rows = _read_csv(out)
    assert [r["patient_id"] for r in rows] == ["p1", "p2", "p3", "p4", "p5", "p6"]
    assert rows[2]["temperature"] == " 38.05"  # input cells pass through untouched
    assert [(r["news2"], r["news2_complete"], r["risk"], r["single_param_3"]) for r in rows] == [
        ("0", "true", "low", "false"),
        ("3", "true", "low-medium", "true"),
        ("4", "false", "low", "false"),
        ("5", "true", "medium", "true"),
        ("0", "false", "low", "false"),
        ("20", "true", "high", "true"),
    ]


def test_extra_columns_pass_through(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    run_score_csv(_write_csv(tmp_path, HEADER + ",note", WORKED_EXAMPLE + ",after lunch"), out)
    [row] = _read_csv(out)
    assert (row["note"], row["news2"]) == ("after lunch", "9")
    assert out.read_text(encoding="utf-8").splitlines()[0] == HEADER + ",note,news2,news2_complete,risk,single_param_3"


@pytest.mark.parametrize(
    ("bad_row", "column", "reason"),
    [
        ("p2,t,abc,94,1,true,105,115,A,38.4", "resp_rate", "'abc' is not a number"),
        ('p2,t,22,94,1,true,105,115,A,"38,4"', "temperature", "use a decimal point"),
        ("p2,t,22,-94,1,true,105,115,A,38.4", "spo2", "must be a number >= 0"),
        ("p2,t,22,94,3,true,105,115,A,38.4", "spo2_scale", "'3' is not an SpO2 scale"),
        ("p2,t,22,94,1,yes,105,115,A,38.4", "supplemental_o2", "'yes' is not true, false, 1 or 0"),
        ("p2,t,22,94,1,true,105,115,X,38.4", "consciousness", "must be one of A, C, V, P, U"),
        ("p2,t,22,94,1,true,105,nan,A,38.4", "pulse", "is not a measurement"),
    ],
)
def test_bad_row_is_named_by_row_and_column_and_nothing_is_written(
    tmp_path: Path, bad_row: str, column: str, reason: str
) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(ScoreCsvError, match=reason) as caught:
        run_score_csv(_write_csv(tmp_path, HEADER, WORKED_EXAMPLE, bad_row), out)
    assert (caught.value.row, caught.value.column) == (3, column)
    assert str(caught.value).startswith(f"row 3, column {column}: ")
    assert list(tmp_path.iterdir()) == [tmp_path / "in.csv"]


def test_missing_header_column_is_named(tmp_path: Path) -> None:
    header = HEADER.replace(",pulse", "")
    with pytest.raises(ScoreCsvError, match="row 1, column pulse: missing column") as caught:
        run_score_csv(_write_csv(tmp_path, header), tmp_path / "out.csv")
    assert (caught.value.row, caught.value.column) == (1, "pulse")


def test_row_with_the_wrong_number_of_cells_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScoreCsvError, match="row 2: has 9 cells but the header has 10"):
        run_score_csv(_write_csv(tmp_path, HEADER, "p1,t,22,94,1,true,105,115,A"), tmp_path / "out.csv")


def test_empty_file_says_what_header_is_expected(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ScoreCsvError, match="the file is empty; expected a header row: patient_id,time"):
        run_score_csv(path, tmp_path / "out.csv")


def test_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes((HEADER + "\np\xe5,t,22,94,1,true,105,115,A,38.4\n").encode("latin-1"))
    with pytest.raises(ScoreCsvError, match="not UTF-8"):
        run_score_csv(path, tmp_path / "out.csv")


def test_header_only_gives_header_only(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert run_score_csv(_write_csv(tmp_path, HEADER), out) == 0
    assert out.read_text(encoding="utf-8") == HEADER + ",news2,news2_complete,risk,single_param_3\n"


def test_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    path = _write_csv(tmp_path, HEADER, WORKED_EXAMPLE)
    with pytest.raises(ScoreCsvError, match="overwrite the input"):
        run_score_csv(path, path)
    assert path.read_text(encoding="utf-8") == HEADER + "\n" + WORKED_EXAMPLE + "\n"


def _cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaktrom")
    add_parser(parser.add_subparsers(required=True))
    return parser


def test_command_scores_and_reports_the_row_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    args = _cli().parse_args(
        ["score", "--input", str(_write_csv(tmp_path, HEADER, WORKED_EXAMPLE)), "--output", str(out)]
    )
    assert args.func(args) == 0
    assert capsys.readouterr().out == f"Scored 1 row into {out}\n"
    assert _read_csv(out)[0]["news2"] == "9"


def test_command_reports_a_bad_row_in_one_line_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write_csv(tmp_path, HEADER, "p1,t,22,94,1,maybe,105,115,A,38.4")
    args = _cli().parse_args(["score", "--input", str(source), "--output", str(tmp_path / "out.csv")])
    assert args.func(args) == 2
    captured = capsys.readouterr()
    assert (
        captured.err == f"vaktrom score: {source}: row 2, column supplemental_o2: 'maybe' is not true, false, 1 or 0\n"
    )
    assert captured.out == ""


def test_command_reports_a_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.csv"
    args = _cli().parse_args(["score", "--input", str(missing), "--output", str(tmp_path / "out.csv")])
    assert args.func(args) == 1
    assert capsys.readouterr().err == f"vaktrom score: No such file or directory: {missing}\n"
