"""Response models for escalation, deliveries and on-call rosters (never rows; a webhook secret never leaves)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from alerts.isbar import Isbar
from core.escalation import ContactPoint, Delivery, Escalation, EscalationPolicy, WebhookEndpoint
from core.oncall import Rotation, Shift

__all__ = [
    "ContactPointOut",
    "DeliveryOut",
    "EscalationOut",
    "EscalationPolicyOut",
    "IsbarOut",
    "OnCallOut",
    "RotationOut",
    "WebhookEndpointOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class EscalationStepOut(_Out):
    targets: list[str]
    escalate_after_s: int


class EscalationPolicyOut(_Out):
    site_id: str | None = Field(description="null: vaktrom's default, used because the site has set none.")
    priority: str
    name: str
    repeat: int
    steps: list[EscalationStepOut]

    @classmethod
    def of(cls, policy: EscalationPolicy) -> EscalationPolicyOut:
        return cls(
            site_id=policy.site_id,
            priority=policy.priority.value,
            name=policy.name,
            repeat=policy.repeat,
            steps=[EscalationStepOut(targets=[t.label for t in s.targets], escalate_after_s=s.escalate_after_s)
                   for s in policy.steps],
        )  # fmt: skip


class DeliveryOut(_Out):
    """One notification: who, why, and how far it got (IHE PCD-06/07 dissemination status)."""

    delivery_id: str
    alert_id: int | None = Field(description="null: a care-team member's daily summary, about several alerts.")
    epoch: int
    round: int
    step: int
    person_id: str
    reason: str
    endpoint_id: str | None
    address: str
    state: str
    purpose: str = Field(description="respond: on the chain; inform: a care-team member kept informed.")
    outcome: str
    attempts: int
    answered_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            delivery_id=d.delivery_id, alert_id=d.alert_id, epoch=d.epoch, round=d.loop + 1, step=d.step_index + 1,
            person_id=d.person_id, reason=d.reason, endpoint_id=d.endpoint_id, address=d.address,
            state=d.state.value, purpose=d.purpose.value, outcome=d.outcome, attempts=d.attempts,
            answered_by=d.answered_by, created_at=d.created_at, updated_at=d.updated_at,
        )  # fmt: skip


class EscalationOut(_Out):
    alert_id: int
    running: bool
    epoch: int
    policy: EscalationPolicyOut
    next_step: int | None = Field(description="1-based step due at next_step_at; null once the chain stopped.")
    round: int
    next_step_at: datetime | None
    started_at: datetime
    stopped_at: datetime | None
    stop_reason: str
    deliveries: list[DeliveryOut]

    @classmethod
    def of(cls, chain: Escalation, deliveries: list[Delivery]) -> EscalationOut:
        return cls(
            alert_id=chain.alert_id, running=chain.running, epoch=chain.epoch,
            policy=EscalationPolicyOut.of(chain.policy),
            next_step=chain.step_index + 1 if chain.running else None, round=chain.loop + 1,
            next_step_at=chain.next_step_at, started_at=chain.started_at, stopped_at=chain.stopped_at,
            stop_reason=chain.stop_reason, deliveries=[DeliveryOut.of(d) for d in deliveries],
        )  # fmt: skip


class RotationOut(_Out):
    rotation_id: int
    name: str
    role: str
    site_ids: list[str]
    handoff_times: list[str]
    members: list[str]
    starts_on: str
    time_zone: str

    @classmethod
    def of(cls, r: Rotation) -> RotationOut:
        return cls(
            rotation_id=r.rotation_id, name=r.name, role=r.role.value, site_ids=sorted(r.site_ids),
            handoff_times=[t.isoformat(timespec="minutes") for t in r.handoff_times], members=list(r.members),
            starts_on=r.starts_on.isoformat(), time_zone=r.time_zone,
        )  # fmt: skip


class OnCallOut(_Out):
    role: str
    person_id: str | None = Field(description="null: nobody is rostered; escalation skips this role.")
    rotation_id: int | None
    override_id: int | None
    starts_at: datetime | None
    ends_at: datetime | None

    @classmethod
    def of(cls, role: str, shift: Shift | None) -> OnCallOut:
        if shift is None:
            return cls(role=role, person_id=None, rotation_id=None, override_id=None, starts_at=None, ends_at=None)
        return cls(
            role=role, person_id=shift.person_id, rotation_id=shift.rotation_id, override_id=shift.override_id,
            starts_at=shift.starts_at, ends_at=shift.ends_at,
        )  # fmt: skip


class WebhookEndpointOut(_Out):
    endpoint_id: str
    name: str
    url: str

    @classmethod
    def of(cls, e: WebhookEndpoint) -> WebhookEndpointOut:
        return cls(endpoint_id=e.endpoint_id, name=e.name, url=e.url)


class ContactPointOut(_Out):
    person_id: str
    endpoint_id: str
    address: str

    @classmethod
    def of(cls, p: ContactPoint) -> ContactPointOut:
        return cls(person_id=p.person_id, endpoint_id=p.endpoint_id, address=p.address)


class IsbarOut(_Out):
    """An alert's handover message, generated from the stored data when asked (docs/ALERTS.md, "ISBAR")."""

    alert_id: int
    at: datetime = Field(description="When it was generated: values and ages are as of this moment.")
    identify: str
    situation: str
    background: str
    assessment: str
    recommendation: str
    text: str = Field(description="The five parts on five lines (I:, S:, B:, A:, R:), as a pager shows them.")

    @classmethod
    def of(cls, alert_id: int, at: datetime, isbar: Isbar) -> IsbarOut:
        identify, situation, background, assessment, recommendation = isbar.sections()
        return cls(
            alert_id=alert_id, at=at, identify=identify, situation=situation, background=background,
            assessment=assessment, recommendation=recommendation, text=isbar.text(),
        )  # fmt: skip
