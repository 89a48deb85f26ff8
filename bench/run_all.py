"""`make bench`: every benchmark in turn, each in its own process, with its figures printed as it goes.

    .venv/bin/python bench/run_all.py [--only e2e] [--quick]

Each bench starts its own throwaway Mosquitto and PostgreSQL and prints the raw limits it measured beside vaktrom's
figures. Machines are shared and noisy: compare the ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (name, module, arguments for a full run, arguments for --quick). A full run takes ~15 minutes on 2 cores.
BENCHES: tuple[tuple[str, str, list[str], list[str]], ...] = (
    ("store", "bench.bench_store", [], ["--readings", "20000", "--repeat", "1"]),
    ("ingest", "bench.bench_ingest", ["--packs", "40000"], ["--packs", "10000"]),
    ("scoring", "bench.bench_scoring", [], ["--seconds", "8", "--rounds", "1"]),
    ("e2e", "bench.bench_e2e", [], ["--seconds", "15", "--packs", "10000", "--raw-packs", "10000"]),
    (
        "fanout",
        "bench.bench_fanout",
        [],
        ["--seconds", "10", "--sockets", "1", "--sockets", "20", "--skip-raw", "--warmup", "10"],
    ),
    ("model", "bench.bench_model", [], []),
    ("embedded", "bench.bench_embedded", [], ["--packs", "30"]),
    ("escalation", "bench.bench_escalation", [], ["--alerts", "200", "--rounds", "2"]),
    ("device-health", "bench.bench_device_health", [], ["--beds", "200"]),
    ("fatigue", "bench.bench_fatigue", [], ["--hours", "6", "--verify-minutes", "10"]),
    ("worklist", "bench.bench_worklist", [], ["--rounds", "10"]),
)
# A bench that runs longer than this is stuck, not slow.
BENCH_TIMEOUT_S = 300
# A bench interrupted with SIGINT gets this long to stop its services before it is killed.
STOP_TIMEOUT_S = 30


def _present(module: str) -> bool:
    return (REPO / (module.replace(".", "/") + ".py")).exists()


def run(name: str, module: str, args: list[str]) -> bool:
    print(f"\n=== {name}: python -m {module} {' '.join(args)}".rstrip(), flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        returncode = process.wait(timeout=BENCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # SIGINT first, so the bench's context managers stop the Mosquitto and PostgreSQL it started.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(f"=== {name}: gave up after {BENCH_TIMEOUT_S} s", flush=True)
        return False
    elapsed_s = time.monotonic() - started
    verdict = "ok" if returncode == 0 else f"FAILED (exit {returncode})"
    print(f"=== {name}: {verdict} in {elapsed_s:.0f} s", flush=True)
    return returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=[b[0] for b in BENCHES], help="run just these (repeat)")
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test of the benches, ~2 min)")
    options = parser.parse_args()
    load_1m, _, _ = os.getloadavg()
    print(f"vaktrom benchmarks on {os.cpu_count()} CPUs (load average now {load_1m:.1f})", flush=True)
    failed: list[str] = []
    for name, module, full_args, quick_args in BENCHES:
        if options.only and name not in options.only:
            continue
        if not _present(module):
            print(f"\n=== {name}: {module} not present, skipped", flush=True)
            continue
        if not run(name, module, quick_args if options.quick else full_args):
            failed.append(name)
    if failed:
        print(f"\nFailed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
