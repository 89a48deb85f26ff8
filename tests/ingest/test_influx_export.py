"""The InfluxDB sink end to end: real Mosquitto, a real server speaking InfluxDB v2's write API (VictoriaMetrics),
readings counted point by point, through an outage of the server."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from core.events import ScoreEvent
from core.mqtt import MqttClient
from core.settings import Settings
from core.store.sqlite import SqliteStore
from core.topics import events_topic, obs_topic
from ingest.influx_export import ExportMetrics, points_of_events, run_influx_export
from tests.fixtures.victoria_metrics import VictoriaMetrics
from tests.ingest.conftest import SITE, WARD, epoch, ingest_settings, seed_ward, vitals_pack, wait_until

pytestmark = pytest.mark.integration

READINGS_PER_PACK = 5  # vitals_pack
OUTAGE_S = 30.0  # the outage of the InfluxDB server
ARRIVAL_TIMEOUT_S = 60.0  # after the outage: the exporter's next retry (<= 10 s) and the server's start


def _score_event(patient_id: str, total: int, at: datetime) -> ScoreEvent:
    return ScoreEvent(
        site_id=SITE, ward_id=WARD, at=at, patient_id=patient_id, bed_id=None, total=total, complete=True,
        risk="low", single_param_3=False, parameter_scores={}, missing=[], spo2_scale=1, computed_at=at,
    )  # fmt: skip


def test_a_score_and_an_alert_become_points_with_their_patient_ward_and_time() -> None:
    at = datetime(2026, 12, 5, 3, 0, 1, 500_000, tzinfo=UTC)

    (line,) = [p.to_line_protocol() for p in points_of_events([_score_event("p-1", 6, at)])]

    assert line == (
        f"vaktrom_score,patient_id=p-1,site_id={SITE},ward_id={WARD} complete=true,news2_total=6i,spo2_scale=1i "
        f"{int(at.timestamp() * 1_000_000)}"
    )


@pytest.fixture
async def influx(tmp_path: Path) -> AsyncIterator[VictoriaMetrics]:
    server = VictoriaMetrics(tmp_path / "victoria-metrics")
    await server.start()
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def exporting(settings: Settings, store: SqliteStore, metrics: ExportMetrics) -> AsyncIterator[None]:
    connected = asyncio.Event()
    task = asyncio.create_task(run_influx_export(settings, store, metrics=metrics, connected=connected))
    try:
        async with asyncio.timeout(15):
            await asyncio.wait([task, asyncio.create_task(connected.wait())], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _publish_packs(client: MqttClient, root: str, devices: list[str], start: datetime, count: int) -> None:
    for n in range(count):
        device = devices[n % len(devices)]
        pack = vitals_pack(start + timedelta(seconds=n), pulse=60 + n % 40)
        await client.publish(obs_topic(root, SITE, device), orjson.dumps(pack), qos=1)


async def test_every_reading_reaches_influxdb_once_even_across_a_30_s_outage(
    tmp_path: Path, mqtt_url: str, unique_topic_root: str, mqtt_client: MqttClient, influx: VictoriaMetrics
) -> None:
    store = SqliteStore(tmp_path / "vaktrom.sqlite3")
    await store.open()
    devices = await seed_ward(store, patients=2)
    settings = ingest_settings(
        mqtt_url, unique_topic_root, influx_url=influx.url, influx_token="test-token",
        influx_client_id=f"influx-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    metrics = ExportMetrics()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    try:
        async with exporting(settings, store, metrics):
            await _publish_packs(mqtt_client, unique_topic_root, devices, start, 40)
            await mqtt_client.publish(
                obs_topic(unique_topic_root, SITE, "dev-unknown"), orjson.dumps(vitals_pack(start))
            )
            score = _score_event("p-1", 6, start)
            topic = events_topic(unique_topic_root, SITE, WARD, "score")
            await mqtt_client.publish(topic, score.model_dump_json().encode())
            await wait_until(lambda: metrics.points_written >= 40 * READINGS_PER_PACK + 1, what="the first points")

            await influx.stop()
            await _publish_packs(mqtt_client, unique_topic_root, devices, start + timedelta(minutes=1), 60)
            await asyncio.sleep(OUTAGE_S)  # the outage itself: the server is down for this long, by design
            written_during_outage = metrics.points_written
            await influx.start()

            await wait_until(
                lambda: metrics.points_written >= 100 * READINGS_PER_PACK + 1,
                what="every point after the outage", timeout_s=ARRIVAL_TIMEOUT_S,
            )  # fmt: skip
    finally:
        await store.close()

    assert written_during_outage == 40 * READINGS_PER_PACK + 1  # nothing claimed written while the server was away
    assert metrics.writes_retried > 0
    series = await influx.samples('{__name__="vaktrom_reading_value"}')
    assert sum(len(s["values"]) for s in series) == 100 * READINGS_PER_PACK  # each once; the unknown device's none
    assert {s["metric"]["patient_id"] for s in series} == {"p-1", "p-2"}
    pulses = [s for s in series if s["metric"]["parameter"] == "pulse" and s["metric"]["device_id"] == "dev-1"]
    assert len(pulses) == 1 and pulses[0]["timestamps"][0] == int(epoch(start) * 1000)
    assert pulses[0]["values"][0] == 60  # the first pack's pulse
    (news2,) = await influx.samples('{__name__="vaktrom_score_news2_total"}')
    assert news2["values"] == [6] and news2["metric"]["patient_id"] == "p-1"
