"""Deliveries: every notification of a person, its state, and the sender's durable timer (`next_attempt_at`).

A sender claims due deliveries with a lease (state `sending`, `next_attempt_at` = when the lease runs out), sends
outside any transaction, then records the result. A sender that dies between sending and recording leaves the lease
to run out; the delivery is then claimed and sent again with the same id, which the receiver can drop, or cancelled
if its chain has ended meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from core.errors import NotFound
from core.escalation import (
    Delivery,
    DeliveryPurpose,
    DeliveryState,
    Escalation,
    RecipientRateLimit,
    WebhookEndpoint,
    held_back_until,
    hurried,
)
from core.store import schema as s
from core.store.chains import escalation_of_row, save_chain
from core.store.sql import SqlStore, insert_new, one_of
from core.types import Alert, AlertPriority, AlertState

__all__ = ["DeliveryQueries", "cancel_pending", "insert_deliveries"]

_d, _e, _x = s.deliveries, s.webhook_endpoints, s.alert_escalations
_PENDING = (DeliveryState.QUEUED.value, DeliveryState.SENDING.value)
# How far each state is along the way: a late or repeated report never moves a delivery back (a "read" that
# arrives after "accepted" changes nothing). Failed and cancelled end a delivery that never arrived.
_RANK = {
    DeliveryState.QUEUED: 0,
    DeliveryState.SENDING: 1,
    DeliveryState.DELIVERED: 2,
    DeliveryState.READ: 3,
    DeliveryState.ACCEPTED: 4,
    DeliveryState.DECLINED: 4,
    DeliveryState.FAILED: 4,
    DeliveryState.CANCELLED: 4,
}
_NOBODY_LEFT = (DeliveryState.DECLINED.value, DeliveryState.FAILED.value, DeliveryState.CANCELLED.value)


def _delivery(row: Any) -> Delivery:
    return Delivery(
        delivery_id=row.delivery_id,
        alert_id=None if row.alert_id is None else int(row.alert_id),
        epoch=int(row.epoch),
        loop=int(row.loop),
        step_index=int(row.step_index),
        person_id=row.person_id,
        reason=row.reason,
        endpoint_id=row.endpoint_id,
        address=row.address,
        state=DeliveryState(row.state),
        created_at=row.created_at,
        updated_at=row.updated_at,
        next_attempt_at=row.next_attempt_at,
        attempts=int(row.attempts),
        answered_by=row.answered_by,
        outcome=row.outcome,
        body=bytes(row.body),
        purpose=DeliveryPurpose(row.purpose),
        priority=AlertPriority(row.priority),
        sent_at=row.sent_at,
    )


def insert_deliveries(conn: sa.Connection, deliveries: Sequence[Delivery]) -> None:
    """A delivery id already stored is not stored again: firing a step twice notifies nobody twice."""
    if not deliveries:
        return
    rows = [
        {
            "delivery_id": d.delivery_id,
            "alert_id": d.alert_id,
            "epoch": d.epoch,
            "loop": d.loop,
            "step_index": d.step_index,
            "person_id": d.person_id,
            "reason": d.reason,
            "endpoint_id": d.endpoint_id,
            "address": d.address,
            "state": d.state.value,
            "created_at": d.created_at,
            "updated_at": d.updated_at,
            "next_attempt_at": d.next_attempt_at,
            "attempts": d.attempts,
            "answered_by": d.answered_by,
            "outcome": d.outcome,
            "body": d.body,
            "purpose": d.purpose.value,
            "priority": d.priority.value,
            "sent_at": d.sent_at,
        }
        for d in deliveries
    ]
    insert_new(conn, _d, rows, key=["delivery_id"])


# Built once, as the alert statements are (core/store/alert_rows.py): every chain an alert's end stops runs it.
_CANCEL_QUEUED = (
    sa.update(_d)
    .where(_d.c.alert_id == sa.bindparam("cancelled_alert_id"), _d.c.state == DeliveryState.QUEUED.value)
    .values(
        state=DeliveryState.CANCELLED.value,
        next_attempt_at=None,
        updated_at=sa.bindparam("cancelled_at", type_=_d.c.updated_at.type),
        outcome=sa.bindparam("cancel_reason"),
    )
)


def cancel_pending(conn: sa.Connection, ended: Sequence[Alert], *, reason: str) -> None:
    """Deliveries of the alerts still queued (not yet sent, or waiting to be retried) will not go out; each is
    cancelled at its alert's last change. One round trip however many alerts."""
    params = [{"cancelled_alert_id": a.alert_id, "cancelled_at": a.updated_at, "cancel_reason": reason} for a in ended]
    if params:
        conn.execute(_CANCEL_QUEUED, params)


