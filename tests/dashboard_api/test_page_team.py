"""The team board in real headless Chromium: a FACT nurse's board shows the team's patients wherever they are, and
follows them live through the broker, also in a KAD bed of another municipality; members take and finish outreach
tasks and write the shared plan on it."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from alerts.plans import first_timers
from alerts.timers import fire_due_plan_checks
from core.clock import utc_now
from core.events import alert_event
from core.homecare import MeasurementPlan, PlanItem
from core.mqtt import MqttClient
from core.outreach import OutreachState, Team
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import AlertKind, AlertSeverity, CareTeamMember, CareTeamRole, Parameter, Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]

TEAM = Team("fact-vest", "FACT Vest-Finnmark", CareTeamRole.FACT_TEAM, "Helse Finnmark", utc_now())


async def fact_team(store: SqliteStore, *patients: str) -> None:
    """FACT Vest-Finnmark, with nurse-bo, follows `patients` (the seed: Kari p2 at home on s1, Per p3 in KAD bed 1
    of s2, another municipality's)."""
    now = utc_now()
    await store.add_team(TEAM)
    await store.add_team_member(TEAM.team_id, "nurse-bo", at=now - timedelta(minutes=1))
    for patient_id in patients:
        member = CareTeamMember(patient_id, TEAM.team_id, TEAM.kind, TEAM.organisation, now - timedelta(minutes=1))
        await store.add_care_team_member(member)


async def open_board(page: Page, served: Served, user: str = "nurse-bo") -> list[str]:
    """The member's board, live (a token with no site: the team is the only grant); console errors collected."""
    errors: list[str] = []
    page.on("console", lambda message: _collect_errors(message, errors))
    token = issue_token(SECRET, user_id=user, role=Role.NURSE, site_ids=[], ttl_s=3600, now=utc_now())
    await page.goto(f"{served.base_url}/team#token={token}")
    return errors


async def test_a_members_board_updates_live_when_a_team_patient_gets_an_alert_in_a_kad_bed_of_another_site(
    live_server: tuple[Served, Seeded], page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, _ = live_server
    await fact_team(store, "p2", "p3")
    errors = await open_board(page, served)
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)

    per = page.locator('#rows tr[data-patient-id="p3"]')
    await expect(page.locator("#team-title")).to_have_text("FACT Vest-Finnmark")
    await expect(page.locator("#rows tr td.patient")).to_have_text(["Per Li", "Kari Hansen"])  # Per's alert first
    await expect(per.locator("td.where")).to_have_text("KAD bed 1 · Annen kommune")
    await expect(page.locator('#rows tr[data-patient-id="p2"] td.where')).to_have_text("At home · Demo sykestue")
    await expect(per.locator(".alerts-cell li.alert")).to_have_count(1)  # the seed's NEWS2 7

    change = await store.raise_alert(
        patient_id="p3", device_id=None, ward_id="w2", kind=AlertKind.RESPIRATORY_DEPRESSION,
        severity=AlertSeverity.HIGH, message="Possible respiratory depression: RR 4/min for 30 s", at=utc_now(),
    )  # fmt: skip
    event = alert_event(site_id="s2", ward_id="w2", alert=change.alert, at=utc_now())
    await observer.publish(events_topic(topic_root, "s2", "w2", "alert"), event.model_dump_json().encode())

    new_alert = per.locator(f'.alerts-cell li.alert[data-alert-id="{change.alert.alert_id}"]')
    await expect(new_alert).to_contain_text("Possible respiratory depression: RR 4/min", timeout=UI_TIMEOUT_MS)
    await expect(new_alert.locator(".prio-chip")).to_have_text("High")  # the word, beside the colour
    await expect(page.locator("#status")).to_have_text("Live")  # a delta, not a reconnect
    await expect(per.locator(".alerts-cell li.alert")).to_have_count(2)
    audited = [(a.action, a.patient_id, a.grant) for a in await store.list_audit(limit=10)]
    assert ("ws.team_board", "p3", "team:fact_team") in audited
    assert ("ws.team_board", "p2", "team:fact_team") in audited
    assert errors == []


async def test_a_member_takes_and_finishes_an_outreach_task_and_writes_the_plan_on_the_board(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore
) -> None:
    served, _ = live_server
    await fact_team(store, "p2")
    now = utc_now()
    four_hours_ago = (now - timedelta(hours=4)).replace(second=0, microsecond=0)
    item = PlanItem("spo2", frozenset({Parameter.SPO2}), (time(four_hours_ago.hour, four_hours_ago.minute),), 60)
    plan = MeasurementPlan("p2", "UTC", (item,), 48, "dr-berg", now)
    await store.set_measurement_plan(plan, first_timers(plan, now=four_hours_ago, last_reading_at=None))
    assert await fire_due_plan_checks(store, utc_now) == 1  # Kari missed it: an item and the team's task
    errors = await open_board(page, served)
    kari = page.locator('#rows tr[data-patient-id="p2"]')

    task = kari.locator(".follow-up-cell li.task")
    await expect(task).to_contain_text("Outreach: Measurement not reported: spo2", timeout=UI_TIMEOUT_MS)
    await expect(kari.locator("td.missed")).to_have_text("1 in 7 days")
    await task.get_by_role("button", name="Take").click()
    await expect(task).to_contain_text("Taken by nurse-bo", timeout=UI_TIMEOUT_MS)
    await task.get_by_role("button", name="Done…").click()
    await page.locator("#done-outcome").select_option("home_visit")
    await page.locator("#done-note").fill("Visited: kit battery flat, SpO2 96 %")
    await page.get_by_role("button", name="Done", exact=True).click()
    await expect(kari.locator(".follow-up-cell li.task")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    await expect(kari.locator(".last-action")).to_contain_text("outreach task done by nurse-bo")

    await kari.get_by_role("button", name="Write plan").click()
    await page.locator("#plan-text").fill("Ring his sister before visits")
    await page.get_by_role("button", name="Save plan").click()
    await expect(kari.locator(".plan-note")).to_have_text("Ring his sister before visits", timeout=UI_TIMEOUT_MS)

    assert await store.outreach_tasks(TEAM.team_id, states=[OutreachState.OPEN, OutreachState.TAKEN]) == []
    (note,) = await store.plan_note_history(TEAM.team_id, "p2")
    assert (note.text, note.written_by) == ("Ring his sister before visits", "nurse-bo")
    assert errors == []


async def test_someone_outside_the_team_is_told_the_team_is_not_found(
    live_server: tuple[Served, Seeded], page: Page, store: SqliteStore
) -> None:
    served, _ = live_server
    await fact_team(store, "p2")
    await store.add_team(Team("lar-alta", "LAR Alta", CareTeamRole.LAR_TEAM, "Alta kommune", utc_now()))
    await store.add_team_member("lar-alta", "nurse-anne", at=utc_now() - timedelta(minutes=1))
    errors = await open_board(page, served, user="nurse-anne")
    await page.goto(f"{served.base_url}/team?team={TEAM.team_id}")  # her own team is shown, never FACT's

    await expect(page.locator("#team-title")).to_have_text("LAR Alta", timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#team option")).to_have_text(["LAR Alta"])
    await expect(page.locator("#empty-list")).to_be_visible()
    assert errors == []


def _collect_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)
