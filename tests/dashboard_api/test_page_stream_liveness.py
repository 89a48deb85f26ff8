"""The ward page tells a quiet ward from a dead connection, in real headless Chromium: the server's heartbeats
(dashboard_api/ws.py) keep a live stream talking; a stream silent for three of them is dropped and reconnected, and a
heartbeat naming a seq the page never got brings a fresh snapshot."""

from __future__ import annotations

import asyncio
import json

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from core.mqtt import MqttClient
from core.topics import events_topic
from dashboard_api import ws
from tests.dashboard_api.conftest import Seeded, Served
from tests.dashboard_api.test_live import score_json
from tests.dashboard_api.test_page_alarm import open_ward
from tests.fixtures.browser import UI_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.integration]


class Streams:
    """The ward page's streams, through the test: each passes to the server, and what the server sends reaches the
    page unless the test swallows it (a connection gone dead without closing, or one lost message)."""

    def __init__(self) -> None:
        self.opened = 0
        self.reopened = asyncio.Event()  # a second stream was opened
        self.dead: set[int] = set()  # streams whose server messages never reach the page
        self.lose_next_delta = False

    async def route(self, page: Page) -> None:
        await page.route_web_socket(lambda url: "/api/v1/ws/wards/" in url, self._through)

    def _through(self, stream: WebSocketRoute) -> None:
        number = self.opened
        self.opened += 1
        if self.opened > 1:
            self.reopened.set()
        server = stream.connect_to_server()
        server.on_message(lambda message: self._to_page(stream, number, message))

    def _to_page(self, stream: WebSocketRoute, number: int, message: str | bytes) -> None:
        if number in self.dead:
            return
        if self.lose_next_delta and json.loads(message).get("seq", 0) > 0 and '"heartbeat"' not in str(message):
            self.lose_next_delta = False
            return
        stream.send(message)


async def test_a_connection_gone_silent_is_dropped_and_the_page_reconnects(
    live_server: tuple[Served, Seeded], page: Page
) -> None:
    served, _ = live_server
    streams = Streams()
    await streams.route(page)
    await page.clock.install()
    await open_ward(page, served)
    assert streams.opened == 1

    streams.dead.add(0)  # the connection stays open, but nothing comes through any more
    await page.clock.fast_forward(30_000)
    await expect(page.locator("#status")).to_have_text("Live")  # a quiet ward is not a dead connection yet
    await page.clock.fast_forward(16_000)  # 46 s without a message: three heartbeats missed

    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    assert streams.opened == 2


async def test_a_heartbeat_naming_a_delta_the_page_never_got_brings_a_fresh_snapshot(
    live_server: tuple[Served, Seeded],
    page: Page,
    observer: MqttClient,
    topic_root: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ws, "HEARTBEAT_S", 0.5)
    served, _ = live_server
    streams = Streams()
    await streams.route(page)
    await open_ward(page, served)
    ola_news2 = page.locator('article.bed[data-bed-id="b1"] .news2')
    await expect(ola_news2).to_have_text("≥5")

    streams.lose_next_delta = True
    await observer.publish(events_topic(topic_root, "s1", "w1", "score"), score_json("w1", total=7))

    # The next heartbeat says seq 1; the page has 0: it takes a fresh snapshot (what the store holds).
    async with asyncio.timeout(UI_TIMEOUT_MS / 1000):
        await streams.reopened.wait()
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    await expect(ola_news2).to_have_text("≥5")
    assert streams.opened == 2
