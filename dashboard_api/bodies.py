"""Request bodies of the API: pydantic with extra="forbid" and bounds on every field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.escalation import MAX_POLICY_REPEAT, MAX_POLICY_STEPS
from core.oncall import OnCallRole
from core.topics import is_valid_id
from core.types import CareTeamRole, DeviceKind

__all__ = [
    "ContactPointIn",
    "DeviceIn",
    "EscalationPolicyIn",
    "EscalationStepIn",
    "ManualObservationIn",
    "OverrideIn",
    "PairIn",
    "ResolveAlertIn",
    "RotationIn",
    "SpO2ScaleIn",
    "WebhookEndpointIn",
]

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"  # same rule as core.topics: ids are MQTT topic levels


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ManualObservationIn(_In):
    """What a nurse charts by hand. At least one of the two; `measured_at` defaults to now."""

    consciousness: Literal["A", "C", "V", "P", "U"] | None = Field(default=None, description="ACVPU letter.")
    supplemental_o2: bool | None = Field(default=None, description="True when on supplemental oxygen.")
    measured_at: datetime | None = Field(default=None, description="UTC; not in the future, at most 24 h ago.")

    @model_validator(mode="after")
    def _something_charted(self) -> ManualObservationIn:
        if self.consciousness is None and self.supplemental_o2 is None:
            raise ValueError("chart at least one of consciousness or supplemental_o2")
        if self.measured_at is not None and self.measured_at.tzinfo is None:
            raise ValueError("measured_at needs a timezone, e.g. 2025-01-31T08:00:00Z")
        return self


class SpO2ScaleIn(_In):
    scale: Literal[1, 2]


class DeviceIn(_In):
    device_id: str = Field(pattern=_ID_PATTERN)
    site_id: str = Field(pattern=_ID_PATTERN)
    kind: DeviceKind
    model: str = Field(min_length=1, max_length=100)


class PairIn(_In):
    patient_id: str = Field(min_length=1, max_length=64)
    bed_id: str | None = Field(default=None, min_length=1, max_length=64, description="Defaults to the stay's bed.")

    @model_validator(mode="after")
    def _ids_are_ids(self) -> PairIn:
        if not is_valid_id(self.patient_id):
            raise ValueError("patient_id must be letters, digits, '_', '.', ':' or '-'")
        return self


class ResolveAlertIn(_In):
    reason: str = Field(min_length=1, max_length=500, description="Why the alert is resolved by hand.")


# --- escalation and on-call (admin) ----------------------------------------------------------------------------
_PERSON_ID = r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}"
_TARGET_PATTERN = rf"^(role|person|care_team):{_PERSON_ID}$"
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_PERSON = rf"^{_PERSON_ID}$"


class EscalationStepIn(_In):
    targets: list[Annotated[str, Field(pattern=_TARGET_PATTERN)]] = Field(
        min_length=1,
        max_length=5,
        description='Who this step fetches: "role:doctor_on_call" or "person:<id>"; "care_team:lar_team" informs '
        "the patient's care-team members in that team role (first round only; their answer does not acknowledge).",
    )
    escalate_after_s: int = Field(ge=0, le=4 * 3600, description="Time to acknowledge before the next step fires.")

    @model_validator(mode="after")
    def _known_roles(self) -> EscalationStepIn:
        known = {"role": {r.value for r in OnCallRole}, "care_team": {r.value for r in CareTeamRole}}
        what = {"role": "role", "care_team": "care-team role"}
        for target in self.targets:
            kind, _, value = target.partition(":")
            if kind in known and value not in known[kind]:
                raise ValueError(f"unknown {what[kind]} {value!r}: use one of {', '.join(sorted(known[kind]))}")
        if all(t.startswith("care_team:") for t in self.targets):
            raise ValueError("a step needs someone to respond (a role or a person), not only care-team members")
        return self


class EscalationPolicyIn(_In):
    name: str = Field(min_length=1, max_length=100)
    steps: list[EscalationStepIn] = Field(min_length=1, max_length=MAX_POLICY_STEPS)
    repeat: int = Field(default=0, ge=0, le=MAX_POLICY_REPEAT, description="Further rounds after the last step.")


class RotationIn(_In):
    name: str = Field(min_length=1, max_length=100)
    role: OnCallRole
    site_ids: list[Annotated[str, Field(pattern=_ID_PATTERN)]] = Field(min_length=1, max_length=50)
    handoff_times: list[Annotated[str, Field(pattern=_HHMM)]] = Field(
        min_length=1, max_length=6, description='Local wall-clock times the shift changes, increasing: ["08:00"].'
    )
    members: list[Annotated[str, Field(pattern=_PERSON)]] = Field(min_length=1, max_length=100)
    starts_on: date = Field(description="Local date of the first shift, which starts at the first handoff time.")
    time_zone: str = Field(default="Europe/Oslo", min_length=1, max_length=64)


class OverrideIn(_In):
    person_id: str = Field(pattern=_PERSON)
    starts_at: datetime
    ends_at: datetime

    @model_validator(mode="after")
    def _aware(self) -> OverrideIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a timezone, e.g. 2025-01-31T08:00:00Z")
        return self


class WebhookEndpointIn(_In):
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=8, max_length=2048)
    secret: str = Field(min_length=32, max_length=256, description="Shared HMAC-SHA256 key; never returned.")


class ContactPointIn(_In):
    endpoint_id: str = Field(pattern=_ID_PATTERN)
    address: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
