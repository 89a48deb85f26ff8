"""Response models of the specialist's view: every open alert in the units a user covers, and its live deltas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dashboard_api.schemas import AlertOut, EscalationStateOut, PatientSummary

__all__ = [
    "CoveredAlertOut",
    "CoveredAlertsOut",
    "CoveredRowDelta",
    "CoveredSnapshot",
    "CoveredUnitOut",
    "EscalationDelta",
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CoveredUnitOut(_Out):
    """A ward the user covers, and why: the token names its site, or a rotation names the user for it."""

    site_id: str
    site_name: str
    ward_id: str
    ward_name: str
    via: list[str] = Field(description='"token", or "rotation <name> (<role>)" for each rotation naming the user.')


class CoveredAlertOut(_Out):
    """One row of the list: the alert, where it is, whose it is, and its escalation state."""

    alert: AlertOut
    site_id: str
    site_name: str
    ward_name: str
    place: str = Field(description='The bed label, "Home" for a patient at home, or the device of a device alert.')
    bed_id: str | None
    patient: PatientSummary | None
    escalation: EscalationStateOut


class CoveredAlertsOut(_Out):
    at: datetime
    units: list[CoveredUnitOut]
    rostered_without_access: list[str] = Field(
        description="Sites a rotation names the user for that the token does not grant: not shown; ask an admin."
    )
    alerts: list[CoveredAlertOut] = Field(description="Open and acknowledged; high priority first, then oldest first.")


class CoveredSnapshot(CoveredAlertsOut):
    """The first message of /ws/alerts: seq 0."""

    type: Literal["covered_snapshot"] = "covered_snapshot"
    seq: int = 0


class CoveredRowDelta(_Out):
    """An alert changed: its row as stored now. A resolved alert's row says so: the client drops it."""

    type: Literal["alert_row"] = "alert_row"
    at: datetime
    row: CoveredAlertOut


class EscalationDelta(_Out):
    """On a ward stream, right after an alert event: that alert's escalation state as stored now."""

    type: Literal["escalation"] = "escalation"
    at: datetime
    site_id: str
    ward_id: str
    patient_id: str | None
    escalation: EscalationStateOut
