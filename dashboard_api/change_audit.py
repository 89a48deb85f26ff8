"""Auditing a change to a patient's record as what it came to: made, or refused on the way (docs/ACCESS.md, "Audit")."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import HTTPException

from dashboard_api.access import ApiContext, audit
from dashboard_api.auth import Principal

__all__ = ["audited_change"]


@contextlib.asynccontextmanager
async def audited_change(
    ctx: ApiContext,
    principal: Principal,
    action: str,
    subject: str,
    detail: str,
    *,
    patient_id: str | None,
    grant: str | None,
) -> AsyncIterator[None]:
    """Audit `action` on the patient (None: an alert of no patient) with `grant` (None: the caller's role, as
    `audit`) once the change inside is made. A change refused inside (409 for the state it found, 422 for what it
    asked) is audited as `denied.<action>` with the answer's reason and no grant, never as made. Access is checked
    before, without auditing the action (the caller's `audited=False`)."""
    try:
        yield
    except HTTPException as exc:
        await audit(ctx, principal, f"denied.{action}", subject, str(exc.detail), patient_id=patient_id, grant="")
        raise
    await audit(ctx, principal, action, subject, detail, patient_id=patient_id, grant=grant)
