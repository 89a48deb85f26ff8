"""The team board's tasks in real headless Chromium: when one patient's unanswered windows are more tasks than a
read holds, the board says so live (a notice, not only fewer tasks), and the patient's row shows the most pressing."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from core.clock import utc_now
from core.store.sqlite import SqliteStore
from dashboard_api.team_board import TASKS_MAX
from tests.dashboard_api.conftest import Seeded, Served
from tests.dashboard_api.test_page_team import fact_team, open_board
from tests.dashboard_api.test_routes_team_tasks import three_weeks_unanswered
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def test_a_board_with_more_tasks_than_it_holds_tells_the_member_so_live(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore
) -> None:
    served, _ = live_server
    await fact_team(store, "p2", "p3")
    errors = await open_board(page, served)
    kari = page.locator('#rows tr[data-patient-id="p2"]')
    notice = page.locator("#cut-list")
    await expect(kari).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(notice).to_be_hidden()

    opened = await three_weeks_unanswered(store, utc_now, "p2")  # Kari's hourly windows, unanswered

    await expect(notice).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(notice).to_contain_text("More outreach tasks are open than the board shows")
    await expect(kari.locator(".follow-up-cell li.task")).to_have_count(TASKS_MAX)
    assert opened > TASKS_MAX
    assert errors == []
