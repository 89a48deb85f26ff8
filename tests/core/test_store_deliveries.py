"""A page on its way when its chain ends: a try that then fails is not tried again. The same contract on SQLite and
PostgreSQL, and on PostgreSQL the report of the failed try waits for an acknowledgement under way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import psycopg
import pytest

from alerts import lifecycle
from core.escalation import DeliveryState
from core.oncall import OnCallRole
from core.store import Store
from core.types import AlertKind, AlertPriority, AlertSeverity
from tests.core.test_store_escalation import T0, doctor_first, fire, open_high, unit_with_roster
from tests.core.test_store_lock_order import WAIT_S, _waiting_or_done

SENT_AT = T0 + timedelta(seconds=1)  # the sender claims the page: `sending`
ENDED_AT = T0 + timedelta(seconds=3)  # while the gateway has not answered yet
FAILED_AT = T0 + timedelta(seconds=6)  # the gateway answers 503: the sender asks for a retry
RETRY_AT = T0 + timedelta(seconds=8)

ChainEnd = Callable[[Store, int], Awaitable[None]]


async def _acknowledged(store: Store, alert_id: int) -> None:
    await store.update_alert_by_id(alert_id, lambda a: lifecycle.acknowledge(a, by="nurse-kari", at=ENDED_AT))


async def _resolved(store: Store, alert_id: int) -> None:
    await store.resolve_alert(alert_id, at=ENDED_AT, by="nurse-kari", reason="transferred to hospital")


async def _raised_to_high(store: Store, alert_id: int) -> None:
    assert await raise_news2(store, AlertSeverity.HIGH, at=ENDED_AT) == alert_id


async def _nothing(store: Store, alert_id: int) -> None:
    pass


async def raise_news2(store: Store, severity: AlertSeverity, *, at: datetime) -> int:
    """pat-1's NEWS2 alert in ward w1, opened or raised to `severity` (a rise re-opens it if acknowledged)."""
    change = await store.raise_alert(
        patient_id="pat-1", device_id=None, ward_id="w1", kind=AlertKind.NEWS2, severity=severity,
        message=f"NEWS2 {severity.name.lower()}", at=at,
    )  # fmt: skip
    return change.alert.alert_id


@pytest.mark.parametrize(
    ("last_step", "meanwhile", "state", "outcome"),
    [
        # The chain ended while the page was on its way: cancelled, as it would have been had it been queued.
        (False, _acknowledged, DeliveryState.CANCELLED, "chain ended: acknowledged"),
        (False, _resolved, DeliveryState.CANCELLED, "chain ended: resolved"),
        (False, _raised_to_high, DeliveryState.CANCELLED, "chain ended: chain 2 started"),  # the high chain pages
        # The chain goes on: the page is tried again.
        (False, _nothing, DeliveryState.QUEUED, "HTTP 503"),
        (True, _nothing, DeliveryState.QUEUED, "HTTP 503"),  # its last step fired; the alert is still open
    ],
    ids=["acknowledged", "resolved", "raised-to-a-new-chain", "still-open", "last-step-of-an-open-alert"],
)
async def test_a_page_whose_try_fails_after_its_chain_ended_is_not_tried_again(
    store: Store, last_step: bool, meanwhile: ChainEnd, state: DeliveryState, outcome: str
) -> None:
    await unit_with_roster(store)
    if last_step:  # one step, no repeat: firing it ends the chain ("every step fired"), the alert stays open
        await store.set_escalation_policy(doctor_first("s1", AlertPriority.MEDIUM), by="admin-1", at=T0)
    alert_id = await raise_news2(store, AlertSeverity.MEDIUM, at=T0)
    await fire(store, T0)
    [(page, _)] = await store.claim_deliveries(SENT_AT, lease_s=30)
    await meanwhile(store, alert_id)

    recorded = await store.record_delivery(
        page.delivery_id, DeliveryState.QUEUED, at=FAILED_AT, retry_at=RETRY_AT, outcome="HTTP 503"
    )
    assert (recorded.state, recorded.outcome) == (state, outcome)
    assert recorded.next_attempt_at == (RETRY_AT if state is DeliveryState.QUEUED else None)
    again = await store.claim_deliveries(RETRY_AT + timedelta(minutes=5), lease_s=30)
    sent_again = [d.delivery_id for d, _ in again if d.delivery_id == page.delivery_id]
    assert sent_again == ([page.delivery_id] if state is DeliveryState.QUEUED else [])


