"""The ward page in real headless Chromium follows an admin's admissions and discharges at once, without a reload,
for a patient with no alerts (whose alerts' events used to be the page's only word of a stay change)."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from core.clock import utc_now
from core.store.sqlite import SqliteStore
from core.types import Patient, Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served, auth
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Set on the page once it is live: still there at the end, the page was never reloaded.
SAME_DOCUMENT = "window.__sameDocument"


async def open_ward(page: Page, served: Served) -> list[str]:
    """The nurse's ward page (w1), live; returns the list console errors are collected into."""
    errors: list[str] = []
    page.on("console", lambda message: _collect_errors(message, errors))
    token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/#token={token}")
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    await page.evaluate(f"{SAME_DOCUMENT} = true")
    return errors


async def admin_post(served: Served, path: str, body: dict[str, str] | None = None) -> None:
    admin = issue_token(SECRET, user_id="admin-eva", role=Role.ADMIN, site_ids=["*"], ttl_s=3600, now=utc_now())
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.post(f"/api/v1/admin/patients/{path}", json=body, headers=auth(admin))
    assert response.status_code == 200, response.text


async def test_a_patient_admitted_with_no_alerts_appears_in_the_bed_at_once(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore
) -> None:
    served, _ = live_server
    await store.create_patient(Patient("p4", "Nils Nilsen", 1938), national_id=None, at=utc_now(), by="admin-eva")
    errors = await open_ward(page, served)
    bed = page.locator('article.bed[data-bed-id="b2"]')
    await expect(bed.locator(".patient")).to_have_text("Empty")

    await admin_post(served, "p4/admit", {"bed_id": "b2"})

    await expect(bed.locator(".patient")).to_have_text("Nils Nilsen f. 1938", timeout=UI_TIMEOUT_MS)
    await expect(bed).to_have_attribute("data-patient-id", "p4")
    await expect(bed.get_by_test_id("length-of-stay")).to_have_text("Stay 0 h")
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    assert await page.evaluate(SAME_DOCUMENT) is True
    assert errors == []


async def test_a_patient_discharged_with_no_alerts_leaves_the_bed_at_once(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore
) -> None:
    served, _ = live_server
    now = utc_now()
    await store.create_patient(Patient("p4", "Nils Nilsen", 1938), national_id=None, at=now, by="admin-eva")
    await store.admit(patient_id="p4", bed_id="b2", stay_id="st-4", at=now)
    errors = await open_ward(page, served)
    bed = page.locator('article.bed[data-bed-id="b2"]')
    await expect(bed.locator(".patient")).to_have_text("Nils Nilsen f. 1938")

    await admin_post(served, "p4/discharge")

    await expect(bed.locator(".patient")).to_have_text("Empty", timeout=UI_TIMEOUT_MS)
    await expect(bed).to_have_attribute("data-patient-id", "")
    await expect(page.locator('article.bed[data-bed-id="b1"] .patient')).to_contain_text("Ola Nordmann")
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    assert await page.evaluate(SAME_DOCUMENT) is True
    assert errors == []


def _collect_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)
