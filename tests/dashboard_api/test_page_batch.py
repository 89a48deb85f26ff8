"""The live ward page in real headless Chromium: a `batch` delta (a burst of a ward's events, one WebSocket message)
updates every bed it names, each to the newest value it carries."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page, expect

from core.clock import utc_now
from core.events import ReadingsEvent, ReadingValue, ScoreEvent
from core.mqtt import MqttClient, RawMessage
from core.topics import events_topic
from core.types import Role
from dashboard_api.auth import issue_token
from dashboard_api.live import BATCH_MIN_EVENTS
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.dashboard_api.test_live import score_json
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def test_a_batch_of_readings_and_a_score_updates_the_bed(
    live_server: tuple[Served, Seeded], page: Page, broker_client: MqttClient, topic_root: str
) -> None:
    served, _ = live_server
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/#token={token}")
    bed = page.locator('article.bed[data-bed-id="b1"]')
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    await expect(bed.locator(".news2")).to_have_text("≥5")

    # Handed to the hub together, as a scoring cycle's events arrive from the broker: they go out as one batch.
    pulses = [100 + n for n in range(BATCH_MIN_EVENTS)]
    topic = events_topic(topic_root, "s1", "w1", "readings")
    for pulse in pulses:
        broker_client.inbox.put_nowait(RawMessage(topic, _readings(pulse), 1, 1, False, time.time()))
    score_topic = events_topic(topic_root, "s1", "w1", "score")
    broker_client.inbox.put_nowait(RawMessage(score_topic, _score(8), 1, 1, False, time.time()))

    await expect(bed.locator('.vital[data-parameter="pulse"] .value')).to_have_text(str(pulses[-1]))
    await expect(bed.locator(".news2")).to_have_text("8", timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#status")).to_have_text("Live")  # applied in place: no resnapshot
    assert errors == []


def _readings(pulse_bpm: int) -> bytes:
    now = utc_now()
    value = ReadingValue(parameter="pulse", value=pulse_bpm, measured_at=now, device_id="mon-1")
    event = ReadingsEvent(site_id="s1", ward_id="w1", at=now, patient_id="p1", bed_id="b1", values=[value])
    return event.model_dump_json().encode()


def _score(total: int) -> bytes:
    now = utc_now()  # newer than what the board shows: the page keeps the newer of two scores
    event = ScoreEvent.model_validate_json(score_json("w1", total=total))
    return event.model_copy(update={"at": now, "computed_at": now}).model_dump_json().encode()
