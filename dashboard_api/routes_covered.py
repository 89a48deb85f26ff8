"""REST: every open or acknowledged alert in the units the caller covers, with where it is and who was fetched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends

from dashboard_api.access import ApiContext, Ctx, audit, site_grant
from dashboard_api.auth import CLINICAL_ROLES, Principal, require_roles
from dashboard_api.covered import ACTIVE_STATES, MAX_COVERED_ALERTS, coverage_of, covered_rows, sort_rows
from dashboard_api.schemas_covered import CoveredAlertOut, CoveredAlertsOut

__all__ = ["audit_rows", "router"]

router = APIRouter()

Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]


async def audit_rows(
    ctx: ApiContext, principal: Principal, rows: Sequence[CoveredAlertOut], *, action: str, seen: set[str]
) -> None:
    """One audit row per patient shown (each once: `seen` remembers them across a stream's messages)."""
    for row in rows:
        patient_id = row.alert.patient_id
        if patient_id is not None and patient_id not in seen:
            seen.add(patient_id)
            detail = f"alert {row.alert.alert_id} at {row.alert.ward_id}"
            await audit(
                ctx, principal, action, patient_id, detail, patient_id=patient_id, grant=site_grant(row.site_id)
            )


async def covered_alerts(ctx: ApiContext, principal: Principal, *, action: str, seen: set[str]) -> CoveredAlertsOut:
    """The list as stored now, audited per patient."""
    at = ctx.clock()
    coverage = await coverage_of(ctx.store, principal, at=at)
    ward_ids = sorted(coverage.wards)
    alerts = (
        await ctx.store.list_alerts(ward_ids=ward_ids, states=ACTIVE_STATES, limit=MAX_COVERED_ALERTS)
        if ward_ids
        else []
    )
    rows = sort_rows(await covered_rows(ctx.store, coverage, alerts, at=at))
    await audit_rows(ctx, principal, rows, action=action, seen=seen)
    return CoveredAlertsOut(
        at=at, units=coverage.units(), rostered_without_access=list(coverage.rostered_without_access), alerts=rows
    )


@router.get(
    "/me/alerts",
    response_model=CoveredAlertsOut,
    summary="Open and acknowledged alerts in every unit you cover (your token's sites and your rotations'), "
    "high priority first, then oldest first",
)
async def my_alerts(ctx: Ctx, principal: Clinician) -> CoveredAlertsOut:
    return await covered_alerts(ctx, principal, action="read.covered_alerts", seen=set())
