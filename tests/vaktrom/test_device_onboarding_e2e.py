"""Box to bed on the running system (`vaktrom run`: embedded broker and store, ingest, API), in headless Chromium:
a technician registers a device and sees its credentials once; the device logs in to the broker with them and its
first reading reaches the page; the technician pairs it to a bed; it stops, and the page shows it offline once its
type's expected interval has passed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from core.clock import utc_now
from core.mqtt import MqttClient, MqttOptions
from core.onboarding import DEVICE_TYPES
from core.topics import obs_topic, status_topic
from core.types import DeviceKind, Parameter, Role
from dashboard_api.ws_devices import FLEET_POLL_S
from devices.demo import demo_unit, seed_demo_unit
from devices.packs import Record, encode_pack, encode_status
from tests.vaktrom.conftest import SQLITE_FILE, RunningSystem, embedded_settings, one_process, second_store

pytestmark = [pytest.mark.browser, pytest.mark.integration]

UNIT = demo_unit()
BED = UNIT.beds[0]
PAGE_TIMEOUT_MS = 15_000
INTERVAL_S = DEVICE_TYPES[DeviceKind.PULSE_OXIMETER].expected_interval_s  # 60 s: continuous


@pytest.fixture
async def quiet_unit(tmp_path: Path) -> AsyncIterator[RunningSystem]:
    """The demo unit seeded, no simulator: only the new device talks."""
    settings = embedded_settings(tmp_path, simulate=False)
    async with second_store(settings.data_dir / SQLITE_FILE) as store:
        await seed_demo_unit(store, now=utc_now())
    async with one_process(settings) as system:
        yield system


async def test_box_to_bed_with_real_credentials_on_the_embedded_broker(quiet_unit: RunningSystem, page: Page) -> None:
    settings, root, site = quiet_unit.settings, quiet_unit.settings.mqtt_topic_root, UNIT.site_id
    await page.goto(f"{quiet_unit.base_url}/devices#token={quiet_unit.token_of(Role.TECHNICIAN)}")
    await expect(page.locator("#status")).to_have_text("Live", timeout=PAGE_TIMEOUT_MS)

    form = page.locator("#register-form")
    await form.locator('input[name="device_id"]').fill("ox-e2e")
    await form.locator('select[name="site_id"]').select_option(site)
    await form.locator('select[name="kind"]').select_option("pulse_oximeter")
    await form.locator('input[name="model"]').fill("Nonin 3150")
    await form.locator('input[name="serial"]').fill("N3150-77")
    await form.locator('button[type="submit"]').click()
    await expect(page.locator("#credentials-username")).to_have_text("ox-e2e", timeout=PAGE_TIMEOUT_MS)
    password = await page.locator("#credentials-password").text_content()
    assert password
    await page.locator("#credentials-done").click()
    assert password not in await page.content()

    # The device, set up with what the page showed, logs in as itself and sends its status and a reading.
    device = MqttClient(MqttOptions(url=settings.effective_mqtt_url(), client_id="ox-e2e", password=password,
                                    protocol_v5=False, clean_start=True))  # fmt: skip
    await device.connect()
    try:
        status = encode_status(online=True, battery_percent=88.0, signal_dbm=-58.0, firmware="4.2", at=utc_now())
        await device.publish(status_topic(root, site, "ox-e2e"), status)
        await device.publish(obs_topic(root, site, "ox-e2e"), encode_pack([Record(Parameter.SPO2, 97)], at=utc_now()))
        row = page.locator('tr[data-device="ox-e2e"]')
        await expect(page.locator("#notice")).to_have_text(
            "First reading received from ox-e2e", timeout=PAGE_TIMEOUT_MS
        )
        await expect(row.locator(".conn")).to_have_text("Online")
        await expect(row.locator(".battery")).to_have_text("88 %")

        await row.locator('input[name="patient_id"]').fill(BED.patient_id)
        await row.locator('.pair-form button[type="submit"]').click()
        await expect(row.locator(".state")).to_have_text("Paired", timeout=PAGE_TIMEOUT_MS)
        await expect(row.locator(".placement")).to_have_text("Bed Seng 1")
        await device.publish(obs_topic(root, site, "ox-e2e"), encode_pack([Record(Parameter.SPO2, 96)], at=utc_now()))
        stopped_at = time.monotonic()
    finally:
        await device.disconnect()  # it stops

    deadline_ms = int((INTERVAL_S + 5 * FLEET_POLL_S) * 1000) + PAGE_TIMEOUT_MS
    await expect(row.locator(".conn")).to_have_text("Offline", timeout=deadline_ms)
    offline_after_s = time.monotonic() - stopped_at
    assert INTERVAL_S <= offline_after_s <= INTERVAL_S + 3 * FLEET_POLL_S + 2  # its interval, plus a poll or two
    body = await page.locator("body").inner_text()
    assert "Simulert" not in body  # the demo patients' names are never on this page
