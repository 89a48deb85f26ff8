"""After an ingest outage the broker holds minutes of every monitor's readings. While `vaktrom ingest` catches that
backlog up, the stored readings are minutes old: judged against the store alone, every monitor of the ward looks
silent, and the ward gets a device alert per bed, escalated to the nurse, each ending seconds later. Device health
must wait until ingest has caught up (devices/silence_gate.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from core.mqtt import MqttClient, MqttOptions
from core.store import Store
from core.topics import obs_topic
from core.types import AlertKind, AlertState
from tests.fixtures.mosquitto import MosquittoBroker
from tests.fixtures.postgres import PostgresServer
from tests.ingest.conftest import SITE, seed_ward, vitals_pack, wait_until
from tests.ingest.process import IngestProcess, ingest_env
from vaktrom.parts import DEVICE_HEALTH_INTERVAL_S

pytestmark = pytest.mark.integration

DEVICES = 40
# The outage's backlog: a pack every 10 s from each monitor over the last 10 minutes (2,400 messages).
PACKS_PER_DEVICE = 60
PACK_EVERY_S = 10
# Small batches: the backlog takes ~50 of them, so the health check that fell due during the outage decides while
# the stored readings are still minutes old.
BATCH_MAX = 50
# Time for device health's own MQTT client to connect (a freeze mid-connect would postpone its first check).
HEALTH_CONNECT_S = 3.0


async def _publish_backlog(mosquitto: MosquittoBroker, root: str, devices: list[str], now: datetime) -> None:
    client = MqttClient(MqttOptions(url=mosquitto.url(), client_id=f"pub-{uuid.uuid4().hex[:8]}", clean_start=True))
    await client.connect()
    first_at = now - timedelta(seconds=PACKS_PER_DEVICE * PACK_EVERY_S)
    for k in range(PACKS_PER_DEVICE):  # in time order, as the monitors sent them
        at = first_at + timedelta(seconds=k * PACK_EVERY_S)
        publishes = [
            client.publish(obs_topic(root, SITE, device), orjson.dumps(vitals_pack(at)), qos=1, timeout_s=60)
            for device in devices
        ]
        await asyncio.gather(*publishes)
    await client.disconnect()


async def _device_silent_alerts(store: Store) -> list[str]:
    states = (AlertState.OPEN, AlertState.ACKNOWLEDGED, AlertState.RESOLVED)
    alerts = await store.list_alerts(states=states, kinds=(AlertKind.DEVICE_SILENT,), limit=10_000)
    return sorted(f"{a.device_id} {a.state.value}" for a in alerts)


@pytest.mark.timeout(180)
async def test_monitors_are_not_called_silent_while_ingest_catches_up_their_readings_after_an_outage(
    pg_store: Store,
    postgres_dsn: str,
    postgres_server: PostgresServer,
    mosquitto: MosquittoBroker,
    unique_topic_root: str,
    tmp_path: Path,
    ingest_processes: list[IngestProcess],
) -> None:
    devices = await seed_ward(pg_store, patients=DEVICES)  # paired a day ago, nothing stored since
    env = ingest_env(
        mosquitto=mosquitto, postgres_server=postgres_server, postgres_dsn=postgres_dsn, topic_root=unique_topic_root,
        data_dir=tmp_path, client_id=f"ingest-health-{uuid.uuid4().hex[:8]}", VAKTROM_INGEST_BATCH_MAX=str(BATCH_MAX),
    )  # fmt: skip
    ingest = IngestProcess(env)
    ingest_processes.append(ingest)
    await ingest.start()
    started = time.monotonic()
    assert ingest.process is not None
    await asyncio.sleep(HEALTH_CONNECT_S)  # device health connects its own client, then waits an interval
    # The outage: the process is frozen (its session stays open, so Mosquitto queues for it) past its health check.
    os.kill(ingest.process.pid, signal.SIGSTOP)
    try:
        await _publish_backlog(mosquitto, unique_topic_root, devices, datetime.now(UTC).replace(microsecond=0))
        await asyncio.sleep(max(0.0, started + HEALTH_CONNECT_S + DEVICE_HEALTH_INTERVAL_S + 1 - time.monotonic()))
    finally:
        os.kill(ingest.process.pid, signal.SIGCONT)

    async def all_stored() -> bool:
        return await pg_store.count_readings() >= DEVICES * PACKS_PER_DEVICE * 5

    await wait_until(all_stored, what="the backlog stored", timeout_s=60)
    # The next check, caught up, judges silence again: by then every monitor's last reading is seconds old.
    await asyncio.sleep(DEVICE_HEALTH_INTERVAL_S + 2)  # another process's timer: nothing to await
    log = "\n".join(ingest.log)
    await ingest.kill_9()
    assert await _device_silent_alerts(pg_store) == [], log
    assert "catching up a backlog: no device is called silent meanwhile" in log  # the check fell due mid-drain
    assert "caught up: device silence is judged again" in log
