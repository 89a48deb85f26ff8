"""REST: a home patient's measurement plan, and the programme's worklist (claim, notes, close with an outcome).

What raises items: alerts/plans.py; docs/HOME_AND_TEAMS.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from alerts.plans import InvalidPlan, first_timers, validate_plan
from alerts.triage import colours_at_the_time, escalation_severity
from alerts.vkp_fhir import worklist_bundle
from core.errors import Conflict, NotFound
from core.homecare import MeasurementPlan, WorklistItem, WorklistKind, WorklistState
from core.types import Alert, AlertKind, AlertPhase, AlertState, Reading, Role
from dashboard_api.access import (
    ApiContext,
    Ctx,
    announce_alert,
    audit,
    audit_patients,
    authorised_patient,
    site_grant,
)
from dashboard_api.auth import CLINICAL_ROLES, Principal, require_roles
from dashboard_api.change_audit import audited_change
from dashboard_api.schemas_homecare import (
    AssignIn,
    CloseIn,
    EscalateIn,
    NoteIn,
    PlanIn,
    PlanOut,
    WorklistEventOut,
    WorklistItemDetailOut,
    WorklistItemOut,
)

__all__ = ["TRUNCATED_HEADER", "WORKLIST_MAX", "router", "worklist_page"]

logger = logging.getLogger(__name__)

router = APIRouter()

Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]
# An escalated alert's message: the item's summary and the coordinator's reason, as a pager shows it.
_MESSAGE_MAX = 500
# Items on one read of the worklist (REST and the live list): more than a coordinator works through in a shift, and
# 500 patients' items are read and ordered in 12-17 ms (p50, bench/bench_worklist.py). The most urgent are
# read first, so a cut list leaves out the least urgent and oldest, and says it was cut.
WORKLIST_MAX = 500
TRUNCATED_HEADER = "X-Truncated"


@router.get("/patients/{patient_id}/measurement-plan", response_model=PlanOut, summary="The plan in force")
async def get_plan(patient_id: str, ctx: Ctx, principal: Clinician) -> PlanOut:
    await authorised_patient(ctx, principal, patient_id, action="read.plan")
    plan = await ctx.store.measurement_plan(patient_id)
    if plan is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Patient {patient_id} has no measurement plan")
    return PlanOut.of(plan)


@router.put("/patients/{patient_id}/measurement-plan", response_model=PlanOut, summary="Set the plan (replaces it)")
async def set_plan(patient_id: str, body: PlanIn, ctx: Ctx, principal: Clinician) -> PlanOut:
    """The newest plan is in force; earlier ones stay as history. Its windows are checked from now on."""
    now = ctx.clock()
    plan = MeasurementPlan(
        patient_id, body.timezone, tuple(i.to_item() for i in body.items), body.inactive_after_h,
        principal.user_id, now,
    )  # fmt: skip
    try:  # before the access check, which audits the write: a plan refused as it stands touches no patient data
        validate_plan(plan)
    except InvalidPlan as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{exc.field_name}: {exc.reason}") from None
    await authorised_patient(ctx, principal, patient_id, action="write.plan")
    last = await _last_reading_at(ctx, patient_id)
    await ctx.store.set_measurement_plan(plan, first_timers(plan, now=now, last_reading_at=last))
    logger.info("Measurement plan of patient %s set by %s: %d items", patient_id, principal.user_id, len(plan.items))
    return PlanOut.of(plan)


async def _last_reading_at(ctx: Ctx, patient_id: str) -> datetime | None:
    latest = (await ctx.store.latest_values([patient_id])).get(patient_id, {})
    return max((value.measured_at for value in latest.values()), default=None)


async def worklist_page(
    ctx: ApiContext, site_id: str, states: Sequence[WorklistState]
) -> tuple[list[WorklistItem], bool]:
    """The first WORKLIST_MAX items in the store's order, and whether there were more."""
    items = await ctx.store.worklist(site_id, states=states, limit=WORKLIST_MAX + 1)
    return items[:WORKLIST_MAX], len(items) > WORKLIST_MAX


@router.get(
    "/sites/{site_id}/worklist",
    response_model=list[WorklistItemOut],
    summary="A programme's worklist",
    responses={200: {"headers": {TRUNCATED_HEADER: {
        "description": f"`true` when more than {WORKLIST_MAX} items matched: the least urgent and oldest (the "
        "earliest closed) are left out", "schema": {"type": "string", "enum": ["true", "false"]},
    }}}},
)  # fmt: skip
async def get_worklist(
    site_id: str,
    ctx: Ctx,
    principal: Clinician,
    response: Response,
    state: Annotated[list[WorklistState] | None, Query(description="open and claimed unless given")] = None,
) -> list[WorklistItemOut]:
    """Items by urgency (triage colour; an inactive patient between orange and yellow, a missed measurement between
    yellow and green), then the oldest first; closed ones alone (`?state=closed`) the newest closed first. At most
    WORKLIST_MAX, chosen in that order: `X-Truncated: true` when more matched."""
    if not principal.may_see(site_id):
        await audit(ctx, principal, "denied.read.worklist", site_id, grant="")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Site {site_id} not found")
    states = state or [WorklistState.OPEN, WorklistState.CLAIMED]
    items, truncated = await worklist_page(ctx, site_id, states)
    response.headers[TRUNCATED_HEADER] = "true" if truncated else "false"
    grant = site_grant(site_id)
    await audit_patients(ctx, principal, "read.worklist", site_id, {i.patient_id: grant for i in items})
    return [WorklistItemOut.of(item) for item in items]


