"""Shared bench helpers: throwaway Mosquitto + PostgreSQL, vaktrom parts as child processes, RSS, percentiles.

The brokers and servers are the test fixtures' (tests/fixtures/), so benches and tests run the same configuration
(Mosquitto with max_queued_messages raised: its default of 1000 drops QoS 1 messages, see LIMITS.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from tests.fixtures.mosquitto import MosquittoBroker, running_broker
from tests.fixtures.postgres import PostgresServer, running_server

__all__ = [
    "REPO",
    "BenchServices",
    "Part",
    "RssSampler",
    "bench_services",
    "cpu_s",
    "create_database",
    "latency_summary",
    "pid_with_cmdline",
    "rss_mib",
    "start_part",
]

REPO = Path(__file__).resolve().parents[1]
# A part that has not logged its start-up line in this long is broken, not slow (start-up is ~1-2 s here).
PART_START_TIMEOUT_S = 60.0
# Parts get this long to stop on SIGINT before they are killed.
PART_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class BenchServices:
    work_dir: Path
    broker: MosquittoBroker
    postgres: PostgresServer


@contextlib.contextmanager
def bench_services() -> Iterator[BenchServices]:
    """A throwaway Mosquitto and PostgreSQL (fsync on), each on a free port in its own temp dir; removed on exit."""
    work = Path(tempfile.mkdtemp(prefix="vaktrom-bench-"))
    pg_root = Path(tempfile.mkdtemp(prefix="vaktrom-bench-pg-"))  # its own: postgres cannot enter `work`
    try:
        (work / "mqtt").mkdir()
        with running_broker(work / "mqtt") as broker, running_server(pg_root) as postgres:
            yield BenchServices(work_dir=work, broker=broker, postgres=postgres)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_root, ignore_errors=True)


def create_database(server: PostgresServer, name: str) -> str:
    """CREATE DATABASE `name` and return its postgresql:// URL (the form VAKTROM_DATABASE_URL takes)."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.url_for(name)


@dataclass(slots=True)
class Part:
    """A `python -m vaktrom COMMAND` child process with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_contains(self, text: str) -> bool:
        return self.log_path.exists() and text in self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, *, timeout_s: float = PART_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.log_contains(text):
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not log {text!r} in {timeout_s:.0f} s; see {self.log_path}")
            time.sleep(0.1)

    def wait_for_http(self, url: str, *, timeout_s: float = PART_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self._check_alive()
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer {url} in {timeout_s:.0f} s; see {self.log_path}")
            time.sleep(0.1)

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=PART_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def start_part(name: str, args: Sequence[str], env: Mapping[str, str], log_dir: Path) -> Iterator[Part]:
    """Run `python -m vaktrom ARGS` with `env` added to ours; stopped (SIGINT, then kill) on exit."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vaktrom", *args],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    part = Part(name=name, process=process, log_path=log_path)
    try:
        yield part
    finally:
        part.stop()


def rss_mib(pid: int) -> float:
    """Resident set size of a process, from /proc (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(slots=True)
class RssSampler:
    """Samples the RSS of some processes every `interval_s` on a daemon thread; keeps the peak and the last."""

    pids: Mapping[str, int]
    interval_s: float = 0.5
    peak_mib: dict[str, float] = field(default_factory=dict)
    last_mib: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            mib = rss_mib(pid)
            if mib:
                self.last_mib[name] = mib
                self.peak_mib[name] = max(mib, self.peak_mib.get(name, 0.0))


_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _children_of(pid: int) -> list[int]:
    children: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4, after the parenthesised command name
            children.append(int(entry.name))
    return children


def pid_with_cmdline(text: str) -> int | None:
    """The oldest process whose command line contains `text` (to find the broker or postmaster we started)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
    return min(found) if found else None


def cpu_s(pid: int, *, with_children: bool = False) -> float:
    """User + system CPU seconds a process has used so far (plus its live children's, e.g. PostgreSQL backends)."""
    pids = [pid, *(_children_of(pid) if with_children else [])]
    total = 0.0
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_PER_S  # utime, stime (fields 14, 15)
    return total


def latency_summary(latencies_s: Sequence[float] | np.ndarray) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds (NaN when there is nothing to summarise)."""
    values = np.asarray(latencies_s, dtype=np.float64)
    if values.size == 0:
        return {"p50_ms": float("nan"), "p90_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    p50, p90, p99 = np.percentile(values, [50, 90, 99]) * 1000
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "max_ms": float(values.max() * 1000)}
