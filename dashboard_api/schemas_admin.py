"""Bodies and responses of the administration API (/api/v1/admin/...): pydantic with extra="forbid" and bounds on
every field. A national identity number is validated here (core/national_id.py); an error names the field and the
rule, never the number."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.administration import StayChange
from core.national_id import InvalidNationalId, NationalId, parse_national_id
from core.types import Bed, Patient, Site, SiteKind, Stay, Ward
from dashboard_api import schemas

__all__ = [
    "AdmitIn",
    "BedIn",
    "BedOut",
    "BedRenameIn",
    "EnrolIn",
    "PatientAdminOut",
    "PatientChangeIn",
    "PatientIn",
    "RenameIn",
    "SiteIn",
    "SiteOut",
    "StayChangeOut",
    "StayHistoryOut",
    "TransferIn",
    "WardIn",
    "WardOut",
]

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"  # same rule as core.topics: ids are MQTT topic levels
# Nobody born before 1880 is alive; the upper bound is this century.
_BORN_FROM, _BORN_UNTIL = 1880, 2100


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


def _national_id(value: str | None) -> NationalId | None:
    if value is None:
        return None
    try:
        return parse_national_id(value)
    except InvalidNationalId as exc:
        raise ValueError(str(exc)) from None  # the field is named by the error's loc


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("needs a timezone, e.g. 2025-01-31T08:00:00Z")
    return value


class SiteIn(_In):
    site_id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    kind: SiteKind


class RenameIn(_In):
    name: str = Field(min_length=1, max_length=100)


class WardIn(_In):
    ward_id: str = Field(pattern=_ID_PATTERN)
    site_id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1, max_length=100)


class BedIn(_In):
    bed_id: str = Field(pattern=_ID_PATTERN)
    ward_id: str = Field(pattern=_ID_PATTERN)
    label: str = Field(min_length=1, max_length=50)


class BedRenameIn(_In):
    label: str = Field(min_length=1, max_length=50)


class PatientIn(_In):
    """A pseudonymous id (never the national identity number), the name staff see, and optionally the number."""

    patient_id: str = Field(pattern=_ID_PATTERN)
    display_name: str = Field(min_length=1, max_length=100)
    birth_year: int | None = Field(default=None, ge=_BORN_FROM, le=_BORN_UNTIL)
    national_id: str | None = Field(default=None, max_length=20, description="Fødselsnummer or D-number, 11 digits.")

    @field_validator("national_id")
    @classmethod
    def _valid_number(cls, value: str | None) -> str | None:
        _national_id(value)
        return value

    @property
    def number(self) -> NationalId | None:
        return _national_id(self.national_id)


class PatientChangeIn(_In):
    """Only the fields sent change; `birth_year` or `national_id` sent as null clears it."""

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    birth_year: int | None = Field(default=None, ge=_BORN_FROM, le=_BORN_UNTIL)
    national_id: str | None = Field(default=None, max_length=20)

    @field_validator("national_id")
    @classmethod
    def _valid_number(cls, value: str | None) -> str | None:
        _national_id(value)
        return value

    @property
    def number(self) -> NationalId | None:
        return _national_id(self.national_id)


class AdmitIn(_In):
    bed_id: str = Field(pattern=_ID_PATTERN)
    at: datetime | None = Field(default=None, description="When admitted (UTC); default now; never in the future.")

    _aware_at = field_validator("at")(_aware)


class TransferIn(_In):
    bed_id: str = Field(pattern=_ID_PATTERN, description="The bed to move to, in this unit or another.")


class EnrolIn(_In):
    ward_id: str = Field(pattern=_ID_PATTERN, description="A ward of a home-monitoring programme.")
    at: datetime | None = Field(default=None, description="When enrolled (UTC); default now; never in the future.")

    _aware_at = field_validator("at")(_aware)


class SiteOut(schemas.SiteOut):
    retired_at: datetime | None

    @classmethod
    def of(cls, site: Site) -> SiteOut:
        return cls(**schemas.SiteOut.of(site).model_dump(), retired_at=site.retired_at)


class WardOut(schemas.WardOut):
    retired_at: datetime | None

    @classmethod
    def of(cls, ward: Ward) -> WardOut:
        return cls(**schemas.WardOut.of(ward).model_dump(), retired_at=ward.retired_at)


class BedOut(_Out):
    bed_id: str
    ward_id: str
    label: str
    retired_at: datetime | None

    @classmethod
    def of(cls, bed: Bed) -> BedOut:
        return cls(bed_id=bed.bed_id, ward_id=bed.ward_id, label=bed.label, retired_at=bed.retired_at)


class StayHistoryOut(schemas.StayOut):
    admitted_at: datetime = Field(description="Since when the patient has been in this kind of unit.")

    @classmethod
    def of(cls, stay: Stay) -> StayHistoryOut:
        return cls(**schemas.StayOut.of(stay).model_dump(), admitted_at=stay.length_from)


class PatientAdminOut(_Out):
    patient_id: str
    display_name: str
    birth_year: int | None
    national_id: str | None = Field(description="Shown to an admin reading this patient only; audited.")
    current_stay: StayHistoryOut | None

    @classmethod
    def of(cls, patient: Patient, *, national_id: NationalId | None, current: Stay | None) -> PatientAdminOut:
        return cls(
            patient_id=patient.patient_id,
            display_name=patient.display_name,
            birth_year=patient.birth_year,
            national_id=None if national_id is None else national_id.value,
            current_stay=None if current is None else StayHistoryOut.of(current),
        )


class StayChangeOut(_Out):
    ended: StayHistoryOut | None
    started: StayHistoryOut | None
    devices_unpaired: list[str]
    devices_paired: list[str]

    @classmethod
    def of(cls, change: StayChange) -> StayChangeOut:
        return cls(
            ended=None if change.ended is None else StayHistoryOut.of(change.ended),
            started=None if change.started is None else StayHistoryOut.of(change.started),
            devices_unpaired=list(change.devices_unpaired),
            devices_paired=list(change.devices_paired),
        )
