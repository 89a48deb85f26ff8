"""The top bar in real headless Chromium: it offers the pages the user's role may use (the server's list, GET /me),
marks the one shown, and takes the user there still logged in; a technician is offered the devices only; during a
database outage the page says so instead of naming an undefined user."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from core.clock import utc_now
from core.types import Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served, api_on_own_postgres, serve
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def test_a_coordinator_on_the_ward_page_finds_the_worklist_in_the_top_bar(
    live_server: tuple[Served, Seeded], page: Page
) -> None:
    served, _ = live_server
    token = issue_token(SECRET, user_id="nurse-kari", role=Role.COORDINATOR, site_ids=["s1"], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/#token={token}")
    links = page.locator("#pages a")
    await expect(links).to_have_text(["Ward", "Alerts I cover", "Worklist", "Team board"], timeout=UI_TIMEOUT_MS)
    await expect(page.locator('#pages a[aria-current="page"]')).to_have_text("Ward")

    await links.get_by_text("Worklist").click()

    await expect(page).to_have_url(f"{served.base_url}/worklist")
    await expect(page.locator('#pages a[aria-current="page"]')).to_have_text("Worklist", timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#who")).to_have_text("nurse-kari · coordinator")  # the session went along
    await page.locator("#logout").click()
    await expect(page.locator("#login")).to_be_visible()
    await expect(links).to_have_count(0)  # logged out: no pages offered


async def test_a_technician_is_offered_the_devices_page_only(live_server: tuple[Served, Seeded], page: Page) -> None:
    served, _ = live_server
    token = issue_token(SECRET, user_id="tech-tom", role=Role.TECHNICIAN, site_ids=["s1"], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/devices#token={token}")
    await expect(page.locator("#pages a")).to_have_text(["Devices"], timeout=UI_TIMEOUT_MS)
    await expect(page.locator('#pages a[aria-current="page"]')).to_have_text("Devices")


async def test_a_page_opened_during_a_database_outage_says_the_database_cannot_be_reached(page: Page) -> None:
    async with api_on_own_postgres(utc_now()) as own, serve(own.app) as served:
        own.server.stop()
        await page.goto(f"{served.base_url}/#token={own.token}")
        await expect(page.locator("#problem")).to_have_text(
            "Cannot reach vaktrom: The database cannot be reached now; try again shortly.", timeout=UI_TIMEOUT_MS
        )
        await expect(page.locator("#who")).to_have_text("")
        await expect(page.locator("#pages a")).to_have_count(0)
