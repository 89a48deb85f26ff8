"""`vaktrom score`: NEWS2 for every row of a CSV of observation sets, written to a new CSV."""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from core.errors import VaktromError
from core.types import Consciousness
from scoring.news2 import News2Batch, ObservationBatch, score_batch

__all__ = ["INPUT_COLUMNS", "OUTPUT_COLUMNS", "ScoreCsvError", "add_parser", "run_score_csv"]

INPUT_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "time",
    "resp_rate",
    "spo2",
    "spo2_scale",
    "supplemental_o2",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)
OUTPUT_COLUMNS: tuple[str, ...] = ("news2", "news2_complete", "risk", "single_param_3")
_NUMERIC_COLUMNS: dict[str, str] = {  # CSV column -> ObservationBatch field
    "resp_rate": "resp_rate_per_min",
    "spo2": "spo2_percent",
    "systolic_bp": "systolic_bp_mmhg",
    "pulse": "pulse_per_min",
    "temperature": "temperature_c",
}
_OXYGEN_WORDS = {"true": 1.0, "1": 1.0, "false": 0.0, "0": 0.0}


class ScoreCsvError(VaktromError):
    """A CSV that cannot be scored. `row` counts as a spreadsheet does (the header is row 1); None when the
    fault is in the whole file."""

    def __init__(self, reason: str, *, row: int | None, column: str | None = None) -> None:
        self.reason = reason
        self.row = row
        self.column = column
        where = ", ".join(part for part in (row and f"row {row}", column and f"column {column}") if part)
        super().__init__(f"{where}: {reason}" if where else reason)


def run_score_csv(input_path: Path, output_path: Path) -> int:
    """Score every row of `input_path` and write it with four score columns to `output_path`; return the row count.

    Input columns are INPUT_COLUMNS (others are passed through); an empty cell is a missing value. `news2` is the
    aggregate, or a lower bound when `news2_complete` is false. Nothing is written when any row is bad: raises
    ScoreCsvError naming the first bad row and column. Raises OSError when a file cannot be read or written.
    """
    if input_path.resolve() == output_path.resolve():
        raise ScoreCsvError("the output would overwrite the input; choose another output file", row=1)
    with input_path.open(newline="", encoding="utf-8-sig") as source:
        header, rows = _read(_records(csv.reader(source)))
    scores = score_batch(_observations(header, rows))
    _write(output_path, header, rows, scores)
    return len(rows)


