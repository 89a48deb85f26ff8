"""Synthetic cohorts and a tiny model trained on them, so model tests run in seconds without the real data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from core.types import Parameter
from models.artefact import ModelArtefact
from models.dataset import REQUIRED_COLUMNS, LabelledHours, labelled_hours
from models.features import VITALS, HourlyGrid
from models.predict import RiskModel
from models.train import train_on

SETA_PATH = Path("/work/shared/data/physionet2019/setA.parquet")
ADMITTED_AT = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
TINY_TRIAL = {"learning_rate": 0.1, "max_leaf_nodes": 15, "max_depth": 4, "min_samples_leaf": 40}

# Stable physiology and how far each vital has drifted at full deterioration (the hour of sepsis onset).
_BASELINE = {"HR": 78.0, "O2Sat": 97.0, "Temp": 36.9, "SBP": 125.0, "DBP": 70.0, "Resp": 16.0}
_DRIFT = {"HR": 40.0, "O2Sat": -6.0, "Temp": 1.8, "SBP": -30.0, "DBP": -12.0, "Resp": 12.0}
_NOISE = {"HR": 6.0, "O2Sat": 1.0, "Temp": 0.3, "SBP": 8.0, "DBP": 5.0, "Resp": 2.0}
_MISSING = {"HR": 0.05, "O2Sat": 0.1, "Temp": 0.6, "SBP": 0.15, "DBP": 0.4, "Resp": 0.1}
DETERIORATION_H = 18  # vitals drift for this long before clinical onset


@dataclass(frozen=True, slots=True)
class Reading:
    """Reading-like: what features_from_history needs."""

    parameter: Parameter
    value: float
    measured_at: datetime


def synthetic_columns(
    n_patients: int, *, seed: int, septic_fraction: float = 0.3, hours: int = 60
) -> tuple[NDArray[np.str_], dict[str, NDArray[np.float64]]]:
    """A cohort in the PhysioNet 2019 schema: septic patients drift steadily over DETERIORATION_H hours."""
    rng = np.random.default_rng(seed)
    ids: list[str] = []
    columns: dict[str, list[float]] = {name: [] for name in REQUIRED_COLUMNS[1:]}
    for p in range(n_patients):
        septic = rng.random() < septic_fraction
        onset = int(rng.integers(30, hours)) if septic else hours + 100  # clinical onset hour
        start = int(rng.integers(1, 5))
        for h in range(hours):
            severity = float(np.clip((h - (onset - DETERIORATION_H)) / DETERIORATION_H, 0.0, 1.0))
            for name, base in _BASELINE.items():
                value = base + severity * _DRIFT[name] + rng.normal(0, _NOISE[name])
                columns[name].append(np.nan if rng.random() < _MISSING[name] else round(value, 1))
            columns["FiO2"].append(0.4 if severity > 0.5 else 0.21 if h % 12 == 0 else np.nan)
            columns["Age"].append(float(40 + p % 50))
            columns["Gender"].append(float(p % 2))
            columns["ICULOS"].append(float(start + h))
            columns["SepsisLabel"].append(1.0 if h >= onset - 6 else 0.0)
            ids.append(f"p{p:05d}")
    return np.array(ids), {name: np.array(values, dtype=np.float64) for name, values in columns.items()}


def synthetic_hours(n_patients: int, *, seed: int) -> LabelledHours:
    ids, numeric = synthetic_columns(n_patients, seed=seed)
    return labelled_hours(ids, numeric, sha256="synthetic")


def readings_of(grid: HourlyGrid, rows: range) -> list[Reading]:
    """The grid rows as readings, each in the middle of its hour (hour h of the stay = ICULOS h)."""
    readings = []
    for r in rows:
        at = ADMITTED_AT + timedelta(hours=float(grid.hours_since_admission[r]) - 0.5)
        for j, vital in enumerate(VITALS):
            if not np.isnan(grid.vitals[r, j]):
                readings.append(Reading(vital, float(grid.vitals[r, j]), at))
        if not np.isnan(grid.on_oxygen[r]):
            readings.append(Reading(Parameter.SUPPLEMENTAL_O2, float(grid.on_oxygen[r]), at))
    return readings


@pytest.fixture(scope="session")
def tiny_artefact() -> ModelArtefact:
    return train_on(synthetic_hours(400, seed=1), trials=[TINY_TRIAL], max_iter=60, bootstrap_rounds=5)


@pytest.fixture(scope="session")
def tiny_model(tiny_artefact: ModelArtefact) -> RiskModel:
    return RiskModel(tiny_artefact)
