"""REST: a patient's own limits (e.g. SpO2 88-92 % for COPD), set by a doctor or specialist, and their history.

How the rules use them: alerts/limits.py and docs/ALERTS.md ("Per-patient limits").
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends

from core.events import RescoreRequest
from core.topics import rescore_topic
from core.types import PatientLimit, Role
from dashboard_api.access import Ctx, authorised_patient, publish_or_warn
from dashboard_api.auth import CLINICAL_ROLES, Principal, require_roles
from dashboard_api.schemas_limits import LimitOut, LimitsIn, LimitsOut

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/patients/{patient_id}/limits")

Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]
# Limits change which alerts a nurse hears: a prescription, like SpO2 scale 2, by a doctor or the specialist.
LimitSetter = Annotated[Principal, Depends(require_roles(Role.DOCTOR, Role.SPECIALIST))]


@router.get("", response_model=LimitsOut, summary="The patient's own limits in force")
async def get_limits(patient_id: str, ctx: Ctx, principal: Clinician) -> LimitsOut:
    await authorised_patient(ctx, principal, patient_id, action="read.limits")
    limits = (await ctx.store.patient_limits([patient_id])).get(patient_id, ())
    return LimitsOut(patient_id=patient_id, limits=[LimitOut.of(limit) for limit in limits])


@router.get("/history", response_model=list[LimitOut], summary="Every change of the patient's limits, oldest first")
async def get_limit_history(patient_id: str, ctx: Ctx, principal: Clinician) -> list[LimitOut]:
    await authorised_patient(ctx, principal, patient_id, action="read.limits")
    return [LimitOut.of(limit) for limit in await ctx.store.patient_limit_history(patient_id)]


@router.put("", response_model=LimitsOut, summary="Set or clear limits (doctor, specialist); a reason is required")
async def set_limits(patient_id: str, body: LimitsIn, ctx: Ctx, principal: LimitSetter) -> LimitsOut:
    """Each named parameter gets the given limits (both null: cleared); parameters not named keep theirs."""
    await authorised_patient(ctx, principal, patient_id, action="write.limits")
    at = ctx.clock()
    changes = [
        PatientLimit(patient_id, item.parameter, item.low, item.high, item.reason.strip(), principal.user_id, at)
        for item in body.limits
    ]
    await ctx.store.set_patient_limits(changes)
    logger.info("Limits of patient %s changed by %s: %s", patient_id, principal.user_id, _summary(changes))
    # Ingest caches each patient's limits for a minute: the rescore request makes it read them now.
    payload = RescoreRequest(patient_ids=[patient_id]).model_dump_json().encode()
    await publish_or_warn(ctx, rescore_topic(ctx.topic_root), payload, what=f"rescore of patient {patient_id}")
    limits = (await ctx.store.patient_limits([patient_id])).get(patient_id, ())
    return LimitsOut(patient_id=patient_id, limits=[LimitOut.of(limit) for limit in limits])


def _summary(changes: list[PatientLimit]) -> str:
    return ", ".join(
        f"{c.parameter.value} cleared" if c.cleared else f"{c.parameter.value} {c.low}-{c.high}" for c in changes
    )
