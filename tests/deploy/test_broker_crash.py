"""Issue 11, item 3: Mosquitto (shipped configuration) SIGKILLed right after ingest's first subscription. The broker
comes back without that subscription; devices keep what it answers "no matching subscribers" (0x10) and send it
again, so every reading the simulated devices counted as delivered is stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from core.clock import utc_now
from core.mqtt import MqttClient, MqttOptions
from core.settings import Settings
from core.store import Store
from core.store.sqlite import SqliteStore
from devices.demo import demo_unit, seed_demo_unit
from devices.simulator import Cadence, run_simulator
from tests.fixtures.mosquitto import AUTH_USERS, SERVICE_PASSWORD, ShippedBroker
from tests.ingest.conftest import TEST_SECRET, start_ingest, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

__all__ = ["start_ingest"]  # a fixture, imported for pytest

ROOT = "vaktrom/v1"
SIMULATOR = "vaktrom-simulator"
# Long enough for several packs per device on each side of the crash; short enough for the test run.
BEFORE_INGEST_S = 2.0
AFTER_RESTART_S = 4.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    sqlite = SqliteStore(tmp_path / "vaktrom.sqlite3")
    await sqlite.open()
    yield sqlite
    await sqlite.close()


async def test_a_broker_sigkill_right_after_ingest_subscribes_loses_no_reading_the_devices_counted_as_delivered(
    tmp_path: Path, store: Store, start_ingest: Callable[..., Any]
) -> None:
    broker = ShippedBroker(tmp_path)
    await broker.start()
    await seed_demo_unit(store, now=utc_now())
    delivered: list[bytes] = []
    simulator = MqttClient(
        MqttOptions(url=broker.address.url(username=SIMULATOR, password=AUTH_USERS[SIMULATOR]), client_id=SIMULATOR)
    )
    stop = asyncio.Event()
    try:
        await simulator.connect()
        simulation = asyncio.create_task(
            run_simulator(
                simulator, demo_unit(), topic_root=ROOT, speed=1.0, clock=utc_now, stop=stop, seed=11,
                cadence=Cadence(home_stagger_s=0.5), delivered=lambda topic, payload: _keep(topic, payload, delivered),
            ),
            name="simulator",
        )  # fmt: skip
        await asyncio.sleep(BEFORE_INGEST_S)  # devices publish to nobody: the broker answers 0x10
        settings = Settings(
            mqtt_url=broker.address.url(), mqtt_password=SecretStr(SERVICE_PASSWORD), auth_secret=TEST_SECRET,
            ingest_batch_wait_s=0.01,
        )  # fmt: skip
        await start_ingest(settings, store)  # returns once the broker has acknowledged its subscriptions
        await broker.kill_9()
        await broker.start()
        await asyncio.sleep(AFTER_RESTART_S)  # devices and ingest reconnect; the simulator keeps publishing
        stop.set()
        stats = await simulation
    finally:
        stop.set()
        await simulator.disconnect()
        await broker.stop()

    readings = sum(len(orjson.loads(pack)) for pack in delivered)
    await wait_until(lambda: _stored(store, readings), what=f"the {readings} delivered readings stored")
    assert (stats.refused, stats.abandoned) == (0, 0)
    assert stats.retried > 0  # "no matching subscribers" before ingest and after the crash: sent again
    assert await store.count_readings() == readings


def _keep(topic: str, payload: bytes, delivered: list[bytes]) -> None:
    if topic.endswith("/obs"):
        delivered.append(payload)


async def _stored(store: Store, readings: int) -> bool:
    return await store.count_readings() >= readings
