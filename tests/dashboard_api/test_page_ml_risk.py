"""The ward page in real headless Chromium: the ML risk comes with the honest caveat (issue 13, docs/MODEL_CARD.md)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from core.clock import utc_now
from core.types import Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def test_ml_risk_on_a_bed_says_it_is_a_trend_flag_not_validated_to_beat_news2(
    live_server: tuple[Served, Seeded], page: Page
) -> None:
    served, _ = live_server
    token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/#token={token}")
    bed = page.locator('article.bed[data-bed-id="b1"]')
    await expect(bed.locator(".risk")).to_have_text("ML risk: raised 42%", timeout=UI_TIMEOUT_MS)
    await expect(bed.locator(".risk-note")).to_have_text("trend flag, not validated to beat NEWS2 at other hospitals")
