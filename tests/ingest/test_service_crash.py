"""Must show: kill -9 of the ingest process mid-stream loses no reading the broker accepted, and stores none twice.

(The broker's ACL and client-id binding are tested against the shipped configuration in tests/deploy.)
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from core.mqtt import MqttClient, MqttOptions
from core.store import Store
from core.topics import obs_topic
from tests.fixtures.mosquitto import MosquittoBroker
from tests.fixtures.postgres import PostgresServer
from tests.ingest.conftest import SITE, seed_ward, vitals_pack, wait_until
from tests.ingest.process import IngestProcess, ingest_env

pytestmark = pytest.mark.integration

_REPO = Path(__file__).resolve().parents[2]
PACKS = 4000  # x 5 readings = 20,000 readings
DEVICES = 4
PUBLISH_WINDOW = 500  # QoS 1 publishes awaited together
BATCH_MAX = 100


async def _publish_stream(client: MqttClient, root: str, start: datetime) -> None:
    """PACKS packs of 5 readings at QoS 1, each with its own timestamp, round-robin over the devices."""
    for first in range(0, PACKS, PUBLISH_WINDOW):
        publishes = []
        for n in range(first, min(first + PUBLISH_WINDOW, PACKS)):
            topic = obs_topic(root, SITE, f"dev-{n % DEVICES + 1}")
            pack = vitals_pack(start + timedelta(seconds=n // DEVICES), pulse=60 + n % 40)
            publishes.append(client.publish(topic, orjson.dumps(pack), qos=1, timeout_s=60))
        await asyncio.gather(*publishes)


@pytest.mark.timeout(300)
async def test_kill_9_mid_stream_loses_no_reading_and_stores_none_twice(
    pg_store: Store,
    postgres_dsn: str,
    postgres_server: PostgresServer,
    mosquitto: MosquittoBroker,
    unique_topic_root: str,
    tmp_path: Path,
) -> None:
    await seed_ward(pg_store, patients=DEVICES)
    env = ingest_env(
        mosquitto=mosquitto,
        postgres_server=postgres_server,
        postgres_dsn=postgres_dsn,
        topic_root=unique_topic_root,
        data_dir=tmp_path,
        client_id=f"ingest-kill9-{uuid.uuid4().hex[:8]}",
    )
    # Batches of 100 messages: the stream is 40 commits long, so the kill lands between two of them. With the default
    # 2000 it is two commits, and a fast ingest stored the second before the kill arrived.
    env["VAKTROM_INGEST_BATCH_MAX"] = str(BATCH_MAX)
    ingest = IngestProcess(env)
    await ingest.start()
    publisher = MqttClient(MqttOptions(url=mosquitto.url(), client_id=f"pub-{uuid.uuid4().hex[:8]}", clean_start=True))
    await publisher.connect()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    stream = asyncio.create_task(_publish_stream(publisher, unique_topic_root, start))

    async def some_stored() -> bool:
        return await pg_store.count_readings() >= 2000

    await wait_until(some_stored, what="the first readings stored")
    await ingest.kill_9()
    stored_at_kill = await pg_store.count_readings()
    await ingest.start()  # same client id: the broker hands over the session and redelivers what was not acked
    await stream
    await publisher.disconnect()

    async def all_stored() -> bool:
        return await pg_store.count_readings() >= PACKS * 5

    await wait_until(all_stored, what="every published reading stored", timeout_s=180)
    await ingest.kill_9()
    assert stored_at_kill < PACKS * 5, "the kill came after the stream: it proved nothing"
    assert await pg_store.count_readings() == PACKS * 5
    since, until = start - timedelta(seconds=1), start + timedelta(hours=1)
    per_patient = [
        len(await pg_store.readings(f"p-{n}", since=since, until=until, limit=100_000)) for n in range(1, DEVICES + 1)
    ]
    assert per_patient == [PACKS * 5 // DEVICES] * DEVICES
    reasons = {letter.reason for letter in await pg_store.list_dead_letters(limit=100_000)}
    assert reasons <= {"duplicate reading"}  # redelivered copies of readings stored just before the kill
