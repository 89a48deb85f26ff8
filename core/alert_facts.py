"""What is known about an alert's patient at one moment: the facts an ISBAR message (alerts/isbar.py) is made from.

The store gathers them in one read (`core/store/alert_facts.py`), inside the firing transaction for a page and on
request for the page's ISBAR panel, so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from core.types import (
    Alert,
    Bed,
    CareTeamMember,
    LatestValue,
    Parameter,
    Patient,
    PatientLimit,
    PatientScore,
    RiskAssessment,
    Site,
    SpO2ScaleDecision,
    Stay,
    Ward,
)

__all__ = ["TREND_HOURS_AGO", "AlertFacts", "ScorePoint"]

# Where the NEWS2 trend is sampled, in hours before now: enough to tell a slide over a shift from a sudden change,
# few enough to read on a pager.
TREND_HOURS_AGO = (6, 4, 2, 1)


@dataclass(frozen=True, slots=True)
class ScorePoint:
    """The patient's NEWS2 as it stood `hours_ago` hours before the facts were read (the last score at or before)."""

    hours_ago: int
    total: int
    complete: bool
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """Everything the message about `alert` may say, read at `at`. Missing pieces are None or empty: a device alert
    has no patient, a patient just admitted has no trend."""

    alert: Alert
    at: datetime
    site: Site | None = None
    ward: Ward | None = None
    bed: Bed | None = None
    patient: Patient | None = None
    stay: Stay | None = None
    score: PatientScore | None = None
    latest: Mapping[Parameter, LatestValue] = field(default_factory=dict)
    trend: tuple[ScorePoint, ...] = ()  # oldest first
    risk: RiskAssessment | None = None
    care_team: tuple[CareTeamMember, ...] = ()
    spo2_scale: SpO2ScaleDecision | None = None
    limits: tuple[PatientLimit, ...] = ()  # the patient's own limits in force, set by a doctor
