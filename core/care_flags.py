"""A patient's care flags: what a clinician records about substance use that changes how vaktrom watches them
(docs/HOME_AND_TEAMS.md, "Substance use")."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = ["OPIOID_FLAGS", "CareFlag", "CareFlagChange"]


class CareFlag(enum.StrEnum):
    OPIOID_AGONIST_TREATMENT = "opioid_agonist_treatment"  # LAR / OAT: methadone, buprenorphine
    OPIOID_WITHDRAWAL = "opioid_withdrawal"  # withdrawal management (KAD bed or detox), often with opioid dosing
    ALCOHOL_WITHDRAWAL = "alcohol_withdrawal"
    OTHER_OPIOIDS = "other_opioids"  # prescribed or not: the respiratory risk is the same


# The flags that make respiratory depression the danger to watch for (alerts/respiratory.py).
OPIOID_FLAGS = frozenset({CareFlag.OPIOID_AGONIST_TREATMENT, CareFlag.OPIOID_WITHDRAWAL, CareFlag.OTHER_OPIOIDS})


@dataclass(frozen=True, slots=True)
class CareFlagChange:
    """One setting or clearing of a flag: append-only, the newest per patient and flag is in force."""

    patient_id: str
    flag: CareFlag
    active: bool
    reason: str
    set_by: str
    set_at: datetime
