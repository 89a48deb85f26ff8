"""`vaktrom simulate --scenario NAME` as an operator runs it, against a real Mosquitto: it says which scenarios play,
the named patients' devices publish, and the patient who stopped measuring sends no spot check."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.mqtt import MqttClient, MqttOptions
from core.topics import parse_device_topic
from tests.fixtures.mosquitto import MosquittoBroker
from tests.ingest.conftest import TEST_SECRET
from tests.vaktrom.conftest import VAKTROM_COMMAND, cli_environment

pytestmark = pytest.mark.integration

_REPO = Path(__file__).resolve().parents[2]
# Home kits send their first checks 5 s apart (Cadence.home_stagger_s): kit 4's comes 15 s after the start.
WAIT_S = 45.0


@contextlib.asynccontextmanager
async def _simulate(env: dict[str, str], *scenarios: str) -> AsyncIterator[asyncio.subprocess.Process]:
    args = [arg for name in scenarios for arg in ("--scenario", name)]
    process = await asyncio.create_subprocess_exec(
        *VAKTROM_COMMAND, "simulate", *args, cwd=_REPO, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            async with asyncio.timeout(WAIT_S):
                await process.wait()


@pytest.mark.timeout(120)
async def test_simulate_plays_the_named_scenarios_and_the_stopped_patient_sends_no_checks(
    mosquitto: MosquittoBroker, unique_topic_root: str, tmp_path: Path
) -> None:
    env = cli_environment(
        tmp_path, mqtt_url=mosquitto.url(), mqtt_topic_root=unique_topic_root, auth_secret=TEST_SECRET
    )
    listener = MqttClient(MqttOptions(url=mosquitto.url(), client_id=f"ops-{uuid.uuid4().hex[:8]}", clean_start=True))
    await listener.connect()
    listener.subscribe(f"{unique_topic_root}/#", 1)
    seen: set[tuple[str, str]] = set()
    try:
        async with _simulate(env, "opioid-respiratory-depression", "stops-measuring") as process:
            assert process.stderr is not None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WAIT_S):
                    while ("demo-hjemmekit-4", "obs") not in seen:
                        message = await listener.inbox.get()
                        topic = parse_device_topic(unique_topic_root, message.topic)
                        if topic is not None:
                            seen.add((topic.device_id, topic.kind))
            process.terminate()
            log = (await process.stderr.read()).decode()
    finally:
        await listener.disconnect()

    assert ("demo-hjemmekit-4", "obs") in seen, log[-3000:]
    assert "Demo scenarios: opioid-respiratory-depression, stops-measuring" in log, log[-2000:]
    assert ("demo-monitor-5", "obs") in seen  # the opioid bed
    assert {("demo-hjemmekit-1", "obs"), ("demo-hjemmekit-3", "obs")} <= seen
    assert ("demo-hjemmekit-2", "obs") not in seen  # she stopped measuring: her check was due 5 s after the start
