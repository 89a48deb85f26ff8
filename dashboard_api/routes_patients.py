"""REST: a patient's details, vitals, scores, history; manual charting and the SpO2 scale decision."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from core.events import RescoreRequest
from core.topics import rescore_topic
from core.types import Consciousness, Parameter, Reading, Role, SpO2Scale, SpO2ScaleDecision
from dashboard_api.access import ApiContext, Ctx, audit, authorised_patient, patient_access, publish_or_warn
from dashboard_api.auth import CLINICAL_ROLES, Principal, require_roles
from dashboard_api.bodies import ManualObservationIn, SpO2ScaleIn
from dashboard_api.schemas import (
    CareTeamMemberOut,
    ManualObservationOut,
    ObservationsOut,
    PatientOut,
    PatientScoresOut,
    ReadingOut,
    RiskOut,
    ScoreOut,
    SpO2ScaleOut,
    StayOut,
    VitalOut,
    VitalsOut,
)
from dashboard_api.windows import history_window

__all__ = ["MANUAL_DEVICE_PREFIX", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/patients/{patient_id}")

Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]
Charting = Annotated[Principal, Depends(require_roles(Role.NURSE, Role.DOCTOR))]
# Scale 2 is a prescription for confirmed hypercapnic respiratory failure (NEWS2.md): a doctor's decision.
ScaleSetter = Annotated[Principal, Depends(require_roles(Role.DOCTOR, Role.SPECIALIST))]

# History is for charts and audits, not exports (the window: dashboard_api/windows.py).
MAX_HISTORY_ROWS = 10_000
# A nurse may chart what she saw earlier in the shift, but not tomorrow; devices get the same future tolerance.
MANUAL_MAX_PAST = timedelta(hours=24)
MANUAL_MAX_FUTURE = timedelta(minutes=2)
MANUAL_DEVICE_PREFIX = "manual:"  # manual readings carry "manual:<user id>" as their device: who charted it
_CHART = "write.observation"


@router.get("", response_model=PatientOut, summary="Details, current stay, care team and SpO2 scale")
async def get_patient(patient_id: str, ctx: Ctx, principal: Clinician) -> PatientOut:
    stay = await authorised_patient(ctx, principal, patient_id, action="read.patient")
    patient = await ctx.store.get_patient(patient_id)
    team = await ctx.store.list_care_team(patient_id, at=ctx.clock())
    scale = await ctx.store.get_spo2_scale(patient_id)
    return PatientOut(
        patient_id=patient.patient_id,
        display_name=patient.display_name,
        birth_year=patient.birth_year,
        stay=StayOut.of(stay),
        care_team=[CareTeamMemberOut.of(m) for m in team],
        spo2_scale=SpO2ScaleOut.of(scale) if scale else None,
    )


@router.get("/vitals", response_model=VitalsOut, summary="Latest value of each parameter, with its age")
async def get_vitals(patient_id: str, ctx: Ctx, principal: Clinician) -> VitalsOut:
    await authorised_patient(ctx, principal, patient_id, action="read.vitals")
    at = ctx.clock()
    latest = (await ctx.store.latest_values([patient_id])).get(patient_id, {})
    return VitalsOut(patient_id=patient_id, at=at, values=[VitalOut.of(v, at=at) for v in latest.values()])


@router.get("/scores", response_model=PatientScoresOut, summary="Current NEWS2 and ML deterioration risk")
async def get_scores(patient_id: str, ctx: Ctx, principal: Clinician) -> PatientScoresOut:
    await authorised_patient(ctx, principal, patient_id, action="read.scores")
    score = (await ctx.store.current_scores([patient_id])).get(patient_id)
    risk = (await ctx.store.current_risks([patient_id])).get(patient_id)
    return PatientScoresOut(
        patient_id=patient_id,
        news2=ScoreOut.of(score) if score else None,
        risk=RiskOut.of(risk) if risk else None,
    )


@router.get("/observations", response_model=ObservationsOut, summary="Observation history, oldest first")
async def get_observations(
    patient_id: str,
    ctx: Ctx,
    principal: Clinician,
    since: datetime | None = None,
    until: datetime | None = None,
    parameter: Annotated[list[Parameter] | None, Query(description="Repeat for several; default all")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_ROWS)] = 1000,
) -> ObservationsOut:
    since, until = history_window(since, until, now=ctx.clock())
    await authorised_patient(ctx, principal, patient_id, action="read.observations")
    readings = await ctx.store.readings(patient_id, since=since, until=until, parameters=parameter, limit=limit + 1)
    return ObservationsOut(
        patient_id=patient_id,
        since=since,
        until=until,
        readings=[ReadingOut.of(r) for r in readings[:limit]],
        truncated=len(readings) > limit,
    )


@router.post(
    "/observations",
    response_model=ManualObservationOut,
    status_code=status.HTTP_201_CREATED,
    summary="Chart consciousness (ACVPU) and supplemental oxygen by hand; the patient is re-scored",
)
async def chart_observation(
    patient_id: str, body: ManualObservationIn, ctx: Ctx, principal: Charting
) -> ManualObservationOut:
    now = ctx.clock()
    measured_at = body.measured_at or now
    if not now - MANUAL_MAX_PAST <= measured_at <= now + MANUAL_MAX_FUTURE:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "measured_at must be within the last 24 hours and not in the future"
        )
    _, grant = await patient_access(ctx, principal, patient_id, action=_CHART)  # the write is audited below
    values: list[tuple[Parameter, float]] = []
    if body.consciousness is not None:
        values.append((Parameter.CONSCIOUSNESS, float(Consciousness.from_letter(body.consciousness))))
    if body.supplemental_o2 is not None:
        values.append((Parameter.SUPPLEMENTAL_O2, 1.0 if body.supplemental_o2 else 0.0))
    readings = [
        Reading(
            device_id=f"{MANUAL_DEVICE_PREFIX}{principal.user_id}",
            patient_id=patient_id,
            parameter=parameter,
            value=value,
            measured_at=measured_at,
            received_at=now,
        )
        for parameter, value in values
    ]
    result = await ctx.store.append(readings, [])
    if result.stored:
        await audit(ctx, principal, _CHART, patient_id, patient_id=patient_id, grant=grant)
    if result.duplicates:
        charted = f"You already charted this at {measured_at.isoformat()}"
        if not result.stored:  # nothing written: the attempt is a refused write
            await audit(ctx, principal, f"denied.{_CHART}", patient_id, charted, patient_id=patient_id, grant="")
        raise HTTPException(status.HTTP_409_CONFLICT, charted)
    return ManualObservationOut(
        patient_id=patient_id,
        stored=result.stored,
        readings=[ReadingOut.of(r) for r in readings],
        rescore_requested=await _request_rescore(ctx, patient_id),
    )


@router.put("/spo2-scale", response_model=SpO2ScaleOut, summary="Prescribe SpO2 scale 1 or 2 (doctor, specialist)")
async def set_spo2_scale(patient_id: str, body: SpO2ScaleIn, ctx: Ctx, principal: ScaleSetter) -> SpO2ScaleOut:
    await authorised_patient(ctx, principal, patient_id, action="write.spo2_scale")
    decision = SpO2ScaleDecision(
        patient_id=patient_id, scale=SpO2Scale(body.scale), set_by=principal.user_id, set_at=ctx.clock()
    )
    await ctx.store.set_spo2_scale(decision)
    await _request_rescore(ctx, patient_id)
    return SpO2ScaleOut.of(decision)


async def _request_rescore(ctx: ApiContext, patient_id: str) -> bool:
    """Ingest owns scoring: ask it over the broker. False when the broker did not take the request."""
    payload = RescoreRequest(patient_ids=[patient_id]).model_dump_json().encode()
    return await publish_or_warn(ctx, rescore_topic(ctx.topic_root), payload, what=f"rescore of patient {patient_id}")