def _recent_sends(conn: sa.Connection, rows: Sequence[Any], since: datetime) -> dict[tuple[str, str], list[datetime]]:
    """When each recipient (gateway, address) of `rows` was last sent to, since `since`: one query for the batch."""
    recipients = {(r.endpoint_id, r.address) for r in rows if r.endpoint_id is not None}
    if not recipients:
        return {}
    query = sa.select(_d.c.endpoint_id, _d.c.address, _d.c.sent_at).where(
        sa.tuple_(_d.c.endpoint_id, _d.c.address).in_(sorted(recipients)), _d.c.sent_at > since
    )
    sent: dict[tuple[str, str], list[datetime]] = {}
    for endpoint_id, address, sent_at in conn.execute(query).all():
        sent.setdefault((endpoint_id, address), []).append(sent_at)
    return sent


def _hold_back(conn: sa.Connection, delivery_id: str, *, until: datetime, why: str) -> None:
    """Left queued, due when its recipient may have it: not a try, so it costs none of its attempts."""
    outcome = f"held back until {until:%H:%M:%S} UTC: {why} to this recipient"
    conn.execute(sa.update(_d).where(_d.c.delivery_id == delivery_id).values(next_attempt_at=until, outcome=outcome))


# A due delivery with its alert's state and its chain's epoch. A lease that ran out may belong to a page whose alert
# was acknowledged (or whose chain restarted) while it was `sending`, which cancel_pending leaves alone: it might still
# arrive. Claimed again, it would go out saying "open" after the acknowledgement, so the claim cancels it instead.
# The alert is read, not locked: the claim takes delivery locks only (skipping held ones), so it never waits on an
# acknowledgement, which takes the alert's lock before the deliveries'.
_WITH_ALERT_AND_CHAIN = _d.outerjoin(s.alerts, s.alerts.c.alert_id == _d.c.alert_id).outerjoin(
    _x, _x.c.alert_id == _d.c.alert_id
)


def _drop_ended(conn: sa.Connection, rows: Sequence[Any], now: datetime) -> list[Any]:
    """The claimable `rows`; each whose chain has ended is cancelled, saying why."""
    claimable = []
    for row in rows:
        why = _why_ended(row.alert_state, chain_epoch=row.chain_epoch, epoch=row.epoch)
        if why is None:
            claimable.append(row)
            continue
        cancelled = {"state": DeliveryState.CANCELLED.value, "next_attempt_at": None, "updated_at": now, "outcome": why}
        conn.execute(sa.update(_d).where(_d.c.delivery_id == row.delivery_id).values(cancelled))
    return claimable


