"""The live ward page in real headless Chromium: a bed's NEWS2 changes when a score event reaches the broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from core.clock import utc_now
from core.events import ScoreEvent
from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import AlertState, Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SCREENSHOT = Path("/tmp/vaktrom-ward-page.png")


async def test_bed_score_updates_live_and_alert_is_acknowledged(
    live_server: tuple[Served, Seeded], page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, seeded = live_server
    errors: list[str] = []
    page.on("console", lambda message: _collect_errors(message, errors))
    now = utc_now()
    token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=3600, now=now)

    await page.goto(f"{served.base_url}/#token={token}")
    bed = page.locator('article.bed[data-bed-id="b1"]')
    await expect(bed.locator(".patient")).to_contain_text("Ola Nordmann", timeout=UI_TIMEOUT_MS)
    await expect(bed.locator(".news2")).to_have_text("≥5")
    await expect(page.locator("#status")).to_have_text("Live")
    assert "token" not in page.url  # the fragment is moved into sessionStorage at once

    event = ScoreEvent(
        site_id="s1",
        ward_id="w1",
        at=utc_now(),
        patient_id="p1",
        bed_id="b1",
        total=7,
        complete=True,
        risk="high",
        single_param_3=True,
        parameter_scores={"pulse": 3, "resp_rate": 3, "spo2": 1},
        missing=[],
        spo2_scale=1,
        computed_at=utc_now(),
    )
    await observer.publish(events_topic(topic_root, "s1", "w1", "score"), event.model_dump_json().encode())
    await expect(bed.locator(".news2")).to_have_text("7", timeout=UI_TIMEOUT_MS)
    await expect(bed).to_have_class("bed band-high")
    await page.screenshot(path=str(SCREENSHOT), full_page=True)

    await bed.get_by_role("button", name="Acknowledge alert: NEWS2 5").click()
    await expect(bed.locator(".alert .acked")).to_have_text("Acknowledged by nurse-anne", timeout=UI_TIMEOUT_MS)
    alert = await store.get_alert(seeded.alert_id)
    assert (alert.state, alert.acknowledged_by) == (AlertState.ACKNOWLEDGED, "nurse-anne")
    assert errors == []


def _collect_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)
