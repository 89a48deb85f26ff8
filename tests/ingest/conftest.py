"""Ingest test helpers: both stores, a seeded ward, a running ingest worker, and an MQTT client for the test."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from core.mqtt import MqttClient, MqttOptions, RawMessage
from core.settings import Settings
from core.store import Store
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import (
    Bed,
    CareSetting,
    Device,
    DeviceKind,
    Pairing,
    Patient,
    Site,
    SiteKind,
    Stay,
    Ward,
)
from ingest.metrics import IngestMetrics
from ingest.risk import RiskAssessor
from ingest.service import run_ingest

if TYPE_CHECKING:
    from tests.ingest.process import IngestProcess

SITE = "site-1"
WARD = "ward-1"
# Seeded data starts a day back, so readings from "now" and from an hour ago are both covered by the pairing.
SEEDED_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
TEST_SECRET = "test-secret-that-is-at-least-32-characters-long"
WAIT_TIMEOUT_S = 30.0


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The same test runs on the embedded store and on PostgreSQL."""
    backend: Store
    if request.param == "sqlite":
        backend = SqliteStore(tmp_path / "vaktrom.sqlite3")
    else:
        backend = PostgresStore(request.getfixturevalue("postgres_dsn"))
    await backend.open()
    yield backend
    await backend.close()


async def seed_ward(store: Store, *, patients: int = 2, site_id: str = SITE, ward_id: str = WARD) -> list[str]:
    """A ward with one bedside patient per bed, each with a monitor `dev-{n}` paired since SEEDED_AT."""
    await store.upsert_site(Site(site_id, "Demo sykestue", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward(ward_id, site_id, "Sengepost"))
    devices = []
    for n in range(1, patients + 1):
        bed_id, patient_id, device_id = f"bed-{n}", f"p-{n}", f"dev-{n}"
        await store.upsert_bed(Bed(bed_id, ward_id, f"Seng {n}"))
        await store.upsert_patient(Patient(patient_id, f"Pasient {n}"))
        await store.add_stay(Stay(f"stay-{n}", patient_id, ward_id, CareSetting.BEDSIDE, SEEDED_AT, bed_id=bed_id))
        await store.register_device(Device(device_id, site_id, DeviceKind.BEDSIDE_MONITOR, "sim", SEEDED_AT))
        await store.pair_device(Pairing(device_id, patient_id, SEEDED_AT, bed_id=bed_id))
        devices.append(device_id)
    return devices


def ingest_settings(mqtt_url: str, root: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mqtt_url": mqtt_url,
        "mqtt_topic_root": root,
        "mqtt_client_id": f"ingest-{uuid.uuid4().hex[:8]}",
        "auth_secret": TEST_SECRET,
        "ingest_batch_wait_s": 0.01,
    }
    return Settings(**(values | overrides))


@dataclass
class RunningIngest:
    settings: Settings
    metrics: IngestMetrics
    task: asyncio.Task[None]


@pytest.fixture
async def start_ingest() -> AsyncIterator[Callable[..., Any]]:
    """start(settings, store[, risk_assessor=]) -> RunningIngest, subscribed before it returns; stopped after."""
    running: list[RunningIngest] = []

    async def start(settings: Settings, store: Store, *, risk_assessor: RiskAssessor | None = None) -> RunningIngest:
        metrics = IngestMetrics()
        run = run_ingest(settings, store, metrics=metrics, risk_assessor=risk_assessor)
        task = asyncio.create_task(run, name="test-ingest")
        worker = RunningIngest(settings, metrics, task)
        running.append(worker)
        await wait_until(lambda: metrics.broker_connected() or task.done(), what="ingest subscribed")
        if task.done():
            task.result()  # raise what stopped it
        return worker

    yield start
    for worker in running:
        worker.task.cancel()
    await asyncio.gather(*(w.task for w in running), return_exceptions=True)


async def wait_until(
    probe: Callable[[], Any], *, what: str, timeout_s: float = WAIT_TIMEOUT_S, interval_s: float = 0.05
) -> Any:
    """Poll a probe (a store query, or a plain callable) until it returns something truthy.

    Used where no event exists to await (rows appearing in a database written by another task or process).
    """
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                result = probe()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return result
                await asyncio.sleep(interval_s)
    except TimeoutError:
        pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
async def ingest_processes() -> AsyncIterator[list[IngestProcess]]:
    """Where a test puts the `vaktrom ingest` processes it starts: any still running at its end (it failed) are
    killed, so no worker outlives its test and goes on consuming from the session broker."""
    processes: list[IngestProcess] = []
    yield processes
    for process in processes:
        if process.process is not None:
            await process.kill_9()


@pytest.fixture
async def mqtt_client(mqtt_url: str) -> AsyncIterator[MqttClient]:
    """A connected client for the test itself (publishing as devices, following events)."""
    client = MqttClient(MqttOptions(url=mqtt_url, client_id=f"test-{uuid.uuid4().hex[:8]}", clean_start=True))
    await client.connect()
    yield client
    await client.disconnect()


async def next_message(client: MqttClient, *, topic_part: str, timeout_s: float = WAIT_TIMEOUT_S) -> RawMessage:
    async with asyncio.timeout(timeout_s):
        while True:
            message = await client.inbox.get()
            if topic_part in message.topic:
                return message


def epoch(at: datetime) -> float:
    return round(at.timestamp(), 3)


def vitals_pack(at: datetime, *, pulse: float = 72, spo2: float = 97) -> list[dict[str, object]]:
    return [
        {"bt": epoch(at), "n": "heart-rate", "u": "beat/min", "v": pulse},
        {"n": "spo2", "u": "%", "v": spo2},
        {"n": "resp-rate", "u": "/min", "v": 16},
        {"n": "sys-bp", "u": "mmHg", "v": 120},
        {"n": "body-temp", "u": "Cel", "v": 37.0},
    ]
