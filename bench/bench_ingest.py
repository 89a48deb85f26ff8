"""Ingest throughput: MQTT -> durable storage (SQLite, PostgreSQL) with live NEWS2, beside the raw broker limits.

Every figure is measured the same way, in the same run, against one throwaway Mosquitto: a persistent QoS 1 session
is created, PACKS SenML packs of 5 readings are queued for it while it is away, then the consumer connects and we
time how fast it drains the queue. That is sustained throughput with a full backlog, free of publisher limits.

    .venv/bin/python -m bench.bench_ingest [--packs 40000] [--devices 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from core.settings import Settings
from core.store import Store
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.topics import obs_filter, obs_topic
from core.types import Bed, CareSetting, Device, DeviceKind, Pairing, Patient, Site, SiteKind, Stay, Ward
from ingest.metrics import IngestMetrics
from ingest.service import run_ingest
from tests.fixtures.mosquitto import MosquittoBroker, running_broker
from tests.fixtures.postgres import running_server

SITE, WARD = "bench-site", "bench-ward"
SECRET = secrets.token_hex(32)  # made per run: a key in the repository would be a published key


def _pack(at: float, n: int) -> bytes:
    return orjson.dumps(
        [
            {"bt": at, "n": "heart-rate", "u": "beat/min", "v": 60 + n % 50},
            {"n": "spo2", "u": "%", "v": 90 + n % 10},
            {"n": "resp-rate", "u": "/min", "v": 12 + n % 14},
            {"n": "sys-bp", "u": "mmHg", "v": 100 + n % 40},
            {"n": "body-temp", "u": "Cel", "v": 36.5 + (n % 20) / 10},
        ]
    )


def _queue_packs(broker: MosquittoBroker, root: str, *, packs: int, devices: int) -> None:
    """Publish `packs` packs at QoS 1 (1000 in flight) and return once the broker acknowledged every one."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    done = threading.Event()
    acked = [0]

    def on_publish(*_: object) -> None:
        acked[0] += 1
        if acked[0] == packs:
            done.set()

    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    for n in range(packs):
        at = round((start + timedelta(seconds=n // devices)).timestamp(), 3)
        client.publish(obs_topic(root, SITE, f"dev-{n % devices}"), _pack(at, n), qos=1)
    done.wait(timeout=600)
    client.disconnect()
    client.loop_stop()


def bench_mosquitto_sub(broker: MosquittoBroker, *, packs: int, devices: int) -> float:
    root = f"bench-{uuid.uuid4().hex[:8]}/v1"
    base = ["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-q", "1", "-c", "-i", f"sub-{root[:14]}"]
    subprocess.run([*base, "-t", obs_filter(root), "-E"], check=True)  # create the session, then leave
    _queue_packs(broker, root, packs=packs, devices=devices)
    started = time.perf_counter()
    subprocess.run([*base, "-t", obs_filter(root), "-C", str(packs)], check=True, stdout=subprocess.DEVNULL)
    return packs / (time.perf_counter() - started)


def bench_paho(broker: MosquittoBroker, *, packs: int, devices: int) -> float:
    root = f"bench-{uuid.uuid4().hex[:8]}/v1"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"paho-{root[:14]}", clean_session=False)
    received = [0]
    done = threading.Event()

    def on_message(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        orjson.loads(message.payload)
        received[0] += 1
        if received[0] == packs:
            done.set()

    subscribed = threading.Event()
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(obs_filter(root), qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    subscribed.wait(timeout=30)  # the session exists with its subscription: messages now queue for it
    client.disconnect()
    client.loop_stop()
    _queue_packs(broker, root, packs=packs, devices=devices)
    started = time.perf_counter()
    client.reconnect()
    client.loop_start()
    if not done.wait(timeout=600):
        raise RuntimeError(f"paho received {received[0]} of {packs} messages")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return packs / elapsed


async def _seed(store: Store, devices: int) -> None:
    now = datetime.now(UTC) - timedelta(days=1)
    await store.upsert_site(Site(SITE, "Bench", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward(WARD, SITE, "Bench ward"))
    for n in range(devices):
        await store.upsert_bed(Bed(f"bed-{n}", WARD, f"Bed {n}"))
        await store.upsert_patient(Patient(f"p-{n}", f"Patient {n}"))
        await store.add_stay(Stay(f"stay-{n}", f"p-{n}", WARD, CareSetting.BEDSIDE, now, bed_id=f"bed-{n}"))
        await store.register_device(Device(f"dev-{n}", SITE, DeviceKind.BEDSIDE_MONITOR, "bench", now))
        await store.pair_device(Pairing(f"dev-{n}", f"p-{n}", now, bed_id=f"bed-{n}"))


async def _run_until(settings: Settings, store: Store, metrics: IngestMetrics, done: Callable[[], bool]) -> None:
    task = asyncio.create_task(run_ingest(settings, store, metrics=metrics))
    try:
        while not done():
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def bench_ingest(broker: MosquittoBroker, store: Store, *, packs: int, devices: int) -> dict[str, float]:
    await store.open()
    await _seed(store, devices)
    root = f"bench-{uuid.uuid4().hex[:8]}/v1"
    settings = Settings(
        mqtt_url=broker.url(), mqtt_topic_root=root, mqtt_client_id=f"ingest-{root[:14]}", auth_secret=SecretStr(SECRET)
    )
    warmup = IngestMetrics()
    await _run_until(settings, store, warmup, lambda: warmup.broker_connected())  # creates the persistent session
    await asyncio.to_thread(_queue_packs, broker, root, packs=packs, devices=devices)
    metrics = IngestMetrics()
    started = time.perf_counter()
    await _run_until(settings, store, metrics, lambda: metrics.readings_stored >= packs * 5)
    elapsed = time.perf_counter() - started
    stored = await store.count_readings()
    await store.close()
    return {
        "readings_per_s": packs * 5 / elapsed,
        "packs_per_s": packs / elapsed,
        "stored": stored,
        "patients_scored": metrics.patients_scored,
        "batches": metrics.batches,
        "dead_lettered": metrics.dead_lettered,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packs", type=int, default=40_000, help="SenML packs of 5 readings per measurement")
    parser.add_argument("--devices", type=int, default=1000, help="bedside devices (one patient each)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vaktrom-bench-"))
    pg_root = Path(tempfile.mkdtemp(prefix="vaktrom-bench-pg-"))  # its own: postgres cannot enter `work`
    try:
        (work / "mqtt").mkdir()
        with running_broker(work / "mqtt") as broker, running_server(pg_root) as pg:
            print(f"{args.packs} packs x 5 readings, {args.devices} devices, Mosquitto on port {broker.port}")
            sub_rate = bench_mosquitto_sub(broker, packs=args.packs, devices=args.devices)
            print(f"raw  mosquitto_sub QoS 1 receive:      {sub_rate:9,.0f} msg/s")
            paho_rate = bench_paho(broker, packs=args.packs, devices=args.devices)
            print(f"raw  paho subscriber QoS 1 + orjson:   {paho_rate:9,.0f} msg/s")
            sqlite = asyncio.run(
                bench_ingest(broker, SqliteStore(work / "bench.sqlite3"), packs=args.packs, devices=args.devices)
            )
            _report("SQLite", sqlite)
            with psycopg.connect(pg.dsn, autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            postgres = asyncio.run(
                bench_ingest(broker, PostgresStore(pg.dsn_for("bench")), packs=args.packs, devices=args.devices)
            )
            _report("PostgreSQL", postgres)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_root, ignore_errors=True)


def _report(name: str, result: dict[str, float]) -> None:
    print(
        f"vaktrom ingest -> {name:<10}: {result['readings_per_s']:9,.0f} readings/s "
        f"({result['packs_per_s']:,.0f} packs/s; {result['stored']:,.0f} rows, {result['batches']:,.0f} batches, "
        f"{result['patients_scored']:,.0f} NEWS2 scores, {result['dead_lettered']:,.0f} dead letters)"
    )


if __name__ == "__main__":
    main()
