"""A worklist too long for one list says so on the coordinator's page: the server sends the most urgent items and
`truncated`, and the page shows that more are open (before, the API said so and the page showed nothing)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from playwright.async_api import Page, expect

from alerts.timers import fire_due_plan_checks
from core.clock import utc_now
from core.homecare import MeasurementPlan, PlanItem, PlanTimer
from core.store.sqlite import SqliteStore
from core.types import Parameter, Role
from dashboard_api import routes_homecare
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.dashboard_api.test_ws_worklist import breach, copd_at_home
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def a_missed_window(store: SqliteStore) -> None:
    """Liv's (p4) plan: a window that closed an hour ago with no SpO2 in it raises a missed-measurement item."""
    now = utc_now()
    item = PlanItem("morning", frozenset({Parameter.SPO2}), (time(8),), 60)
    plan = MeasurementPlan("p4", "Europe/Oslo", (item,), 48, "nurse-kari", now - timedelta(hours=3))
    window = PlanTimer("p4", "morning", now - timedelta(hours=2), now - timedelta(hours=1))
    await store.set_measurement_plan(plan, [window])
    assert await fire_due_plan_checks(store, utc_now) == 1


async def test_the_page_says_when_more_items_are_open_than_the_list_shows(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, _ = live_server
    await copd_at_home(store)
    monkeypatch.setattr(routes_homecare, "WORKLIST_MAX", 1)  # one item a list: a second one cuts it
    token = issue_token(SECRET, user_id="nurse-kari", role=Role.COORDINATOR, site_ids=["s3"], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/worklist#token={token}")
    await expect(page.locator("#empty-list")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#cut-list")).to_be_hidden()

    await breach(store, 87)  # one item: the whole list
    await expect(page.locator("#items tr td.colour")).to_have_text(["Yellow"], timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#cut-list")).to_be_hidden()

    await a_missed_window(store)  # a second item, less urgent than the yellow breach: left off the list
    await expect(page.locator("#cut-list")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#items tr td.colour")).to_have_text(["Yellow"])  # the most urgent is the one shown
