"""REST: a patient's care flags (opioid agonist treatment, withdrawal management, other opioids), set and cleared by
a clinician with a reason, kept as history; an opioid flag turns on the respiratory-depression watch."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from core.care_flags import CareFlag, CareFlagChange
from core.events import RescoreRequest
from core.topics import rescore_topic
from core.types import Role
from dashboard_api.access import Ctx, authorised_patient, publish_or_warn
from dashboard_api.auth import CLINICAL_ROLES, Principal, require_roles

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/patients/{patient_id}/care-flags")

Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]
# Who records them: the unit's nurses and doctors and the specialist (a coordinator reads them).
FlagSetter = Annotated[Principal, Depends(require_roles(Role.NURSE, Role.DOCTOR, Role.SPECIALIST))]


class FlagIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    flag: CareFlag
    active: bool = Field(description="true sets the flag, false clears it")
    reason: str = Field(min_length=3, max_length=500, description="Why: kept with who and when.")


class FlagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    changes: list[FlagIn] = Field(min_length=1, max_length=len(CareFlag))


class FlagChangeOut(BaseModel):
    flag: str
    active: bool
    reason: str
    set_by: str
    set_at: datetime


class FlagsOut(BaseModel):
    patient_id: str
    flags: list[str]  # in force now
    history: list[FlagChangeOut]


async def _flags_out(ctx: Ctx, patient_id: str) -> FlagsOut:
    current = (await ctx.store.care_flags([patient_id])).get(patient_id, frozenset())
    history = [
        FlagChangeOut(flag=c.flag.value, active=c.active, reason=c.reason, set_by=c.set_by, set_at=c.set_at)
        for c in await ctx.store.care_flag_history(patient_id)
    ]
    return FlagsOut(patient_id=patient_id, flags=sorted(f.value for f in current), history=history)


@router.get("", response_model=FlagsOut, summary="The patient's care flags in force, and every change")
async def get_flags(patient_id: str, ctx: Ctx, principal: Clinician) -> FlagsOut:
    await authorised_patient(ctx, principal, patient_id, action="read.care_flags")
    return await _flags_out(ctx, patient_id)


@router.put("", response_model=FlagsOut, summary="Set or clear care flags (nurse, doctor, specialist; a reason each)")
async def set_flags(patient_id: str, body: FlagsIn, ctx: Ctx, principal: FlagSetter) -> FlagsOut:
    await authorised_patient(ctx, principal, patient_id, action="write.care_flags")
    at = ctx.clock()
    changes = [
        CareFlagChange(patient_id, c.flag, c.active, c.reason.strip(), principal.user_id, at) for c in body.changes
    ]
    await ctx.store.set_care_flags(changes)
    logger.info("Care flags of patient %s changed by %s", patient_id, principal.user_id)
    # Ingest caches each patient's flags for a minute: the rescore request makes it read them now.
    payload = RescoreRequest(patient_ids=[patient_id]).model_dump_json().encode()
    await publish_or_warn(ctx, rescore_topic(ctx.topic_root), payload, what=f"rescore of patient {patient_id}")
    return await _flags_out(ctx, patient_id)
