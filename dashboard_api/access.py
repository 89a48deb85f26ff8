"""What every route needs: the injected parts (store, clock, publisher) and access checks that audit as they go.

Two grants open a patient's data (docs/ACCESS.md): the site of the unit the patient is in (for its staff), and
membership of the patient's care team (wherever the patient is). Every audit row names the grant that allowed it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, NamedTuple, Protocol

from fastapi import Depends, HTTPException, status
from starlette.requests import HTTPConnection

from core.clock import Clock
from core.errors import NotFound, VaktromError
from core.events import StayChangeKind, alert_event, stay_event
from core.store import Store
from core.topics import events_topic
from core.types import Alert, AlertPhase, AuditEntry, CareTeamRole, Stay, Ward
from dashboard_api.auth import Principal

__all__ = [
    "AlertAccess",
    "ApiContext",
    "Ctx",
    "Publisher",
    "WardAccess",
    "announce_alert",
    "announce_stay",
    "audit",
    "audit_patients",
    "authorised_alert",
    "authorised_patient",
    "authorised_ward",
    "get_context",
    "patient_access",
    "patient_grant",
    "publish_or_warn",
    "refuse_ward",
    "site_grant",
    "team_grant",
    "ward_access",
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


def site_grant(site_id: str) -> str:
    return f"site:{site_id}"


def team_grant(role: CareTeamRole) -> str:
    return f"team:{role.value}"


def _entry(
    ctx: ApiContext, principal: Principal, action: str, subject: str, detail: str, patient_id: str | None, grant: str
) -> AuditEntry:
    return AuditEntry(
        at=ctx.clock(),
        user_id=principal.user_id,
        role=principal.role,
        action=action,
        subject=subject,
        detail=detail,
        patient_id=patient_id,
        grant=grant,
        source_address=principal.source_address,
        token_id=principal.token_id,
    )


async def audit(
    ctx: ApiContext,
    principal: Principal,
    action: str,
    subject: str,
    detail: str = "",
    *,
    patient_id: str | None = None,
    grant: str | None = None,
) -> None:
    """One audit row per read or change of patient data (and per refused attempt at it). `grant` says what allowed
    it; by default the caller's role ("role:admin"), for actions that concern no patient."""
    given = f"role:{principal.role.value}" if grant is None else grant
    await ctx.store.audit(_entry(ctx, principal, action, subject, detail, patient_id, given))


async def audit_patients(
    ctx: ApiContext, principal: Principal, action: str, subject: str, grants: Mapping[str, str], detail: str = ""
) -> None:
    """One row per patient (patient id -> grant, "" when refused) in one transaction; one row naming no patient
    when there is none (an empty ward board was still read)."""
    if not grants:
        await audit(ctx, principal, action, subject, detail, grant="" if action.startswith("denied.") else None)
        return
    entries = [_entry(ctx, principal, action, subject, detail, pid, grant) for pid, grant in grants.items()]
    await ctx.store.audit_many(entries)


def _not_found(kind: str, key: str | int) -> HTTPException:
    # The same answer for "no such thing" and "not yours": an id from another site is neither confirmed nor placed.
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} {key} not found")


@dataclass(frozen=True, slots=True)
class WardAccess:
    """What of a ward the principal may see: all of it (a site grant), or only the patients on it now whose care
    team the principal is in."""

    ward: Ward
    site: str | None  # "site:<id>" when the whole ward is visible
    team: Mapping[str, str]  # patient id -> "team:<role>", when it is not

    def grant_for(self, patient_id: str) -> str | None:
        return self.site if self.site is not None else self.team.get(patient_id)

    def patients(self) -> frozenset[str] | None:
        """None: every patient; else only these."""
        return None if self.site is not None else frozenset(self.team)


async def ward_access(ctx: ApiContext, principal: Principal, ward: Ward) -> WardAccess:
    """Site grant first; otherwise the principal's care-team patients with a current stay on this ward."""
    if principal.may_see(ward.site_id):
        return WardAccess(ward, site_grant(ward.site_id), {})
    at = ctx.clock()
    stays = await ctx.store.list_stays(ward_id=ward.ward_id, at=at)
    roles = await ctx.store.team_grants(principal.user_id, [s.patient_id for s in stays], at=at) if stays else {}
    return WardAccess(ward, None, {pid: team_grant(role) for pid, role in roles.items()})


async def refuse_ward(ctx: ApiContext, principal: Principal, ward: Ward, action: str) -> None:
    """Audit a refused ward read: one row per patient on the ward now (none of them was shown)."""
    stays = await ctx.store.list_stays(ward_id=ward.ward_id, at=ctx.clock())
    await audit_patients(
        ctx, principal, f"denied.{action}", ward.ward_id, {s.patient_id: "" for s in stays}, f"site {ward.site_id}"
    )


