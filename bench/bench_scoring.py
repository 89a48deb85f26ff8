"""The live scoring cycle alone, on PostgreSQL: CPU per cycle and per patient at 1000 beds x 1 pack/s, with the
settled-patient shortcut (ingest/settled_patients.py) and with every pack scored in full, alternately in one run.

    .venv/bin/python -m bench.bench_scoring [--beds 1000] [--seconds 20] [--rounds 3]

The bench's monitors (devices/simulator.make_bench_packs) are stored as ingest stores them, outside the timing; each
second's packs are scored in CYCLES_PER_S cycles as ingest's cycle rate at that load gives them (~12 a second).
Only `LiveScorer.score_pending` is timed, as this process's CPU (PostgreSQL's own is not counted), after a warm-up
of WARMUP_S seconds. Events go nowhere: what is measured is the scorer's own work, its side of the store's reads and
writes, and the events it builds.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

import orjson

from bench.common import create_database
from core.settings import Settings
from core.store.postgres import PostgresStore
from core.types import Reading
from core.vocabulary import measurement_for
from devices.demo import bench_unit, seed_bench_unit
from devices.simulator import make_bench_packs
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from ingest.settled_patients import FULL_SCORE_EVERY_S
from tests.fixtures.postgres import PostgresServer, running_server

CYCLES_PER_S = 12  # what bench_e2e's latency run shows at 1000 beds x 1 pack/s
WARMUP_S = 3  # the first full scorings settle every patient


@dataclass(frozen=True, slots=True)
class CycleFigures:
    cpu_ms_per_cycle: float
    cpu_us_per_patient: float
    shortcut_share: float


def bench_packs(n_beds: int, seconds: int, start_at: datetime) -> list[list[Reading]]:
    """Each monitor's packs as the readings ingest attributes to its patient, in arrival order. The packs carry
    canonical units and one base time (make_bench_packs), so no conversion is needed here."""
    patient_of = {bed.monitor_id: bed.patient_id for bed in bench_unit(n_beds).beds}
    packs = []
    for topic, payload in make_bench_packs(n_beds, seconds=seconds, start_at=start_at, topic_root="bench"):
        records = orjson.loads(payload)
        at = datetime.fromtimestamp(records[0]["bt"], UTC)
        device_id = next(part for part in topic.split("/") if part in patient_of)
        pack = []
        for record in records:
            measurement = measurement_for(record["n"])
            assert measurement is not None, record
            pack.append(Reading(device_id, patient_of[device_id], measurement.parameter, float(record["v"]), at, at))
        packs.append(pack)
    return packs


async def measure(server: PostgresServer, *, n_beds: int, seconds: int, full_score_every_s: float) -> CycleFigures:
    store = PostgresStore(create_database(server, f"scoring_{time.monotonic_ns()}"))
    await store.open()
    try:
        start_at = datetime.now(UTC).replace(microsecond=0)
        await seed_bench_unit(store, n_beds=n_beds, now=start_at - timedelta(hours=1))
        metrics = IngestMetrics()
        clock = [start_at]
        publisher = EventPublisher(lambda _topic, _payload: None, root="bench", store=store, metrics=metrics)
        scorer = LiveScorer(
            store, Settings(), publisher, metrics, clock=lambda: clock[0], full_score_every_s=full_score_every_s
        )
        packs = bench_packs(n_beds, seconds, start_at)
        per_cycle = max(1, n_beds // CYCLES_PER_S)
        cpu_s, cycles, patients, shortcut_before = 0.0, 0, 0, 0
        for first in range(0, len(packs), per_cycle):
            chunk = packs[first : first + per_cycle]
            readings = [reading for pack in chunk for reading in pack]
            clock[0] = readings[-1].measured_at + timedelta(milliseconds=50)
            await store.append(readings, [])
            scorer.add_readings(readings)
            started = time.process_time()
            await scorer.score_pending()
            if first < WARMUP_S * n_beds:
                shortcut_before = metrics.patients_scored_unchanged
                continue
            cpu_s += time.process_time() - started
            cycles += 1
            patients += len(chunk)
        shortcut = metrics.patients_scored_unchanged - shortcut_before
        return CycleFigures(1e3 * cpu_s / cycles, 1e6 * cpu_s / patients, shortcut / patients)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beds", type=int, default=1000, help="beds, one monitor each, 1 pack/s")
    parser.add_argument("--seconds", type=int, default=20, help="seconds of packs per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each mode, alternately")
    args = parser.parse_args()
    modes = {"shortcut": FULL_SCORE_EVERY_S, "every pack in full": 0.0}
    figures: dict[str, list[CycleFigures]] = {mode: [] for mode in modes}
    pg_root = Path(tempfile.mkdtemp(prefix="vaktrom-bench-pg-"))
    try:
        with running_server(pg_root) as server:
            for _ in range(args.rounds):
                for mode, every_s in modes.items():
                    run = measure(server, n_beds=args.beds, seconds=args.seconds, full_score_every_s=every_s)
                    figures[mode].append(asyncio.run(run))
    finally:
        shutil.rmtree(pg_root, ignore_errors=True)
    print(f"scoring cycle, {args.beds} beds x 1 pack/s, {CYCLES_PER_S} cycles/s, {args.rounds} rounds (median):")
    for mode, runs in figures.items():
        print(
            f"  {mode:>20}: {median(f.cpu_ms_per_cycle for f in runs):6.2f} ms CPU per cycle, "
            f"{median(f.cpu_us_per_patient for f in runs):5.0f} us per patient; "
            f"shortcut taken by {median(f.shortcut_share for f in runs):.0%} of patient-cycles"
        )


if __name__ == "__main__":
    main()