def _claim(
    conn: sa.Connection, now: datetime, lease_s: float, limit: int, rate: RecipientRateLimit | None
) -> list[tuple[Delivery, WebhookEndpoint | None]]:
    query = (
        sa.select(_d, s.alerts.c.state.label("alert_state"), _x.c.epoch.label("chain_epoch"))
        .select_from(_WITH_ALERT_AND_CHAIN)
        .where(_d.c.next_attempt_at <= now, _d.c.state.in_(_PENDING))
        .order_by(_d.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=_d, skip_locked=True)
    )
    rows = _drop_ended(conn, conn.execute(query).all(), now)
    sent = _recent_sends(conn, rows, now - timedelta(seconds=rate.window_s)) if rate is not None else {}
    claimed = []
    for row in rows:
        recipient = sent.setdefault((row.endpoint_id, row.address), [])
        if rate is not None:
            held = held_back_until(AlertPriority(row.priority), recipient, now=now, limit=rate)
            if held is not None:
                _hold_back(conn, row.delivery_id, until=held, why=f"{rate.max_sends} sent in {rate.window_s:.0f} s")
                continue
        recipient.append(now)  # the batch's own sends count against the next ones
        values = {
            "state": DeliveryState.SENDING.value,
            "attempts": row.attempts + 1,
            "next_attempt_at": now + timedelta(seconds=lease_s),
            "updated_at": now,
            "sent_at": now,
        }
        updated = conn.execute(sa.update(_d).where(_d.c.delivery_id == row.delivery_id).values(values).returning(*_d.c))
        claimed.append(_delivery(updated.one()))
    ids = sorted({d.endpoint_id for d in claimed if d.endpoint_id is not None})
    endpoints = {
        row.endpoint_id: WebhookEndpoint(row.endpoint_id, row.url, bytes(row.secret), row.name)
        for row in conn.execute(sa.select(_e).where(one_of(_e.c.endpoint_id, ids))).all()
    }
    return [(d, endpoints.get(d.endpoint_id or "")) for d in claimed]


# A decline or failure may move the chain (_hurry_if_nobody_left), so its report locks the chain before the delivery:
# the order every alert change takes (alert, chain, deliveries). Taken the other way round, a report and an
# acknowledgement cancelling the same delivery would each wait for the other. One round trip: the delivery's alert
# is found by a subquery.
_MAY_HURRY = (DeliveryState.DECLINED, DeliveryState.FAILED)
_LOCKED_CHAIN_OF_DELIVERY = (
    sa.select(s.alert_escalations)
    .where(
        s.alert_escalations.c.alert_id
        == sa.select(_d.c.alert_id).where(_d.c.delivery_id == sa.bindparam("report_delivery_id")).scalar_subquery()
    )
    .with_for_update()
)


def _locked_chain_of(conn: sa.Connection, delivery_id: str) -> Escalation | None:
    row = conn.execute(_LOCKED_CHAIN_OF_DELIVERY, {"report_delivery_id": delivery_id}).first()
    return None if row is None else escalation_of_row(row)


def _hurry_if_nobody_left(conn: sa.Connection, chain: Escalation, delivery: Delivery, at: datetime) -> None:
    states = conn.execute(
        sa.select(_d.c.state).where(
            _d.c.alert_id == delivery.alert_id,
            _d.c.epoch == delivery.epoch,
            _d.c.loop == delivery.loop,
            _d.c.step_index == delivery.step_index,
            _d.c.purpose == DeliveryPurpose.RESPOND.value,  # a care-team member informed holds up nothing
        )
    ).scalars()
    if all(state in _NOBODY_LEFT for state in states):
        moved = hurried(chain, epoch=delivery.epoch, loop=delivery.loop, step_index=delivery.step_index, at=at)
        if moved is not None:
            save_chain(conn, moved)


# A try that failed while its chain ended (the alert acknowledged or resolved, or on a new chain) is not tried again: it
# is cancelled, as the queued ones were. Its report locks the delivery's alert first, the order every alert change
# takes: an acknowledgement either comes before (and is seen here) or after (and cancels it queued). One round trip.
_ALERT_OF_DELIVERY = (
    sa.select(s.alerts.c.state, _x.c.epoch.label("chain_epoch"), _d.c.epoch)
    .select_from(_d.join(s.alerts, s.alerts.c.alert_id == _d.c.alert_id).outerjoin(_x, _x.c.alert_id == _d.c.alert_id))
    .where(_d.c.delivery_id == sa.bindparam("retried_delivery_id"))
    .with_for_update(of=s.alerts)
)


def _why_ended(alert_state: str | None, *, chain_epoch: int | None, epoch: int) -> str | None:
    """Why a delivery of an alert in `alert_state` whose chain is at `chain_epoch` is not to go out, in the words
    cancel_pending uses; None: its chain goes on (one that has fired its last step too: its alert is still open),
    or it has no alert (a summary)."""
    if alert_state is None or (alert_state == AlertState.OPEN.value and chain_epoch == epoch):
        return None
    if alert_state != AlertState.OPEN.value:
        return f"chain ended: {alert_state}"
    return f"chain ended: chain {chain_epoch} started"


