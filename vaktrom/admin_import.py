"""`vaktrom admin import`: a unit's beds and current patients from a CSV file, for a first deployment.

Every row is validated before anything is written, and the rows are written in one transaction: one bad row (its
number and field are reported) and nothing is written. Columns: docs/ADMIN.md, "Importing a unit".
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from core.administration import UnitImportRow
from core.errors import VaktromError
from core.national_id import parse_national_id
from core.types import Bed, Patient
from dashboard_api.schemas_admin import BedIn, PatientIn
from vaktrom.admin_command import AdminSession, Subparsers, identifier, leaf

__all__ = ["IMPORT_COLUMNS", "ImportFileError", "add_admin_parsers", "read_unit_csv"]

IMPORT_COLUMNS: tuple[str, ...] = (
    "bed_id",
    "bed_label",
    "patient_id",
    "display_name",
    "birth_year",
    "national_id",
    "admitted_at",
)
_PATIENT_COLUMNS = ("display_name", "birth_year", "national_id", "admitted_at")
# Errors listed before the rest are summed up: enough to fix a file in one go, short enough to read.
_MAX_LISTED = 20


class ImportFileError(VaktromError):
    """A file that cannot be imported: each problem as "row N, field: what" (the header is row 1)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        listed = "\n  ".join(problems[:_MAX_LISTED])
        super().__init__(f"nothing imported; fix these rows:\n  {listed}{more}")


def add_admin_parsers(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    parser = leaf(subparsers, "import", _import, "import a unit's beds and current patients from a CSV file")
    parser.description = (
        "Create the beds of a ward and register and admit its current patients (or enrol them, in a home "
        "programme's ward) from a CSV file with the header " + ",".join(IMPORT_COLUMNS) + ". Every row is checked "
        "first; one bad row and nothing is written (its row number and field are reported). docs/ADMIN.md "
        "describes the columns."
    )
    parser.add_argument("csv_file", type=Path, help="the CSV file (UTF-8, comma-separated, header row first)")
    parser.add_argument("--ward", required=True, dest="ward_id", type=identifier, help="the ward the rows belong to")


def _records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as source:
            reader = csv.DictReader(source)
            header = reader.fieldnames or []
            unknown = [name for name in header if name not in IMPORT_COLUMNS]
            missing = [name for name in ("bed_id", "patient_id") if name not in header]
            if unknown or missing:
                raise ImportFileError(
                    [f"row 1, header: unknown columns {unknown}" if unknown else f"row 1, header: missing {missing}"]
                )
            for number, record in enumerate(reader, start=2):
                yield number, {k: (v or "").strip() for k, v in record.items() if k is not None}
    except UnicodeDecodeError:
        raise ImportFileError(['file: not UTF-8 text (save it as "CSV UTF-8")']) from None


def _field_of(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    return str(error["loc"][0]) if error["loc"] else "row", error["msg"].removeprefix("Value error, ")


def _row(number: int, record: dict[str, str], ward_id: str, now: datetime) -> UnitImportRow:
    """One row, validated by the API's rules; raises ValueError("field: what")."""
    bed = None
    if record.get("bed_id"):
        try:
            bed_in = BedIn(bed_id=record["bed_id"], ward_id=ward_id, label=record.get("bed_label", ""))
        except ValidationError as exc:
            field, why = _field_of(exc)
            raise ValueError(f"{'bed_label' if field == 'label' else field}: {why}") from None
        bed = Bed(bed_in.bed_id, ward_id, bed_in.label)
    if not record.get("patient_id"):
        stray = [name for name in _PATIENT_COLUMNS if record.get(name)]
        if stray:
            raise ValueError(f"{stray[0]}: given for a bed with no patient_id")
        return UnitImportRow(number, bed, None)
    values = {k: record.get(k) or None for k in ("patient_id", "display_name", "birth_year", "national_id")}
    try:
        patient_in = PatientIn.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise ValueError("{}: {}".format(*_field_of(exc))) from None
    admitted_at = _admitted_at(record.get("admitted_at", ""), now)
    number_of = parse_national_id(patient_in.national_id) if patient_in.national_id else None
    patient = Patient(patient_in.patient_id, patient_in.display_name, patient_in.birth_year)
    return UnitImportRow(number, bed, patient, national_id=number_of, admitted_at=admitted_at)


def _admitted_at(text: str, now: datetime) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"admitted_at: {text!r} is not an ISO 8601 time, e.g. 2025-01-31T08:00:00+01:00") from None
    if at.tzinfo is None:
        raise ValueError(f"admitted_at: {text!r} needs its offset, e.g. 2025-01-31T08:00:00+01:00")
    if at > now:
        raise ValueError(f"admitted_at: {text} is in the future")
    return at


def _repeats(records: list[tuple[int, dict[str, str]]]) -> list[str]:
    """Ids (and numbers) a file names twice, checked on the raw cells so a bad row still counts."""
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for number, record in records:
        for field in ("bed_id", "patient_id", "national_id"):
            value = record.get(field, "").replace(" ", "")
            if not value:
                continue
            first = seen.setdefault((field, value), number)
            if first != number:
                shown = "the same number" if field == "national_id" else value
                problems.append(f"row {number}, {field}: {shown} is on row {first} already")
    return problems


def read_unit_csv(path: Path, *, ward_id: str, now: datetime) -> list[UnitImportRow]:
    """Every row of the file, validated; raises ImportFileError listing every bad row and field (never a national
    identity number), or OSError when the file cannot be read."""
    records = list(_records(path))
    rows: list[UnitImportRow] = []
    problems: list[str] = []
    for number, record in records:
        try:
            rows.append(_row(number, record, ward_id, now))
        except ValueError as exc:
            problems.append(f"row {number}, {exc}")
    problems += _repeats(records)
    if problems:
        raise ImportFileError(problems)
    if not rows:
        raise ImportFileError(["row 2, bed_id: the file has no rows"])
    return rows


async def _import(args: argparse.Namespace, session: AdminSession) -> int:
    now = session.clock()
    try:
        rows = read_unit_csv(args.csv_file, ward_id=args.ward_id, now=now)
    except OSError as exc:
        raise ImportFileError([f"file: cannot read {args.csv_file}: {exc.strerror}"]) from None
    changes = await session.store.import_unit(args.ward_id, rows, at=now, by=session.actor)
    admitted = [change.started for change in changes if change.started is not None]
    for stay in admitted:
        where = f"bed {stay.bed_id}" if stay.bed_id else f"ward {stay.ward_id}"
        await session.audit("admin.import", stay.patient_id, f"{where} stay {stay.stay_id}", patient_id=stay.patient_id)
    beds = sum(1 for row in rows if row.bed is not None)
    session.say(f"imported {len(rows)} rows into ward {args.ward_id}: {beds} beds, {len(admitted)} patients")
    return 0
