"""Live ML risk cost per patient update: history -> features -> probability, level and reasons (µs, mean and p99).

Measured as the live pipeline runs it (ingest/risk.py): histories shaped as the store hands them over (hourly means
plus oxygen chartings), assessed RISK_CHUNK patients at a time, and in smaller chunks as a small unit sees them (the
numpy work per call is mostly fixed, so its cost per patient falls with the chunk). Beside them, in the same run:
one patient from raw readings, and scikit-learn's own `decision_function` on the same rows (trees only, no
features or reasons), which the live predictor replaces.

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

from core.types import HourlyMean, Parameter
from ingest.risk import RISK_CHUNK
from models.features import GRID_HOURS, VITALS
from models.history import PatientHistory, features_of_histories
from models.predict import RiskModel

BUDGET_US = 1000.0  # issue 3: under 1 ms per patient update on average


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


def _timed(step: Callable[[int], int], updates: int) -> np.ndarray:
    """Microseconds per patient of each call of `step(i)`, which returns how many patients it assessed."""
    per_patient = []
    done = 0
    while done < updates:
        start = time.perf_counter()
        patients = step(done)
        per_patient.append((time.perf_counter() - start) / patients * 1e6)
        done += patients
    return np.array(per_patient)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="artefact (default: the shipped one)")
    parser.add_argument("--updates", type=int, default=4000, help="patient updates per measurement")
    args = parser.parse_args()
    model = RiskModel.load(args.model)
    rng = np.random.default_rng(0)
    raw = [_readings(rng) for _ in range(200)]
    stored = [_as_stored(readings) for readings in raw]

    histories = [
        ("p", PatientHistory.from_hourly_means(m, o, now=_NOW, age_years=75, male=True, admitted_at=_ADMITTED_AT))
        for m, o in stored
    ]

    def live(chunk: int) -> Callable[[int], int]:
        def step(i: int) -> int:
            # Building the histories is part of the cost: it reads every hourly mean once.
            batch = [stored[(i + k) % len(stored)] for k in range(chunk)]
            model.assess_many(
                [
                    (
                        "p",
                        PatientHistory.from_hourly_means(
                            m, o, now=_NOW, age_years=75, male=True, admitted_at=_ADMITTED_AT
                        ),
                    )
                    for m, o in batch
                ]
            )
            return chunk

        return step

    def from_readings(i: int) -> int:
        model.assess("p", raw[i % len(raw)], _NOW, age_years=75, male=True, admitted_at=_ADMITTED_AT)
        return 1

    features = features_of_histories([h for _, h in histories[:RISK_CHUNK]])
    rows = np.repeat(features[:, model._columns], 1 + len(model._reason_columns), axis=0)

    def sklearn_call(i: int) -> int:
        model.artefact.classifier.decision_function(rows)
        return RISK_CHUNK

    steps = [
        (f"live: chunks of {RISK_CHUNK} patients (as ingest/risk.py runs)", live(RISK_CHUNK), args.updates),
        ("live: chunks of 5 patients (a small unit)", live(5), args.updates // 2),
        ("live: one patient at a time", live(1), args.updates // 4),
        ("one patient from raw readings (not the live path)", from_readings, args.updates // 4),
        (f"reference: sklearn decision_function, same rows ({RISK_CHUNK} pts)", sklearn_call, args.updates // 4),
    ]
    for _, step, _ in steps:
        step(0)  # warm-up
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"model {model.version}: {len(model._forest.roots)} trees, depth {model._forest.depth}")
    print(f"ML risk per patient update ({len(raw[0])} readings of {GRID_HOURS} h each, probability and reasons):")
    results = {}
    for name, step, updates in steps:
        results[name] = values = _timed(step, updates)
        print(f"  {name:62} mean {values.mean():7.1f} µs   p99 {np.percentile(values, 99):7.1f} µs")
    live_mean = results[steps[0][0]].mean()
    verdict = "OK" if live_mean < BUDGET_US else "OVER BUDGET"
    print(f"  budget: {BUDGET_US:.0f} µs mean per live update at {RISK_CHUNK} per chunk -> {verdict}")


if __name__ == "__main__":
    main()
