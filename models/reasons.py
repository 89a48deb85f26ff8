"""Model features in words a nurse understands: "respiration rate rising over 6 h", "SpO2 91 % now", "on oxygen"."""

from __future__ import annotations

import math
import re

from core.types import Parameter
from models.features import ADMISSION_HOURS_CAP, VITALS
from models.severity import SEVERITY_SIDES

__all__ = ["describe_feature", "feature_subject"]

_WORDS: dict[str, tuple[str, str, str]] = {  # parameter value -> (words, unit, number format)
    Parameter.PULSE.value: ("heart rate", "/min", ".0f"),
    Parameter.SPO2.value: ("SpO2", "%", ".0f"),
    Parameter.TEMPERATURE.value: ("temperature", "°C", ".1f"),
    Parameter.SYSTOLIC_BP.value: ("systolic blood pressure", "mmHg", ".0f"),
    Parameter.DIASTOLIC_BP.value: ("diastolic blood pressure", "mmHg", ".0f"),
    Parameter.RESP_RATE.value: ("respiration rate", "/min", ".0f"),
    Parameter.SUPPLEMENTAL_O2.value: ("oxygen", "", ".0f"),
}
_VITAL_FEATURE = re.compile(
    r"^(?P<vital>" + "|".join(v.value for v in VITALS) + r")_(?P<stat>[a-z_]+?)(?:_(?P<window>\d+)h)?(?:_mean)?$"
)
# Severity features (models/severity.py) hold the distance from normal on one side; the phrase gives the value back.
_SEVERITY_FEATURE = re.compile(
    r"^(?P<vital>" + "|".join(v.value for v in VITALS) + r")_(?P<side>high|low)_(?P<stat>last|mean|max|min)"
    r"(?:_(?P<window>\d+)h)?$"
)
_SIDE: dict[tuple[str, str], tuple[float, float]] = {(v.value, side): (c, sign) for v, side, c, sign in SEVERITY_SIDES}
_NOT_VITAL = frozenset({"pulse_pressure_mmhg"})  # starts with "pulse_" but is about blood pressure
_NEWS2_FEATURE = re.compile(r"^news2_(?P<what>[a-z0-9_]+?)(?:_change_(?P<window>\d+)h)?$")
_NEWS2_WINDOW_FEATURE = re.compile(r"^news2_(?P<what>[a-z0-9_]+?)_(?P<stat>max|min|mean)_(?P<window>\d+)h$")


def feature_subject(name: str) -> str:
    """What a feature is about (a vital sign, NEWS2, oxygen...), so a list of reasons names each subject once."""
    match = _VITAL_FEATURE.match(name)
    if match and name not in _NOT_VITAL:
        return match["vital"]
    if name.startswith("news2_"):
        return "news2"
    return name


def describe_feature(name: str, value: float, reference: float) -> str | None:
    """A short phrase for feature `name` at `value`; `reference` is its typical (training median) value.

    None when the value is unknown, so there is nothing honest to say about it.
    """
    if math.isnan(value):
        return None
    severity = _SEVERITY_FEATURE.match(name)
    if severity:
        return _describe_severity(severity["vital"], severity["side"], severity["stat"], severity["window"], value)
    vital = _VITAL_FEATURE.match(name)
    if vital and name not in _NOT_VITAL:
        return _describe_vital(vital["vital"], vital["stat"], vital["window"], value, reference)
    news2_window = _NEWS2_WINDOW_FEATURE.match(name)
    if news2_window:
        return _describe_news2_window(news2_window["what"], news2_window["stat"], news2_window["window"], value)
    news2 = _NEWS2_FEATURE.match(name)
    if news2:
        return _describe_news2(news2["what"], news2["window"], value)
    return _describe_other(name, value, reference)


