"""Administration of patients and their stays for role admin: create, change, read (with the national identity
number, audited), admit, transfer, discharge, enrol at home, end home follow-up, and the stay history.

An admin token for some sites manages the patients whose newest stay is at one of them, and patients not yet placed
anywhere; other patients answer like unknown ones (404). The national identity number travels only in bodies,
never in a URL, an audit row or a log line. Every stay change is announced, as a `stay` event, on the live stream
of each ward it touched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status

from core.administration import StayChange, new_stay_id
from core.errors import NotFound
from core.events import StayChangeKind
from core.types import AlertPhase, AlertState, Patient, Stay
from dashboard_api.access import ApiContext, Ctx, announce_alert, announce_stay, audit
from dashboard_api.auth import Principal
from dashboard_api.routes_admin import Admin, admin_errors, out_of_scope, visible_bed, visible_ward
from dashboard_api.schemas_admin import (
    AdmitIn,
    EnrolIn,
    PatientAdminOut,
    PatientChangeIn,
    PatientIn,
    StayChangeOut,
    StayHistoryOut,
    TransferIn,
)

__all__ = ["router"]

router = APIRouter(prefix="/admin/patients", tags=["administration"])


async def _visible_patient(ctx: ApiContext, principal: Principal, patient_id: str) -> tuple[Patient, list[Stay]]:
    """The patient and their stays, oldest first; 404 naming patient_id when unknown or another site's."""
    try:
        patient = await ctx.store.get_patient(patient_id)
    except NotFound:
        raise out_of_scope("patient_id", "patient", patient_id) from None
    history = await ctx.store.stay_history(patient_id)
    if history and not principal.all_sites:
        ward = await ctx.store.get_ward(history[-1].ward_id)
        if not principal.may_see(ward.site_id):
            await audit(
                ctx,
                principal,
                "denied.admin.patient",
                patient_id,
                f"site {ward.site_id}",
                patient_id=patient_id,
                grant="",
            )
            raise out_of_scope("patient_id", "patient", patient_id)
    return patient, history


def _current(history: list[Stay]) -> Stay | None:
    return next((stay for stay in reversed(history) if stay.end_at is None), None)


def _when(ctx: ApiContext, at: datetime | None) -> datetime:
    now = ctx.clock()
    if at is not None and at > now:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"at: {at.isoformat()} is in the future")
    return now if at is None else at


@router.post("", response_model=PatientAdminOut, status_code=status.HTTP_201_CREATED, summary="Register a patient")
async def create_patient(body: PatientIn, ctx: Ctx, principal: Admin) -> PatientAdminOut:
    number = body.number
    patient = Patient(body.patient_id, body.display_name, body.birth_year)
    with admin_errors():
        await ctx.store.create_patient(patient, national_id=number, at=ctx.clock(), by=principal.user_id)
    detail = "national id recorded" if number is not None else "no national id"
    await audit(ctx, principal, "admin.create.patient", patient.patient_id, detail, patient_id=patient.patient_id)
    return PatientAdminOut.of(patient, national_id=number, current=None)


@router.get("/{patient_id}", response_model=PatientAdminOut, summary="A patient, with the national identity number")
async def read_patient(patient_id: str, ctx: Ctx, principal: Admin) -> PatientAdminOut:
    patient, history = await _visible_patient(ctx, principal, patient_id)
    number = await ctx.store.national_id_of(patient_id)
    shown = "national id shown" if number else ""
    await audit(ctx, principal, "admin.read.patient", patient_id, shown, patient_id=patient_id)
    return PatientAdminOut.of(patient, national_id=number, current=_current(history))


@router.patch("/{patient_id}", response_model=PatientAdminOut, summary="Change a patient's name, year or number")
async def change_patient(patient_id: str, body: PatientChangeIn, ctx: Ctx, principal: Admin) -> PatientAdminOut:
    _, history = await _visible_patient(ctx, principal, patient_id)
    sent = body.model_fields_set
    changes: dict[str, Any] = {"birth_year": body.birth_year} if "birth_year" in sent else {}
    if "national_id" in sent:
        changes["national_id"] = body.number
    with admin_errors():
        patient = await ctx.store.change_patient(
            patient_id, display_name=body.display_name, at=ctx.clock(), by=principal.user_id, **changes
        )
    changed = sorted(name for name in sent if name != "national_id") + (
        ["national id"] if "national_id" in sent else []
    )
    await audit(
        ctx, principal, "admin.change.patient", patient_id, "changed: " + ", ".join(changed), patient_id=patient_id
    )
    return PatientAdminOut.of(
        patient, national_id=await ctx.store.national_id_of(patient_id), current=_current(history)
    )


@router.get("/{patient_id}/stays", response_model=list[StayHistoryOut], summary="Every stay of a patient, oldest first")
async def stay_history(patient_id: str, ctx: Ctx, principal: Admin) -> list[StayHistoryOut]:
    _, history = await _visible_patient(ctx, principal, patient_id)
    await audit(ctx, principal, "admin.read.stays", patient_id, patient_id=patient_id)
    return [StayHistoryOut.of(stay) for stay in history]


