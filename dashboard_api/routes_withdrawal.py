"""REST: withdrawal assessments (COWS, CIWA-Ar, AWS) a clinician enters item by item, their history with totals and
bands, and the items the patient's latest vitals propose; a rising score raises an alert (alerts/withdrawal.py)."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.withdrawal import ItemForm, decide_withdrawal_alert, new_assessment, proposal
from core.errors import InvalidAssessment
from core.types import Alert, Role
from core.withdrawal import WithdrawalAssessment, WithdrawalScale
from dashboard_api.access import Ctx, announce_alert, authorised_patient, patient_access
from dashboard_api.auth import CLINICAL_ROLES, Principal, require_roles
from dashboard_api.change_audit import audited_change

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/patients/{patient_id}/withdrawal-assessments")

Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]
# Who scores them: the unit's nurses, the doctor, the specialist (a coordinator reads them).
Assessor = Annotated[Principal, Depends(require_roles(Role.NURSE, Role.DOCTOR, Role.SPECIALIST))]
# An assessment may be charted a while after it was made, as an observation entered by hand may (routes_patients):
# within a day, never in the future (a minute's grace for clocks).
CHART_LATE_MAX = timedelta(hours=24)
CLOCK_GRACE = timedelta(minutes=1)
_WRITE = "write.withdrawal_assessment"


class AssessmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    scale: WithdrawalScale
    items: dict[Annotated[str, Field(max_length=40)], Annotated[int, Field(ge=0, le=7)]] = Field(
        min_length=1, max_length=20, description='Every item of the scale with its score, e.g. {"resting_pulse": 2}'
    )
    assessed_at: AwareDatetime | None = Field(default=None, description="When it was assessed (default: now)")
    proposed: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list, max_length=20, description="Items whose sensor proposal the clinician kept unchanged"
    )
    note: str = Field(default="", max_length=500)


class ItemOut(BaseModel):
    item: str
    score: int


class AlertOut(BaseModel):
    alert_id: int
    kind: str
    priority: str
    state: str
    message: str


class AssessmentOut(BaseModel):
    assessment_id: str
    patient_id: str
    scale: str
    items: list[ItemOut]
    total: int
    band: str  # none, mild, moderate, moderately severe, severe
    band_rank: int  # 0-4, the same ladder for every scale: a higher rank is worse
    assessed_at: datetime
    assessed_by: str
    recorded_at: datetime
    proposed: list[str]
    note: str

    @classmethod
    def of(cls, a: WithdrawalAssessment) -> AssessmentOut:
        return cls(
            assessment_id=a.assessment_id, patient_id=a.patient_id, scale=a.scale.value,
            items=[ItemOut(item=item, score=score) for item, score in a.items], total=a.total, band=a.band.word,
            band_rank=int(a.band), assessed_at=a.assessed_at, assessed_by=a.assessed_by, recorded_at=a.recorded_at,
            proposed=list(a.proposed), note=a.note,
        )  # fmt: skip


class RecordedOut(AssessmentOut):
    alert: AlertOut | None  # the withdrawal alert as this assessment left it (None: none was open or opened)


class HistoryOut(BaseModel):
    patient_id: str
    assessments: list[AssessmentOut]  # newest first


class ProposedOut(BaseModel):
    score: int
    parameter: str
    value: float
    measured_at: datetime
    device_id: str


class FormItemOut(BaseModel):
    item: str
    scores: list[int]  # the scores the printed form offers for this item
    proposed: ProposedOut | None  # from the latest vitals: the clinician confirms or overrides it

    @classmethod
    def of(cls, form: ItemForm) -> FormItemOut:
        p = form.proposed
        proposed = None
        if p is not None:
            proposed = ProposedOut(
                score=p.score, parameter=p.parameter.value, value=p.value, measured_at=p.measured_at,
                device_id=p.device_id,
            )  # fmt: skip
        return cls(item=form.item, scores=list(form.scores), proposed=proposed)


class ProposalOut(BaseModel):
    patient_id: str
    scale: str
    items: list[FormItemOut]


@router.get("", response_model=HistoryOut, summary="The patient's withdrawal assessments, newest first")
async def get_assessments(
    patient_id: str, ctx: Ctx, principal: Clinician, scale: Annotated[WithdrawalScale | None, Query()] = None
) -> HistoryOut:
    await authorised_patient(ctx, principal, patient_id, action="read.withdrawal_assessments")
    found = await ctx.store.withdrawal_assessments(patient_id, scales=None if scale is None else [scale])
    return HistoryOut(patient_id=patient_id, assessments=[AssessmentOut.of(a) for a in found])


@router.get("/proposal", response_model=ProposalOut, summary="The scale's items, those a sensor can score proposed")
async def get_proposal(
    patient_id: str, ctx: Ctx, principal: Clinician, scale: Annotated[WithdrawalScale, Query()]
) -> ProposalOut:
    await authorised_patient(ctx, principal, patient_id, action="read.withdrawal_proposal")
    latest = (await ctx.store.latest_values([patient_id])).get(patient_id, {})
    form = proposal(scale, latest, now=ctx.clock())
    return ProposalOut(patient_id=patient_id, scale=scale.value, items=[FormItemOut.of(f) for f in form])


@router.post(
    "", response_model=RecordedOut, status_code=status.HTTP_201_CREATED, summary="Record an assessment, item by item"
)
async def add_assessment(patient_id: str, body: AssessmentIn, ctx: Ctx, principal: Assessor) -> RecordedOut:
    """Every item of the scale, each with a score its form offers (422 naming the item otherwise). A score banded
    higher than the previous one of the scale within 24 h, or severe, raises the patient's withdrawal alert."""
    stay, grant = await patient_access(ctx, principal, patient_id, action=_WRITE)  # the write is audited below
    now = ctx.clock()
    assessed_at = body.assessed_at or now
    async with audited_change(ctx, principal, _WRITE, patient_id, body.scale.value, patient_id=patient_id, grant=grant):
        if not now - CHART_LATE_MAX <= assessed_at <= now + CLOCK_GRACE:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "assessed_at: within the last 24 hours and not in the future"
            )
        try:
            assessment = new_assessment(
                assessment_id=f"wa-{secrets.token_hex(8)}", patient_id=patient_id, scale=body.scale, items=body.items,
                assessed_at=assessed_at, assessed_by=principal.user_id, recorded_at=now, proposed=body.proposed,
                note=body.note.strip(),
            )  # fmt: skip
        except InvalidAssessment as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{exc.field}: {exc.reason}") from None
        decide = decide_withdrawal_alert(assessment, ward_id=stay.ward_id, setting=stay.setting)
        change = await ctx.store.add_withdrawal_assessment(assessment, decide)
    logger.info("Withdrawal assessment %s (%s) of patient %s by %s", assessment.assessment_id,
                assessment.scale.value, patient_id, principal.user_id)  # fmt: skip
    if change is not None and change.changed:
        ward = await ctx.store.get_ward(stay.ward_id)
        await announce_alert(ctx, ward.site_id, change.alert, phase=change.phase)
    alert = None if change is None else _alert_out(change.alert)
    return RecordedOut(**AssessmentOut.of(assessment).model_dump(), alert=alert)


def _alert_out(alert: Alert) -> AlertOut:
    return AlertOut(
        alert_id=alert.alert_id, kind=alert.kind.value, priority=alert.priority.value, state=alert.state.value,
        message=alert.message,
    )  # fmt: skip