def _describe_vital(vital: str, stat: str, window: str | None, value: float, reference: float) -> str:
    words, unit, fmt = _WORDS[vital]
    shown = f"{value:{fmt}} {unit}".strip()
    if stat == "slope":
        return f"{words} {'rising' if value > 0 else 'falling'} over {window} h"
    if stat == "change_from":
        return f"{words} {'up' if value > 0 else 'down'} {abs(value):{fmt}} {unit} from its 24 h average"
    if stat == "change_from_first":
        return f"{words} {'up' if value > 0 else 'down'} {abs(value):{fmt}} {unit} since admission or {window} h ago"
    if stat == "change_from_min":
        return f"{words} {abs(value):{fmt}} {unit} above its lowest in {window} h"
    if stat == "change_from_max":
        return f"{words} {abs(value):{fmt}} {unit} below its highest in {window} h"
    if stat == "std":
        return f"{words} {'unsteady' if value > reference else 'steady'} over {window} h"
    if stat == "hours_since":
        return f"no {words} for {value:.0f} h" if value >= 1 else f"{words} measured this hour"
    # Levels as facts, not as "high" or "low": the model compares with ICU patients, and "respiration rate high" for
    # 16/min would read as a false alarm. Which side of typical decides the wording of a window's lowest or highest.
    if stat == "last":
        return f"{words} {shown} now"
    if stat == "min":
        return (
            f"{words} not below {shown} in {window} h"
            if value > reference
            else f"{words} down to {shown} in {window} h"
        )
    if stat == "max":
        return (
            f"{words} up to {shown} in {window} h" if value > reference else f"{words} not above {shown} in {window} h"
        )
    return f"{words} {shown} on average over {window} h"  # mean


def _describe_severity(vital: str, side: str, stat: str, window: str | None, distance: float) -> str:
    words, unit, fmt = _WORDS[vital]
    centre, sign = _SIDE[(vital, side)]
    shown = f"{centre + sign * distance:{fmt}} {unit}".strip()
    if stat == "last":
        return f"{words} {shown} now"
    if stat == "mean":
        return f"{words} {shown} on average over {window} h"
    if stat == "max":
        return f"{words} {'up' if side == 'high' else 'down'} to {shown} in {window} h"
    # The least abnormal value of the window: at least this bad for that long.
    return f"{words} {'at least' if side == 'high' else 'at most'} {shown} throughout the last {window} h"


def _describe_news2(what: str, window: str | None, value: float) -> str:
    if what == "parameters_present":
        return f"only {value:.0f} of 6 NEWS2 parameters recorded"
    subject = "NEWS2" if what == "total" else f"NEWS2 {_WORDS.get(what, (what.replace('_', ' '),))[0]} score"
    if window is not None:
        return f"{subject} {'up' if value > 0 else 'down'} {abs(value):.0f} in {window} h"
    return f"{subject} {value:.0f}"


def _describe_news2_window(what: str, stat: str, window: str, value: float) -> str:
    subject = "NEWS2" if what == "total" else f"NEWS2 {_WORDS.get(what, (what.replace('_', ' '),))[0]} score"
    if stat == "max":
        return f"{subject} up to {value:.0f} in the last {window} h"
    if stat == "min":
        return f"{subject} at least {value:.0f} throughout the last {window} h"
    return f"{subject} {value:.1f} on average over {window} h"


def _describe_other(name: str, value: float, reference: float) -> str:
    if name == "on_oxygen":
        return "on oxygen" if value >= 0.5 else "on room air"
    if name == "age_years":
        return f"age {value:.0f}"
    if name == "male":
        return "male" if value >= 0.5 else "female"
    if name == "hours_since_admission":  # counted up to the cap only: beyond it, say no more than that
        if value >= ADMISSION_HOURS_CAP:
            return f"admitted more than {ADMISSION_HOURS_CAP:.0f} h ago"
        return f"{value:.0f} h since admission"
    if name.startswith("shock_index_slope"):
        rising = "rising" if value > 0 else "falling"
        return f"heart rate {rising} relative to blood pressure over {name.rsplit('_', 1)[-1].removesuffix('h')} h"
    if name.startswith("shock_index"):
        relation = "high" if value > reference else "low"
        return f"heart rate {relation} relative to blood pressure (shock index {value:.2f})"
    if name == "pulse_pressure_mmhg":
        return f"{'wide' if value > reference else 'narrow'} pulse pressure ({value:.0f} mmHg)"
    if name.startswith("core_vitals_seen"):
        return f"only {value:.0f} core vital signs in the last 12 h"
    return name.replace("_", " ")
