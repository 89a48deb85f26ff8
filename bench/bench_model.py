"""Live ML risk cost per patient update: history -> features -> probability, level and reasons (ms, mean and p99).

Measured as the live pipeline runs it (ingest/risk.py) with the shipped model (or --model): histories shaped as the
store hands them over (hourly means plus oxygen chartings), assessed RISK_CHUNK patients at a time, and in smaller
chunks as a small unit sees them (the numpy work per call is mostly fixed, so its cost per patient falls with the
chunk). Beside each chunk size, in the same run: scikit-learn's own `decision_function` on the same rows the live
predictor walks (each patient's row and one per reason feature; trees only, no features, floor or reasons), which
the live predictor replaces; and one patient from raw readings.

Run: .venv/bin/python -m bench.bench_model [--model PATH] [--updates N]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # scikit-learn's own dependency

from core.types import HourlyMean, Parameter
from ingest.risk import RISK_CHUNK
from models.features import GRID_HOURS, VITALS, has_enough_data
from models.history import PatientHistory, features_of_histories
from models.predict import RiskModel

BUDGET_US = 1000.0  # issues 3 and 13: under 1 ms per patient update on average in the live batch shape
Step = Callable[[int], int]  # assesses the patients of call i, returns how many


@dataclass(frozen=True, slots=True)
class _Reading:
    parameter: Parameter
    value: float
    measured_at: datetime


_TYPICAL = {
    Parameter.PULSE: 84.0,
    Parameter.SPO2: 96.0,
    Parameter.TEMPERATURE: 37.1,
    Parameter.SYSTOLIC_BP: 122.0,
    Parameter.DIASTOLIC_BP: 68.0,
    Parameter.RESP_RATE: 18.0,
}
_NOW = datetime(2025, 1, 10, 12, tzinfo=UTC)
_ADMITTED_AT = _NOW - timedelta(hours=40)


def _readings(rng: np.random.Generator) -> list[_Reading]:
    """GRID_HOURS hours of hourly observation sets, some values missing, and one oxygen charting."""
    readings = []
    for hour in range(GRID_HOURS):
        at = _NOW - timedelta(hours=hour, minutes=int(rng.integers(0, 60)))
        for vital in VITALS:
            if rng.random() < 0.85:
                readings.append(_Reading(vital, _TYPICAL[vital] * (1 + rng.normal(0, 0.08)), at))
    readings.append(_Reading(Parameter.SUPPLEMENTAL_O2, float(rng.random() < 0.2), _NOW - timedelta(hours=30)))
    return readings


def _as_stored(readings: list[_Reading]) -> tuple[list[HourlyMean], list[_Reading]]:
    """What Store.hourly_means and Store.readings return for the same readings."""
    means = []
    for reading in readings:
        if reading.parameter is not Parameter.SUPPLEMENTAL_O2:
            hours_ago = int((_NOW - reading.measured_at).total_seconds() // 3600)
            means.append(HourlyMean(reading.parameter, hours_ago, reading.value, 1))
    return means, [r for r in readings if r.parameter is Parameter.SUPPLEMENTAL_O2]


def _timed(step: Step, updates: int) -> np.ndarray:
    """Microseconds per patient of each call of `step(i)`, which returns how many patients it assessed."""
    per_patient = []
    done = 0
    while done < updates:
        start = time.perf_counter()
        patients = step(done)
        per_patient.append((time.perf_counter() - start) / patients * 1e6)
        done += patients
    return np.array(per_patient)


def _tree_rows(model: RiskModel, features: np.ndarray) -> np.ndarray:
    """The rows RiskModel.predict_many walks for these patients: each one's row, then one per reason feature set to
    its typical value, restricted to the columns the artefact reads."""
    known = features[has_enough_data(features)]
    per_patient = len(model._reason_columns) + 1
    rows = np.repeat(known, per_patient, axis=0).reshape(len(known), per_patient, features.shape[1])
    rows[:, np.arange(1, per_patient), model._reason_columns] = model._reference
    return np.ascontiguousarray(rows.reshape(-1, features.shape[1])[:, model._columns])


def _steps(model: RiskModel, stored: list[tuple[list[HourlyMean], list[_Reading]]], chunk: int) -> tuple[Step, Step]:
    """(live, scikit-learn) steps over the same `chunk` patients per call, taken in turn from `stored`."""

    def batch(i: int) -> list[PatientHistory]:
        picked = [stored[(i + k) % len(stored)] for k in range(chunk)]
        return [
            PatientHistory.from_hourly_means(m, o, now=_NOW, age_years=75, male=True, admitted_at=_ADMITTED_AT)
            for m, o in picked
        ]

    rows = [_tree_rows(model, features_of_histories(batch(i))) for i in range(len(stored))]
    if not np.allclose(model._forest.raw(rows[0]), model.artefact.classifier.decision_function(rows[0])):
        raise SystemExit(f"{model.version}: the live predictor's trees disagree with scikit-learn's: not comparable")

    def live(i: int) -> int:
        # Building the histories is part of the cost: it reads every hourly mean once.
        model.assess_many([("p", history) for history in batch(i)])
        return chunk

    def sklearn_call(i: int) -> int:
        model.artefact.classifier.decision_function(rows[i % len(rows)])
        return chunk

    return live, sklearn_call


def _line(name: str, per_patient_us: np.ndarray) -> str:
    p50_ms, p99_ms = np.percentile(per_patient_us, [50, 99]) / 1000
    return f"  {name:58} mean {per_patient_us.mean() / 1000:6.3f}   p50 {p50_ms:6.3f}   p99 {p99_ms:6.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="artefact (default: the shipped one)")
    parser.add_argument("--updates", type=int, default=4000, help="patient updates per measurement")
    args = parser.parse_args()
    model = RiskModel.load(args.model)
    rng = np.random.default_rng(0)
    raw = [_readings(rng) for _ in range(200)]
    # One core for scikit-learn too, as the live task gets: its OpenMP threads would otherwise take the second core
    # and stall behind any other work on it (at load 2 on 2 cores: a mean 2-40x the median, 2026-12-05).
    with threadpool_limits(limits=1, user_api="openmp"):
        _measure(model, raw, args.updates)


def _measure(model: RiskModel, raw: list[list[_Reading]], updates: int) -> None:
    stored = [_as_stored(readings) for readings in raw]

    def from_readings(i: int) -> int:
        model.assess("p", raw[i % len(raw)], _NOW, age_years=75, male=True, admitted_at=_ADMITTED_AT)
        return 1

    chunks = {chunk: _steps(model, stored, chunk) for chunk in (RISK_CHUNK, 5, 1)}
    for live, sklearn_call in chunks.values():  # warm-up
        live(0)
        sklearn_call(0)
    from_readings(0)
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(
        f"model {model.version}: {len(model._columns)} features read, {len(model._forest.roots)} trees, depth "
        f"{model._forest.depth}, {len(model._reason_columns)} reason features, NEWS2 floor "
        f"{'yes' if len(model._news2_floor) else 'no'}"
    )
    print(f"ML risk per patient update ({len(raw[0])} readings of {GRID_HOURS} h each, probability and reasons):")
    live_means = {}
    for chunk, (live, sklearn_call) in chunks.items():
        n = updates if chunk == RISK_CHUNK else updates // 4
        live_us, sklearn_us = _timed(live, n), _timed(sklearn_call, n)
        live_means[chunk] = live_us.mean()
        label = "(as ingest/risk.py runs)" if chunk == RISK_CHUNK else "(a small unit)" if chunk > 1 else "alone"
        print(_line(f"live, {chunk} per chunk {label}", live_us))
        print(_line(f"  sklearn decision_function, same rows ({chunk} per call)", sklearn_us))
    print(_line("one patient from raw readings (not the live path)", _timed(from_readings, updates // 4)))
    verdict = "OK" if live_means[RISK_CHUNK] < BUDGET_US else "OVER BUDGET"
    print(f"  budget: {BUDGET_US / 1000:.0f} ms mean per live update at {RISK_CHUNK} per chunk -> {verdict}")


if __name__ == "__main__":
    main()