async def authorised_ward(ctx: ApiContext, principal: Principal, ward_id: str, *, action: str) -> WardAccess:
    """What of the ward the principal may see, or 404 when it does not exist or they may see none of it (audited as
    refused, per patient). The caller audits what it shows."""
    try:
        ward = await ctx.store.get_ward(ward_id)
    except NotFound:
        await audit(ctx, principal, f"denied.{action}", ward_id, "no such ward", grant="")
        raise _not_found("Ward", ward_id) from None
    access = await ward_access(ctx, principal, ward)
    if access.site is None and not access.team:
        await refuse_ward(ctx, principal, ward, action)
        raise _not_found("Ward", ward_id)
    return access


async def patient_grant(ctx: ApiContext, principal: Principal, stay: Stay) -> tuple[str | None, Ward]:
    """What lets the principal see this patient now (the stay's site, else their care-team membership; None), and
    the stay's ward."""
    ward = await ctx.store.get_ward(stay.ward_id)
    if principal.may_see(ward.site_id):
        return site_grant(ward.site_id), ward
    roles = await ctx.store.team_grants(principal.user_id, [stay.patient_id], at=ctx.clock())
    role = roles.get(stay.patient_id)
    return (None if role is None else team_grant(role)), ward


async def authorised_patient(ctx: ApiContext, principal: Principal, patient_id: str, *, action: str) -> Stay:
    """The patient's current stay, when the principal's site or care-team membership grants it; audits `action`
    on the patient with that grant, or `denied.<action>` when refused.

    A patient is reachable through a current stay only (admitted to a bed or enrolled at home), so the answer for
    an unknown patient, a discharged one and one the principal may not see is the same 404: ids are neither
    confirmed nor placed.
    """
    stay, grant = await patient_access(ctx, principal, patient_id, action=action)
    await audit(ctx, principal, action, patient_id, patient_id=patient_id, grant=grant)
    return stay


async def patient_access(ctx: ApiContext, principal: Principal, patient_id: str, *, action: str) -> tuple[Stay, str]:
    """`authorised_patient` without auditing `action` itself (a refusal is audited): (the stay, the grant), for a
    write audited once the store says what was written."""
    stays = await ctx.store.stays_of_patients([patient_id], at=ctx.clock())
    stay = stays.get(patient_id)
    grant, why = None, "no current stay"
    if stay is not None:
        grant, ward = await patient_grant(ctx, principal, stay)
        why = f"site {ward.site_id}"  # neither that site nor the patient's care team
    if stay is None or grant is None:
        await audit(ctx, principal, f"denied.{action}", patient_id, why, patient_id=patient_id, grant="")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Patient {patient_id} has no current stay")
    return stay, grant


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


class AlertAccess(NamedTuple):
    alert: Alert
    site_id: str
    grant: str


async def authorised_alert(
    ctx: ApiContext, principal: Principal, alert_id: int, *, action: str, audited: bool = True
) -> AlertAccess:
    """The alert, its ward's site and the grant (the site, or the principal's membership of its patient's care team)
    that lets the principal see it; audits `action` on the alert's patient unless the caller will (`audited=False`,
    after a change that may still fail). 404 (audited as refused) otherwise; 403 for an alert of no ward."""
    try:
        alert = await ctx.store.get_alert(alert_id)
    except NotFound:
        raise _not_found("Alert", alert_id) from None
    if alert.ward_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"Alert {alert_id} belongs to no ward; a technician handles it")
    ward = await ctx.store.get_ward(alert.ward_id)
    access = await ward_access(ctx, principal, ward)
    grant = access.site if alert.patient_id is None else access.grant_for(alert.patient_id)
    detail = f"patient {alert.patient_id}"
    if grant is None:
        await audit(ctx, principal, f"denied.{action}", str(alert_id), detail, patient_id=alert.patient_id, grant="")
        raise _not_found("Alert", alert_id)
    if audited:
        await audit(ctx, principal, action, str(alert_id), detail, patient_id=alert.patient_id, grant=grant)
    return AlertAccess(alert, ward.site_id, grant)


async def announce_alert(
    ctx: ApiContext, site_id: str, alert: Alert, *, phase: AlertPhase | None = None, ward_id: str | None = None
) -> None:
    """Tell every dashboard (on any API node) through the broker; the store already has it if this fails. To the
    alert's ward, or to `ward_id` (at `site_id`): the ward a transferred alert left, whose screens must drop it."""
    ward_id = ward_id or alert.ward_id
    assert ward_id is not None
    event = alert_event(site_id=site_id, ward_id=ward_id, alert=alert, at=ctx.clock(), phase=phase)
    topic = events_topic(ctx.topic_root, site_id, ward_id, "alert")
    await publish_or_warn(
        ctx, topic, event.model_dump_json().encode(), what=f"{alert.state.value} alert {alert.alert_id}"
    )


async def announce_stay(ctx: ApiContext, site_id: str, stay: Stay, change: StayChangeKind) -> None:
    """Tell the screens of the stay's ward (at `site_id`), on every API node, that a patient came, moved or left:
    they take a fresh snapshot. The store already has the change if this fails."""
    event = stay_event(site_id=site_id, stay=stay, change=change, at=ctx.clock())
    topic = events_topic(ctx.topic_root, site_id, stay.ward_id, "stay")
    await publish_or_warn(ctx, topic, event.model_dump_json().encode(), what=f"{change.value} of stay {stay.stay_id}")
