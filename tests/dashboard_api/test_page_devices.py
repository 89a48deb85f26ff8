"""The technician's devices page in real headless Chromium: register a device and see its credentials once, see
its first message arrive live, pair it to a bed, see it go offline once its type's expected interval passes, and
acknowledge a device alert. No clinical values and no patient names on the page."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from core.clock import utc_now
from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.types import AlertKind, AlertSeverity, DeadLetter, DeviceStatus, Role
from dashboard_api.auth import issue_token
from dashboard_api.live import LiveHub
from dashboard_api.ws_devices import FLEET_POLL_S
from devices.credentials import verify_password
from tests.dashboard_api.conftest import SECRET, FixedClock, Served, build_app, connect_hub_client, seed, serve
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]

OFFLINE_AFTER_S = 60  # DEVICE_TYPES[bedside_monitor].expected_interval_s


@pytest.fixture
async def devices_server(
    store: SqliteStore, topic_root: str, broker_client: MqttClient, observer: MqttClient
) -> AsyncIterator[tuple[Served, FixedClock]]:
    """The whole API on a real port; its clock starts at the real time and a test moves it on (a minute of
    silence without waiting a minute)."""
    clock = FixedClock(utc_now())
    await seed(store, clock())
    app = build_app(store, broker_client, topic_root=topic_root, clock=clock)
    await connect_hub_client(broker_client, observer, topic_root=topic_root)
    hub: LiveHub = app.state.live
    hub_task = asyncio.create_task(hub.run(), name="live-hub")
    try:
        async with serve(app) as served:
            yield served, clock
    finally:
        hub_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hub_task


async def test_a_technician_registers_a_device_sees_it_talk_pairs_it_and_sees_it_go_offline(
    devices_server: tuple[Served, FixedClock], page: Page, store: SqliteStore
) -> None:
    served, clock = devices_server
    token = issue_token(SECRET, user_id="tech-tom", role=Role.TECHNICIAN, site_ids=["s1"], ttl_s=3600, now=clock())
    await page.goto(f"{served.base_url}/devices#token={token}")
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    mon1 = page.locator('tr[data-device="mon-1"]')
    await expect(mon1.locator(".placement")).to_have_text("Bed Seng 1")  # a bed's label, never the patient
    await expect(page.locator('tr[data-device="mon-21"]')).to_have_count(0)  # another site's

    form = page.locator("#register-form")
    await form.locator('input[name="device_id"]').fill("mon-new")
    await form.locator('select[name="kind"]').select_option("bedside_monitor")
    await form.locator('input[name="model"]').fill("Philips MX40")
    await form.locator('input[name="serial"]').fill("MX40-0042")
    await form.locator('input[name="firmware"]').fill("B.02")
    await form.locator('button[type="submit"]').click()

    await expect(page.locator("#credentials")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#credentials-username")).to_have_text("mon-new")
    password = await page.locator("#credentials-password").text_content()
    assert password is not None and len(password) >= 32
    assert verify_password(password, (await store.current_device_hashes())["mon-new"])
    await page.locator("#credentials-done").click()
    await expect(page.locator("#credentials")).to_be_hidden()
    assert password not in await page.content()  # shown once: gone from the page
    row = page.locator('tr[data-device="mon-new"]')
    await expect(row.locator(".state")).to_have_text("Registered, waiting for first contact", timeout=UI_TIMEOUT_MS)
    await expect(row.locator(".conn")).to_have_text("Never heard from")

    # Its first reading arrives; not paired yet, ingest dead-letters it ("no patient paired"), which is contact.
    await store.append([], [DeadLetter("vaktrom/v1/s1/mon-new/obs", b"[]", "no patient paired", clock(), "mon-new")])
    await store.save_device_status(DeviceStatus("mon-new", True, clock(), battery_percent=96.0, signal_dbm=-61.0,
                                                firmware="B.02"))  # fmt: skip
    await expect(page.locator("#notice")).to_have_text("First reading received from mon-new", timeout=UI_TIMEOUT_MS)
    await expect(row.locator(".state")).to_have_text("First reading received")
    await expect(row.locator(".conn")).to_have_text("Online")
    await expect(row.locator(".battery")).to_have_text("96 %")

    await row.locator('input[name="patient_id"]').fill("p1")
    await row.locator('.pair-form button[type="submit"]').click()
    await expect(row.locator(".state")).to_have_text("Paired", timeout=UI_TIMEOUT_MS)
    await expect(row.locator(".placement")).to_have_text("Bed Seng 1")

    clock.advance(OFFLINE_AFTER_S + 1)  # it stopped: nothing more from it for longer than its type allows
    await expect(row.locator(".conn")).to_have_text("Offline", timeout=int(3 * FLEET_POLL_S * 1000) + UI_TIMEOUT_MS)
    await expect(row.locator(".problems")).to_contain_text("Offline: last heard 1 min ago (expected every 60 s)")
    body = await page.locator("body").inner_text()
    assert "Ola" not in body and "Nordmann" not in body  # no patient names anywhere
    audit = [(a.action, a.subject) for a in await store.list_audit(limit=10)]
    assert ("register.device", "mon-new") in audit and ("pair.device", "p1") in audit


async def test_a_technician_logging_in_lands_on_devices_and_acknowledges_a_device_alert(
    devices_server: tuple[Served, FixedClock], page: Page, store: SqliteStore
) -> None:
    served, clock = devices_server
    raised = await store.raise_alert(
        patient_id="p1", device_id="mon-1", ward_id="w1", kind=AlertKind.DEVICE_BATTERY_LOW,
        severity=AlertSeverity.INFO, message="battery at 9 %", at=clock(),
    )  # fmt: skip
    token = issue_token(SECRET, user_id="tech-tom", role=Role.TECHNICIAN, site_ids=["s1"], ttl_s=3600, now=clock())
    await page.goto(f"{served.base_url}/#token={token}")  # the demo's login link: the ward page sends them on
    await expect(page).to_have_url(f"{served.base_url}/devices", timeout=UI_TIMEOUT_MS)
    problems = page.locator('tr[data-device="mon-1"] .problems')
    await expect(problems).to_contain_text("Battery low: alert open", timeout=UI_TIMEOUT_MS)
    await problems.locator("button.ack").click()
    await expect(problems).to_contain_text("Battery low: alert acknowledged", timeout=UI_TIMEOUT_MS)
    stored = await store.get_alert(raised.alert.alert_id)
    assert (stored.state.value, stored.acknowledged_by) == ("acknowledged", "tech-tom")
