"""The ward page shows each alert's escalation state and follows it live when a step fires (headless Chromium)."""

from __future__ import annotations

import re
from datetime import date, time

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from alerts.timers import fire_due_timers
from core.clock import utc_now
from core.escalation import ContactPoint, WebhookEndpoint
from core.events import alert_event
from core.mqtt import MqttClient
from core.oncall import OnCallRole, Rotation
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import AlertPhase, Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# The medium policy gives the unit's nurse 10 minutes before the doctor on call; times are the unit's clock, with
# the day in front ("06.12 00:04") when a time is not today's, as it is when the test runs just before midnight.
NURSE_PAGED = re.compile(
    r"^Unit nurse nurse-kari notified (?:\d\d\.\d\d )?(\d\d):(\d\d), not yet delivered; "
    r"next: doctor on call at (?:\d\d\.\d\d )?(\d\d):(\d\d)$"
)


async def test_the_ward_page_says_who_was_notified_when_a_step_fires(
    live_server: tuple[Served, Seeded], page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, seeded = live_server
    errors: list[str] = []
    page.on("console", lambda message: _collect_errors(message, errors))
    token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/#token={token}")
    words = page.locator(f'article.bed[data-bed-id="b1"] li[data-alert-id="{seeded.alert_id}"] .escalation')
    await expect(words).to_have_text("Paging unit nurse now", timeout=UI_TIMEOUT_MS)

    await store.upsert_webhook_endpoint(WebhookEndpoint("gw", "https://pager.example/hook", b"s" * 32, "gw"))
    nurses = Rotation(0, "Sykepleier", OnCallRole.UNIT_NURSE, frozenset({"s1"}), (time(8),), ("nurse-kari",),
                      date(2025, 1, 1))  # fmt: skip
    await store.add_rotation(nurses)
    await store.set_contact_points("nurse-kari", [ContactPoint("nurse-kari", "gw", "pager-17")])
    changes = await fire_due_timers(store, utc_now)  # Ola's first step, and Per's at the other site
    [fired] = [c for c in changes if c.phase is AlertPhase.ESCALATED and c.alert.alert_id == seeded.alert_id]
    event = alert_event(site_id="s1", ward_id="w1", alert=fired.alert, at=utc_now(), phase=AlertPhase.ESCALATED)
    await observer.publish(events_topic(topic_root, "s1", "w1", "alert"), event.model_dump_json().encode())

    await expect(words).to_have_text(NURSE_PAGED, timeout=UI_TIMEOUT_MS)
    match = NURSE_PAGED.match(await words.inner_text())
    assert match is not None
    paged_at, next_at = (int(match[1]) * 60 + int(match[2]), int(match[3]) * 60 + int(match[4]))
    assert (next_at - paged_at) % (24 * 60) == 10
    assert errors == []


def _collect_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)
