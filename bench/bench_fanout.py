"""Fan-out: N dashboards of one ward at BEDS beds x 1 pack/s, publish -> each socket (issue 11: 200 at p99 <= 500 ms).

The system is bench_e2e's (`vaktrom ingest` and `vaktrom api` as their own processes, Mosquitto, PostgreSQL, a paced
paho publisher in its own process). The dashboards are N WebSocket clients of `/api/v1/ws/wards/bench-ward` in ONE
separate process (so the measuring client does not eat the API's CPU), each a user of its own (a user may hold 20
sockets per node). Each socket records when each message arrived and a CRC-32 of its body (all but the socket's own
`seq`); the deltas themselves are decoded once, from a reference socket (the first of the first three still open at
the end), and every other socket's messages are matched to the reference's by that CRC (sockets number their messages
from their own connect, so an event between two connects shifts the `seq`s). A delta the reference got and another
socket did not counts as never shown there; a socket whose messages match none of the reference's is left out and
reported. A pack counts as shown on a socket when its own `readings` delta, or a newer pack's of the same device,
arrived there.

Printed per run (first 1 socket, then N): p50/p90/p99/max over every (socket, pack), the worst socket's p99, packs
never shown, sockets closed, sockets left out (no delta in common with the reference), and the CPU seconds per 1000
packs of the ingest and API processes (less sensitive to a shared machine's contention than latencies are), beside the
raw limits of the same run.

    .venv/bin/python -m bench.bench_fanout [--beds 1000] [--seconds 30] [--sockets 200] [--skip-raw]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import time
import zlib
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.bench_e2e import (
    SECRET,
    SITE,
    WARD,
    PublisherProcess,
    PublishJob,
    System,
    pack_occurrences,
    print_raw_limits,
    run_system,
)
from bench.common import bench_services, cpu_s, latency_summary
from core.clock import utc_now
from core.store.postgres import PostgresStore
from core.types import Role, User
from dashboard_api.auth import issue_token

# Issue 11's target for 200 dashboards of one ward.
TARGET_P99_MS = 500.0
# Sockets opened at once while connecting (each reads a 1000-bed snapshot and audits a row per patient).
CONNECT_CONCURRENCY = 4
CONNECT_ATTEMPTS = 6
# After the publisher is done, wait this long for the last deltas, or until every socket was quiet QUIET_AFTER_S.
LATENCY_GRACE_S = 15.0
QUIET_AFTER_S = 2.0
# Each socket reads the ward's 1000-bed snapshot and audits 1000 rows: 200 of them take minutes on a busy machine.
CONNECT_TIMEOUT_S = 1800.0
# Sockets that keep every message they get; the first of them still open at the end is the reference every socket's
# messages are matched against (one that was closed saw only part of the run).
REFERENCE_CANDIDATES = 3
# Tokens outlive any run.
TOKEN_TTL_S = 3 * 3600


@dataclass(frozen=True, slots=True)
class DashboardsJob:
    url: str
    tokens: tuple[str, ...]


@dataclass(slots=True)
class SocketLog:
    seqs: list[int] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    crcs: list[int] = field(default_factory=list)  # CRC-32 of each message's body: the same delta, the same CRC
    messages: list[bytes] | None = None  # the reference candidates keep what they got
    closed: str | None = None  # why the node closed it
    closed_at: float | None = None  # and when


# ------------------------------------------------------------------------------------------- the dashboards process


def _dashboards_main(job: DashboardsJob, conn: Connection) -> None:
    """Child process: connect every socket, say ready, record until told to stop, send back the logs."""
    logs = asyncio.run(_dashboards(job, conn))
    cpu_used_s = time.process_time()
    conn.send(
        [
            (
                np.array(log.seqs, dtype=np.int64).tobytes(),
                np.array(log.arrivals).tobytes(),
                log.messages,
                log.closed,
                np.array(log.crcs, dtype=np.uint32).tobytes(),
                log.closed_at,
            )
            for log in logs
        ]
    )
    conn.send(cpu_used_s)  # the dashboards' own CPU: on 2 cores they compete with the system they measure


async def _dashboards(job: DashboardsJob, conn: Connection) -> list[SocketLog]:
    logs = [SocketLog(messages=[] if n < REFERENCE_CANDIDATES else None) for n in range(len(job.tokens))]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    readers: list[asyncio.Task[None]] = []

    async def open_and_read(n: int, token: str) -> ClientConnection:
        # Each socket reads from the moment it has its snapshot, as a page does: a socket left unread while the
        # others connect (minutes, for 200) would fill its queue at the node and be closed 4429 before the run.
        ws = await _open(job.url, token, gate)
        readers.append(asyncio.create_task(_read(ws, logs[n]), name=f"dashboard-{n}"))
        return ws

    sockets = await asyncio.gather(*(open_and_read(n, token) for n, token in enumerate(job.tokens)))
    conn.send("ready")
    await asyncio.to_thread(conn.recv)  # the publisher is done
    deadline = time.monotonic() + LATENCY_GRACE_S
    while time.monotonic() < deadline:
        last = max((log.arrivals[-1] for log in logs if log.arrivals), default=0.0)
        if time.time() - last > QUIET_AFTER_S:
            break
        await asyncio.sleep(0.2)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return logs


async def _open(url: str, token: str, gate: asyncio.Semaphore) -> ClientConnection:
    """Connect and read the snapshot; a 4503 (the store did not answer in time: 200 snapshots of 1000 beds at once
    wait for the pool) is retried as the page does, with backoff."""
    for attempt in range(CONNECT_ATTEMPTS):
        async with gate:
            ws = await connect(
                url, subprotocols=[Subprotocol("bearer"), Subprotocol(token)], max_size=None, max_queue=None,
                open_timeout=120,
            )  # fmt: skip
            try:
                snapshot = orjson.loads(await ws.recv(decode=False))
            except ConnectionClosed:
                snapshot = {}
            if snapshot.get("type") == "snapshot":
                return ws
        await asyncio.sleep(0.5 * 2**attempt)  # backoff, as the page's
    raise RuntimeError(f"no snapshot after {CONNECT_ATTEMPTS} attempts")


async def _read(ws: ClientConnection, log: SocketLog) -> None:
    try:
        while True:
            message = await ws.recv(decode=False)
            log.arrivals.append(time.time())
            seq_ends = message.index(b",")
            log.seqs.append(int(message[7:seq_ends]))  # '{"seq":N,...': the one field read here
            log.crcs.append(zlib.crc32(message[seq_ends:]))
            if log.messages is not None:
                log.messages.append(bytes(message))
    except ConnectionClosed as exc:
        log.closed = f"{exc.rcvd.code} {exc.rcvd.reason}" if exc.rcvd else str(exc)
        log.closed_at = time.time()


# ------------------------------------------------------------------------------------------------------ measuring


@dataclass(frozen=True, slots=True)
class FanoutResult:
    sockets: int
    packs: int
    latency: dict[str, float]  # over every (socket, pack)
    worst_socket_p99_ms: float
    never: int  # (socket, pack) pairs never shown
    closed: list[str]
    closed_before: int  # of them, closed before the measured seconds (connecting or warming up)
    mismatched: int  # sockets with no delta in common with the reference: left out
    deltas: int  # messages the reference socket got while measuring
    delta_bytes: int  # their bytes: what every socket is sent
    elapsed_s: float
    cpu_s: dict[str, float]


def _tokens(count: int) -> tuple[str, ...]:
    now = utc_now()
    return tuple(
        issue_token(SECRET, user_id=_user(n), role=Role.NURSE, site_ids=[SITE], ttl_s=TOKEN_TTL_S, now=now)
        for n in range(count)
    )


def _user(n: int) -> str:
    return f"bench.wall-{n:03d}"


def _register(dsn: str, count: int) -> None:
    async def register() -> None:
        store = PostgresStore(dsn)
        await store.open()
        try:
            for n in range(count):
                if await store.get_user(_user(n)) is None:
                    user = User(
                        _user(n), f"Ward display {n}", (Role.NURSE,), "bench", (SITE,), utc_now() - timedelta(1)
                    )
                    await store.add_user(user)
        finally:
            await store.close()

    asyncio.run(register())


def measure_fanout(system: System, *, n_beds: int, seconds: int, sockets: int, warmup_s: int) -> FanoutResult:
    _register(system.dsn, sockets)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    url = f"ws://127.0.0.1:{system.api_port}/api/v1/ws/wards/{WARD}"
    dashboards = context.Process(target=_dashboards_main, args=(DashboardsJob(url, _tokens(sockets)), child))
    dashboards.start()
    connect_started = time.monotonic()
    if not parent.poll(CONNECT_TIMEOUT_S) or parent.recv() != "ready":
        raise RuntimeError(f"the dashboards did not connect in {CONNECT_TIMEOUT_S:.0f} s")
    print(f"  {sockets} socket(s) connected in {time.monotonic() - connect_started:.0f} s", flush=True)
    system.wait_idle()  # the snapshots' audit rows and reads are done
    # Devices were quiet while the sockets connected (200 take minutes): the first packs after that change every
    # patient's score and alerts (and end device-silent alerts). That storm is not the steady ward being measured.
    _warm_up(system, n_beds=n_beds, seconds=warmup_s)
    broker = system.services.broker
    publisher = PublisherProcess(system.services, PublishJob(broker.host, broker.port, n_beds, seconds, paced=True))
    go_at = math.ceil(time.time()) + 1.0
    cpu_before = system.cpu_s()
    dashboards_cpu_before_s = cpu_s(dashboards.pid) if dashboards.pid is not None else 0.0
    with system.profiled(f"fanout-{sockets}"):
        publisher.go(go_at=go_at, start_at_s=go_at)
        publish = publisher.result(timeout_s=seconds + 600)
    parent.send("done")
    if not parent.poll(LATENCY_GRACE_S + 120):
        raise RuntimeError("the dashboards did not report")
    logs = parent.recv()
    cpu_after = system.cpu_s()
    cpu_after["dashboards"] = float(parent.recv())
    cpu_before["dashboards"] = dashboards_cpu_before_s
    dashboards.join(timeout=30)
    publish_at = np.frombuffer(publish.publish_at, dtype=np.float64).reshape(seconds, n_beds)
    closes = [(closed, closed_at) for _, _, _, closed, _, closed_at in logs if closed]
    reference = next((log for log in logs[:REFERENCE_CANDIDATES] if not log[3]), logs[0])
    messages = reference[2]
    index, second, bed, _ = pack_occurrences(messages, n_beds=n_beds, seconds=seconds, start_at_s=go_at)
    reference_seqs = np.frombuffer(reference[0], dtype=np.int64)
    seq_of_index = reference_seqs[index] if reference_seqs.size else np.zeros(0, dtype=np.int64)
    reference_crcs = np.frombuffer(reference[4], dtype=np.uint32)
    arrived = np.frombuffer(reference[1])
    measured = [m for m, at in zip(messages, arrived, strict=True) if at >= go_at]  # not the connect or warm-up
    all_latencies: list[np.ndarray] = []
    worst_p99_ms, never, mismatched = 0.0, 0, 0
    for _, arrivals_raw, _, _, crcs_raw, _ in logs:
        reference_seqs_got, arrivals = _as_reference(
            np.frombuffer(crcs_raw, dtype=np.uint32), np.frombuffer(arrivals_raw), reference_seqs, reference_crcs
        )
        if reference_seqs.size and not reference_seqs_got.size:
            mismatched += 1
            continue
        latencies, unseen = _socket_latencies(reference_seqs_got, arrivals, seq_of_index, second, bed, publish_at)
        all_latencies.append(latencies)
        never += unseen
        if latencies.size:
            worst_p99_ms = max(worst_p99_ms, float(np.percentile(latencies, 99) * 1000))
    return FanoutResult(
        sockets=sockets,
        packs=n_beds * seconds,
        latency=latency_summary(np.concatenate(all_latencies) if all_latencies else np.zeros(0)),
        worst_socket_p99_ms=worst_p99_ms,
        never=never,
        closed=[closed for closed, _ in closes],
        closed_before=sum(closed_at is not None and closed_at < go_at for _, closed_at in closes),
        mismatched=mismatched,
        deltas=len(measured),
        delta_bytes=sum(map(len, measured)),
        elapsed_s=publish.all_acked_at - float(publish_at[0, 0]),
        cpu_s={name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after},
    )


def _warm_up(system: System, *, n_beds: int, seconds: int) -> None:
    """The first packs after start, or after a quiet spell, fill ingest's caches, make the ML risk's first
    assessment of every patient and settle scores and alerts (confirmation delays included): not what a running
    ward costs. Their packs are outside the measured seconds, so no socket counts them."""
    if seconds <= 0:
        return
    broker = system.services.broker
    publisher = PublisherProcess(system.services, PublishJob(broker.host, broker.port, n_beds, seconds, paced=True))
    go_at = math.ceil(time.time()) + 1.0
    publisher.go(go_at=go_at, start_at_s=go_at)
    publisher.result(timeout_s=seconds + 600)
    system.wait_idle()


def _as_reference(
    crcs: np.ndarray, arrivals: np.ndarray, reference_seqs: np.ndarray, reference_crcs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """This socket's messages that the reference socket also got, as the reference's seqs, with their arrivals."""
    order = np.argsort(reference_crcs, kind="stable")
    at = np.searchsorted(reference_crcs[order], crcs).clip(max=max(order.size - 1, 0))
    found = (reference_crcs[order][at] == crcs) if order.size else np.zeros(crcs.size, dtype=bool)
    return reference_seqs[order[at[found]]], arrivals[found]


def _socket_latencies(
    seqs: np.ndarray,
    arrivals: np.ndarray,
    seq_of_index: np.ndarray,
    second: np.ndarray,
    bed: np.ndarray,
    publish_at: np.ndarray,
) -> tuple[np.ndarray, int]:
    """One socket: publish -> shown for each pack (its own delta or a newer one of its device), and how many never."""
    arrival_of_seq = np.full(int(max(seqs.max(initial=0), seq_of_index.max(initial=0))) + 1, np.inf)
    arrival_of_seq[seqs] = arrivals
    shown_at = np.full(publish_at.shape, np.inf)
    np.minimum.at(shown_at, (second, bed), arrival_of_seq[seq_of_index])
    shown_or_newer = np.minimum.accumulate(shown_at[::-1], axis=0)[::-1]
    finite = np.isfinite(shown_or_newer)
    return (shown_or_newer - publish_at)[finite], int(np.sum(~finite))


# ------------------------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beds", type=int, default=1000, help="beds in the ward, one monitor each")
    parser.add_argument("--seconds", type=int, default=30, help="seconds of 1 pack/s per bed, per run")
    parser.add_argument("--sockets", type=int, action="append", help="dashboards per run (repeat; default 1, 200)")
    parser.add_argument("--raw-packs", type=int, default=40_000, help="raw limits: messages per measurement")
    parser.add_argument("--skip-raw", action="store_true", help="no raw limits")
    parser.add_argument(
        "--warmup", type=int, default=30, help="seconds of packs before each measurement (caches, ML risk, alerts)"
    )
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy ingest and API while measuring, into DIR")
    args = parser.parse_args()
    load_1m = os.getloadavg()[0]
    with bench_services() as services:
        print(f"fan-out: {args.beds} beds x 1 pack/s, one ward, load average {load_1m:.1f}")
        if not args.skip_raw:
            print_raw_limits(services, packs=args.raw_packs, devices=args.beds)
        with run_system(services, args.beds, workers=1, profile_dir=args.profile) as system:
            for sockets in args.sockets or [1, 200]:
                system.wait_idle()
                result = measure_fanout(
                    system, n_beds=args.beds, seconds=args.seconds, sockets=sockets, warmup_s=args.warmup
                )
                _print(result)
        print(f"  load average after: {os.getloadavg()[0]:.1f}")


def _print(r: FanoutResult) -> None:
    lat = r.latency
    verdict = "MET" if lat["p99_ms"] <= TARGET_P99_MS else "MISSED"
    closes = f" ({r.closed_before} before the measured seconds; {r.closed[0]})" if r.closed else ""
    cpu_ms_per_pack = {name: 1000 * r.cpu_s.get(name, 0.0) / r.packs for name in ("ingest-1", "api", "dashboards")}
    print(
        f"  {r.sockets} socket(s), {r.packs:,} packs in {r.elapsed_s:.0f} s: publish -> each socket "
        f"p50 {lat['p50_ms']:.0f}, p90 {lat['p90_ms']:.0f}, p99 {lat['p99_ms']:.0f}, max {lat['max_ms']:.0f} ms "
        f"(worst socket's p99 {r.worst_socket_p99_ms:.0f} ms); target p99 <= {TARGET_P99_MS:.0f} ms: {verdict}\n"
        f"       never shown: {r.never:,} of {r.packs * r.sockets:,} (socket, pack); sockets closed: "
        f"{len(r.closed)}{closes}; left out (no delta in common with the "
        f"reference socket): {r.mismatched}\n"
        f"       per socket: {r.deltas / r.elapsed_s:.1f} messages/s of "
        f"{r.delta_bytes / max(r.deltas, 1) / 1024:.1f} KiB on average = "
        f"{r.delta_bytes / r.elapsed_s / 1024:,.0f} KiB/s; all sockets "
        f"{r.delta_bytes * r.sockets / r.elapsed_s / 2**20:,.1f} MiB/s\n"
        f"       CPU ms per pack: ingest {cpu_ms_per_pack['ingest-1']:.3f}, api {cpu_ms_per_pack['api']:.3f}, "
        f"the dashboards' client process {cpu_ms_per_pack['dashboards']:.3f}; "
        f"CPU s: {', '.join(f'{k} {v:.1f}' for k, v in sorted(r.cpu_s.items(), key=lambda kv: -kv[1]))}"
    )


if __name__ == "__main__":
    main()