LEASE_S = 30
LEASE_OUT_AT = SENT_AT + timedelta(seconds=LEASE_S)  # the sender died after sending: no report ever came


@pytest.mark.parametrize(
    ("meanwhile", "claimed_again", "outcome"),
    [
        # The chain ended while the page was `sending`: the page is not sent again saying "open".
        (_acknowledged, False, "chain ended: acknowledged"),
        (_resolved, False, "chain ended: resolved"),
        (_raised_to_high, False, "chain ended: chain 2 started"),
        # The chain goes on: the page is sent again with the same id, which the receiver can drop.
        (_nothing, True, None),
    ],
    ids=["acknowledged", "resolved", "raised-to-a-new-chain", "still-open"],
)
async def test_a_page_whose_sender_died_is_not_sent_again_after_its_chain_ended(
    store: Store, meanwhile: ChainEnd, claimed_again: bool, outcome: str | None
) -> None:
    """Before, a lease that ran out was claimed again whatever had happened to the alert: a nurse's acknowledgement
    was followed by the same page again, saying the alert was open."""
    await unit_with_roster(store)
    alert_id = await raise_news2(store, AlertSeverity.MEDIUM, at=T0)
    await fire(store, T0)
    [(page, _)] = await store.claim_deliveries(SENT_AT, lease_s=LEASE_S)
    await meanwhile(store, alert_id)

    again = await store.claim_deliveries(LEASE_OUT_AT, lease_s=LEASE_S)

    assert [d.delivery_id for d, _ in again if d.delivery_id == page.delivery_id] == (
        [page.delivery_id] if claimed_again else []
    )
    after = next(d for d in await store.list_deliveries(alert_id) if d.delivery_id == page.delivery_id)
    if claimed_again:
        assert (after.state, after.attempts) == (DeliveryState.SENDING, 2)
    else:
        assert (after.state, after.outcome, after.next_attempt_at) == (DeliveryState.CANCELLED, outcome, None)
        assert after.attempts == 1  # the cancelled claim is not counted as a try


async def test_a_delivered_report_for_a_page_whose_chain_ended_is_still_recorded(store: Store) -> None:
    await unit_with_roster(store)
    alert_id = await open_high(store)
    await fire(store, T0)
    [(page, _)] = await store.claim_deliveries(SENT_AT, lease_s=30)
    await _acknowledged(store, alert_id)

    recorded = await store.record_delivery(page.delivery_id, DeliveryState.DELIVERED, at=FAILED_AT, outcome="200")
    assert (recorded.state, recorded.outcome) == (DeliveryState.DELIVERED, "200")


@pytest.mark.integration
async def test_a_failed_try_reported_while_a_nurse_acknowledges_waits_and_is_not_tried_again(
    pg_store: Store, postgres_dsn: str
) -> None:
    await unit_with_roster(pg_store, roles={OnCallRole.UNIT_NURSE: "nurse-kari"})
    alert_id = await open_high(pg_store)
    await fire(pg_store, T0)
    [(page, _)] = await pg_store.claim_deliveries(SENT_AT, lease_s=30)
    with psycopg.connect(postgres_dsn) as nurse:
        nurse.execute(f"SET lock_timeout = '{WAIT_S:.0f}s'")
        # The acknowledgement as update_alert_by_id makes it, stopped before its commit: the page is `sending`, so
        # cancelling what is queued leaves it alone.
        nurse.execute("SELECT 1 FROM alerts WHERE alert_id = %s FOR UPDATE", [alert_id])
        nurse.execute(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_by = 'nurse-kari' WHERE alert_id = %s", [alert_id]
        )
        nurse.execute("SELECT 1 FROM alert_escalations WHERE alert_id = %s FOR UPDATE", [alert_id])
        nurse.execute("UPDATE deliveries SET state = 'cancelled' WHERE alert_id = %s AND state = 'queued'", [alert_id])
        report = asyncio.create_task(
            pg_store.record_delivery(
                page.delivery_id, DeliveryState.QUEUED, at=FAILED_AT, retry_at=RETRY_AT, outcome="HTTP 503"
            )
        )
        await _waiting_or_done(report, postgres_dsn)
        nurse.commit()

    recorded = await asyncio.wait_for(report, WAIT_S)
    assert (recorded.state, recorded.outcome) == (DeliveryState.CANCELLED, "chain ended: acknowledged")
    assert await pg_store.claim_deliveries(RETRY_AT, lease_s=30) == []
