"""Request bodies of the API: pydantic with extra="forbid" and bounds on every field."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.topics import is_valid_id
from core.types import DeviceKind

__all__ = ["DeviceIn", "ManualObservationIn", "PairIn", "ResolveAlertIn", "SpO2ScaleIn"]

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
