"""What administering sites, wards, beds, patients and stays may be refused for, and the results of a stay change."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from core.errors import VaktromError
from core.types import Stay

__all__ = ["AdminRefused", "StayChange", "new_stay_id"]


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
    the stay it started (if any), and the devices whose pairing it ended or started (ids, in order)."""

    ended: Stay | None
    started: Stay | None
    devices_unpaired: tuple[str, ...] = ()
    devices_paired: tuple[str, ...] = ()


def new_stay_id() -> str:
    """A stay id nobody can guess from another (stay ids appear in the API)."""
    return f"stay-{secrets.token_hex(8)}"
