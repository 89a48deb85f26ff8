"""Events vaktrom publishes for dashboards and integrations (JSON on `events_topic`). Pydantic: they cross processes."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from core.types import (
    Alert,
    AlertPhase,
    DeviceStatus,
    LatestValue,
    PatientScore,
    RiskAssessment,
    Stay,
)

__all__ = [
    "BATCH_MIN_EVENTS",
    "AlertEvent",
    "BatchEvent",
    "DeviceStatusEvent",
    "ReadingsEvent",
    "RescoreRequest",
    "RiskEvent",
    "ScoreEvent",
    "StayChangeKind",
    "StayEvent",
    "WardEvent",
    "alert_event",
    "decode_event",
    "device_status_event",
    "readings_event",
    "risk_event",
    "score_event",
    "stay_event",
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    site_id: str
    ward_id: str
    at: datetime  # when vaktrom produced the event (UTC)


class ReadingValue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    parameter: str
    value: float
    measured_at: datetime
    device_id: str


class ReadingsEvent(_Event):
    type: Literal["readings"] = "readings"
    patient_id: str
    bed_id: str | None
    values: list[ReadingValue]


class ScoreEvent(_Event):
    type: Literal["score"] = "score"
    patient_id: str
    bed_id: str | None
    total: int
    complete: bool
    risk: str
    single_param_3: bool
    parameter_scores: dict[str, int]
    missing: list[str]
    spo2_scale: int
    computed_at: datetime


class RiskEvent(_Event):
    type: Literal["risk"] = "risk"
    patient_id: str
    bed_id: str | None
    probability: float | None
    level: str
    reasons: list[str]
    computed_at: datetime


class AlertEvent(_Event):
    type: Literal["alert"] = "alert"
    alert_id: int
    patient_id: str | None
    device_id: str | None
    kind: str
    severity: int
    severity_name: str
    state: str
    message: str
    opened_at: datetime
    updated_at: datetime
    acknowledged_by: str | None
    # IEC 60601-1-8 / IHE PCD-04 fields an integration engine translates (docs/ALERTS.md)
    priority: str = "low"
    category: str = "physiological"
    phase: str | None = None  # what just happened (AlertPhase), when the event reports a transition
    resolved_by: str | None = None
    resolve_reason: str | None = None


class DeviceStatusEvent(_Event):
    type: Literal["device_status"] = "device_status"
    device_id: str
    online: bool
    battery_percent: float | None
    signal_dbm: float | None
    reported_at: datetime


class StayChangeKind(enum.StrEnum):
    """What a stay change did on one ward. Enrolment in home follow-up counts as admitted, its end as discharged."""

    ADMITTED = "admitted"
    TRANSFERRED_IN = "transferred_in"  # from another bed, of this ward or another
    TRANSFERRED_OUT = "transferred_out"  # to another bed, of this ward or another
    DISCHARGED = "discharged"


class StayEvent(_Event):
    """A patient's stay began, moved or ended on this ward (an admin's change): the ward's screens read it afresh."""

    type: Literal["stay"] = "stay"
    patient_id: str
    bed_id: str | None  # None: a stay at home, on a home programme's ward
    stay_id: str  # the stay that began or ended here
    change: StayChangeKind


# A scoring cycle that has at least this many patient events for one ward publishes them as ONE `batch` event (and an
# API node sends a burst of that many to each dashboard as one `batch` delta). At 1000 beds x 1 pack/s a ward makes
# ~1,000 events a second: one message each costs ingest a publish and a PUBACK, and each API node a receive and an
# ack, per event. Fewer go one by one, as they always did (a small ward's events look as before).
BATCH_MIN_EVENTS = 8
PatientEvent = Annotated[ReadingsEvent | ScoreEvent | RiskEvent, Field(discriminator="type")]


