"""The delivery sender every worker runs: claim due deliveries, send each as a signed webhook, record what happened.

Claiming leases a delivery in the store (`sending` until the lease runs out), so a second sender skips it and a
sender that dies mid-send leaves it to be sent again with the same id. An answer of "accepted" to a page of the alert's
chain now acknowledges the alert for the person who accepted (which stops its chain); "declined" by everyone of a step
moves the chain on at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import httpx

from alerts.lifecycle import acknowledge
from alerts.webhooks import (
    MAX_ATTEMPTS,
    Answer,
    SendOutcome,
    SendResult,
    WebhookAnswer,
    is_exhausted,
    retry_delay_s,
    send_webhook,
)
from core.clock import Clock
from core.errors import AlertAlreadyAcknowledged, AlertAlreadyResolved, StorageUnavailable
from core.escalation import Delivery, DeliveryPurpose, DeliveryState, RecipientRateLimit, WebhookEndpoint
from core.store import AlertChange, AlertUpdate, Store
from core.types import Alert

__all__ = [
    "DELIVERY_POLL_S",
    "RECIPIENT_RATE_LIMIT",
    "SEND_BATCH",
    "SEND_LEASE_S",
    "SEND_TIMEOUT_S",
    "record_answer",
    "run_delivery_sender",
    "send_due",
]

logger = logging.getLogger(__name__)

# A gateway that has not answered in 5 s is treated as down for this try: a page must not wait on one slow hop.
SEND_TIMEOUT_S = 5.0
# Longer than a send can take (its timeout plus recording it), so a live sender never loses its lease; short enough
# that a delivery whose sender died is sent again within half a minute.
SEND_LEASE_S = 30.0
# Deliveries claimed and sent concurrently per round; a full round is followed by the next at once.
SEND_BATCH = 50
# The fallback poll for deliveries queued by another process (this process's steps wake the sender at once).
DELIVERY_POLL_S = 1.0
# Ten messages a minute to one pager or phone: one every six seconds is more than a person can read and act on, and
# a flood (a ward's device faults after a power cut) hides the next message that matters. Medium and low ones wait
# their turn; a high-priority message is never held back (core/escalation.py `held_back_until`).
RECIPIENT_RATE_LIMIT = RecipientRateLimit(max_sends=10, window_s=60.0)
# An accepted page acknowledges its alert only if the alert has not changed since its chain was read (it could be on a
# new chain); a change in between (milliseconds) is read again. Three tries: only a stream of changes ends them.
_ACKNOWLEDGE_TRIES = 3

_STATE_OF_ANSWER = {
    WebhookAnswer.DELIVERED: DeliveryState.DELIVERED,
    WebhookAnswer.READ: DeliveryState.READ,
    WebhookAnswer.ACCEPTED: DeliveryState.ACCEPTED,
    WebhookAnswer.DECLINED: DeliveryState.DECLINED,
}

Announce = Callable[[AlertChange], Awaitable[None]]


async def _progressed(store: Store, before: Delivery, after: Delivery, announce: Announce) -> Delivery:
    """Tell the pages that a delivery of an alert moved ("doctor on call notified, not yet read" -> "read"): an
    alert event with no phase (nothing happened to the alert itself), after which they re-read its escalation."""
    if after.alert_id is not None and (after.state, after.outcome) != (before.state, before.outcome):
        await announce(AlertChange(await store.get_alert(after.alert_id), changed=True))
    return after


class _AlertChanged(Exception):
    """The alert changed after its chain was read: it may be on another chain now."""


async def _alert_and_chain(store: Store, alert_id: int) -> tuple[Alert, int]:
    """The alert, then its chain's epoch (0: it has none). In that order: a chain changes epoch only in a change of its
    alert, so the alert found unchanged when it is locked to be acknowledged is still on this chain."""
    alert = await store.get_alert(alert_id)
    chain = await store.get_escalation(alert_id)
    return alert, 0 if chain is None else chain.epoch


def _acknowledged_if_unchanged(alert: Alert, *, seen: Alert, by: str, at: datetime) -> AlertUpdate:
    if alert != seen:
        raise _AlertChanged
    return acknowledge(alert, by=by, at=at)


async def _acknowledge_on_chain(
    store: Store, alert_id: int, *, epoch: int, seen: Alert, by: str, at: datetime
) -> AlertChange | None:
    """Acknowledge the alert if it is still on chain `epoch`, decided on the locked row. None: it is not, someone
    was there first, or it kept changing (then its chain goes on: the safe side)."""
    for _ in range(_ACKNOWLEDGE_TRIES):
        decide = functools.partial(_acknowledged_if_unchanged, seen=seen, by=by, at=at)
        try:
            return await store.update_alert_by_id(alert_id, decide)
        except (AlertAlreadyAcknowledged, AlertAlreadyResolved):
            return None
        except _AlertChanged:
            seen, now = await _alert_and_chain(store, alert_id)
            if now != epoch:
                return None
    logger.warning("Alert %s changed on each try to acknowledge it for %s: not acknowledged", alert_id, by)
    return None


async def _accept(
    store: Store, delivery: Delivery, alert_id: int, *, by: str, at: datetime, announce: Announce
) -> Delivery:
    seen, epoch = await _alert_and_chain(store, alert_id)
    outcome = f"accepted by {by}"
    if epoch != delivery.epoch:
        since = f"the alert has worsened or been re-notified since: chain {epoch}"
        outcome += f" on an earlier page (chain {delivery.epoch}; {since}): not an acknowledgement"
    recorded = await store.record_delivery(
        delivery.delivery_id, DeliveryState.ACCEPTED, at=at, outcome=outcome, answered_by=by
    )
    # A page cancelled, failed or declined before the answer stays as it was, and acknowledges nothing.
    if epoch == delivery.epoch and recorded.state is DeliveryState.ACCEPTED:
        change = await _acknowledge_on_chain(store, alert_id, epoch=epoch, seen=seen, by=by, at=at)
        if change is not None:
            await announce(change)  # the acknowledgement carries the delivery's news with it
            return recorded
    return await _progressed(store, delivery, recorded, announce)


async def record_answer(
    store: Store, delivery: Delivery, answer: Answer, *, at: datetime, announce: Announce
) -> Delivery:
    """A receiver's answer to a delivery (in its HTTP response, or posted back later). Accepted acknowledges the
    alert for the person who accepted, unless they were only informed (a care-team member), the page had already
    ended (cancelled, failed, declined), or it was a page of an earlier chain: the alert was re-opened, re-notified
    or raised to a higher priority since, and its new chain's people must still be fetched."""
    by = answer.by or delivery.person_id
    state = _STATE_OF_ANSWER[answer.status]
    alert_id = delivery.alert_id
    if state is DeliveryState.ACCEPTED and delivery.purpose is DeliveryPurpose.RESPOND and alert_id is not None:
        return await _accept(store, delivery, alert_id, by=by, at=at, announce=announce)
    recorded = await store.record_delivery(
        delivery.delivery_id, state, at=at, outcome=f"{answer.status.value} by {by}", answered_by=by
    )
    return await _progressed(store, delivery, recorded, announce)