async def _stay_change(
    ctx: ApiContext,
    principal: Principal,
    patient_id: str,
    action: str,
    change: Callable[[], Awaitable[StayChange]],
) -> StayChangeOut:
    with admin_errors():
        done = await change()
    where = done.started or done.ended
    assert where is not None
    place = f"bed {where.bed_id}" if where.bed_id else f"ward {where.ward_id}"
    await audit(ctx, principal, f"admin.{action}", patient_id, f"{place} stay {where.stay_id}", patient_id=patient_id)
    site_of = _sites(ctx)
    await _announce_alerts(ctx, done, site_of)
    await _announce_stays(ctx, done, site_of)
    return StayChangeOut.of(done)


def _sites(ctx: ApiContext) -> Callable[[str], Awaitable[str]]:
    """The site of a ward, read once per stay change."""
    sites: dict[str, str] = {}

    async def site_of(ward_id: str) -> str:
        if ward_id not in sites:
            sites[ward_id] = (await ctx.store.get_ward(ward_id)).site_id
        return sites[ward_id]

    return site_of


async def _announce_stays(ctx: ApiContext, done: StayChange, site_of: Callable[[str], Awaitable[str]]) -> None:
    """Each ward the change touched hears of it (a transfer: the ward left and the ward entered, one event each), so
    its screens show the bed emptied or taken at once, alerts or none (ward.js takes a fresh snapshot)."""
    moved = done.ended is not None and done.started is not None
    if done.ended is not None:
        left = StayChangeKind.TRANSFERRED_OUT if moved else StayChangeKind.DISCHARGED
        await announce_stay(ctx, await site_of(done.ended.ward_id), done.ended, left)
    if done.started is not None:
        came = StayChangeKind.TRANSFERRED_IN if moved else StayChangeKind.ADMITTED
        await announce_stay(ctx, await site_of(done.started.ward_id), done.started, came)


async def _announce_alerts(ctx: ApiContext, done: StayChange, site_of: Callable[[str], Awaitable[str]]) -> None:
    """The ward screens hear of the patient's alerts the change resolved (their alarms stop) or moved: a moved one
    is told to the ward it left too, whose screens then take a fresh snapshot without the patient (ward.js)."""
    for alert in done.alerts:
        assert alert.ward_id is not None
        if alert.state is AlertState.RESOLVED:
            await announce_alert(ctx, await site_of(alert.ward_id), alert, phase=AlertPhase.RESOLVED)
            continue
        if done.ended is not None and done.ended.ward_id != alert.ward_id:
            left = done.ended.ward_id
            await announce_alert(ctx, await site_of(left), alert, phase=AlertPhase.TRANSFERRED, ward_id=left)
        await announce_alert(ctx, await site_of(alert.ward_id), alert, phase=AlertPhase.TRANSFERRED)


@router.post("/{patient_id}/admit", response_model=StayChangeOut, summary="Admit to a free bed")
async def admit(patient_id: str, body: AdmitIn, ctx: Ctx, principal: Admin) -> StayChangeOut:
    await _visible_patient(ctx, principal, patient_id)
    at = _when(ctx, body.at)
    await visible_bed(ctx, principal, body.bed_id)
    call = lambda: ctx.store.admit(patient_id=patient_id, bed_id=body.bed_id, stay_id=new_stay_id(), at=at)  # noqa: E731
    return await _stay_change(ctx, principal, patient_id, "admit", call)


@router.post("/{patient_id}/transfer", response_model=StayChangeOut, summary="Move to another free bed, any unit")
async def transfer(patient_id: str, body: TransferIn, ctx: Ctx, principal: Admin) -> StayChangeOut:
    await _visible_patient(ctx, principal, patient_id)
    await visible_bed(ctx, principal, body.bed_id)
    at = ctx.clock()
    call = lambda: ctx.store.transfer(patient_id=patient_id, bed_id=body.bed_id, stay_id=new_stay_id(), at=at)  # noqa: E731
    return await _stay_change(ctx, principal, patient_id, "transfer", call)


@router.post("/{patient_id}/discharge", response_model=StayChangeOut, summary="End the stay in a bed")
async def discharge(patient_id: str, ctx: Ctx, principal: Admin) -> StayChangeOut:
    await _visible_patient(ctx, principal, patient_id)
    at = ctx.clock()
    return await _stay_change(
        ctx, principal, patient_id, "discharge", lambda: ctx.store.discharge(patient_id=patient_id, at=at)
    )


@router.post("/{patient_id}/enrol", response_model=StayChangeOut, summary="Enrol in a home-monitoring programme")
async def enrol(patient_id: str, body: EnrolIn, ctx: Ctx, principal: Admin) -> StayChangeOut:
    await _visible_patient(ctx, principal, patient_id)
    await visible_ward(ctx, principal, body.ward_id)
    at = _when(ctx, body.at)
    call = lambda: ctx.store.enrol_home(patient_id=patient_id, ward_id=body.ward_id, stay_id=new_stay_id(), at=at)  # noqa: E731
    return await _stay_change(ctx, principal, patient_id, "enrol", call)


@router.post("/{patient_id}/end-home", response_model=StayChangeOut, summary="End home follow-up")
async def end_home(patient_id: str, ctx: Ctx, principal: Admin) -> StayChangeOut:
    await _visible_patient(ctx, principal, patient_id)
    at = ctx.clock()
    return await _stay_change(
        ctx, principal, patient_id, "end-home", lambda: ctx.store.end_home(patient_id=patient_id, at=at)
    )
