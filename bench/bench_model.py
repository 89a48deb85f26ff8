"""Live ML risk cost per patient update: readings -> features -> probability, level and reasons (µs, mean and p99).

Run: .venv/bin/python -m bench.bench_model [--model PATH] [--updates N]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from core.types import Parameter
from models.features import GRID_HOURS, VITALS, features_from_history
from models.predict import RiskModel


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


def _history(rng: np.random.Generator, now: datetime) -> list[_Reading]:
    """A day of hourly observation sets (what the store hands the risk step), some values missing."""
    readings = []
    for hour in range(GRID_HOURS):
        at = now - timedelta(hours=hour, minutes=int(rng.integers(0, 60)))
        for vital in VITALS:
            if rng.random() < 0.85:
                readings.append(_Reading(vital, _TYPICAL[vital] * (1 + rng.normal(0, 0.08)), at))
    readings.append(_Reading(Parameter.SUPPLEMENTAL_O2, float(rng.random() < 0.2), now - timedelta(hours=30)))
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="artefact (default: the shipped one)")
    parser.add_argument("--updates", type=int, default=2000)
    args = parser.parse_args()
    model = RiskModel.load(args.model)
    rng = np.random.default_rng(0)
    now = datetime(2025, 1, 10, 12, tzinfo=UTC)
    patients = [_history(rng, now) for _ in range(200)]
    admitted_at = now - timedelta(hours=40)
    for history in patients[:20]:  # warm-up
        model.assess("p", history, now, age_years=75, male=True, admitted_at=admitted_at)
    total_s, features_s = [], []
    for i in range(args.updates):
        history = patients[i % len(patients)]
        start = time.perf_counter()
        model.assess("p", history, now, age_years=75, male=True, admitted_at=admitted_at)
        total_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        features_from_history(history, now=now, age_years=75, male=True, admitted_at=admitted_at)
        features_s.append(time.perf_counter() - start)
    total_us, features_us = np.array(total_s) * 1e6, np.array(features_s) * 1e6
    readings = np.mean([len(p) for p in patients])
    print(f"model {model.version}: {len(model._forest.roots)} trees, depth {model._forest.depth}")
    print(f"live risk per patient update ({readings:.0f} readings of {GRID_HOURS} h, {args.updates} updates):")
    for name, values in (("total (features + probability + reasons)", total_us), ("of which features", features_us)):
        print(f"  {name:42} mean {values.mean():7.1f} µs   p99 {np.percentile(values, 99):7.1f} µs")
    print(f"  budget: 1000 µs mean -> {'OK' if total_us.mean() < 1000 else 'OVER BUDGET'}")


if __name__ == "__main__":
    main()
