"""The ward page's alarms in real headless Chromium: what the night nurse hears, sees and gets as notifications."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, WebSocketRoute, expect

from alerts.lifecycle import acknowledge, renotify
from core.clock import utc_now
from core.events import alert_event
from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import Alert, AlertKind, AlertPhase, AlertSeverity, AlertState, Bed, Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ALARM = "alarm-audio"
CHIME = "chime-audio"

# Runs before the page's own scripts: keeps calling the real Notification, and notes what the page asked of it and
# which of the page's sounds started, paused and ended (media events do not bubble; a capturing listener sees them).
RECORDER = """
(() => {
  const record = { created: [], closed: [], playing: [], pause: [], ended: [] };
  window.__alarmRecord = record;
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options = {}) {
      super(title, options);
      record.created.push({
        title, body: options.body, tag: options.tag, requireInteraction: Boolean(options.requireInteraction),
      });
    }
    close() {
      record.closed.push(this.tag);
      return super.close();
    }
  }
  window.Notification = Recorded;
  for (const type of ["playing", "pause", "ended"]) {
    document.addEventListener(type, (event) => event.target.id && record[type].push(event.target.id), true);
  }
})();
"""

HEARD = """([id, times]) => {
  const audio = document.getElementById(id);
  const started = window.__alarmRecord.playing.filter((x) => x === id).length;
  return started >= times && !audio.paused && audio.currentTime > 0;
}"""
SILENT = "(id) => document.getElementById(id).paused"
CREATED = "(n) => window.__alarmRecord.created.length >= n"
CLOSED = "(tag) => window.__alarmRecord.closed.includes(tag)"
CHIMES_ENDED = "(n) => window.__alarmRecord.ended.filter((x) => x === 'chime-audio').length >= n"


async def open_ward(page: Page, served: Served, *, wait_live: bool = True, ttl_s: int = 3600) -> list[str]:
    """The nurse's ward page, live, signed in for `ttl_s`; returns the list console errors are collected into."""
    errors: list[str] = []
    page.on("console", lambda message: _collect_errors(message, errors))
    await page.add_init_script(RECORDER)
    token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=ttl_s, now=utc_now())
    await page.goto(f"{served.base_url}/#token={token}")
    if wait_live:
        await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    return errors


async def until_untouched(page: Page, condition: str) -> None:
    """Wait until `condition` holds on the page without touching it. Playwright's own evaluations count as a user
    gesture, after which Chromium lets the page sound; this waits through a plain DevTools evaluation instead,
    woken by each change to the page."""
    expression = f"""new Promise((resolve) => {{
      const check = () => {{ if ({condition}) {{ observer.disconnect(); resolve(true); }} }};
      const observer = new MutationObserver(check);
      observer.observe(document, {{ subtree: true, childList: true, attributes: true, characterData: true }});
      check();
    }})"""
    cdp = await page.context.new_cdp_session(page)
    try:
        async with asyncio.timeout(UI_TIMEOUT_MS / 1000):
            await cdp.send(
                "Runtime.evaluate",
                {"expression": expression, "awaitPromise": True, "returnByValue": True, "userGesture": False},
            )
    finally:
        await cdp.detach()


async def raise_news2(store: SqliteStore, patient_id: str, severity: AlertSeverity, message: str) -> Alert:
    change = await store.raise_alert(
        patient_id=patient_id,
        device_id=None,
        ward_id="w1",
        kind=AlertKind.NEWS2,
        severity=severity,
        message=message,
        at=utc_now(),
    )
    return change.alert


async def ack_elsewhere(store: SqliteStore, alert_id: int) -> Alert:
    """Another nurse acknowledges on her own screen: the store changes, the event comes through the broker."""
    change = await store.update_alert_by_id(alert_id, lambda a: acknowledge(a, by="nurse-bo", at=utc_now()))
    return change.alert


