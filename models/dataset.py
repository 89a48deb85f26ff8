"""Read a PhysioNet 2019-schema Parquet file into an hourly grid with the 6-hour sepsis label."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.errors import DatasetError
from core.types import Parameter
from models.features import VITALS, HourlyGrid

__all__ = ["HORIZON_H", "REQUIRED_COLUMNS", "LabelledHours", "file_sha256", "labelled_hours", "load_labelled_hours"]

logger = logging.getLogger(__name__)

HORIZON_H = 6  # predict sepsis onset (SepsisLabel turning 1) within the next 6 hours
_COLUMN_OF: dict[Parameter, str] = {
    Parameter.PULSE: "HR",
    Parameter.SPO2: "O2Sat",
    Parameter.TEMPERATURE: "Temp",
    Parameter.SYSTOLIC_BP: "SBP",
    Parameter.DIASTOLIC_BP: "DBP",
    Parameter.RESP_RATE: "Resp",
}
REQUIRED_COLUMNS: tuple[str, ...] = (
    "patient_id",
    *(_COLUMN_OF[v] for v in VITALS),
    "FiO2",
    "Age",
    "Gender",
    "ICULOS",
    "SepsisLabel",
)
_ROOM_AIR_FIO2 = 0.21
# Values are stored as float32; undo the binary noise (38.05 is stored as 38.0499992) so NEWS2 charting rounds the
# value as written. Vitals are recorded with at most 2 decimals.
_WRITTEN_DECIMALS = 4


@dataclass(frozen=True, slots=True)
class LabelledHours:
    """Every patient-hour of a file. `eligible`: not yet septic at this hour (the rows the model is judged on)."""

    grid: HourlyGrid
    label: NDArray[np.int8]  # 1 if SepsisLabel turns 1 within the next HORIZON_H hours
    eligible: NDArray[np.bool_]
    patient: NDArray[np.int64]  # patient number 0..n_patients-1 of each row
    n_patients: int
    sha256: str
    patient_ids: NDArray[np.str_]  # the file's patient_id of each patient number


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_labelled_hours(path: Path) -> LabelledHours:
    """Read `path`; raises DatasetError naming the file and what is wrong with it."""
    import pyarrow as pa  # heavy: only the offline commands need it
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DatasetError(str(path), reason="no such file")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(str(path), reason=f"not a readable Parquet file ({exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise DatasetError(str(path), reason=f"missing columns {missing}; expected the PhysioNet 2019 schema")
    if table.num_rows == 0:
        raise DatasetError(str(path), reason="the file has no rows")
    try:
        columns = {name: table.column(name).to_numpy(zero_copy_only=False) for name in REQUIRED_COLUMNS}
        numeric = {name: np.asarray(columns[name], dtype=np.float64) for name in REQUIRED_COLUMNS[1:]}
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise DatasetError(str(path), reason=f"a column is not numeric ({exc})") from None
    try:
        return labelled_hours(np.asarray(columns["patient_id"]).astype(str), numeric, sha256=file_sha256(path))
    except ValueError as exc:
        raise DatasetError(str(path), reason=str(exc)) from None


def labelled_hours(
    patient_ids: NDArray[np.str_], numeric: dict[str, NDArray[np.float64]], *, sha256: str
) -> LabelledHours:
    """Build the grid and labels from columns named as in REQUIRED_COLUMNS; rows sorted by patient, then hour."""
    starts = np.flatnonzero(np.r_[True, patient_ids[1:] != patient_ids[:-1]])
    _check_rows(patient_ids, starts, numeric["ICULOS"])
    patient = np.cumsum(np.isin(np.arange(len(patient_ids)), starts)) - 1
    first_row = starts[patient].astype(np.int64)
    hours = numeric["ICULOS"]
    if np.any(np.diff(hours)[np.diff(patient) == 0] != 1):
        logger.warning("ICULOS does not rise by exactly 1 h within every patient: rows are treated as hours anyway")
    sepsis = np.nan_to_num(numeric["SepsisLabel"]) > 0
    label, eligible = _label(sepsis, patient, len(starts))
    fio2 = numeric["FiO2"]
    usable = (fio2 > 0) & (fio2 <= 1)  # 0 and > 1 are recording errors: unknown
    on_oxygen = np.where(usable, (fio2 > _ROOM_AIR_FIO2).astype(np.float64), np.nan)
    vitals = np.column_stack([np.round(numeric[_COLUMN_OF[v]], _WRITTEN_DECIMALS) for v in VITALS])
    grid = HourlyGrid(
        vitals=vitals,
        on_oxygen=on_oxygen,
        age_years=numeric["Age"],
        male=np.where(np.isin(numeric["Gender"], (0.0, 1.0)), numeric["Gender"], np.nan),
        hours_since_admission=hours,
        first_row=first_row,
    )
    return LabelledHours(
        grid=grid,
        label=label,
        eligible=eligible,
        patient=patient.astype(np.int64),
        n_patients=len(starts),
        sha256=sha256,
        patient_ids=patient_ids[starts],
    )


def _check_rows(patient_ids: NDArray[np.str_], starts: NDArray[np.int64], iculos: NDArray[np.float64]) -> None:
    """Rows must be grouped by patient (one record each) and carry ICULOS as whole hours; raises ValueError."""
    if len(starts) != len(np.unique(patient_ids[starts])):
        raise ValueError("rows of a patient_id are not together: sort the file by patient_id, then hour")
    if not np.all(np.isfinite(iculos)) or np.any(iculos != np.round(iculos)) or np.any(iculos < 0):
        raise ValueError("ICULOS must be a whole number of hours (0 or more) in every row")


def _label(
    sepsis: NDArray[np.bool_], patient: NDArray[np.int64], n_patients: int
) -> tuple[NDArray[np.int8], NDArray[np.bool_]]:
    """Label 1 where the first SepsisLabel=1 row of the patient lies 1..HORIZON_H rows ahead; eligible before it."""
    rows = np.arange(len(sepsis), dtype=np.int64)
    first_septic = np.full(n_patients, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_septic, patient[sepsis], rows[sepsis])
    ahead = first_septic[patient] - rows
    eligible = ahead > 0
    return ((ahead >= 1) & (ahead <= HORIZON_H)).astype(np.int8), eligible
