"""The sender against a real local gateway and a real store: what each answer records and what the pages hear."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest

from alerts.deliveries import record_answer, send_due
from alerts.escalation import fire_step
from alerts.lifecycle import acknowledge
from alerts.webhooks import Answer, WebhookAnswer
from core.escalation import ContactPoint, Delivery, DeliveryState, Escalation, WebhookEndpoint
from core.oncall import OnCallRole, Rotation
from core.store import AlertChange
from core.store.sqlite import SqliteStore
from core.types import AlertKind, AlertSeverity, AlertState, Site, SiteKind, Ward
from tests.alerts.webhook_receiver import GatewayReply, WebhookReceiver
from tests.core.test_store_deliveries import raise_news2
from tests.core.test_store_escalation import fire, unit_with_roster

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


# A medium alert (NEWS2 5) pages the nurse; her pager takes the page. What happens next, before her "accepted" for
# that page (chain 1) arrives late, and what the page then says. None of these acknowledges the alert.
ACCEPTED_AT = T0 + timedelta(minutes=10)
EARLIER_PAGE = (
    "accepted by nurse-kari on an earlier page (chain 1; the alert has worsened or been re-notified since: chain 2): "
    "not an acknowledgement"
)
Meanwhile = Callable[[SqliteStore, int, Delivery], Awaitable[None]]


async def raise_to_high(store: SqliteStore, *, at: datetime) -> None:
    await raise_news2(store, AlertSeverity.HIGH, at=at)
    await fire(store, at)  # the high chain pages the nurse again


async def _acknowledged_then_worse(store: SqliteStore, alert_id: int, page: Delivery) -> None:
    await store.update_alert_by_id(alert_id, lambda a: acknowledge(a, by="nurse-kari", at=T0 + timedelta(minutes=1)))
    await raise_to_high(store, at=T0 + timedelta(minutes=5))  # re-opened: chain 2


async def _worse_before_anyone_answered(store: SqliteStore, alert_id: int, page: Delivery) -> None:
    await raise_to_high(store, at=T0 + timedelta(minutes=5))  # raised in place to high priority: chain 2


async def _the_page_failed(store: SqliteStore, alert_id: int, page: Delivery) -> None:
    await store.record_delivery(page.delivery_id, DeliveryState.FAILED, at=T0 + timedelta(minutes=1), outcome="410")


async def _the_nurse_declined(store: SqliteStore, alert_id: int, page: Delivery) -> None:
    at = T0 + timedelta(minutes=1)
    await store.record_delivery(page.delivery_id, DeliveryState.DECLINED, at=at, outcome="declined by nurse-kari")


@pytest.mark.parametrize(
    ("meanwhile", "severity", "page_after", "heard"),
    [
        (_acknowledged_then_worse, AlertSeverity.HIGH, (DeliveryState.ACCEPTED, EARLIER_PAGE), 1),
        (_worse_before_anyone_answered, AlertSeverity.HIGH, (DeliveryState.ACCEPTED, EARLIER_PAGE), 1),
        (_the_page_failed, AlertSeverity.MEDIUM, (DeliveryState.FAILED, "410"), 0),
        (_the_nurse_declined, AlertSeverity.MEDIUM, (DeliveryState.DECLINED, "declined by nurse-kari"), 0),
    ],
    ids=["acknowledged-then-worse", "worse-before-anyone-answered", "page-failed", "nurse-declined"],
)
async def test_a_late_accept_of_an_earlier_or_ended_page_does_not_acknowledge_the_alert(
    store: SqliteStore,
    meanwhile: Meanwhile,
    severity: AlertSeverity,
    page_after: tuple[DeliveryState, str],
    heard: int,
) -> None:
    await unit_with_roster(store)
    alert_id = await raise_news2(store, AlertSeverity.MEDIUM, at=T0)
    await fire(store, T0)
    [page] = await store.list_deliveries(alert_id)
    await store.record_delivery(page.delivery_id, DeliveryState.DELIVERED, at=T0 + timedelta(seconds=5))
    await meanwhile(store, alert_id, page)
    news: list[AlertChange] = []

    async def announce(change: AlertChange) -> None:
        news.append(change)

    late = Answer(WebhookAnswer.ACCEPTED, "nurse-kari")
    recorded = await record_answer(
        store, await store.get_delivery(page.delivery_id), late, at=ACCEPTED_AT, announce=announce
    )

    alert = await store.get_alert(alert_id)
    assert (alert.state, alert.severity, alert.acknowledged_by) == (AlertState.OPEN, severity, None)
    assert (recorded.state, recorded.outcome) == page_after
    assert [(c.phase, c.alert.state) for c in news] == [(None, AlertState.OPEN)] * heard  # the page moved, if at all
    chain = await store.get_escalation(alert_id)
    assert chain is not None and chain.running
    await fire(store, ACCEPTED_AT + timedelta(minutes=20))  # the doctor is still fetched
    assert (await store.list_deliveries(alert_id))[-1].person_id == "dr-lund"


class WorsenedWhileAccepting(SqliteStore):
    """A store on which another worker raises the alert to high just after the accept has read the alert's chain,
    before it acknowledges: the interleaving a check outside the acknowledgement's transaction would miss."""

    worsen_at: datetime | None = None

    async def get_escalation(self, alert_id: int) -> Escalation | None:
        chain = await super().get_escalation(alert_id)
        if self.worsen_at is not None:
            at, self.worsen_at = self.worsen_at, None
            await raise_to_high(self, at=at)
        return chain


async def test_an_accept_answered_as_the_alert_worsens_does_not_acknowledge_the_worse_alert(tmp_path: Path) -> None:
    store = WorsenedWhileAccepting(tmp_path / "v.sqlite3")
    await store.open()
    try:
        await unit_with_roster(store)
        alert_id = await raise_news2(store, AlertSeverity.MEDIUM, at=T0)
        await fire(store, T0)
        [page] = await store.list_deliveries(alert_id)
        await store.record_delivery(page.delivery_id, DeliveryState.DELIVERED, at=T0 + timedelta(seconds=5))
        store.worsen_at = ACCEPTED_AT

        async def announce(change: AlertChange) -> None:
            pass

        await record_answer(store, page, Answer(WebhookAnswer.ACCEPTED), at=ACCEPTED_AT, announce=announce)
        alert = await store.get_alert(alert_id)
        assert (alert.state, alert.severity, alert.acknowledged_by) == (AlertState.OPEN, AlertSeverity.HIGH, None)
        chain = await store.get_escalation(alert_id)
        assert chain is not None and (chain.epoch, chain.running) == (2, True)
    finally:
        await store.close()
