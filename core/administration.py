"""What administering sites, wards, beds, patients and stays may be refused for, and the results of a stay change."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from core.errors import VaktromError
from core.national_id import NationalId
from core.types import Alert, Bed, Patient, Stay

__all__ = ["AdminRefused", "ImportRefused", "StayChange", "UnitImportRow", "new_stay_id"]


class AdminRefused(VaktromError):
    """An administrative change refused, nothing written. `field` names the input at fault; `missing` is True when
    it names nothing that exists (API 404), otherwise it contradicts what is stored (API 409). The reason names ids
    only, never a patient's name or identity number."""

    def __init__(self, field: str, *, reason: str, missing: bool = False) -> None:
        self.field = field
        self.reason = reason
        self.missing = missing
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True, slots=True)
class StayChange:
    """What an admission, transfer, discharge, enrolment or end of home follow-up did: the stay it ended (if any),
    the stay it started (if any), the devices whose pairing it ended or started (ids, in order), and the patient's
    alerts it moved to the new ward or resolved (as stored after; core/store/stay_alerts.py), for the pages."""

    ended: Stay | None
    started: Stay | None
    devices_unpaired: tuple[str, ...] = ()
    devices_paired: tuple[str, ...] = ()
    alerts: tuple[Alert, ...] = ()


def new_stay_id() -> str:
    """A stay id nobody can guess from another (stay ids appear in the API)."""
    return f"stay-{secrets.token_hex(8)}"


@dataclass(frozen=True, slots=True)
class UnitImportRow:
    """One validated row of a unit's import (vaktrom admin import): a bed (new, or one the ward has with this
    label) and, if the bed is taken, its patient (new), admitted at `admitted_at`. In a home programme's ward there
    is no bed and the patient is enrolled. `row` is the row's number in the file (the header is row 1)."""

    row: int
    bed: Bed | None
    patient: Patient | None
    national_id: NationalId | None = field(default=None, repr=False)
    admitted_at: datetime | None = None


class ImportRefused(AdminRefused):
    """A row of an import that cannot be written; nothing of the import was written."""

    def __init__(self, row: int, field: str, *, reason: str) -> None:
        self.row = row
        super().__init__(field, reason=reason)
        self.args = (f"row {row}, {field}: {reason}",)

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.reason}"
