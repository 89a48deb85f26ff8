"""Response models of the API (never rows): each built from a domain type with `.of(...)`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.escalation import Delivery
from core.oncall import OnCallRole
from core.types import (
    Alert,
    AlertTransition,
    CareTeamMember,
    LatestValue,
    Pairing,
    Patient,
    PatientScore,
    Reading,
    RiskAssessment,
    Site,
    SpO2ScaleDecision,
    Stay,
    Ward,
)

__all__ = [
    "AlertOut",
    "AlertTransitionOut",
    "BedView",
    "CareTeamMemberOut",
    "DeviceOut",
    "DeviceStatusOut",
    "EscalationStateOut",
    "LiveSnapshot",
    "ManualObservationOut",
    "MeOut",
    "NotifiedOut",
    "ObservationsOut",
    "PageOut",
    "PairingOut",
    "PatientOut",
    "PatientScoresOut",
    "PatientSummary",
    "ReadingOut",
    "RiskOut",
    "ScoreOut",
    "SiteOut",
    "SpO2ScaleOut",
    "StayOut",
    "VitalOut",
    "VitalsOut",
    "WardOut",
    "WardSnapshot",
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PageOut(_Out):
    path: str
    title: str


class MeOut(_Out):
    user_id: str
    role: str
    site_ids: list[str]
    pages: list[PageOut]  # the pages the role may use, for the top bar (dashboard_api/pages.py)


class SiteOut(_Out):
    site_id: str
    name: str
    kind: str

    @classmethod
    def of(cls, site: Site) -> SiteOut:
        return cls(site_id=site.site_id, name=site.name, kind=site.kind.value)


class WardOut(_Out):
    ward_id: str
    site_id: str
    name: str

    @classmethod
    def of(cls, ward: Ward) -> WardOut:
        return cls(ward_id=ward.ward_id, site_id=ward.site_id, name=ward.name)


class PatientSummary(_Out):
    patient_id: str
    display_name: str
    birth_year: int | None

    @classmethod
    def of(cls, patient: Patient) -> PatientSummary:
        return cls(patient_id=patient.patient_id, display_name=patient.display_name, birth_year=patient.birth_year)


class StayOut(_Out):
    stay_id: str
    patient_id: str
    ward_id: str
    setting: str
    bed_id: str | None
    start_at: datetime
    end_at: datetime | None

    @classmethod
    def of(cls, stay: Stay) -> StayOut:
        return cls(
            stay_id=stay.stay_id,
            patient_id=stay.patient_id,
            ward_id=stay.ward_id,
            setting=stay.setting.value,
            bed_id=stay.bed_id,
            start_at=stay.start_at,
            end_at=stay.end_at,
        )


class CareTeamMemberOut(_Out):
    member_id: str
    role: str
    organisation: str
    start_at: datetime
    end_at: datetime | None

    @classmethod
    def of(cls, member: CareTeamMember) -> CareTeamMemberOut:
        return cls(
            member_id=member.member_id,
            role=member.role.value,
            organisation=member.organisation,
            start_at=member.start_at,
            end_at=member.end_at,
        )


class SpO2ScaleOut(_Out):
    scale: int
    set_by: str
    set_at: datetime

    @classmethod
    def of(cls, decision: SpO2ScaleDecision) -> SpO2ScaleOut:
        return cls(scale=int(decision.scale), set_by=decision.set_by, set_at=decision.set_at)


class PatientOut(_Out):
    patient_id: str
    display_name: str
    birth_year: int | None
    stay: StayOut | None
    care_team: list[CareTeamMemberOut]
    spo2_scale: SpO2ScaleOut | None = Field(description="The latest scale decision; null means scale 1.")


class VitalOut(_Out):
    parameter: str
    value: float
    measured_at: datetime
    age_s: float = Field(description="Seconds between measured_at and the response's `at`.")
    device_id: str

    @classmethod
    def of(cls, value: LatestValue, *, at: datetime) -> VitalOut:
        return cls(
            parameter=value.parameter.value,
            value=value.value,
            measured_at=value.measured_at,
            age_s=round((at - value.measured_at).total_seconds(), 1),
            device_id=value.device_id,
        )


class VitalsOut(_Out):
    patient_id: str
    at: datetime
    values: list[VitalOut]


class ScoreOut(_Out):
    total: int = Field(description="NEWS2 aggregate; a lower bound when `complete` is false.")
    complete: bool
    risk: str
    single_param_3: bool
    parameter_scores: dict[str, int]
    missing: list[str]
    spo2_scale: int
    computed_at: datetime

    @classmethod
    def of(cls, score: PatientScore) -> ScoreOut:
        return cls(
            total=score.total,
            complete=score.complete,
            risk=score.risk.value,
            single_param_3=score.single_param_3,
            parameter_scores={p.value: s for p, s in score.parameter_scores.items()},
            missing=[p.value for p in score.missing],
            spo2_scale=int(score.spo2_scale),
            computed_at=score.computed_at,
        )


class RiskOut(_Out):
    probability: float | None
    level: str
    reasons: list[str]
    model_version: str
    computed_at: datetime

    @classmethod
    def of(cls, risk: RiskAssessment) -> RiskOut:
        return cls(
            probability=risk.probability,
            level=risk.level.value,
            reasons=list(risk.reasons),
            model_version=risk.model_version,
            computed_at=risk.computed_at,
        )


class PatientScoresOut(_Out):
    patient_id: str
    news2: ScoreOut | None
    risk: RiskOut | None


class ReadingOut(_Out):
    parameter: str
    value: float
    measured_at: datetime
    received_at: datetime
    device_id: str

    @classmethod
    def of(cls, reading: Reading) -> ReadingOut:
        return cls(
            parameter=reading.parameter.value,
            value=reading.value,
            measured_at=reading.measured_at,
            received_at=reading.received_at,
            device_id=reading.device_id,
        )


class ObservationsOut(_Out):
    patient_id: str
    since: datetime
    until: datetime
    readings: list[ReadingOut]
    truncated: bool = Field(description="True when `limit` cut the list: ask again from the last measured_at.")


class AlertOut(_Out):
    alert_id: int
    patient_id: str | None
    ward_id: str | None
    device_id: str | None
    kind: str
    severity: int
    severity_name: str
    state: str
    message: str
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolve_reason: str | None
    priority: str = Field(description="IEC 60601-1-8: high, medium or low.")
    category: str = Field(description="physiological or technical.")
    renotify_at: datetime | None = Field(description="While acknowledged: when it is announced again if unchanged.")

    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        return cls(
            alert_id=alert.alert_id,
            patient_id=alert.patient_id,
            ward_id=alert.ward_id,
            device_id=alert.device_id,
            kind=alert.kind.value,
            severity=int(alert.severity),
            severity_name=alert.severity.name.lower(),
            state=alert.state.value,
            message=alert.message,
            opened_at=alert.opened_at,
            updated_at=alert.updated_at,
            acknowledged_at=alert.acknowledged_at,
            acknowledged_by=alert.acknowledged_by,
            resolved_at=alert.resolved_at,
            resolved_by=alert.resolved_by,
            resolve_reason=alert.resolve_reason,
            priority=alert.priority.value,
            category=alert.category.value,
            renotify_at=alert.renotify_at,
        )


class AlertTransitionOut(_Out):
    at: datetime
    phase: str
    state: str
    severity: int
    by: str
    reason: str

    @classmethod
    def of(cls, transition: AlertTransition) -> AlertTransitionOut:
        return cls(
            at=transition.at,
            phase=transition.phase.value,
            state=transition.state.value,
            severity=int(transition.severity),
            by=transition.by,
            reason=transition.reason,
        )


class NotifiedOut(_Out):
    """One person the latest step of an alert's escalation notified, and how far their notification got."""

    person_id: str
    role: str | None = Field(description="The on-call role they were fetched as; null when named in the policy.")
    notified_at: datetime
    state: str
    outcome: str

    @classmethod
    def of(cls, delivery: Delivery, *, role: OnCallRole | None) -> NotifiedOut:
        return cls(
            person_id=delivery.person_id,
            role=role.value if role else None,
            notified_at=delivery.created_at,
            state=delivery.state.value,
            outcome=delivery.outcome,
        )