async def _record_result(
    store: Store, delivery: Delivery, result: SendResult, *, at: datetime, announce: Announce
) -> Delivery:
    if result.outcome is SendOutcome.DELIVERED:
        if result.answer is not None:
            return await record_answer(store, delivery, result.answer, at=at, announce=announce)
        delivered = await store.record_delivery(
            delivery.delivery_id, DeliveryState.DELIVERED, at=at, outcome=result.reason
        )
        return await _progressed(store, delivery, delivered, announce)
    if result.outcome is SendOutcome.RETRY and not is_exhausted(delivery.attempts):
        delay_s = retry_delay_s(delivery.attempts, retry_after_s=result.retry_after_s, rand=random.random)
        retry_at = at + timedelta(seconds=delay_s)
        outcome = f"try {delivery.attempts} of {MAX_ATTEMPTS}: {result.reason}; next try in {delay_s:.0f} s"
        return await store.record_delivery(
            delivery.delivery_id, DeliveryState.QUEUED, at=at, retry_at=retry_at, outcome=outcome
        )
    outcome = result.reason if result.outcome is SendOutcome.FAILED else f"gave up after {delivery.attempts} tries"
    logger.error("Delivery %s (alert %s) failed: %s", delivery.delivery_id, delivery.alert_id, outcome)
    failed = await store.record_delivery(delivery.delivery_id, DeliveryState.FAILED, at=at, outcome=outcome)
    return await _progressed(store, delivery, failed, announce)


async def _send_one(
    store: Store,
    client: httpx.AsyncClient,
    delivery: Delivery,
    endpoint: WebhookEndpoint | None,
    *,
    clock: Clock,
    announce: Announce,
) -> Delivery:
    if endpoint is None:
        outcome = f"webhook endpoint {delivery.endpoint_id} is not configured"
        return await store.record_delivery(delivery.delivery_id, DeliveryState.FAILED, at=clock(), outcome=outcome)
    result = await send_webhook(
        client,
        url=endpoint.url,
        secret=endpoint.secret,
        delivery_id=delivery.delivery_id,
        body=delivery.body,
        now=clock(),
        timeout_s=SEND_TIMEOUT_S,
    )
    return await _record_result(store, delivery, result, at=clock(), announce=announce)


async def send_due(store: Store, client: httpx.AsyncClient, clock: Clock, *, announce: Announce) -> list[Delivery]:
    """Send every due delivery now, concurrently (one slow gateway does not hold up the others). Raises
    StorageUnavailable when the claim fails; a delivery whose result cannot be recorded is sent again after its
    lease runs out."""
    claimed = await store.claim_deliveries(clock(), lease_s=SEND_LEASE_S, limit=SEND_BATCH, rate=RECIPIENT_RATE_LIMIT)
    sends = [_send_one(store, client, d, e, clock=clock, announce=announce) for d, e in claimed]
    results = await asyncio.gather(*sends, return_exceptions=True)
    sent: list[Delivery] = []
    for (delivery, _), result in zip(claimed, results, strict=True):
        if isinstance(result, BaseException):
            logger.warning(
                "Delivery %s: result not recorded (%s); sent again after its lease", delivery.delivery_id, result
            )
        else:
            sent.append(result)
    return sent


async def run_delivery_sender(
    store: Store, clock: Clock, *, announce: Announce, wake: asyncio.Event, poll_s: float = DELIVERY_POLL_S
) -> None:
    """Forever. Never raises: an outage is logged and the next poll tries again. `wake` cuts the wait short."""
    async with httpx.AsyncClient(follow_redirects=False) as client:
        while True:
            wake.clear()
            try:
                if len(await send_due(store, client, clock, announce=announce)) >= SEND_BATCH:
                    continue  # more are waiting: no pause between full rounds
            except StorageUnavailable as exc:
                logger.warning("Deliveries postponed: %s", exc)
            except Exception:
                logger.exception("Unexpected failure sending deliveries")
            try:
                async with asyncio.timeout(poll_s):
                    await wake.wait()
            except TimeoutError:
                pass
