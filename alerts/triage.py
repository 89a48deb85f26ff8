"""Personal-threshold triage: which VKP triage colour a value has under the patient's own bands, and whether a set of
bands is one a clinician can mean. Pure functions (docs/HOME_AND_TEAMS.md, "Personal thresholds")."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import pairwise

from alerts.rules import PARAMETER_NAMES
from core.errors import VaktromError
from core.homecare import VkpCode, WorklistItem, WorklistKind
from core.thresholds import (
    BAND_COLOURS,
    BREACH_COLOURS,
    MeasurementThresholds,
    ThresholdBand,
    ThresholdSet,
    TriageColour,
)
from core.types import AlertSeverity, Parameter, Reading
from core.vocabulary import measurement_of

__all__ = [
    "MAX_BANDS",
    "THRESHOLD_PARAMETERS",
    "InvalidThresholds",
    "breach_items",
    "colours_at_the_time",
    "describe_bands",
    "escalation_severity",
    "most_urgent",
    "triage",
    "triage_value",
    "validate_thresholds",
    "worklist_order",
    "worklist_urgency",
]

# The measurements a home patient's kit sends as numbers; consciousness (ACVPU) and oxygen on/off are not banded.
THRESHOLD_PARAMETERS: tuple[Parameter, ...] = (
    Parameter.SPO2,
    Parameter.PULSE,
    Parameter.RESP_RATE,
    Parameter.SYSTOLIC_BP,
    Parameter.DIASTOLIC_BP,
    Parameter.TEMPERATURE,
)
# Red, orange, yellow below and above a green: nine bands; a few more leave room for blue, never for a typing error.
MAX_BANDS = 12


class InvalidThresholds(VaktromError):
    def __init__(self, field_name: str, reason: str) -> None:
        self.field_name = field_name
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


def triage(value: float, bands: tuple[ThresholdBand, ...]) -> TriageColour:
    """The colour of the one band holding `value` (validated bands hold every value exactly once)."""
    for band in bands:
        if band.holds(value):
            return band.colour
    raise AssertionError(f"bands do not cover {value}: validate_thresholds was not applied")


def triage_value(thresholds: ThresholdSet | None, parameter: Parameter, value: float) -> TriageColour | None:
    """The personal colour of a value, or None where the patient has no thresholds for the measurement (NEWS2's
    population bands then speak for it)."""
    measurement = thresholds.of(parameter) if thresholds is not None else None
    return None if measurement is None else triage(value, measurement.bands)


def most_urgent(colours: list[TriageColour]) -> TriageColour:
    """The most urgent of `colours` (not reported when there are none)."""
    return max(colours, key=lambda c: c.rank, default=TriageColour.NOT_REPORTED)


def validate_thresholds(thresholds: ThresholdSet) -> ThresholdSet:
    """The set, or InvalidThresholds naming the field: an unbandable measurement, one named twice, bands that leave
    a gap or overlap, an unbounded band in the middle, a bound outside what a living patient can show, no green."""
    seen: set[Parameter] = set()
    for measurement in thresholds.measurements:
        name = f"thresholds[{measurement.parameter.value}]"
        if measurement.parameter not in THRESHOLD_PARAMETERS:
            allowed = ", ".join(p.value for p in THRESHOLD_PARAMETERS)
            raise InvalidThresholds(f"{name}.measurement", f"takes no thresholds (only {allowed})")
        if measurement.parameter in seen:
            raise InvalidThresholds(f"{name}.measurement", "named twice; give each measurement's bands once")
        seen.add(measurement.parameter)
        _validate_bands(name, measurement)
    return thresholds


def _validate_bands(name: str, measurement: MeasurementThresholds) -> None:
    bands = measurement.bands
    if not 1 <= len(bands) <= MAX_BANDS:
        raise InvalidThresholds(f"{name}.bands", f"give 1-{MAX_BANDS} bands, lowest first")
    for index, band in enumerate(bands):
        _validate_band(f"{name}.bands[{index}]", measurement.parameter, band)
    if bands[0].low is not None:
        raise InvalidThresholds(
            f"{name}.bands[0].low", f"the lowest band has no low bound (values below {bands[0].low:g} need a colour)"
        )
    if bands[-1].high is not None:
        raise InvalidThresholds(
            f"{name}.bands[{len(bands) - 1}].high",
            f"the highest band has no high bound (values from {bands[-1].high:g} need a colour)",
        )
    for index, (below, above) in enumerate(pairwise(bands), start=1):
        if below.high is None:
            raise InvalidThresholds(f"{name}.bands[{index - 1}].high", "only the highest band is unbounded above")
        if above.low is None:
            raise InvalidThresholds(f"{name}.bands[{index}].low", "only the lowest band is unbounded below")
        if above.low < below.high:
            raise InvalidThresholds(
                f"{name}.bands[{index}].low", f"overlaps band {index - 1}, which ends at {below.high:g} (not included)"
            )
        if above.low > below.high:
            raise InvalidThresholds(
                f"{name}.bands[{index}].low",
                f"leaves a gap from {below.high:g} to {above.low:g}; a band starts where the one below ends",
            )
    if not any(b.colour is TriageColour.GREEN for b in bands):
        raise InvalidThresholds(f"{name}.bands", "no green band: which values are this patient's normal?")


def _validate_band(name: str, parameter: Parameter, band: ThresholdBand) -> None:
    if band.colour not in BAND_COLOURS:
        raise InvalidThresholds(f"{name}.colour", f"{band.colour.value} is not a value's colour (R, O, Y, G or B)")
    measurement = measurement_of(parameter)
    least, most = measurement.plausible_min, measurement.plausible_max
    for side, bound in (("low", band.low), ("high", band.high)):
        if bound is not None and not least < bound <= most:
            unit = measurement.canonical_unit
            raise InvalidThresholds(f"{name}.{side}", f"must be above {least:g} and at most {most:g} {unit}".rstrip())
    if band.low is not None and band.high is not None and not band.low < band.high:
        raise InvalidThresholds(f"{name}.high", "must be above low (low is included, high is not)")


def describe_bands(bands: tuple[ThresholdBand, ...]) -> str:
    """ "red < 85, yellow 85-88, green 88-93, ..." (low included, high not)."""
    words = []
    for band in bands:
        if band.low is None:
            words.append(f"{band.colour.display} < {band.high:g}")
        elif band.high is None:
            words.append(f"{band.colour.display} >= {band.low:g}")
        else:
            words.append(f"{band.colour.display} {band.low:g}-{band.high:g}")
    return ", ".join(words)


def breach_items(
    readings: Iterable[Reading], thresholds: ThresholdSet | None, *, site_id: str, at: datetime
) -> list[WorklistItem]:
    """A candidate worklist item for each reading that triages yellow, orange or red under the patient's personal
    thresholds (VKP 5.2.1 "measurement reported", with the colour and the reading). The store opens it, or adds the
    reading to the open item of the same measurement and raises its colour (TriageStore.open_or_raise_breaches)."""
    items = []
    for reading in sorted(readings, key=lambda r: r.measured_at):
        colour = triage_value(thresholds, reading.parameter, reading.value)
        if colour is None or colour not in BREACH_COLOURS or thresholds is None:
            continue
        unit = measurement_of(reading.parameter).canonical_unit
        name = PARAMETER_NAMES[reading.parameter]
        summary = f"{name} {reading.value:g} {unit}: {colour.display} under the personal thresholds".replace("  ", " ")
        items.append(
            WorklistItem(
                item_id=uuid.uuid4().hex, site_id=site_id, patient_id=reading.patient_id,
                kind=WorklistKind.THRESHOLD_BREACH, vkp_code=VkpCode.MEASUREMENT_REPORTED, summary=summary,
                opened_at=at, parameter=reading.parameter, triage_colour=colour, implicated=(reading,),
            )
        )  # fmt: skip
    return items


def colours_at_the_time(readings: Iterable[Reading], history: Sequence[ThresholdSet]) -> dict[Reading, TriageColour]:
    """Each reading's colour under the thresholds in force when it was measured (`history` oldest first); readings
    of a measurement without bands then are absent."""
    colours = {}
    for reading in readings:
        in_force = next((t for t in reversed(history) if t.set_at <= reading.measured_at), None)
        colour = triage_value(in_force, reading.parameter, reading.value)
        if colour is not None:
            colours[reading] = colour
    return colours


# Where the plan's items rank among the colours: a patient nobody has heard from for days below a very urgent
# value but above an urgent one; a single missed measurement below an urgent value, above a standard one.
_UNCOLOURED_URGENCY = {WorklistKind.INACTIVE_PATIENT: 7, WorklistKind.MISSED_MEASUREMENT: 5}


def worklist_urgency(item: WorklistItem) -> int:
    """Red 10, orange 8, inactive patient 7, yellow 6, missed measurement 5, green 4, blue 2."""
    if item.triage_colour is not None:
        return item.triage_colour.rank * 2
    return _UNCOLOURED_URGENCY.get(item.kind, 0)


def worklist_order(item: WorklistItem) -> tuple[int, datetime, str]:
    """The sort key of the worklist: the most urgent first, then the oldest."""
    return (-worklist_urgency(item), item.opened_at, item.item_id)


# An escalated item's alert severity: red asks for an emergency response (high priority), anything else for a prompt
# one (medium: a coordinator escalating asks a clinician to act).
_ESCALATION_SEVERITY = {TriageColour.RED: AlertSeverity.HIGH, TriageColour.ORANGE: AlertSeverity.MEDIUM}


def escalation_severity(item: WorklistItem) -> AlertSeverity:
    colour = item.triage_colour
    return _ESCALATION_SEVERITY.get(colour, AlertSeverity.LOW_MEDIUM) if colour else AlertSeverity.LOW_MEDIUM