async def _authorised_item(
    ctx: Ctx, principal: Principal, item_id: str, *, action: str, audited: bool = True
) -> WorklistItem:
    """The item, when the principal serves its programme (the site it belongs to, as for the programme's list,
    whatever stay its patient has now); 404 alike for unknown and not theirs, audited as refused. Audits `action`
    naming the patient unless the caller will (`audited=False`: after a change that may be refused)."""
    try:
        item, _ = await ctx.store.worklist_item(item_id)
    except NotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Worklist item {item_id} not found") from None
    if not principal.may_see(item.site_id):
        await audit(ctx, principal, f"denied.{action}", item_id, f"programme {item.site_id}",
                    patient_id=item.patient_id, grant="")  # fmt: skip
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Worklist item {item_id} not found")
    if audited:
        await audit(ctx, principal, action, item_id, f"programme {item.site_id}", patient_id=item.patient_id,
                    grant=site_grant(item.site_id))  # fmt: skip
    return item


def _audited_change(
    ctx: Ctx, principal: Principal, item: WorklistItem, *, action: str
) -> AbstractAsyncContextManager[None]:
    detail, grant = f"programme {item.site_id}", site_grant(item.site_id)
    return audited_change(ctx, principal, action, item.item_id, detail, patient_id=item.patient_id, grant=grant)


@router.get("/worklist/{item_id}", response_model=WorklistItemDetailOut, summary="An item and its history")
async def get_item(item_id: str, ctx: Ctx, principal: Clinician) -> WorklistItemDetailOut:
    await _authorised_item(ctx, principal, item_id, action="read.worklist_item")
    item, history = await ctx.store.worklist_item(item_id)
    return WorklistItemDetailOut(item=WorklistItemOut.of(item), history=[WorklistEventOut.of(e) for e in history])


@router.get(
    "/worklist/{item_id}/fhir",
    summary="The item as a FHIR R4 Bundle (VKP DetectedIssue and its observations) for the patient's record",
    response_class=JSONResponse,
)
async def export_item(item_id: str, ctx: Ctx, principal: Clinician) -> JSONResponse:
    item = await _authorised_item(ctx, principal, item_id, action="export.worklist_item")
    _, history = await ctx.store.worklist_item(item_id)
    readings: list[Reading] = list(item.implicated)  # a threshold breach's readings
    if item.window_opens_at is not None and item.window_closes_at is not None:  # what did arrive in the window
        readings = await ctx.store.readings(item.patient_id, since=item.window_opens_at, until=item.window_closes_at)
    colours = colours_at_the_time(readings, await ctx.store.threshold_history(item.patient_id))
    return JSONResponse(worklist_bundle(item, history, readings, colours), media_type="application/fhir+json")


@router.post("/worklist/{item_id}/claim", response_model=WorklistItemOut, summary="Take ownership of an item")
async def claim_item(item_id: str, ctx: Ctx, principal: Clinician) -> WorklistItemOut:
    item = await _authorised_item(ctx, principal, item_id, action="claim.worklist_item", audited=False)
    async with _audited_change(ctx, principal, item, action="claim.worklist_item"):
        claimed = await _update(ctx, item_id, actor=principal.user_id, action="claimed")
    return claimed


@router.post("/worklist/{item_id}/notes", response_model=WorklistItemOut, summary="Add a note to an item's history")
async def note_item(item_id: str, body: NoteIn, ctx: Ctx, principal: Clinician) -> WorklistItemOut:
    item = await _authorised_item(ctx, principal, item_id, action="note.worklist_item", audited=False)
    async with _audited_change(ctx, principal, item, action="note.worklist_item"):
        noted = await _update(ctx, item_id, actor=principal.user_id, action="note", text=body.text.strip())
    return noted


@router.post("/worklist/{item_id}/close", response_model=WorklistItemOut, summary="Close with an outcome and comment")
async def close_item(item_id: str, body: CloseIn, ctx: Ctx, principal: Clinician) -> WorklistItemOut:
    """An escalated item's `worklist_escalation` alert is resolved with it (the coordinator's follow-up is done); an
    alert item's alert is left to its own lifecycle."""
    item = await _authorised_item(ctx, principal, item_id, action="close.worklist_item", audited=False)
    async with _audited_change(ctx, principal, item, action="close.worklist_item"):
        try:
            closed, last_on_alert = await ctx.store.close_worklist_item(
                item_id, actor=principal.user_id, at=ctx.clock(), outcome=body.outcome, comment=body.comment.strip()
            )
        except Conflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, _conflict_detail(exc)) from None
    if last_on_alert and closed.kind is not WorklistKind.ALERT:
        await _resolve_escalation(ctx, closed, by=principal.user_id, reason=f"worklist item closed: {body.outcome}")
    return WorklistItemOut.of(closed)


