"""The coordinator's worklist in real headless Chromium: an item raised by the plan timers is claimed and closed; a
threshold breach written while the page is open appears and rises to red live, shows the patient's thresholds and
history, and is claimed and closed."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from playwright.async_api import Page, expect

from alerts.timers import fire_due_plan_checks
from core.clock import utc_now
from core.homecare import MeasurementPlan, PlanItem, PlanTimer, WorklistState
from core.store.sqlite import SqliteStore
from core.thresholds import TriageColour
from core.types import CareSetting, Parameter, Patient, Reading, Role, Site, SiteKind, Stay, Ward
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.dashboard_api.test_ws_worklist import breach, copd_at_home
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def a_missed_morning(store: SqliteStore) -> None:
    """Programme s3 follows Liv (p4) at home; her morning window closed an hour ago with nothing measured."""
    now = utc_now()
    await store.upsert_site(Site("s3", "Digital hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("w3", "s3", "DHO"))
    await store.upsert_patient(Patient("p4", "Liv Hjemme"))
    await store.add_stay(Stay("st4", "p4", "w3", CareSetting.HOME, now - timedelta(days=3)))
    item = PlanItem("morning", frozenset({Parameter.SPO2}), (time(8),), 60)
    plan = MeasurementPlan("p4", "Europe/Oslo", (item,), 48, "nurse-kari", now - timedelta(hours=3))
    window = PlanTimer("p4", "morning", now - timedelta(hours=2), now - timedelta(hours=1))
    await store.set_measurement_plan(plan, [window])
    assert await fire_due_plan_checks(store, utc_now) == 1


async def test_a_coordinator_claims_and_closes_an_item_with_a_comment(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore
) -> None:
    served, _ = live_server
    await a_missed_morning(store)
    token = issue_token(SECRET, user_id="nurse-kari", role=Role.COORDINATOR, site_ids=["s3"], ttl_s=3600, now=utc_now())

    await page.goto(f"{served.base_url}/worklist#token={token}")
    row = page.locator("#items tr")
    await expect(row.locator("td.kind")).to_have_text(["Measurement not reported"], timeout=UI_TIMEOUT_MS)
    await expect(row.locator("td.patient")).to_have_text(["p4"])
    await row.get_by_role("button", name="Claim").click()
    await expect(row.locator("td.state")).to_have_text(["Claimed by nurse-kari"], timeout=UI_TIMEOUT_MS)
    await row.get_by_role("button", name="Close…").click()
    await page.locator("#close-outcome").select_option("measured")
    await page.locator("#close-comment").fill("Ringte Liv, målte 95 % på telefon")
    await page.get_by_role("button", name="Close item").click()

    await expect(page.locator("#empty-list")).to_be_visible(timeout=UI_TIMEOUT_MS)
    (closed,) = await store.worklist("s3", states=[WorklistState.CLOSED])
    _, history = await store.worklist_item(closed.item_id)
    assert (closed.outcome, closed.owner) == ("measured", "nurse-kari")
    assert [(e.actor, e.action, e.text) for e in history][1:] == [
        ("nurse-kari", "claimed", ""), ("nurse-kari", "closed", "Ringte Liv, målte 95 % på telefon"),
    ]  # fmt: skip


async def test_a_threshold_breach_appears_live_and_the_coordinator_claims_and_closes_it(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore
) -> None:
    served, _ = live_server
    await copd_at_home(store)
    token = issue_token(SECRET, user_id="nurse-kari", role=Role.COORDINATOR, site_ids=["s3"], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/worklist#token={token}")
    await expect(page.locator("#empty-list")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)

    await breach(store, 87)  # written by ingest while the page is open: no reload, no poll by the page
    row = page.locator("#items tr")
    await expect(row.locator("td.colour")).to_have_text(["Yellow"], timeout=UI_TIMEOUT_MS)
    await breach(store, 83)
    await expect(row.locator("td.colour")).to_have_text(["Red"], timeout=UI_TIMEOUT_MS)
    await expect(row.locator("td.kind")).to_have_text(["Outside personal thresholds"])
    await expect(row.locator("td.summary")).to_have_text(["SpO2 83 %: red under the personal thresholds"])

    now = utc_now()
    await store.append([Reading("kit-4", "p4", Parameter.SPO2, v, now, now) for v in (87, 83)], [])
    await row.get_by_role("button", name="Details").click()
    await expect(page.locator('#details-trends figure[data-chart="spo2"] canvas')).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#details-thresholds li")).to_have_text(
        ["spo2: red < 85, yellow 85-88, green >= 88"], timeout=UI_TIMEOUT_MS
    )
    await expect(page.locator("#details-history li")).to_have_count(2)  # opened, raised
    await row.get_by_role("button", name="Claim").click()
    await expect(row.locator("td.state")).to_have_text(["Claimed by nurse-kari"], timeout=UI_TIMEOUT_MS)
    await row.get_by_role("button", name="Close…").click()
    await page.locator("#close-outcome").select_option("contacted")
    await page.locator("#close-comment").fill("Ringte, økte O2 til 2 l/min")
    await page.get_by_role("button", name="Close item").click()

    await expect(page.locator("#empty-list")).to_be_visible(timeout=UI_TIMEOUT_MS)
    (closed,) = await store.worklist("s3", states=[WorklistState.CLOSED])
    assert (closed.outcome, closed.owner, closed.triage_colour) == ("contacted", "nurse-kari", TriageColour.RED)
