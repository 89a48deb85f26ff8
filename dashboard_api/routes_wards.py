"""REST: who am I, sites, wards, the ward board, and alerts (list, acknowledge, resolve, history)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from alerts.lifecycle import acknowledge, resolve
from core.errors import AlertAlreadyAcknowledged, AlertAlreadyResolved
from core.store import DueAlertDecision
from core.types import AlertState
from dashboard_api.access import ApiContext, Ctx, announce_alert, audit_patients, authorised_alert, authorised_ward
from dashboard_api.auth import CLINICAL_ROLES, Principal, authorise_site, current_principal, require_roles
from dashboard_api.bodies import ResolveAlertIn
from dashboard_api.change_audit import audited_change
from dashboard_api.id_params import RowId
from dashboard_api.pages import pages_for
from dashboard_api.schemas import AlertOut, AlertTransitionOut, MeOut, PageOut, SiteOut, WardOut, WardSnapshot
from dashboard_api.snapshot import ward_snapshot

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()

Anyone = Annotated[Principal, Depends(current_principal)]
Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]

MAX_ALERTS = 500


@router.get("/me", response_model=MeOut, summary="The caller as the token names them")
async def me(principal: Anyone) -> MeOut:
    pages = [PageOut(path=page.path, title=page.title) for page in pages_for(principal.role)]
    return MeOut(user_id=principal.user_id, role=principal.role.value, site_ids=list(principal.site_ids), pages=pages)


@router.get("/sites", response_model=list[SiteOut], summary="Sites the token may see")
async def list_sites(ctx: Ctx, principal: Anyone) -> list[SiteOut]:
    return [SiteOut.of(s) for s in await ctx.store.list_sites() if principal.may_see(s.site_id)]


@router.get("/sites/{site_id}/wards", response_model=list[WardOut], summary="Wards (units) of a site")
async def list_wards(site_id: str, ctx: Ctx, principal: Anyone) -> list[WardOut]:
    authorise_site(principal, site_id)
    return [WardOut.of(w) for w in await ctx.store.list_wards(site_ids=[site_id])]


@router.get("/wards/{ward_id}", response_model=WardSnapshot, summary="The ward board: beds, patients, vitals, scores")
async def get_ward_board(ward_id: str, ctx: Ctx, principal: Clinician) -> WardSnapshot:
    access = await authorised_ward(ctx, principal, ward_id, action="read.ward")
    board = await ward_snapshot(ctx.store, access.ward, at=ctx.clock(), only=access.patients())
    shown = {b.patient.patient_id: access.grant_for(b.patient.patient_id) or "" for b in board.beds if b.patient}
    await audit_patients(ctx, principal, "read.ward", ward_id, shown)
    return board


@router.get("/alerts", response_model=list[AlertOut], summary="Alerts of a ward, newest first")
async def list_alerts(
    ctx: Ctx,
    principal: Clinician,
    ward_id: Annotated[str, Query(min_length=1, max_length=64)],
    state: Annotated[
        list[AlertState] | None, Query(description="Repeat for several; default open+acknowledged")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ALERTS)] = 100,
) -> list[AlertOut]:
    access = await authorised_ward(ctx, principal, ward_id, action="read.alerts")
    states = tuple(state) if state else (AlertState.OPEN, AlertState.ACKNOWLEDGED)
    alerts = await ctx.store.list_alerts(ward_ids=[ward_id], states=states, limit=limit)
    visible = access.patients()
    if visible is not None:  # a care-team grant: only the team's patients' alerts
        alerts = [a for a in alerts if a.patient_id in visible]
    shown = {a.patient_id: access.grant_for(a.patient_id) or "" for a in alerts if a.patient_id is not None}
    await audit_patients(ctx, principal, "read.alerts", ward_id, shown, f"{len(alerts)} alerts")
    return [AlertOut.of(a) for a in alerts]


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut, summary="Acknowledge an open alert")
async def acknowledge_alert(alert_id: RowId, ctx: Ctx, principal: Clinician) -> AlertOut:
    at = ctx.clock()
    return await _change_alert(
        ctx, principal, alert_id, action="ack.alert", decide=lambda a: acknowledge(a, by=principal.user_id, at=at)
    )


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut, summary="Resolve an alert by hand, saying why")
async def resolve_alert(alert_id: RowId, body: ResolveAlertIn, ctx: Ctx, principal: Clinician) -> AlertOut:
    at = ctx.clock()
    return await _change_alert(
        ctx, principal, alert_id, action="resolve.alert",
        decide=lambda a: resolve(a, by=principal.user_id, at=at, reason=body.reason),
    )  # fmt: skip


async def _change_alert(
    ctx: ApiContext, principal: Principal, alert_id: int, *, action: str, decide: DueAlertDecision
) -> AlertOut:
    """Acknowledge or resolve: audited as `action` once made, as `denied.<action>` naming the patient and the reason
    when the alert's state refuses it (409), announced to the ward's pages."""
    alert, site_id, grant = await authorised_alert(ctx, principal, alert_id, action=action, audited=False)
    detail = f"patient {alert.patient_id}"
    async with audited_change(ctx, principal, action, str(alert_id), detail, patient_id=alert.patient_id, grant=grant):
        try:
            change = await ctx.store.update_alert_by_id(alert_id, decide)
        except (AlertAlreadyAcknowledged, AlertAlreadyResolved) as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    await announce_alert(ctx, site_id, change.alert, phase=change.phase)
    return AlertOut.of(change.alert)


@router.get(
    "/alerts/{alert_id}/history", response_model=list[AlertTransitionOut], summary="Every transition of an alert"
)
async def alert_history(alert_id: RowId, ctx: Ctx, principal: Clinician) -> list[AlertTransitionOut]:
    await authorised_alert(ctx, principal, alert_id, action="read.alert_history")
    history = await ctx.store.alert_history(alert_id)
    return [AlertTransitionOut.of(t) for t in history]