async def announce(observer: MqttClient, topic_root: str, alert: Alert) -> None:
    event = alert_event(site_id="s1", ward_id="w1", alert=alert, at=utc_now())
    await observer.publish(events_topic(topic_root, "s1", "w1", "alert"), event.model_dump_json().encode())


async def record(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("() => window.__alarmRecord")
    return result


async def high_alert_sounding(
    page: Page, served: Served, observer: MqttClient, topic_root: str, store: SqliteStore
) -> list[str]:
    """Open the ward page, raise Ola's NEWS2 7 and wait until the alarm plays; the page's console errors."""
    errors = await open_ward(page, served)
    await announce(observer, topic_root, await raise_news2(store, "p1", AlertSeverity.HIGH, "NEWS2 7"))
    await page.wait_for_function(HEARD, arg=[ALARM, 1], timeout=UI_TIMEOUT_MS)
    return errors


async def test_new_high_alert_sounds_the_looping_alarm_and_raises_a_notification(
    live_server: tuple[Served, Seeded], alarm_page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, seeded = live_server
    errors = await open_ward(alarm_page, served)
    banner = alarm_page.locator("#alarm-banner")
    await expect(alarm_page.locator("#notify-state")).to_have_text("Alarm notifications: on")
    await expect(alarm_page.get_by_role("button", name="Enable alarm notifications")).to_be_hidden()
    await expect(banner).to_be_empty()

    alert = await raise_news2(store, "p1", AlertSeverity.HIGH, "NEWS2 7")  # Ola's NEWS2 5 alert, now worse
    await announce(observer, topic_root, alert)

    await alarm_page.wait_for_function(HEARD, arg=[ALARM, 1], timeout=UI_TIMEOUT_MS)
    await expect(banner).to_have_text("High alert: Seng 1 — NEWS2 7")
    await expect(banner).to_have_attribute("role", "alert")
    await expect(alarm_page.locator("#sound-blocked")).to_be_hidden()
    await alarm_page.wait_for_function(CREATED, arg=1, timeout=UI_TIMEOUT_MS)
    heard = await record(alarm_page)
    assert heard["created"] == [
        {
            "title": "Seng 1, Sykestua: NEWS2 7",
            "body": "High priority alert. Acknowledge it on the Vaktrom ward page.",
            "tag": str(seeded.alert_id),
            "requireInteraction": True,
        }
    ]
    assert await alarm_page.locator(f"#{ALARM}").evaluate("audio => audio.loop")
    assert errors == []


async def test_acknowledging_on_the_page_stops_the_alarm_and_closes_its_notification(
    live_server: tuple[Served, Seeded], alarm_page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, seeded = live_server
    errors = await high_alert_sounding(alarm_page, served, observer, topic_root, store)
    await alarm_page.wait_for_function(CREATED, arg=1, timeout=UI_TIMEOUT_MS)

    bed = alarm_page.locator('article.bed[data-bed-id="b1"]')
    await bed.get_by_role("button", name="Acknowledge alert: NEWS2 7").click()

    await expect(bed.locator(".alert .acked")).to_have_text("Acknowledged by nurse-anne", timeout=UI_TIMEOUT_MS)
    await alarm_page.wait_for_function(SILENT, arg=ALARM, timeout=UI_TIMEOUT_MS)
    await alarm_page.wait_for_function(CLOSED, arg=str(seeded.alert_id), timeout=UI_TIMEOUT_MS)
    await expect(alarm_page.locator("#alarm-banner")).to_be_empty()
    stored = await store.get_alert(seeded.alert_id)
    assert (stored.state, stored.acknowledged_by) == (AlertState.ACKNOWLEDGED, "nurse-anne")
    assert errors == []


@pytest.mark.parametrize("elsewhere", ["acknowledged", "resolved"])
async def test_acknowledgement_or_resolution_on_another_screen_stops_the_alarm(
    live_server: tuple[Served, Seeded],
    alarm_page: Page,
    observer: MqttClient,
    topic_root: str,
    store: SqliteStore,
    elsewhere: str,
) -> None:
    served, seeded = live_server
    errors = await high_alert_sounding(alarm_page, served, observer, topic_root, store)
    await alarm_page.wait_for_function(CREATED, arg=1, timeout=UI_TIMEOUT_MS)

    if elsewhere == "acknowledged":
        await announce(observer, topic_root, await ack_elsewhere(store, seeded.alert_id))
    else:
        await announce(
            observer,
            topic_root,
            await store.resolve_alert(seeded.alert_id, at=utc_now(), by="dr-berg", reason="Reviewed, comfort care"),
        )

    bed = alarm_page.locator('article.bed[data-bed-id="b1"]')
    if elsewhere == "acknowledged":
        await expect(bed.locator(".alert .acked")).to_have_text("Acknowledged by nurse-bo", timeout=UI_TIMEOUT_MS)
    else:
        await expect(bed.locator(".alert")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    await alarm_page.wait_for_function(SILENT, arg=ALARM, timeout=UI_TIMEOUT_MS)
    await alarm_page.wait_for_function(CLOSED, arg=str(seeded.alert_id), timeout=UI_TIMEOUT_MS)
    await expect(alarm_page.locator("#alarm-banner")).to_be_empty()
    assert errors == []


async def test_medium_alert_chimes_once_without_alarm_or_notification(
    live_server: tuple[Served, Seeded], alarm_page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, _ = live_server
    errors = await open_ward(alarm_page, served)
    # Ola's open NEWS2 5 (medium) is new to this screen: one chime on opening the page.
    await alarm_page.wait_for_function(CHIMES_ENDED, arg=1, timeout=UI_TIMEOUT_MS)

    await announce(observer, topic_root, await raise_news2(store, "p2", AlertSeverity.MEDIUM, "NEWS2 6"))

    home = alarm_page.locator('article.bed[data-patient-id="p2"]')
    await expect(home.locator(".alert-message")).to_have_text("NEWS2 6", timeout=UI_TIMEOUT_MS)
    await alarm_page.wait_for_function(CHIMES_ENDED, arg=2, timeout=UI_TIMEOUT_MS)
    heard = await record(alarm_page)
    assert heard["playing"] == [CHIME, CHIME]  # the high alarm never started
    assert heard["created"] == []
    assert await alarm_page.locator(f"#{CHIME}").evaluate("audio => !audio.loop && audio.paused")
    assert await alarm_page.locator(f"#{ALARM}").evaluate("audio => audio.paused")
    await expect(alarm_page.locator("#alarm-banner")).to_be_empty()
    assert errors == []


async def test_alarm_sounds_on_while_another_high_alert_is_open(
    live_server: tuple[Served, Seeded], alarm_page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, seeded = live_server
    errors = await open_ward(alarm_page, served)
    await announce(observer, topic_root, await raise_news2(store, "p1", AlertSeverity.HIGH, "NEWS2 7"))
    kari = await raise_news2(store, "p2", AlertSeverity.HIGH, "NEWS2 8")
    await announce(observer, topic_root, kari)
    banner = alarm_page.locator("#alarm-banner p")
    await expect(banner).to_have_text(
        ["High alert: Seng 1 — NEWS2 7", "High alert: Home · Kari Hansen — NEWS2 8"], timeout=UI_TIMEOUT_MS
    )
    await alarm_page.wait_for_function(HEARD, arg=[ALARM, 1], timeout=UI_TIMEOUT_MS)
    await alarm_page.wait_for_function(CREATED, arg=2, timeout=UI_TIMEOUT_MS)

    bed = alarm_page.locator('article.bed[data-bed-id="b1"]')
    await bed.get_by_role("button", name="Acknowledge alert: NEWS2 7").click()

    await alarm_page.wait_for_function(CLOSED, arg=str(seeded.alert_id), timeout=UI_TIMEOUT_MS)
    await expect(banner).to_have_text(["High alert: Home · Kari Hansen — NEWS2 8"])
    heard = await record(alarm_page)
    assert [n["title"] for n in heard["created"]] == ["Seng 1, Sykestua: NEWS2 7", "Home patient, Sykestua: NEWS2 8"]
    assert heard["closed"] == [str(seeded.alert_id)]  # Kari's stays up
    assert heard["pause"] == []  # the alarm never stopped, not even for a moment
    await alarm_page.wait_for_function(HEARD, arg=[ALARM, 1], timeout=UI_TIMEOUT_MS)
    assert errors == []


async def test_reopened_alert_alarms_again(
    live_server: tuple[Served, Seeded], alarm_page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, seeded = live_server
    errors = await high_alert_sounding(alarm_page, served, observer, topic_root, store)
    acked = await ack_elsewhere(store, seeded.alert_id)
    await announce(observer, topic_root, acked)
    await alarm_page.wait_for_function(SILENT, arg=ALARM, timeout=UI_TIMEOUT_MS)

    # Still 7+ at the re-notify timer: the server opens it again with a new updated_at.
    change = await store.update_alert_by_id(seeded.alert_id, lambda a: renotify(a, utc_now()))
    assert (change.phase, change.alert.state) == (AlertPhase.RENOTIFIED, AlertState.OPEN)
    assert change.alert.updated_at > acked.updated_at
    await announce(observer, topic_root, change.alert)

    await alarm_page.wait_for_function(HEARD, arg=[ALARM, 2], timeout=UI_TIMEOUT_MS)
    await expect(alarm_page.locator("#alarm-banner")).to_have_text("High alert: Seng 1 — NEWS2 7")
    bed = alarm_page.locator('article.bed[data-bed-id="b1"]')
    await expect(bed.get_by_role("button", name="Acknowledge alert: NEWS2 7")).to_be_visible()
    await alarm_page.wait_for_function(CREATED, arg=2, timeout=UI_TIMEOUT_MS)
    heard = await record(alarm_page)
    assert [n["tag"] for n in heard["created"]] == [str(seeded.alert_id)] * 2  # the repeat replaces, not stacks
    assert errors == []


async def test_blocked_sound_shows_a_banner_and_the_alarm_sounds_on_its_click(
    live_server: tuple[Served, Seeded], page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    # The plain `page` browser keeps Chromium's autoplay policy: no sound before the user has touched the page.
    served, _ = live_server
    errors = await open_ward(page, served, wait_live=False)
    blocked = "document.getElementById('sound-blocked')"
    banner = "document.getElementById('alarm-banner')"
    # Told before any alarm, not during one.
    await until_untouched(page, f"document.getElementById('status').textContent === 'Live' && !{blocked}.hidden")

    await announce(observer, topic_root, await raise_news2(store, "p1", AlertSeverity.HIGH, "NEWS2 7"))
    await until_untouched(page, f"{banner}.textContent === 'High alert: Seng 1 — NEWS2 7'")

    # From here on the page may sound; it only must not have yet.
    button = page.get_by_role("button", name="Alarm sound is blocked — click to enable")
    await expect(button).to_be_visible()
    assert await page.locator(f"#{ALARM}").evaluate("audio => audio.paused")
    await button.click()

    await page.wait_for_function(HEARD, arg=[ALARM, 1], timeout=UI_TIMEOUT_MS)
    await expect(button).to_be_hidden()
    await expect(page.locator("#alarm-banner")).to_have_text("High alert: Seng 1 — NEWS2 7")
    assert errors == []


async def test_enabling_notifications_notifies_the_open_high_alert(
    live_server: tuple[Served, Seeded], page: Page, observer: MqttClient, topic_root: str, store: SqliteStore
) -> None:
    served, seeded = live_server
    errors = await open_ward(page, served)
    state = page.locator("#notify-state")
    enable = page.get_by_role("button", name="Enable alarm notifications")
    await expect(state).to_have_text("Alarm notifications: off", timeout=UI_TIMEOUT_MS)
    await announce(observer, topic_root, await raise_news2(store, "p1", AlertSeverity.HIGH, "NEWS2 7"))
    await expect(page.locator("#alarm-banner")).to_have_text("High alert: Seng 1 — NEWS2 7", timeout=UI_TIMEOUT_MS)

    await enable.click()  # the browser asks: permission requests need a user gesture
    await page.context.grant_permissions(["notifications"])  # the nurse's "Allow" in that prompt

    await expect(state).to_have_text("Alarm notifications: on")
    await expect(enable).to_be_hidden()
    await page.wait_for_function(CREATED, arg=1, timeout=UI_TIMEOUT_MS)
    heard = await record(page)
    assert [(n["title"], n["tag"]) for n in heard["created"]] == [("Seng 1, Sykestua: NEWS2 7", str(seeded.alert_id))]
    assert errors == []


def _collect_errors(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)


SCREEN_LOST = "Technical alarm: signed out, so this screen is not receiving alarms. Log in again."
STREAM_LOST = "Technical alarm: the live feed is lost, so this screen is not receiving alarms. Reconnecting…"
CHIMES_STARTED = "(n) => window.__alarmRecord.playing.filter((x) => x === 'chime-audio').length >= n"


async def test_a_sign_in_that_ends_on_the_ward_screen_sounds_a_technical_alarm_until_someone_signs_in(
    live_server: tuple[Served, Seeded], alarm_page: Page
) -> None:
    served, _ = live_server
    await alarm_page.clock.install()  # runs with real time; lets the test move it on to the repeat
    errors = await open_ward(alarm_page, served, ttl_s=8)
    await alarm_page.wait_for_function(CHIMES_STARTED, arg=1, timeout=UI_TIMEOUT_MS)  # Ola's open NEWS2 5
    banner = alarm_page.locator("#alarm-banner")

    # The token ends: the server closes the stream, the login shows, and the screen says it went quiet.
    await expect(alarm_page.locator("#login")).to_be_visible(timeout=3 * UI_TIMEOUT_MS)
    await expect(banner).to_have_text(SCREEN_LOST)
    await alarm_page.wait_for_function(CHIMES_STARTED, arg=2, timeout=UI_TIMEOUT_MS)
    await alarm_page.wait_for_function(CREATED, arg=1, timeout=UI_TIMEOUT_MS)
    [notification] = (await record(alarm_page))["created"]
    assert notification == {
        "title": "Vaktrom ward screen: not receiving alarms",
        "body": "signed out, so this screen is not receiving alarms. Log in again.",
        "tag": "vaktrom-screen-lost",
        "requireInteraction": True,
    }
    await alarm_page.clock.fast_forward(61_000)  # a minute on, nobody has signed in: it chimes again
    await alarm_page.wait_for_function(CHIMES_STARTED, arg=3, timeout=UI_TIMEOUT_MS)

    token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=3600, now=utc_now())
    await alarm_page.locator("#token-input").fill(token)
    await alarm_page.get_by_role("button", name="Log in", exact=True).click()

    await expect(alarm_page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    await expect(banner).to_be_empty()
    await alarm_page.wait_for_function(CLOSED, arg="vaktrom-screen-lost", timeout=UI_TIMEOUT_MS)
    chimes = (await record(alarm_page))["playing"].count(CHIME)
    await alarm_page.clock.fast_forward(61_000)
    assert (await record(alarm_page))["playing"].count(CHIME) == chimes  # the repeat stopped with it
    assert errors == []


async def test_logging_out_on_purpose_sounds_no_technical_alarm(
    live_server: tuple[Served, Seeded], alarm_page: Page
) -> None:
    served, _ = live_server
    errors = await open_ward(alarm_page, served)
    await alarm_page.wait_for_function(CHIMES_STARTED, arg=1, timeout=UI_TIMEOUT_MS)

    await alarm_page.locator("#logout").click()

    await expect(alarm_page.locator("#login")).to_be_visible()
    await expect(alarm_page.locator("#alarm-banner")).to_be_empty()
    heard = await record(alarm_page)
    assert (heard["playing"].count(CHIME), heard["created"]) == (1, [])
    assert errors == []


async def test_a_live_feed_lost_for_half_a_minute_sounds_a_technical_alarm_until_it_is_back(
    live_server: tuple[Served, Seeded], alarm_page: Page
) -> None:
    served, _ = live_server
    down = False
    streams: list[WebSocketRoute] = []

    async def through_or_down(stream: WebSocketRoute) -> None:
        """The ward's streams pass to the server, or are refused at once while it is `down`."""
        if down:
            await stream.close(code=1001, reason="down")
        else:
            stream.connect_to_server()
            streams.append(stream)

    await alarm_page.route_web_socket(lambda url: "/api/v1/ws/wards/" in url, through_or_down)
    await alarm_page.clock.install()
    errors = await open_ward(alarm_page, served)
    await alarm_page.wait_for_function(CHIMES_STARTED, arg=1, timeout=UI_TIMEOUT_MS)
    banner = alarm_page.locator("#alarm-banner")

    down = True
    await streams[-1].close(code=1001, reason="server going down")
    await expect(alarm_page.locator("#status")).to_contain_text("Reconnecting", timeout=UI_TIMEOUT_MS)
    await alarm_page.clock.fast_forward(10_000)
    await expect(banner).to_be_empty()  # a restart's few seconds are not an alarm
    await alarm_page.clock.fast_forward(21_000)

    await expect(banner).to_have_text(STREAM_LOST, timeout=UI_TIMEOUT_MS)
    await alarm_page.wait_for_function(CHIMES_STARTED, arg=2, timeout=UI_TIMEOUT_MS)
    await alarm_page.wait_for_function(CREATED, arg=1, timeout=UI_TIMEOUT_MS)

    down = False
    await alarm_page.clock.fast_forward(31_000)  # the next try, after the longest backoff, gets through
    await expect(alarm_page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    await expect(banner).to_be_empty()
    await alarm_page.wait_for_function(CLOSED, arg="vaktrom-screen-lost", timeout=UI_TIMEOUT_MS)
    assert errors == []


@pytest.mark.parametrize("change", ["transfer", "discharge"])
async def test_a_patient_moved_or_discharged_leaves_this_wards_screen_silent(
    live_server: tuple[Served, Seeded],
    alarm_page: Page,
    observer: MqttClient,
    topic_root: str,
    store: SqliteStore,
    change: str,
) -> None:
    """Ola's NEWS2 7 sounds on ward w1; an admin moves her to a bed of ward w2 (another site), or discharges her.
    Moved: the w1 screen drops her and her alert now belongs to w2. Discharged: her alert ends. Either way w1's
    alarm stops. Before, the alert stayed on w1's screen, sounding, and nobody at w2 saw it."""
    served, seeded = live_server
    errors = await high_alert_sounding(alarm_page, served, observer, topic_root, store)
    await store.upsert_bed(Bed("b22", "w2", "2"))
    admin = issue_token(SECRET, user_id="admin-eva", role=Role.ADMIN, site_ids=["*"], ttl_s=3600, now=utc_now())

    async with httpx.AsyncClient(base_url=served.base_url) as http:
        done = await http.post(
            f"/api/v1/admin/patients/p1/{change}",
            json={"bed_id": "b22"} if change == "transfer" else None,
            headers={"Authorization": f"Bearer {admin}"},
        )

    assert done.status_code == 200, done.text
    await alarm_page.wait_for_function(SILENT, arg=ALARM, timeout=UI_TIMEOUT_MS)
    await expect(alarm_page.locator("#alarm-banner")).to_be_empty()
    alert = await store.get_alert(seeded.alert_id)
    if change == "transfer":
        await expect(alarm_page.locator('article.bed[data-bed-id="b1"]')).not_to_contain_text("Ola Nordmann")
        assert (alert.ward_id, alert.state) == ("w2", AlertState.OPEN)
    else:
        assert (alert.state, alert.resolve_reason) == (AlertState.RESOLVED, "discharged")
    assert errors == []
