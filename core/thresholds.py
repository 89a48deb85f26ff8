"""Personal thresholds: per measurement, the value bands a patient's clinician maps to the VKP triage colours
(docs/HOME_AND_TEAMS.md, "Personal thresholds"). What a value triages to: alerts/triage.py."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.types import AlertKind, AlertSeverity, Parameter

__all__ = [
    "ALERT_COLOURS",
    "BAND_COLOURS",
    "BREACH_COLOURS",
    "WORKLIST_ALERT_KINDS",
    "MeasurementThresholds",
    "ThresholdBand",
    "ThresholdSet",
    "TriageColour",
]


class TriageColour(enum.StrEnum):
    """HL7 Norway's VKP triage code system (http://ehelse.no/fhir/CodeSystem/vkp-triage-v090)."""

    RED = "R"  # immediate
    ORANGE = "O"  # very urgent
    YELLOW = "Y"  # urgent
    GREEN = "G"  # standard
    BLUE = "B"  # non urgent
    BLACK = "BL"  # expectant
    NOT_REPORTED = "NR"

    @property
    def display(self) -> str:
        return _DISPLAY[self]

    @property
    def rank(self) -> int:
        """Urgency: red 5 ... blue 1; black (expectant) and not reported 0 (neither is a value's colour)."""
        return _RANK[self]


_DISPLAY = {
    TriageColour.RED: "red",
    TriageColour.ORANGE: "orange",
    TriageColour.YELLOW: "yellow",
    TriageColour.GREEN: "green",
    TriageColour.BLUE: "blue",
    TriageColour.BLACK: "black",
    TriageColour.NOT_REPORTED: "not reported",
}
_RANK = {
    TriageColour.RED: 5,
    TriageColour.ORANGE: 4,
    TriageColour.YELLOW: 3,
    TriageColour.GREEN: 2,
    TriageColour.BLUE: 1,
    TriageColour.BLACK: 0,
    TriageColour.NOT_REPORTED: 0,
}
# The colours a band of values may have: "expectant" is a judgement about a patient, "not reported" the lack of a
# value; neither describes a measured value.
BAND_COLOURS = frozenset(
    {TriageColour.RED, TriageColour.ORANGE, TriageColour.YELLOW, TriageColour.GREEN, TriageColour.BLUE}
)
# A home patient's reading of these colours puts the patient on the coordinators' worklist.
BREACH_COLOURS = frozenset({TriageColour.RED, TriageColour.ORANGE, TriageColour.YELLOW})
# A home patient's alert on the worklist takes the colour of the response its severity asks for: NEWS2 >= 7 is an
# emergency response (immediate), 5-6 an urgent one (very urgent), a single 3 a prompt one (urgent).
ALERT_COLOURS = {
    AlertSeverity.HIGH: TriageColour.RED,
    AlertSeverity.MEDIUM: TriageColour.ORANGE,
    AlertSeverity.LOW_MEDIUM: TriageColour.YELLOW,
    AlertSeverity.INFO: TriageColour.GREEN,
}
# The alerts of a home patient a coordinator follows up: the patient's condition. A kit's battery or silence is not
# listed: the plan's missed-measurement and inactive-patient items cover a patient who stops sending.
WORKLIST_ALERT_KINDS = frozenset(
    {
        AlertKind.NEWS2,
        AlertKind.ML_RISK,
        AlertKind.PATIENT_LIMIT,
        AlertKind.RESPIRATORY_DEPRESSION,
        AlertKind.RESPIRATORY_TREND,
        AlertKind.WITHDRAWAL_RISING,
    }
)


@dataclass(frozen=True, slots=True)
class ThresholdBand:
    """Values `low` <= v < `high` triage `colour`; None is unbounded on that side ("SpO2 88-92" is low 88, high 93)."""

    colour: TriageColour
    low: float | None
    high: float | None

    def holds(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value < self.high)


@dataclass(frozen=True, slots=True)
class MeasurementThresholds:
    """One measurement's bands, lowest first; validated bands cover every value exactly once."""

    parameter: Parameter
    bands: tuple[ThresholdBand, ...]


@dataclass(frozen=True, slots=True)
class ThresholdSet:
    """A patient's personal thresholds as set at once; the newest set is in force (an empty one clears them)."""

    patient_id: str
    measurements: tuple[MeasurementThresholds, ...]
    reason: str
    set_by: str
    set_at: datetime

    def of(self, parameter: Parameter) -> MeasurementThresholds | None:
        return next((m for m in self.measurements if m.parameter is parameter), None)
