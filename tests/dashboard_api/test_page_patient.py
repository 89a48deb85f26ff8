"""One patient's page in real headless Chromium: 24 h trend charts (uPlot), ISBAR, alert timeline, care team."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from core.clock import utc_now
from core.store.sqlite import SqliteStore
from core.types import ClinicalRisk, Parameter, PatientLimit, PatientScore, Reading, Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SCREENSHOT = Path("/tmp/vaktrom-patient-page.png")
_UPDATED = re.compile(r"^Updated (?:\d\d\.\d\d )?\d\d:\d\d$")  # the day in front only across midnight
# What a chart shows: its canvas, the points uPlot was given, and the same values in its table.
SERIES = """(figure) => {
  const canvas = figure.querySelector("canvas");
  const rows = figure.querySelectorAll(".chart-values tr").length - 1;
  return { canvas: Boolean(canvas) && canvas.width > 0, points: Number(figure.dataset.points), rows };
}"""


async def chart_ola(store: SqliteStore) -> None:
    """Six and three hours of Ola's history before the seed's readings and NEWS2 5 (30 s ago), and his limit."""
    now = utc_now()
    earlier = [now - timedelta(hours=6), now - timedelta(hours=3)]
    readings = [
        Reading("mon-1", "p1", Parameter.PULSE, bpm, at, at) for bpm, at in zip((84.0, 96.0), earlier, strict=True)
    ]
    readings += [Reading("mon-1", "p1", Parameter.SPO2, 97.0, at, at) for at in earlier]
    await store.append(readings, [])
    await store.save_scores(
        [
            PatientScore("p1", at, total, True, ClinicalRisk.LOW, False, {Parameter.PULSE: total})
            for total, at in zip((1, 3), earlier, strict=True)
        ]
    )
    await store.set_patient_limits(
        [PatientLimit("p1", Parameter.PULSE, None, 120.0, "Known chronic tachycardia", "dr-berg", earlier[0])]
    )


async def test_the_patient_view_draws_24_hours_of_each_vital_and_news2_with_alerts_and_care_team(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore
) -> None:
    served, seeded = live_server
    await chart_ola(store)
    errors: list[str] = []
    page.on("console", lambda message: _collect_errors(message, errors))
    token = issue_token(SECRET, user_id="dr-spes", role=Role.SPECIALIST, site_ids=["s1"], ttl_s=3600, now=utc_now())

    await page.goto(f"{served.base_url}/patient?id=p1#token={token}")

    await expect(page.locator("#patient-name")).to_have_text("Ola Nordmann (f. 1941)", timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#status")).to_have_text(_UPDATED, timeout=UI_TIMEOUT_MS)
    drawn = {
        name: await page.locator(f'figure[data-chart="{name}"]').evaluate(SERIES)
        for name in ("news2", "pulse", "spo2", "resp_rate")
    }
    assert drawn == {
        "news2": {"canvas": True, "points": 3, "rows": 3},  # 1 and 3 earlier, the seed's 5 now
        "pulse": {"canvas": True, "points": 3, "rows": 3},
        "spo2": {"canvas": True, "points": 3, "rows": 3},
        "resp_rate": {"canvas": True, "points": 1, "rows": 1},  # charted by hand two hours ago
    }
    await expect(page.locator('figure[data-chart="temperature"] figcaption')).to_have_text(
        "Temperature: no readings in the last 24 hours"
    )
    await expect(page.locator(".uplot")).to_have_count(4)

    await expect(page.locator("#team li")).to_have_text(["dr-berg · supervising doctor · Demo kommune"])
    limit = page.locator('#limits tr[data-parameter="pulse"] td')
    await expect(limit.nth(0)).to_have_text("pulse")
    await expect(limit.nth(1)).to_have_text("–")  # no lower bound
    await expect(limit.nth(2)).to_have_text("120")
    await expect(limit.nth(3)).to_have_text("Known chronic tachycardia")
    timeline = page.locator(f'#timeline li[data-alert-id="{seeded.alert_id}"]')
    await expect(timeline.locator(".what")).to_contain_text([" NEWS2 5: opened"])
    isbar = page.locator(f'.isbar[data-alert-id="{seeded.alert_id}"]')
    await expect(isbar.locator("h4")).to_have_text("Medium priority: NEWS2 5")
    await expect(isbar.locator(".isbar-identify")).to_contain_text("Ola Nordmann")
    await expect(isbar.locator(".isbar-recommendation")).not_to_be_empty()
    await page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == []


async def test_another_sites_patient_is_not_shown(live_server: tuple[Served, Seeded], page: Page) -> None:
    served, _ = live_server
    token = issue_token(SECRET, user_id="dr-spes", role=Role.SPECIALIST, site_ids=["s1"], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/patient?id=p3#token={token}")
    await expect(page.locator("#problem")).to_have_text("Patient p3 has no current stay", timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#patient-view")).to_be_hidden()


async def test_the_ward_page_links_each_patient_to_their_view(live_server: tuple[Served, Seeded], page: Page) -> None:
    served, _ = live_server
    token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/#token={token}")
    await page.get_by_role("link", name="Ola Nordmann").click()
    await expect(page.locator("#patient-name")).to_have_text("Ola Nordmann (f. 1941)", timeout=UI_TIMEOUT_MS)
    assert page.url == f"{served.base_url}/patient?id=p1"


def _collect_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)