def _chain_ended(conn: sa.Connection, delivery_id: str) -> str | None:
    """Why a delivery whose try failed is not to be tried again (_why_ended), its alert locked."""
    row = conn.execute(_ALERT_OF_DELIVERY, {"retried_delivery_id": delivery_id}).first()
    return None if row is None else _why_ended(row.state, chain_epoch=row.chain_epoch, epoch=row.epoch)


def _record(
    conn: sa.Connection,
    delivery_id: str,
    state: DeliveryState,
    *,
    at: datetime,
    retry_at: datetime | None,
    outcome: str,
    answered_by: str | None,
) -> Delivery:
    chain = _locked_chain_of(conn, delivery_id) if state in _MAY_HURRY else None
    ended = _chain_ended(conn, delivery_id) if state is DeliveryState.QUEUED else None
    row = conn.execute(sa.select(_d).where(_d.c.delivery_id == delivery_id).with_for_update()).first()
    if row is None:
        raise NotFound("delivery", delivery_id)
    current = _delivery(row)
    retry = state is DeliveryState.QUEUED and current.state.pending
    if retry and ended is not None:
        state, retry_at, outcome = DeliveryState.CANCELLED, None, ended
    if not retry and _RANK[state] <= _RANK[current.state]:
        return current  # a late or repeated report
    values: dict[str, Any] = {"state": state.value, "updated_at": at, "outcome": outcome, "next_attempt_at": retry_at}
    if answered_by is not None:
        values["answered_by"] = answered_by
    updated = conn.execute(sa.update(_d).where(_d.c.delivery_id == delivery_id).values(values).returning(*_d.c))
    delivery = _delivery(updated.one())
    if chain is not None and delivery.purpose is DeliveryPurpose.RESPOND:
        _hurry_if_nobody_left(conn, chain, delivery, at)
    return delivery


class DeliveryQueries(SqlStore):
    async def claim_deliveries(
        self, now: datetime, *, lease_s: float, limit: int = 50, rate: RecipientRateLimit | None = None
    ) -> list[tuple[Delivery, WebhookEndpoint | None]]:
        """Claim due deliveries (queued, retries due, or sends whose lease ran out; rows another sender holds are
        skipped): each becomes `sending`, its attempt counted, leased for `lease_s`. Oldest due first. With `rate`,
        a delivery its recipient may not get yet (`held_back_until`) is left queued, due when it may."""
        return await self._write(lambda c: _claim(c, now, lease_s, limit, rate))

    async def record_delivery(
        self,
        delivery_id: str,
        state: DeliveryState,
        *,
        at: datetime,
        retry_at: datetime | None = None,
        outcome: str = "",
        answered_by: str | None = None,
    ) -> Delivery:
        """Move a delivery on. `QUEUED` with `retry_at` puts a failed try back for later, unless its chain has
        ended meanwhile (its alert acknowledged or resolved, or on a new chain): then it is cancelled. Any other state
        only moves forward (a late or repeated report returns the delivery unchanged). When every delivery of a step
        has been declined or has failed, the chain's next step is made due now. Raises NotFound."""
        return await self._write(
            lambda c: _record(c, delivery_id, state, at=at, retry_at=retry_at, outcome=outcome, answered_by=answered_by)
        )

    async def list_deliveries(self, alert_id: int) -> list[Delivery]:
        query = sa.select(_d).where(_d.c.alert_id == alert_id).order_by(_d.c.created_at, _d.c.delivery_id)
        return [_delivery(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def get_delivery(self, delivery_id: str) -> Delivery:
        """Raises NotFound."""
        row = await self._read(lambda c: c.execute(sa.select(_d).where(_d.c.delivery_id == delivery_id)).first())
        if row is None:
            raise NotFound("delivery", delivery_id)
        return _delivery(row)