class EscalationStateOut(_Out):
    """An alert's escalation as the pages show it: a sentence, and its parts."""

    alert_id: int
    status: Literal["none", "running", "stopped"] = Field(description="none: this alert pages nobody.")
    text: str = Field(description='e.g. "Doctor on call dr-lund notified 21:43, not yet read; next: ..."')
    notified: list[NotifiedOut] = Field(description="The people of the latest step that fired.")
    next_step_at: datetime | None = None
    stopped_at: datetime | None = None


class DeviceStatusOut(_Out):
    device_id: str
    kind: str
    online: bool | None = Field(description="null when the device never reported its status.")
    battery_percent: float | None
    signal_dbm: float | None
    reported_at: datetime | None
    last_reading_at: datetime | None


class DeviceOut(DeviceStatusOut):
    site_id: str
    model: str
    registered_at: datetime
    firmware: str | None
    paired_patient_id: str | None
    paired_bed_id: str | None
    paired_since: datetime | None


class PairingOut(_Out):
    device_id: str
    patient_id: str
    bed_id: str | None
    start_at: datetime
    end_at: datetime | None

    @classmethod
    def of(cls, pairing: Pairing) -> PairingOut:
        return cls(
            device_id=pairing.device_id,
            patient_id=pairing.patient_id,
            bed_id=pairing.bed_id,
            start_at=pairing.start_at,
            end_at=pairing.end_at,
        )


class BedView(_Out):
    """One place on the ward board: a bed (maybe empty) or a patient monitored at home (bed_id null)."""

    bed_id: str | None
    label: str
    setting: str
    patient: PatientSummary | None
    stay_id: str | None
    admitted_at: datetime | None = Field(
        default=None, description="Since when the patient has been in this kind of unit (the length of stay)."
    )
    stay_limit_at: datetime | None = Field(
        default=None,
        description="When the stay passes its unit's limit (KAD/ØHD 72 h, sykestue 14 days; null: none, e.g. at home).",
    )
    vitals: list[VitalOut]
    news2: ScoreOut | None
    risk: RiskOut | None
    alerts: list[AlertOut]
    devices: list[DeviceStatusOut]
    escalations: list[EscalationStateOut] = Field(
        default_factory=list, description="The escalation state of each of `alerts`, by alert_id."
    )


class WardSnapshot(_Out):
    ward: WardOut
    at: datetime
    beds: list[BedView]


class LiveSnapshot(_Out):
    """The first WebSocket message: seq 0, every ward asked for."""

    type: Literal["snapshot"] = "snapshot"
    seq: int = 0
    at: datetime
    wards: list[WardSnapshot]


class ManualObservationOut(_Out):
    patient_id: str
    stored: int
    readings: list[ReadingOut]
    rescore_requested: bool = Field(description="False when the broker was unreachable: the score updates later.")
