"""REST: a patient's personal thresholds (bands per measurement mapped to VKP triage colours), set by the
responsible clinician, with their history. How readings are triaged with them: alerts/triage.py."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from alerts.triage import InvalidThresholds, validate_thresholds
from core.events import RescoreRequest
from core.topics import rescore_topic
from core.types import Role
from dashboard_api.access import Ctx, audit, authorised_patient, publish_or_warn
from dashboard_api.auth import CLINICAL_ROLES, Principal, require_roles
from dashboard_api.schemas_thresholds import ThresholdsIn, ThresholdsOut

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/patients/{patient_id}/thresholds")

Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]
# The responsible clinician sets them (a nurse of the programme, the doctor, the specialist); coordinators triage
# with them and read them.
ThresholdSetter = Annotated[Principal, Depends(require_roles(Role.NURSE, Role.DOCTOR, Role.SPECIALIST))]


@router.get("", response_model=ThresholdsOut, summary="The patient's personal thresholds in force")
async def get_thresholds(patient_id: str, ctx: Ctx, principal: Clinician) -> ThresholdsOut:
    await authorised_patient(ctx, principal, patient_id, action="read.thresholds")
    current = (await ctx.store.thresholds([patient_id])).get(patient_id)
    if current is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Patient {patient_id} has no personal thresholds")
    return ThresholdsOut.of(current)


@router.get("/history", response_model=list[ThresholdsOut], summary="Every set the patient was given, oldest first")
async def get_threshold_history(patient_id: str, ctx: Ctx, principal: Clinician) -> list[ThresholdsOut]:
    await authorised_patient(ctx, principal, patient_id, action="read.thresholds")
    return [ThresholdsOut.of(t) for t in await ctx.store.threshold_history(patient_id)]


@router.put("", response_model=ThresholdsOut, summary="Set the patient's thresholds (replaces them; a reason required)")
async def set_thresholds(patient_id: str, body: ThresholdsIn, ctx: Ctx, principal: ThresholdSetter) -> ThresholdsOut:
    """The set given is in force from now (measurements not named have none; an empty list clears them all);
    earlier sets stay as history."""
    thresholds = body.to_domain(patient_id, set_by=principal.user_id, set_at=ctx.clock())
    try:  # before the access check, which audits the write as done
        validate_thresholds(thresholds)
    except InvalidThresholds as exc:
        why = f"{exc.field_name}: {exc.reason}"
        await audit(ctx, principal, "denied.write.thresholds", patient_id, why, patient_id=patient_id, grant="")
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, why) from None
    await authorised_patient(ctx, principal, patient_id, action="write.thresholds")
    await ctx.store.set_thresholds(thresholds)
    logger.info(
        "Thresholds of patient %s set by %s: %d measurements", patient_id, principal.user_id, len(body.thresholds)
    )
    # Ingest caches each patient's thresholds for a minute: the rescore request makes it read them now.
    payload = RescoreRequest(patient_ids=[patient_id]).model_dump_json().encode()
    await publish_or_warn(ctx, rescore_topic(ctx.topic_root), payload, what=f"rescore of patient {patient_id}")
    return ThresholdsOut.of(thresholds)
