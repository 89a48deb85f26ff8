"""Must show: a worker of a shared group killed for good and replaced loses no reading (issue 11, item 2).

Mosquitto keeps routing a shared group's messages to a member that is offline: they wait in its persistent session.
A replacement started in the dead worker's slot (VAKTROM_INGEST_WORKER_SLOT) connects with the same client id,
takes over that session and stores what was parked there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from core.mqtt import MqttClient, MqttOptions
from core.store import Store
from core.topics import obs_topic
from tests.fixtures.postgres import PostgresServer
from tests.ingest.broker import RestartableBroker
from tests.ingest.conftest import SITE, seed_ward, vitals_pack, wait_until
from tests.ingest.process import IngestProcess, ingest_env

pytestmark = pytest.mark.integration

PACKS = 4000  # x 5 readings = 20,000 readings
DEVICES = 4
PUBLISH_WINDOW = 100  # QoS 1 publishes awaited together
PUBLISH_PAUSE_S = 0.2  # devices send over time: the stream lasts ~8 s, so the kill lands in the middle of it
GROUP = "vaktrom-ingest"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[RestartableBroker]:
    """A broker of this test's own: the slots' client ids (vaktrom-ingest-1, -2) are the same in every test."""
    data_dir = tmp_path / "broker"
    data_dir.mkdir()
    running = RestartableBroker(data_dir)
    await running.start()
    yield running
    await running.kill_9()


async def _publish_stream(client: MqttClient, root: str, start: datetime) -> None:
    for first in range(0, PACKS, PUBLISH_WINDOW):
        publishes = []
        for n in range(first, min(first + PUBLISH_WINDOW, PACKS)):
            topic = obs_topic(root, SITE, f"dev-{n % DEVICES + 1}")
            pack = vitals_pack(start + timedelta(seconds=n // DEVICES), pulse=60 + n % 40)
            publishes.append(client.publish(topic, orjson.dumps(pack), qos=1, timeout_s=60))
        await asyncio.gather(*publishes)
        await asyncio.sleep(PUBLISH_PAUSE_S)  # pacing the devices, not waiting for an outcome


@pytest.mark.timeout(300)
async def test_a_worker_killed_for_good_and_replaced_in_its_slot_loses_no_reading(
    pg_store: Store,
    postgres_dsn: str,
    postgres_server: PostgresServer,
    broker: RestartableBroker,
    unique_topic_root: str,
    tmp_path: Path,
    ingest_processes: list[IngestProcess],
) -> None:
    await seed_ward(pg_store, patients=DEVICES)

    def worker(slot: int) -> IngestProcess:
        env = ingest_env(
            mosquitto=broker.address, postgres_server=postgres_server, postgres_dsn=postgres_dsn,
            topic_root=unique_topic_root, data_dir=tmp_path / f"slot-{slot}", client_id=None,
            VAKTROM_INGEST_WORKER_SLOT=str(slot), VAKTROM_MQTT_SHARED_GROUP=GROUP,
        )  # fmt: skip
        process = IngestProcess(env)
        ingest_processes.append(process)
        return process

    first, second = worker(1), worker(2)
    await first.start()
    await second.start()
    publisher = MqttClient(MqttOptions(url=broker.url(), client_id=f"pub-{uuid.uuid4().hex[:8]}", clean_start=True))
    await publisher.connect()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    stream = asyncio.create_task(_publish_stream(publisher, unique_topic_root, start))

    async def some_stored() -> bool:
        return await pg_store.count_readings() >= 2000

    await wait_until(some_stored, what="the first readings stored")
    await second.kill_9()  # for good: this process never comes back
    await stream  # the broker accepted every pack; some went on to the dead worker's session
    await publisher.disconnect()

    async def all_but_parked_stored() -> int | None:
        """Readings stored once slot 1 has stored everything routed to it (the count stops growing)."""
        before = await pg_store.count_readings()
        await asyncio.sleep(1.0)  # a second with nothing new stored: slot 1 has nothing left
        after = await pg_store.count_readings()
        return after if after == before else None

    stored_without_slot_2 = await wait_until(all_but_parked_stored, what="slot 1 idle", timeout_s=120)
    replacement = worker(2)
    await replacement.start()

    async def all_stored() -> bool:
        return await pg_store.count_readings() >= PACKS * 5

    await wait_until(all_stored, what="every published reading stored", timeout_s=180)
    await first.kill_9()
    await replacement.kill_9()
    assert stored_without_slot_2 < PACKS * 5, "nothing was parked for the dead worker: the test proved nothing"
    assert await pg_store.count_readings() == PACKS * 5
    since, until = start - timedelta(seconds=1), start + timedelta(hours=1)
    per_patient = [
        len(await pg_store.readings(f"p-{n}", since=since, until=until, limit=100_000)) for n in range(1, DEVICES + 1)
    ]
    assert per_patient == [PACKS * 5 // DEVICES] * DEVICES
    reasons = {letter.reason for letter in await pg_store.list_dead_letters(limit=100_000)}
    assert reasons <= {"duplicate reading"}  # redelivered copies of readings stored just before the kill
