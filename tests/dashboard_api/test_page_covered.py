"""The specialist's page in real headless Chromium: the alerts of two sites, sorted, kept live through the broker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from alerts.lifecycle import acknowledge
from core.clock import utc_now
from core.events import alert_event
from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import Alert, AlertKind, AlertSeverity, Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SCREENSHOT = Path("/tmp/vaktrom-alerts-page.png")
WARD_OF_SITE = {"s1": "w1", "s2": "w2"}
# Nobody is rostered in the seed, so no step notified anyone; the time is the unit's clock when it stopped (the day
# in front when the page renders on a later day than the stop, as just after midnight).
_STOPPED_BY_NURSE_BO = re.compile(r"^Stopped (?:\d\d\.\d\d )?\d\d:\d\d: acknowledged by nurse-bo$")


def specialist_token(sites: list[str]) -> str:
    return issue_token(SECRET, user_id="dr-spes", role=Role.SPECIALIST, site_ids=sites, ttl_s=3600, now=utc_now())


async def announce(observer: MqttClient, topic_root: str, site_id: str, alert: Alert) -> None:
    """What ingest or another screen does after a change: the alert event on the ward's topic."""
    ward_id = WARD_OF_SITE[site_id]
    event = alert_event(site_id=site_id, ward_id=ward_id, alert=alert, at=utc_now())
    await observer.publish(events_topic(topic_root, site_id, ward_id, "alert"), event.model_dump_json().encode())


async def open_alerts_page(page: Page, served: Served, token: str) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: _collect_errors(message, errors))
    await page.goto(f"{served.base_url}/alerts#token={token}")
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    return errors


async def test_the_specialist_sees_both_sites_high_first_and_the_list_follows_new_and_acknowledged_alerts(
    live_server: tuple[Served, Seeded], page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, seeded = live_server
    errors = await open_alerts_page(page, served, specialist_token(["s1", "s2"]))
    table = page.locator("#alert-rows tr")
    # The priority is a word; the colour comes with it, never alone.
    await expect(table.locator("td.priority")).to_have_text(["High", "Medium"], timeout=UI_TIMEOUT_MS)
    await expect(table.locator(".prio-chip").first).to_have_class("prio-chip prio-high")
    await expect(table.locator("td.where")).to_have_text(
        ["Annen kommune · KAD · 1", "Demo sykestue · Sykestua · Seng 1"]
    )
    await expect(table.locator("td.who")).to_have_text(["Per Li", "Ola Nordmann"])
    await expect(table.locator("td.escalation")).to_have_text(["Paging unit nurse now", "Paging unit nurse now"])
    await expect(page.locator("#units")).to_have_text("Covering Annen kommune · KAD, Demo sykestue · Sykestua.")

    # Kari, at home under s1, gets a NEWS2 8: high, so above Ola's medium, and newer, so below Per's high.
    kari = await store.raise_alert(
        patient_id="p2",
        device_id=None,
        ward_id="w1",
        kind=AlertKind.NEWS2,
        severity=AlertSeverity.HIGH,
        message="NEWS2 8",
        at=utc_now(),
    )
    await announce(observer, topic_root, "s1", kari.alert)
    await expect(table.locator("td.message")).to_have_text(["NEWS2 7", "NEWS2 8", "NEWS2 5"], timeout=UI_TIMEOUT_MS)
    await expect(table.nth(1).locator("td.where")).to_have_text("Demo sykestue · Sykestua · Home")

    # A nurse at s2 acknowledges Per's alert on her own screen: the row says so, and the chain has stopped.
    acked = await store.update_alert_by_id(seeded.other_alert_id, lambda a: acknowledge(a, by="nurse-bo", at=utc_now()))
    await announce(observer, topic_root, "s2", acked.alert)
    per = page.locator(f'#alert-rows tr[data-alert-id="{seeded.other_alert_id}"]')
    await expect(per.locator("td.state")).to_have_text("Acknowledged by nurse-bo", timeout=UI_TIMEOUT_MS)
    await expect(per.locator("td.escalation")).to_have_text(_STOPPED_BY_NURSE_BO)
    await expect(per.get_by_role("button", name="Acknowledge")).to_have_count(0)

    # Resolved: gone from the list.
    resolved = await store.resolve_alert(seeded.alert_id, at=utc_now(), by="dr-spes", reason="Reviewed on video")
    await announce(observer, topic_root, "s1", resolved)
    await expect(table.locator("td.message")).to_have_text(["NEWS2 7", "NEWS2 8"], timeout=UI_TIMEOUT_MS)
    await page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == []


async def test_acknowledging_from_the_list_updates_the_row_through_the_socket(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore
) -> None:
    served, seeded = live_server
    errors = await open_alerts_page(page, served, specialist_token(["s1", "s2"]))
    per = page.locator(f'#alert-rows tr[data-alert-id="{seeded.other_alert_id}"]')
    await per.get_by_role("button", name="Acknowledge alert: NEWS2 7").click()
    await expect(per.locator("td.state")).to_have_text("Acknowledged by dr-spes", timeout=UI_TIMEOUT_MS)
    stored = await store.get_alert(seeded.other_alert_id)
    assert stored.acknowledged_by == "dr-spes"
    assert errors == []


async def test_a_site_outside_the_token_is_not_shown(live_server: tuple[Served, Seeded], page: Page) -> None:
    served, _ = live_server
    errors = await open_alerts_page(page, served, specialist_token(["s1"]))
    await expect(page.locator("#alert-rows td.message")).to_have_text(["NEWS2 5"], timeout=UI_TIMEOUT_MS)
    assert errors == []


async def test_the_specialists_login_link_lands_on_the_alert_list(
    live_server: tuple[Served, Seeded], page: Page
) -> None:
    served, _ = live_server
    await page.goto(f"{served.base_url}/#token={specialist_token(['s1', 's2'])}")
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    assert page.url == f"{served.base_url}/alerts"
    await page.get_by_role("link", name="Ward").click()  # the ward is one click away, and stays there
    await expect(page.locator("#ward-picker")).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert page.url == f"{served.base_url}/"


def _collect_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)


async def test_the_specialist_reads_an_alerts_isbar_under_its_row(
    live_server: tuple[Served, Seeded], page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, seeded = live_server
    errors = await open_alerts_page(page, served, specialist_token(["s1"]))
    row = page.locator(f'#alert-rows tr[data-alert-id="{seeded.alert_id}"]')
    toggle = row.get_by_role("button", name="ISBAR")
    await toggle.click()
    isbar = page.locator(f'#alert-rows tr[data-isbar-of="{seeded.alert_id}"]')
    await expect(isbar.locator("dt")).to_have_text(
        ["Identify", "Situation", "Background", "Assessment", "Recommendation"], timeout=UI_TIMEOUT_MS
    )
    await expect(isbar.locator(".isbar-identify")).to_contain_text("Ola Nordmann (p1, born 1941)")
    await expect(isbar.locator(".isbar-recommendation")).to_contain_text("Urgent response")

    # The alert worsens while the text is open: it is read again and says so.
    raised = await store.raise_alert(
        patient_id="p1", device_id=None, ward_id="w1", kind=AlertKind.NEWS2, severity=AlertSeverity.HIGH,
        message="NEWS2 7", at=utc_now(),
    )  # fmt: skip
    await announce(observer, topic_root, "s1", raised.alert)
    await expect(isbar.locator(".isbar-recommendation")).to_contain_text("Emergency response", timeout=UI_TIMEOUT_MS)
    await row.get_by_role("button", name="Hide ISBAR").click()
    await expect(isbar).to_have_count(0)
    assert errors == []
