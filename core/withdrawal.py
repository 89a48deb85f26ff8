"""Withdrawal scales a nurse scores item by item: COWS (opioids), CIWA-Ar and AWS (alcohol). The scales' words and
records; how items add up and band is scoring/withdrawal.py (docs/HOME_AND_TEAMS.md, "Withdrawal scales")."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

__all__ = [
    "AwsItem",
    "CiwaArItem",
    "CowsItem",
    "WithdrawalAssessment",
    "WithdrawalBand",
    "WithdrawalHistory",
    "WithdrawalItem",
    "WithdrawalScale",
]


class WithdrawalScale(enum.StrEnum):
    COWS = "cows"  # Clinical Opiate Withdrawal Scale, Wesson & Ling 2003
    CIWA_AR = "ciwa_ar"  # Clinical Institute Withdrawal Assessment for Alcohol, revised, Sullivan et al. 1989
    AWS = "aws"  # Alcohol Withdrawal Syndrome scale, Wetterling et al. 1997


class WithdrawalBand(enum.IntEnum):
    """Ordered, one ladder for every scale (each scale uses the rungs its source names): a higher band is worse."""

    NONE = 0  # COWS below 5: no active withdrawal
    MILD = 1
    MODERATE = 2
    MODERATELY_SEVERE = 3  # COWS only
    SEVERE = 4

    @property
    def word(self) -> str:
        return self.name.lower().replace("_", " ")


class CowsItem(enum.StrEnum):
    RESTING_PULSE = "resting_pulse"
    SWEATING = "sweating"
    RESTLESSNESS = "restlessness"
    PUPIL_SIZE = "pupil_size"
    BONE_JOINT_ACHES = "bone_joint_aches"
    RUNNY_NOSE_TEARING = "runny_nose_tearing"
    GI_UPSET = "gi_upset"
    TREMOR = "tremor"
    YAWNING = "yawning"
    ANXIETY_IRRITABILITY = "anxiety_irritability"
    GOOSEFLESH = "gooseflesh"


class CiwaArItem(enum.StrEnum):
    NAUSEA_VOMITING = "nausea_vomiting"
    TREMOR = "tremor"
    PAROXYSMAL_SWEATS = "paroxysmal_sweats"
    ANXIETY = "anxiety"
    AGITATION = "agitation"
    TACTILE_DISTURBANCES = "tactile_disturbances"
    AUDITORY_DISTURBANCES = "auditory_disturbances"
    VISUAL_DISTURBANCES = "visual_disturbances"
    HEADACHE = "headache"
    ORIENTATION = "orientation"  # orientation and clouding of sensorium


class AwsItem(enum.StrEnum):
    # Somatic (vegetative) items: the first four a monitor can measure.
    PULSE = "pulse"
    DIASTOLIC_BP = "diastolic_bp"
    TEMPERATURE = "temperature"
    BREATHING_RATE = "breathing_rate"
    SWEATING = "sweating"
    TREMOR = "tremor"
    # Psychological items.
    AGITATION = "agitation"
    CONTACT = "contact"
    ORIENTATION = "orientation"
    HALLUCINATIONS = "hallucinations"
    ANXIETY = "anxiety"


WithdrawalItem: TypeAlias = CowsItem | CiwaArItem | AwsItem


@dataclass(frozen=True, slots=True)
class WithdrawalAssessment:
    """One scoring by a clinician, every item of its scale; the total and band are the scale's (stored with it,
    so history reads as it was charted). `proposed` names the items a sensor proposed and the clinician kept."""

    assessment_id: str
    patient_id: str
    scale: WithdrawalScale
    items: tuple[tuple[str, int], ...]  # (item value, score) in the scale's order
    total: int
    band: WithdrawalBand
    assessed_at: datetime
    assessed_by: str
    recorded_at: datetime
    proposed: tuple[str, ...] = ()
    note: str = ""


# What a new assessment is judged against: per scale, the patient's newest stored assessments, newest first (the
# store reads two: the newest, and the one before it that the newest was compared with). A scale never scored is absent.
WithdrawalHistory: TypeAlias = Mapping[WithdrawalScale, Sequence[WithdrawalAssessment]]
