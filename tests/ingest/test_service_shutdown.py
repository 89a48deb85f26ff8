"""Must show: SIGTERM mid-stream (how systemd, Docker and Kubernetes stop a service) stores everything ingest has
acknowledged, acknowledges everything it stored, and exits within VAKTROM_INGEST_SHUTDOWN_GRACE_S (issue 11, item 5).
"""

from __future__ import annotations

import asyncio
import time
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

PACKS = 4000  # x 5 readings = 20,000 readings
DEVICES = 4
PUBLISH_WINDOW = 100  # QoS 1 publishes awaited together
# Devices send over time: a window every 0.2 s makes the stream last ~8 s, so SIGTERM lands in the middle of it.
PUBLISH_PAUSE_S = 0.2
GRACE_S = 15.0
EXIT_CLEAN = 0


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
async def test_sigterm_mid_stream_stores_what_was_acknowledged_and_acknowledges_what_was_stored(
    pg_store: Store,
    postgres_dsn: str,
    postgres_server: PostgresServer,
    mosquitto: MosquittoBroker,
    unique_topic_root: str,
    tmp_path: Path,
    ingest_processes: list[IngestProcess],
) -> None:
    await seed_ward(pg_store, patients=DEVICES)
    env = ingest_env(
        mosquitto=mosquitto, postgres_server=postgres_server, postgres_dsn=postgres_dsn, topic_root=unique_topic_root,
        data_dir=tmp_path, client_id=f"ingest-term-{uuid.uuid4().hex[:8]}",
        VAKTROM_INGEST_SHUTDOWN_GRACE_S=str(GRACE_S),
    )  # fmt: skip
    ingest = IngestProcess(env)
    ingest_processes.append(ingest)
    await ingest.start()
    publisher = MqttClient(MqttOptions(url=mosquitto.url(), client_id=f"pub-{uuid.uuid4().hex[:8]}", clean_start=True))
    await publisher.connect()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    stream = asyncio.create_task(_publish_stream(publisher, unique_topic_root, start))

    async def some_stored() -> bool:
        return await pg_store.count_readings() >= 2000

    await wait_until(some_stored, what="the first readings stored")
    asked_at = time.monotonic()
    code = await ingest.terminate(timeout_s=GRACE_S + 15)
    took_s = time.monotonic() - asked_at
    stored_at_stop = await pg_store.count_readings()
    log = "\n".join(ingest.log)
    await ingest.start()  # the same client id: its session holds what was not acknowledged
    await stream
    await publisher.disconnect()

    async def all_stored() -> bool:
        return await pg_store.count_readings() >= PACKS * 5

    await wait_until(all_stored, what="every published reading stored", timeout_s=180)
    await ingest.kill_9()
    assert code == EXIT_CLEAN, log
    assert took_s < GRACE_S, log
    assert "stopped cleanly: everything acknowledged is stored" in log
    assert "Traceback" not in log
    assert stored_at_stop < PACKS * 5, f"the stream had ended before SIGTERM ({took_s:.1f} s): it proved nothing\n{log}"
    assert await pg_store.count_readings() == PACKS * 5  # nothing acknowledged was lost
    # Nothing stored went unacknowledged: a message stored but not acknowledged would have come back as a duplicate.
    assert await pg_store.list_dead_letters(limit=100) == []