async def _resolve_escalation(ctx: Ctx, item: WorklistItem, *, by: str, reason: str) -> None:
    """Resolve the item's escalation alert: the store said no other item not closed holds it (a joint escalation
    of two items of the patient runs until the last of them is followed up)."""
    assert item.alert_id is not None
    alert = await ctx.store.get_alert(item.alert_id)
    if alert.kind is AlertKind.WORKLIST_ESCALATION and alert.state is not AlertState.RESOLVED:
        resolved = await ctx.store.resolve_alert(alert.alert_id, at=ctx.clock(), by=by, reason=reason)
        await _announce(ctx, resolved, phase=AlertPhase.RESOLVED)


async def _announce(ctx: Ctx, alert: Alert, *, phase: AlertPhase | None) -> None:
    """To the pages of the ward the alert is in, under that ward's site: not the item's programme, whose patient may
    lie in another site's ward by now (an alert of no ward is on no ward's pages)."""
    if alert.ward_id is not None:
        await announce_alert(ctx, (await ctx.store.get_ward(alert.ward_id)).site_id, alert, phase=phase)


@router.post("/worklist/{item_id}/assign", response_model=WorklistItemOut, summary="Assign to a programme coordinator")
async def assign_item(item_id: str, body: AssignIn, ctx: Ctx, principal: Clinician) -> WorklistItemOut:
    item = await _authorised_item(ctx, principal, item_id, action="assign.worklist_item", audited=False)
    async with _audited_change(ctx, principal, item, action="assign.worklist_item"):
        assignee = await ctx.store.get_user(body.assignee)
        serves = assignee is not None and (item.site_id in assignee.site_ids or "*" in assignee.site_ids)
        if assignee is None or not assignee.enabled or Role.COORDINATOR not in assignee.roles or not serves:
            detail = f"assignee: {body.assignee} is not a coordinator of programme {item.site_id}"
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
        assigned = await _update(ctx, item_id, actor=principal.user_id, action="assigned", text=body.assignee)
    return assigned


@router.post(
    "/worklist/{item_id}/escalate", response_model=WorklistItemOut, summary="Escalate into the alert escalation"
)
async def escalate_item(item_id: str, body: EscalateIn, ctx: Ctx, principal: Clinician) -> WorklistItemOut:
    """The item becomes an alert of the patient (`worklist_escalation`, its priority from the item's colour) in the
    ward of their current stay, or joins the one already open, which goes through the escalation chain of that ward's
    site (the programme's, unless the patient has moved; docs/ALERTS.md) and is announced there."""
    item = await _authorised_item(ctx, principal, item_id, action="escalate.worklist_item", audited=False)
    async with _audited_change(ctx, principal, item, action="escalate.worklist_item"):
        escalated = await _escalate(ctx, principal, item, reason=body.reason.strip())
    return escalated


async def _escalate(ctx: Ctx, principal: Principal, item: WorklistItem, *, reason: str) -> WorklistItemOut:
    if item.kind is WorklistKind.ALERT:
        detail = f"Worklist item {item.item_id} is alert {item.alert_id}, already in its escalation chain"
        raise HTTPException(status.HTTP_409_CONFLICT, detail)
    if item.state is WorklistState.CLOSED:
        raise HTTPException(status.HTTP_409_CONFLICT, f"Worklist item {item.item_id} is closed: it cannot be escalated")
    now = ctx.clock()
    stay = (await ctx.store.stays_of_patients([item.patient_id], at=now)).get(item.patient_id)
    message = f"Escalated from the worklist by {principal.user_id}: {item.summary}. {reason}"
    change = await ctx.store.raise_alert(
        patient_id=item.patient_id, device_id=None, ward_id=stay.ward_id if stay else None,
        kind=AlertKind.WORKLIST_ESCALATION, severity=escalation_severity(item), message=message[:_MESSAGE_MAX], at=now,
    )  # fmt: skip
    if change.changed:
        await _announce(ctx, change.alert, phase=change.phase)
    logger.info(
        "Worklist item %s escalated by %s into alert %s", item.item_id, principal.user_id, change.alert.alert_id
    )
    text = f"alert {change.alert.alert_id} ({change.alert.priority.value} priority): {reason}"
    return await _update(
        ctx, item.item_id, actor=principal.user_id, action="escalated", text=text, alert_id=change.alert.alert_id
    )


async def _update(
    ctx: Ctx,
    item_id: str,
    *,
    actor: str,
    action: str,
    text: str = "",
    outcome: str | None = None,
    alert_id: int | None = None,
) -> WorklistItemOut:
    try:
        item = await ctx.store.update_worklist_item(
            item_id, actor=actor, action=action, at=ctx.clock(), text=text, outcome=outcome, alert_id=alert_id
        )
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, _conflict_detail(exc)) from None
    return WorklistItemOut.of(item)


def _conflict_detail(exc: Conflict) -> str:
    """The store's reason as the answer: "Worklist item x is closed (...)" or "... is claimed by coord.a; ..."."""
    return exc.reason[:1].upper() + exc.reason[1:]
