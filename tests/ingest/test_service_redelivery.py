"""Must show: packs the broker delivers again after a restart are stored once each (issue 11, item 1).

Mosquitto writes its state to disk from time to time (autosave) and on a clean stop. If it is killed, it comes back
with the state of the last save: messages ingest has stored and acknowledged since are delivered again. A reading is
known by (device, parameter, time), so a copy is recognised only if its time is the device's own, never the time it
arrived (docs/MQTT.md, "Time of a reading").
"""

from __future__ import annotations

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

PACKS = 300  # per device, 5 readings each
REASON_NO_TIME = ": t: no absolute time (bt + t = 0 s)"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[RestartableBroker]:
    data_dir = tmp_path / "broker"
    data_dir.mkdir()
    running = RestartableBroker(data_dir)
    await running.start()
    yield running
    await running.kill_9()


async def _publish_packs(url: str, root: str, start: datetime) -> None:
    """dev-1 sends packs with its own time; dev-2 sends the same packs with no time at all."""
    client = MqttClient(MqttOptions(url=url, client_id=f"pub-{uuid.uuid4().hex[:8]}", clean_start=True))
    await client.connect()
    try:
        for n in range(PACKS):
            pack = vitals_pack(start + timedelta(seconds=n), pulse=60 + n % 40)
            timeless = [{k: v for k, v in record.items() if k != "bt"} for record in pack]
            await client.publish(obs_topic(root, SITE, "dev-1"), orjson.dumps(pack), qos=1)
            await client.publish(obs_topic(root, SITE, "dev-2"), orjson.dumps(timeless), qos=1)
    finally:
        await client.disconnect()


async def _reasons(store: Store) -> list[str]:
    return [letter.reason for letter in await store.list_dead_letters(limit=100_000)]


@pytest.mark.timeout(300)
async def test_packs_delivered_again_after_a_broker_restart_are_stored_once_each(
    pg_store: Store,
    postgres_dsn: str,
    postgres_server: PostgresServer,
    broker: RestartableBroker,
    unique_topic_root: str,
    tmp_path: Path,
    ingest_processes: list[IngestProcess],
) -> None:
    await seed_ward(pg_store, patients=2)
    env = ingest_env(
        mosquitto=broker.address, postgres_server=postgres_server, postgres_dsn=postgres_dsn,
        topic_root=unique_topic_root, data_dir=tmp_path, client_id=f"ingest-redelivery-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    ingest = IngestProcess(env)
    ingest_processes.append(ingest)
    await ingest.start()  # makes its persistent session, then goes away: the packs queue for it
    await ingest.kill_9()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    await _publish_packs(broker.url(), unique_topic_root, start)
    await broker.save()  # an autosave: the queued packs are on disk

    await ingest.start()

    async def handled(deliveries: int) -> bool:  # every record of every delivered pack stored or dead-lettered
        return await pg_store.count_readings() + len(await _reasons(pg_store)) >= deliveries * 2 * PACKS * 5

    await wait_until(lambda: handled(1), what="every pack handled once", timeout_s=120)
    await broker.kill_9()  # before the next autosave: it forgets the acknowledgements
    await broker.start()

    await wait_until(lambda: handled(2), what="every pack delivered again and handled", timeout_s=120)
    await ingest.kill_9()
    reasons = await _reasons(pg_store)
    assert await pg_store.count_readings() == PACKS * 5  # dev-1's readings, each once
    assert sum(r == "duplicate reading" for r in reasons) == PACKS * 5  # the copies were recognised
    assert sum(REASON_NO_TIME in r for r in reasons) == PACKS * 5 * 2  # dev-2, twice
    since, until = start - timedelta(seconds=1), start + timedelta(hours=1)
    assert await pg_store.readings("p-2", since=since, until=until, limit=100_000) == []
