"""REST: an alert's escalation and deliveries, and the answers gateways post back for a delivery.

The answer endpoint takes no bearer token: a pager gateway is not a user. It is authenticated by the signature of
the endpoint the delivery went through (alerts/webhooks.py), bound to the delivery id and a fresh timestamp.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status

from alerts.deliveries import record_answer
from alerts.isbar import isbar_of
from alerts.webhooks import MAX_ANSWER_BYTES, parse_answer, verify_signature
from core.errors import NotFound, WebhookRejected
from core.store import AlertChange
from dashboard_api.access import Ctx, announce_alert, authorised_alert
from dashboard_api.auth import CLINICAL_ROLES, Principal, require_roles
from dashboard_api.id_params import RowId
from dashboard_api.schemas_escalation import DeliveryOut, EscalationOut, IsbarOut

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()

Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]


@router.get(
    "/alerts/{alert_id}/escalation",
    response_model=EscalationOut | None,
    summary="An alert's escalation chain and every delivery of it (null: the alert pages nobody)",
)
async def alert_escalation(alert_id: RowId, ctx: Ctx, principal: Clinician) -> EscalationOut | None:
    await authorised_alert(ctx, principal, alert_id, action="read.alert_escalation")
    chain = await ctx.store.get_escalation(alert_id)
    deliveries = await ctx.store.list_deliveries(alert_id)
    return None if chain is None else EscalationOut.of(chain, deliveries)


@router.get(
    "/alerts/{alert_id}/isbar",
    response_model=IsbarOut,
    summary="The alert's ISBAR message as it reads now (Identify, Situation, Background, Assessment, Recommendation)",
)
async def alert_isbar(alert_id: RowId, ctx: Ctx, principal: Clinician) -> IsbarOut:
    await authorised_alert(ctx, principal, alert_id, action="read.alert_isbar")
    at = ctx.clock()
    facts = await ctx.store.alert_facts(alert_id, at=at)
    return IsbarOut.of(alert_id, at, isbar_of(facts))


def _rejected(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, f"Answer not accepted: {reason}")


@router.post(
    "/deliveries/{delivery_id}/answer",
    response_model=DeliveryOut,
    summary="A gateway reports what became of a delivery (delivered, read, accepted, declined); signed, no token",
)
async def answer_delivery(delivery_id: str, request: Request, ctx: Ctx) -> DeliveryOut:
    body = await request.body()
    if len(body) > MAX_ANSWER_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"An answer is at most {MAX_ANSWER_BYTES} bytes")
    try:
        delivery = await ctx.store.get_delivery(delivery_id)
        if delivery.endpoint_id is None:
            raise NotFound("delivery", delivery_id)  # never sent: nothing can answer it
        endpoint = await ctx.store.get_webhook_endpoint(delivery.endpoint_id)
    except NotFound:
        # The same answer as a bad signature: an unsigned caller learns nothing about which ids exist.
        raise _rejected("unknown delivery or bad signature") from None
    try:
        signed_id = verify_signature(endpoint.secret, headers=request.headers, body=body, now=ctx.clock())
        if signed_id != delivery_id:
            raise WebhookRejected(delivery_id, reason="the signed delivery id is not the one in the path")
        answer = parse_answer(delivery_id, body)
    except WebhookRejected as exc:
        logger.warning("Rejected answer for delivery %s: %s", delivery_id, exc.reason)
        raise _rejected(exc.reason) from None
    if answer is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, 'An answer needs a body: {"status": "accepted"}')

    async def announce(change: AlertChange) -> None:
        site = (await ctx.store.get_ward(change.alert.ward_id)).site_id if change.alert.ward_id else None
        if site is not None:
            await announce_alert(ctx, site, change.alert, phase=change.phase)

    recorded = await record_answer(ctx.store, delivery, answer, at=ctx.clock(), announce=announce)
    return DeliveryOut.of(recorded)
