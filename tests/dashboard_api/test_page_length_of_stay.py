"""The ward page in real headless Chromium shows each patient's length of stay, and says in words when a stay is
past its unit's limit, with the advisory item on the bed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import Page, expect

from alerts.timers import fire_due_timers
from core.clock import utc_now
from core.store.sqlite import SqliteStore
from core.types import Patient, Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def test_the_board_shows_the_length_of_stay_and_a_stay_past_the_sykestue_limit(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore
) -> None:
    served, _ = live_server
    now = utc_now()
    await store.create_patient(Patient("p9", "Lang Liggetid", 1933), national_id=None, at=now, by="admin-eva")
    await store.admit(patient_id="p9", bed_id="b2", stay_id="st-9", at=now - timedelta(days=15, minutes=5))
    await fire_due_timers(store, utc_now)  # the sykestue's 14 days have passed: the advisory item opens
    token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=3600, now=now)

    await page.goto(f"{served.base_url}/#token={token}")

    long_stay = page.locator('article.bed[data-bed-id="b2"]')
    await expect(long_stay.get_by_test_id("length-of-stay")).to_have_text(
        "Stay 15 d 0 h — past the unit's limit, review due", timeout=UI_TIMEOUT_MS
    )
    await expect(long_stay.locator(".alert")).to_contain_text(
        "Length of stay: sykestue stay beyond 14 days: needs a specialist's review"
    )
    await expect(page.locator('article.bed[data-bed-id="b1"]').get_by_test_id("length-of-stay")).to_have_text(
        "Stay 24 h"
    )
    await expect(page.locator('article.bed[data-bed-id="b10"]').get_by_test_id("length-of-stay")).to_have_count(0)
