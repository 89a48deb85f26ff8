"""Bodies and responses of the measurement-plan and worklist routes: pydantic at the edge, extra="forbid", bounds
on every number; responses built from domain types with `.of(...)`."""

from __future__ import annotations

from datetime import datetime, time

from pydantic import BaseModel, ConfigDict, Field

from alerts.plans import MAX_INACTIVE_AFTER_H, MAX_WINDOW_MIN
from alerts.triage import worklist_urgency
from core.homecare import MeasurementPlan, PlanItem, WorklistEvent, WorklistItem
from core.types import Parameter, Reading

__all__ = [
    "AssignIn",
    "CloseIn",
    "EscalateIn",
    "NoteIn",
    "PlanIn",
    "PlanItemIn",
    "PlanOut",
    "WorklistItemDetailOut",
    "WorklistItemOut",
]

_MAX_ITEMS = 20  # a plan of more measurements than this is not one a patient at home can follow
_MAX_TEXT = 2000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PlanItemIn(_In):
    item_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="e.g. spo2-morning")
    parameters: list[Parameter] = Field(min_length=1, max_length=len(Parameter), description="What to measure.")
    local_times: list[time] = Field(min_length=1, max_length=24, description="Wall-clock times, e.g. 08:00.")
    window_min: int = Field(ge=1, le=MAX_WINDOW_MIN, description="Minutes from each time the measurement counts.")
    weekdays: list[int] = Field(default=list(range(7)), min_length=1, max_length=7, description="0 = Monday.")

    def to_item(self) -> PlanItem:
        parameters, weekdays = frozenset(self.parameters), frozenset(self.weekdays)
        return PlanItem(self.item_id, parameters, tuple(self.local_times), self.window_min, weekdays)


class PlanIn(_In):
    timezone: str = Field(default="Europe/Oslo", max_length=64, description="The patient's IANA time zone.")
    inactive_after_h: float = Field(default=48, ge=1, le=MAX_INACTIVE_AFTER_H, description="Quiet this long: item.")
    items: list[PlanItemIn] = Field(min_length=1, max_length=_MAX_ITEMS)


class PlanItemOut(_Out):
    item_id: str
    parameters: list[str]
    local_times: list[str]
    window_min: int
    weekdays: list[int]


class PlanOut(_Out):
    patient_id: str
    timezone: str
    inactive_after_h: float
    items: list[PlanItemOut]
    set_by: str
    set_at: datetime

    @classmethod
    def of(cls, plan: MeasurementPlan) -> PlanOut:
        items = [
            PlanItemOut(
                item_id=i.item_id, parameters=sorted(p.value for p in i.parameters),
                local_times=[t.isoformat(timespec="minutes") for t in i.local_times], window_min=i.window_min,
                weekdays=sorted(i.weekdays),
            )
            for i in plan.items
        ]  # fmt: skip
        return cls(
            patient_id=plan.patient_id, timezone=plan.timezone, inactive_after_h=plan.inactive_after_h, items=items,
            set_by=plan.set_by, set_at=plan.set_at,
        )  # fmt: skip


class NoteIn(_In):
    text: str = Field(min_length=1, max_length=_MAX_TEXT)


class AssignIn(_In):
    assignee: str = Field(min_length=1, max_length=128, description="The user id of a coordinator of the programme.")


class EscalateIn(_In):
    reason: str = Field(min_length=3, max_length=_MAX_TEXT, description="Why a clinician must act: in the alert.")


class CloseIn(_In):
    outcome: str = Field(min_length=1, max_length=100, description="e.g. measured, contacted, escalated, no action")
    comment: str = Field(min_length=3, max_length=_MAX_TEXT, description="What was done: required to close.")


class ImplicatedReadingOut(_Out):
    parameter: str
    value: float
    measured_at: datetime
    device_id: str

    @classmethod
    def of(cls, reading: Reading) -> ImplicatedReadingOut:
        return cls(
            parameter=reading.parameter.value, value=reading.value, measured_at=reading.measured_at,
            device_id=reading.device_id,
        )  # fmt: skip


class WorklistItemOut(_Out):
    item_id: str
    site_id: str
    patient_id: str
    kind: str
    vkp_code: str
    summary: str
    opened_at: datetime
    state: str
    missing_loinc: list[str]
    window_opens_at: datetime | None
    window_closes_at: datetime | None
    owner: str | None
    closed_at: datetime | None
    outcome: str | None
    parameter: str | None = Field(description="A threshold breach's measurement.")
    triage_colour: str | None = Field(description="VKP triage code: R, O, Y, G, B, BL, NR.")
    triage_display: str | None = Field(description="The colour in words (red, orange, ...): never colour alone.")
    implicated: list[ImplicatedReadingOut] = Field(description="The readings behind a threshold breach.")
    alert_id: int | None = Field(description="The alert behind an alert item, or the one an item escalated into.")
    assignee: str | None
    urgency: int = Field(description="Sort key, highest first: red 10, orange 8, inactive 7, yellow 6, missed 5, ...")

    @classmethod
    def of(cls, item: WorklistItem) -> WorklistItemOut:
        colour = item.triage_colour
        return cls(
            item_id=item.item_id, site_id=item.site_id, patient_id=item.patient_id, kind=item.kind.value,
            vkp_code=item.vkp_code.value, summary=item.summary, opened_at=item.opened_at, state=item.state.value,
            missing_loinc=list(item.missing_loinc), window_opens_at=item.window_opens_at,
            window_closes_at=item.window_closes_at, owner=item.owner, closed_at=item.closed_at, outcome=item.outcome,
            parameter=item.parameter.value if item.parameter else None,
            triage_colour=colour.value if colour else None, triage_display=colour.display if colour else None,
            implicated=[ImplicatedReadingOut.of(r) for r in item.implicated], alert_id=item.alert_id,
            assignee=item.assignee, urgency=worklist_urgency(item),
        )  # fmt: skip


class WorklistEventOut(_Out):
    at: datetime
    actor: str
    action: str
    text: str

    @classmethod
    def of(cls, event: WorklistEvent) -> WorklistEventOut:
        return cls(at=event.at, actor=event.actor, action=event.action, text=event.text)


class WorklistItemDetailOut(_Out):
    item: WorklistItemOut
    history: list[WorklistEventOut]
