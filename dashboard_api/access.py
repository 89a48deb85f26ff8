"""What every route needs: the injected parts (store, clock, publisher) and access checks that audit as they go."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, status
from starlette.requests import HTTPConnection

from core.clock import Clock
from core.errors import NotFound, VaktromError
from core.events import alert_event
from core.store import Store
from core.topics import events_topic
from core.types import Alert, AlertPhase, AuditEntry, Stay, Ward
from dashboard_api.auth import Principal

__all__ = [
    "ApiContext",
    "Ctx",
    "Publisher",
    "announce_alert",
    "audit",
    "authorised_alert",
    "authorised_patient",
    "authorised_ward",
    "get_context",
    "publish_or_warn",
]

logger = logging.getLogger(__name__)

# A nurse waits on this: a broker that has not acknowledged in 2 s is treated as down (the change is stored anyway).
PUBLISH_TIMEOUT_S = 2.0


class Publisher(Protocol):
    """Publishes one MQTT message (QoS 1) and returns once the broker has it; raises when the broker refused it (a
    VaktromError such as core.mqtt.PublishRefused). core.mqtt.MqttClient is one."""

    async def publish(self, topic: str, payload: bytes) -> object: ...


@dataclass(frozen=True, slots=True)
class ApiContext:
    store: Store
    clock: Clock
    publisher: Publisher
    topic_root: str
    allow_loopback_webhooks: bool = False  # Settings.webhook_allow_loopback_http


def get_context(connection: HTTPConnection) -> ApiContext:
    context: ApiContext = connection.app.state.context
    return context


Ctx = Annotated[ApiContext, Depends(get_context)]


async def audit(ctx: ApiContext, principal: Principal, action: str, subject: str, detail: str = "") -> None:
    """One audit row per read or change of patient data (and per denied attempt at it)."""
    await ctx.store.audit(
        AuditEntry(
            at=ctx.clock(),
            user_id=principal.user_id,
            role=principal.role,
            action=action,
            subject=subject,
            detail=detail,
        )
    )


def _not_found(kind: str, key: str | int) -> HTTPException:
    # The same answer for "no such thing" and "not yours": an id from another site is neither confirmed nor placed.
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} {key} not found")


async def authorised_ward(ctx: ApiContext, principal: Principal, ward_id: str) -> Ward:
    """The ward, or 404 when it does not exist or lies outside the principal's sites (audited as denied)."""
    try:
        ward = await ctx.store.get_ward(ward_id)
    except NotFound:
        raise _not_found("Ward", ward_id) from None
    if not principal.may_see(ward.site_id):
        await audit(ctx, principal, "denied.ward", ward_id, f"site {ward.site_id}")
        raise _not_found("Ward", ward_id)
    return ward


async def authorised_patient(ctx: ApiContext, principal: Principal, patient_id: str, *, action: str) -> Stay:
    """The patient's current stay, when its ward's site is one the token names; audits `action` on the patient.

    A patient is reachable through a current stay only (admitted to a bed or enrolled at home), so the answer for
    an unknown patient, a discharged one and another site's is the same 404: ids are neither confirmed nor placed.
    """
    stays = await ctx.store.stays_of_patients([patient_id], at=ctx.clock())
    stay = stays.get(patient_id)
    if stay is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Patient {patient_id} has no current stay")
    ward = await ctx.store.get_ward(stay.ward_id)
    if not principal.may_see(ward.site_id):
        await audit(ctx, principal, f"denied.{action}", patient_id, f"site {ward.site_id}")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Patient {patient_id} has no current stay")
    await audit(ctx, principal, action, patient_id)
    return stay


async def publish_or_warn(ctx: ApiContext, topic: str, payload: bytes, *, what: str) -> bool:
    """Publish after a stored change and check the broker's answer; False (and a warning) when the broker refused it
    (MQTT 5 reason code) or did not acknowledge it in time. The change is stored either way; a page that may have
    missed the event is told by the live hub (its socket closes with 4503 and it resnapshots)."""
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await ctx.publisher.publish(topic, payload)
    except (VaktromError, OSError, TimeoutError) as exc:
        logger.warning("Could not publish %s on %s: %s", what, topic, exc or "no PUBACK in time")
        return False
    return True


async def authorised_alert(ctx: ApiContext, principal: Principal, alert_id: int) -> tuple[Alert, str]:
    """The alert and its ward's site, once the principal may act on that ward. 404 / 403 otherwise."""
    try:
        alert = await ctx.store.get_alert(alert_id)
    except NotFound:
        raise _not_found("Alert", alert_id) from None
    if alert.ward_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"Alert {alert_id} belongs to no ward; a technician handles it")
    try:
        ward = await authorised_ward(ctx, principal, alert.ward_id)
    except HTTPException:
        await audit(ctx, principal, "denied.alert", str(alert_id), f"patient {alert.patient_id}")
        raise _not_found("Alert", alert_id) from None
    return alert, ward.site_id


async def announce_alert(ctx: ApiContext, site_id: str, alert: Alert, *, phase: AlertPhase | None = None) -> None:
    """Tell every dashboard (on any API node) through the broker; the store already has it if this fails."""
    assert alert.ward_id is not None
    event = alert_event(site_id=site_id, ward_id=alert.ward_id, alert=alert, at=ctx.clock(), phase=phase)
    topic = events_topic(ctx.topic_root, site_id, alert.ward_id, "alert")
    await publish_or_warn(
        ctx, topic, event.model_dump_json().encode(), what=f"{alert.state.value} alert {alert.alert_id}"
    )
