"""Days and hours of a scenario in seconds of test: the simulator steps a fake clock, its packs (SenML with absolute
times in the past) go through a real Mosquitto to the real ingest pipeline (`run_ingest`, what `vaktrom ingest`
runs) on that clock, into PostgreSQL. The broker checks nothing about time; ingest checks each reading against the
wall clock (at most 7 days old, none in the future), so the fake clock runs between a week ago and now."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime

from core.mqtt import MqttClient, MqttOptions
from core.store import Store
from devices.simulator import UnitSimulator
from ingest.metrics import IngestMetrics
from ingest.service import run_ingest
from tests.ingest.conftest import ingest_settings, wait_until

__all__ = ["FakeClock", "Player", "fake_time_ingest", "playing"]


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@contextlib.asynccontextmanager
async def fake_time_ingest(store: Store, *, mqtt_url: str, topic_root: str, clock: FakeClock) -> AsyncIterator[None]:
    """The ingest pipeline on `clock`, subscribed before this returns; stopped (what it holds stored) after."""
    settings = ingest_settings(mqtt_url, topic_root)
    metrics = IngestMetrics()
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(settings, store, metrics=metrics, stop=stop, clock=clock), name="e2e-ingest")
    try:
        await wait_until(lambda: metrics.ready or task.done(), what="ingest subscribed")
        if task.done():
            task.result()  # raise what stopped it
        yield
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await task


@dataclass
class Player:
    """Plays a UnitSimulator at chosen instants of the fake clock: each step's packs are published (QoS 1, as the
    devices do) and stored, and each touched patient scored at that instant, before the clock moves on."""

    simulator: UnitSimulator
    store: Store
    clock: FakeClock
    client: MqttClient

    @classmethod
    @contextlib.asynccontextmanager
    async def connected(
        cls, simulator: UnitSimulator, store: Store, clock: FakeClock, *, mqtt_url: str
    ) -> AsyncIterator[Player]:
        client = MqttClient(MqttOptions(url=mqtt_url, client_id=f"sim-{uuid.uuid4().hex[:8]}", clean_start=True))
        await client.connect()
        try:
            yield cls(simulator, store, clock, client)
        finally:
            await client.disconnect()

    async def play(self, instants: Iterable[datetime], *, patient_ids: Iterable[str]) -> None:
        patients = list(patient_ids)
        for at in instants:
            self.clock.now = at
            messages = self.simulator.step(at)
            await asyncio.gather(*(self.client.publish(m.topic, m.payload, qos=1) for m in messages))
            if any(m.topic.endswith("/obs") for m in messages):
                await self._until_scored(patients, at)

    async def advance(self, to: datetime) -> None:
        """Time passes without a reading (the timers see it at their next poll)."""
        assert to >= self.clock.now
        self.clock.now = to

    async def _until_scored(self, patient_ids: list[str], at: datetime) -> None:
        async def scored() -> bool:
            scores = await self.store.current_scores(patient_ids)
            return all(p in scores and scores[p].computed_at >= at for p in patient_ids)

        await wait_until(scored, what=f"the readings of {at} scored")


@contextlib.asynccontextmanager
async def playing(
    simulator: UnitSimulator, store: Store, clock: FakeClock, *, mqtt_url: str, topic_root: str
) -> AsyncIterator[Player]:
    """The ingest pipeline on `clock` and a Player of `simulator` publishing to it."""
    async with (
        fake_time_ingest(store, mqtt_url=mqtt_url, topic_root=topic_root, clock=clock),
        Player.connected(simulator, store, clock, mqtt_url=mqtt_url) as player,
    ):
        yield player