class BatchEvent(_Event):
    """Patient events of one ward produced together (a scoring cycle's), oldest first; `at` is the newest's."""

    type: Literal["batch"] = "batch"
    events: list[PatientEvent] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_ward(self) -> BatchEvent:
        for event in self.events:
            if (event.site_id, event.ward_id) != (self.site_id, self.ward_id):
                raise ValueError(f"events: an event of site {event.site_id}, ward {event.ward_id} in a batch of "
                                 f"site {self.site_id}, ward {self.ward_id}")  # fmt: skip
        return self


WardEvent = Annotated[
    ReadingsEvent | ScoreEvent | RiskEvent | AlertEvent | DeviceStatusEvent | StayEvent | BatchEvent,
    Field(discriminator="type"),
]
_WARD_EVENT: TypeAdapter[WardEvent] = TypeAdapter(WardEvent)


class RescoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    patient_ids: list[str] = Field(min_length=1, max_length=1000)


def decode_event(raw: bytes) -> WardEvent:
    """Raises pydantic.ValidationError on anything that is not a ward event."""
    return _WARD_EVENT.validate_json(raw)


def readings_event(
    *, site_id: str, ward_id: str, patient_id: str, bed_id: str | None, values: list[LatestValue], at: datetime
) -> ReadingsEvent:
    return ReadingsEvent(
        site_id=site_id,
        ward_id=ward_id,
        at=at,
        patient_id=patient_id,
        bed_id=bed_id,
        values=[
            ReadingValue(parameter=v.parameter.value, value=v.value, measured_at=v.measured_at, device_id=v.device_id)
            for v in values
        ],
    )


def score_event(*, site_id: str, ward_id: str, bed_id: str | None, score: PatientScore, at: datetime) -> ScoreEvent:
    return ScoreEvent(
        site_id=site_id,
        ward_id=ward_id,
        at=at,
        patient_id=score.patient_id,
        bed_id=bed_id,
        total=score.total,
        complete=score.complete,
        risk=score.risk.value,
        single_param_3=score.single_param_3,
        parameter_scores={p.value: s for p, s in score.parameter_scores.items()},
        missing=[p.value for p in score.missing],
        spo2_scale=int(score.spo2_scale),
        computed_at=score.computed_at,
    )


def risk_event(*, site_id: str, ward_id: str, bed_id: str | None, risk: RiskAssessment, at: datetime) -> RiskEvent:
    return RiskEvent(
        site_id=site_id,
        ward_id=ward_id,
        at=at,
        patient_id=risk.patient_id,
        bed_id=bed_id,
        probability=risk.probability,
        level=risk.level.value,
        reasons=list(risk.reasons),
        computed_at=risk.computed_at,
    )


def alert_event(
    *, site_id: str, ward_id: str, alert: Alert, at: datetime, phase: AlertPhase | None = None
) -> AlertEvent:
    return AlertEvent(
        site_id=site_id,
        ward_id=ward_id,
        at=at,
        alert_id=alert.alert_id,
        patient_id=alert.patient_id,
        device_id=alert.device_id,
        kind=alert.kind.value,
        severity=int(alert.severity),
        severity_name=alert.severity.name.lower(),
        state=alert.state.value,
        message=alert.message,
        opened_at=alert.opened_at,
        updated_at=alert.updated_at,
        acknowledged_by=alert.acknowledged_by,
        priority=alert.priority.value,
        category=alert.category.value,
        phase=phase.value if phase is not None else None,
        resolved_by=alert.resolved_by,
        resolve_reason=alert.resolve_reason,
    )


def device_status_event(*, site_id: str, ward_id: str, status: DeviceStatus, at: datetime) -> DeviceStatusEvent:
    return DeviceStatusEvent(
        site_id=site_id,
        ward_id=ward_id,
        at=at,
        device_id=status.device_id,
        online=status.online,
        battery_percent=status.battery_percent,
        signal_dbm=status.signal_dbm,
        reported_at=status.reported_at,
    )


def stay_event(*, site_id: str, stay: Stay, change: StayChangeKind, at: datetime) -> StayEvent:
    return StayEvent(
        site_id=site_id,
        ward_id=stay.ward_id,
        at=at,
        patient_id=stay.patient_id,
        bed_id=stay.bed_id,
        stay_id=stay.stay_id,
        change=change,
    )