def _records(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    """The reader's records, with unreadable text turned into a ScoreCsvError."""
    row_number = 0
    try:
        for row_number, record in enumerate(reader, start=1):  # noqa: B007 - row_number is reported on failure
            yield record
    except UnicodeDecodeError:
        # Decoding runs a buffer ahead of the parser, so there is no row to name.
        raise ScoreCsvError('the file is not UTF-8 text (save it as "CSV UTF-8")', row=None) from None
    except csv.Error as exc:
        raise ScoreCsvError(f"not readable as CSV: {exc}", row=row_number + 1) from None


def _read(reader: Iterator[list[str]]) -> tuple[list[str], list[list[str]]]:
    header = next(reader, None)
    if header is None:
        raise ScoreCsvError("the file is empty; expected a header row: " + ",".join(INPUT_COLUMNS), row=1)
    for column in INPUT_COLUMNS:
        if column not in header:
            raise ScoreCsvError("missing column in the header", row=1, column=column)
    for column in (*INPUT_COLUMNS, *OUTPUT_COLUMNS):
        if header.count(column) > (0 if column in OUTPUT_COLUMNS else 1):
            raise ScoreCsvError("column appears in the header more than it should", row=1, column=column)
    rows: list[list[str]] = []
    for row_number, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise ScoreCsvError(f"has {len(row)} cells but the header has {len(header)}", row=row_number)
        rows.append(row)
    return header, rows


def _observations(header: list[str], rows: Sequence[list[str]]) -> ObservationBatch:
    parsers: dict[str, Callable[[str], float]] = {
        **dict.fromkeys(_NUMERIC_COLUMNS, _number),
        "spo2_scale": _scale,
        "supplemental_o2": _oxygen,
        "consciousness": _consciousness,
    }
    indices = {name: header.index(name) for name in parsers}
    columns: dict[str, list[float]] = {name: [] for name in parsers}
    for row_number, row in enumerate(rows, start=2):
        for name, parse in parsers.items():
            try:
                columns[name].append(parse(row[indices[name]].strip()))
            except ValueError as exc:
                raise ScoreCsvError(str(exc), row=row_number, column=name) from None
    return ObservationBatch(
        **{field: np.array(columns[name], dtype=np.float64) for name, field in _NUMERIC_COLUMNS.items()},
        spo2_scale=np.array(columns["spo2_scale"], dtype=np.int64),
        supplemental_o2=np.array(columns["supplemental_o2"], dtype=np.float64),
        consciousness=np.array(columns["consciousness"], dtype=np.float64),
    )


def _number(cell: str) -> float:
    if not cell:
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        hint = " (use a decimal point, not a comma)" if "," in cell else ""
        raise ValueError(f"{cell!r} is not a number{hint}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{cell!r} is not a measurement (must be a number >= 0)")
    return value


def _scale(cell: str) -> float:
    if cell in ("", "1"):
        return 1
    if cell == "2":
        return 2
    raise ValueError(f"{cell!r} is not an SpO2 scale (1, 2, or empty for 1)")


def _oxygen(cell: str) -> float:
    if not cell:
        return math.nan
    if cell.lower() not in _OXYGEN_WORDS:
        raise ValueError(f"{cell!r} is not true, false, 1 or 0")
    return _OXYGEN_WORDS[cell.lower()]


def _consciousness(cell: str) -> float:
    if not cell:
        return math.nan
    return float(Consciousness.from_letter(cell))


def _write(path: Path, header: list[str], rows: Sequence[list[str]], scores: News2Batch) -> None:
    # Write beside the target and rename, so a failed run never leaves a half-written output behind.
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as sink:
            writer = csv.writer(sink, lineterminator="\n")
            writer.writerow([*header, *OUTPUT_COLUMNS])
            for index, row in enumerate(rows):
                writer.writerow([*row, *_score_cells(scores, index)])
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _score_cells(scores: News2Batch, row: int) -> list[str]:
    return [
        str(int(scores.total[row])),
        "true" if scores.complete[row] else "false",
        scores.risk_at(row).value,
        "true" if scores.single_param_3[row] else "false",
    ]


# --- command line --------------------------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `vaktrom score --input IN.csv --output OUT.csv`; the namespace's `func(args)` runs it, returning the exit
    status."""
    parser = subparsers.add_parser(
        "score",
        help="NEWS2-score a CSV of observation sets",
        description="Score every row of IN.csv with NEWS2 and write it to OUT.csv with columns news2, news2_complete, "
        "risk and single_param_3. Input columns: " + ",".join(INPUT_COLUMNS) + ". An empty cell is a missing value; "
        "an incomplete row's news2 is a lower bound.",
    )
    parser.add_argument("--input", required=True, type=Path, metavar="IN.csv", help="CSV of observation sets")
    parser.add_argument(
        "--output", required=True, type=Path, metavar="OUT.csv", help="CSV to write (replaced if it exists)"
    )
    parser.set_defaults(func=run_score_command)


def run_score_command(args: argparse.Namespace) -> int:
    """Exit status 0 when scored, 1 when a file cannot be read or written, 2 when the CSV has a bad row."""
    try:
        count = run_score_csv(args.input, args.output)
    except ScoreCsvError as exc:
        sys.stderr.write(f"vaktrom score: {args.input}: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"vaktrom score: {exc.strerror or exc}: {exc.filename}\n")
        return 1
    sys.stdout.write(f"Scored {count} {'row' if count == 1 else 'rows'} into {args.output}\n")
    return 0
