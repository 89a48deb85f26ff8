"""The sender against a real local gateway and a real store: what each answer records and what the pages hear."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time
from pathlib import Path

import httpx
import pytest

from alerts.deliveries import send_due
from alerts.escalation import fire_step
from core.escalation import ContactPoint, DeliveryState, WebhookEndpoint
from core.oncall import OnCallRole, Rotation
from core.store import AlertChange
from core.store.sqlite import SqliteStore
from core.types import AlertKind, AlertSeverity, AlertState, Site, SiteKind, Ward
from tests.alerts.webhook_receiver import GatewayReply, WebhookReceiver

SECRET = bytes.fromhex("7d3b9f1e5a2c8d4b6f0a3e9c1b7d5f2a")
T0 = datetime(2025, 1, 14, 20, 0, tzinfo=UTC)


@pytest.fixture
async def gateway() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    sqlite = SqliteStore(tmp_path / "v.sqlite3")
    await sqlite.open()
    yield sqlite
    await sqlite.close()


async def page_the_nurse(store: SqliteStore, gateway: WebhookReceiver) -> int:
    await store.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("w1", "s1", "Senger"))
    await store.upsert_webhook_endpoint(WebhookEndpoint("gw", gateway.url, SECRET, "pager gateway"))
    nurse = Rotation(
        0, "nurse", OnCallRole.UNIT_NURSE, frozenset({"s1"}), (time(8),), ("nurse-kari",), date(2025, 1, 1)
    )
    await store.add_rotation(nurse)
    await store.set_contact_points("nurse-kari", [ContactPoint("nurse-kari", "gw", "pager-17")])
    change = await store.raise_alert(
        patient_id="pat-1", device_id=None, ward_id="w1", kind=AlertKind.NEWS2, severity=AlertSeverity.HIGH,
        message="NEWS2 7", at=T0,
    )  # fmt: skip
    await store.fire_due_escalations(T0, lambda c, a, ctx, facts: fire_step(c, a, ctx, at=T0, facts=facts))
    return change.alert.alert_id


@pytest.mark.parametrize(
    ("reply", "state"),
    [
        (GatewayReply(200), DeliveryState.DELIVERED),
        (GatewayReply(200, json_body={"status": "read", "by": "nurse-kari"}), DeliveryState.READ),
        (GatewayReply(200, json_body={"status": "declined"}), DeliveryState.DECLINED),
        (GatewayReply(404), DeliveryState.FAILED),
    ],
)
async def test_the_pages_hear_when_a_page_is_delivered_read_declined_or_failed(
    store: SqliteStore, gateway: WebhookReceiver, reply: GatewayReply, state: DeliveryState
) -> None:
    alert_id = await page_the_nurse(store, gateway)
    gateway.reply_with(reply)
    heard: list[AlertChange] = []

    async def announce(change: AlertChange) -> None:
        heard.append(change)

    async with httpx.AsyncClient(trust_env=False) as client:
        [sent] = await send_due(store, client, lambda: T0, announce=announce)
    assert sent.state is state
    [news] = heard
    # No phase: nothing happened to the alert itself; the page re-reads its escalation ("read 21:00").
    assert (news.alert.alert_id, news.alert.state, news.phase, news.changed) == (alert_id, AlertState.OPEN, None, True)


async def test_an_accepted_page_is_heard_once_as_the_acknowledgement(
    store: SqliteStore, gateway: WebhookReceiver
) -> None:
    alert_id = await page_the_nurse(store, gateway)
    gateway.reply_with(GatewayReply(200, json_body={"status": "accepted", "by": "nurse-kari"}))
    heard: list[AlertChange] = []

    async def announce(change: AlertChange) -> None:
        heard.append(change)

    async with httpx.AsyncClient(trust_env=False) as client:
        await send_due(store, client, lambda: T0, announce=announce)
    [news] = heard
    assert (news.alert.alert_id, news.alert.state, news.alert.acknowledged_by) == (
        alert_id,
        AlertState.ACKNOWLEDGED,
        "nurse-kari",
    )
