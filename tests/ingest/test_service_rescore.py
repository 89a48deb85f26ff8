"""Must show: with several ingest workers splitting the readings (MQTT 5 shared subscription), a doctor's change to a
patient's SpO2 scale reaches every worker, so whichever one the next pack lands on scores it on the new scale.

Each worker caches a patient's scale (and own limits and care flags) for up to a minute; the rescore request the API
sends after the change is what refreshes it. Sent to the group, it reached one worker only, and the others went on
scoring the patient's packs on the old scale, flipping the score on the ward board from pack to pack.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from core.events import RescoreRequest, ScoreEvent, decode_event
from core.mqtt import MqttClient
from core.store import Store
from core.topics import events_filter, obs_topic, rescore_topic
from core.types import SpO2Scale, SpO2ScaleDecision
from tests.ingest.conftest import SEEDED_AT, SITE, ingest_settings, next_message, seed_ward, vitals_pack, wait_until

pytestmark = pytest.mark.integration

Start = Callable[..., Any]
GROUP = "vaktrom-ingest"
PACK_EVERY_S = 0.1  # a monitor's pace, so the broker hands packs to both workers in turn


async def _monitor(client: MqttClient, root: str, *, start: datetime, pulse: float, packs: int = 300) -> None:
    """dev-1 sends a pack (SpO2 88 % on air) every PACK_EVERY_S, measured as it goes, until cancelled."""
    for n in range(packs):
        pack = vitals_pack(start + timedelta(seconds=n * PACK_EVERY_S), pulse=pulse, spo2=88)
        await client.publish(obs_topic(root, SITE, "dev-1"), orjson.dumps(pack), qos=1)
        await asyncio.sleep(PACK_EVERY_S)  # pacing the device, not waiting for an outcome


async def _score_events(client: MqttClient, *, count: int, pulse_score: int) -> list[ScoreEvent]:
    """The next `count` score events of p-1 whose pulse scored `pulse_score`."""
    found: list[ScoreEvent] = []
    while len(found) < count:
        event = decode_event((await next_message(client, topic_part="/events/")).payload)
        if not isinstance(event, ScoreEvent) or event.patient_id != "p-1":
            continue
        if event.parameter_scores.get("pulse") == pulse_score:
            found.append(event)
    return found


async def test_every_worker_scores_on_the_spo2_scale_the_doctor_just_set(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store, patients=1)
    await store.set_spo2_scale(SpO2ScaleDecision("p-1", SpO2Scale.SCALE_2, "dr.lund", SEEDED_AT))
    mqtt_client.subscribe(events_filter(root))
    workers = [await start_ingest(ingest_settings(mqtt_url, root, mqtt_shared_group=GROUP), store) for _ in range(2)]

    # Both workers score p-1's packs on scale 2 (and cache it).
    start = datetime.now(UTC) - timedelta(seconds=60)
    monitor = asyncio.create_task(_monitor(mqtt_client, root, start=start, pulse=72))
    await wait_until(lambda: all(w.metrics.patients_scored for w in workers), what="both workers scoring p-1")
    monitor.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await monitor

    # The doctor takes her off scale 2; the API asks ingest to re-score her.
    await store.set_spo2_scale(SpO2ScaleDecision("p-1", SpO2Scale.SCALE_1, "dr.lund", datetime.now(UTC)))
    heard = [w.metrics.messages_in for w in workers]
    request = RescoreRequest(patient_ids=["p-1"]).model_dump_json().encode()
    await mqtt_client.publish(rescore_topic(root), request, qos=1)
    await wait_until(
        lambda: all(w.metrics.messages_in > before for w, before in zip(workers, heard, strict=True)),
        what="every worker hearing the rescore request",
        timeout_s=10,
    )

    # Her next packs (pulse now 100, scoring 1) land on both workers; each announces her new score once.
    start = datetime.now(UTC) - timedelta(seconds=1)
    monitor = asyncio.create_task(_monitor(mqtt_client, root, start=start, pulse=100))
    try:
        async with asyncio.timeout(30):
            scores = await _score_events(mqtt_client, count=2, pulse_score=1)
    finally:
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor

    # SpO2 88 % scores 3 on scale 1 (0 on scale 2): the ward sees the same score whichever worker computed it.
    assert [(s.spo2_scale, s.parameter_scores["spo2"]) for s in scores] == [(1, 3), (1, 3)]
