"""Opioid respiratory depression: for a patient with an opioid care flag on continuous monitoring, a respiration
rate or SpO2 at the levels of the PRODIGY episode definitions raises a high alert of its own, without waiting for
NEWS2 to add up; a slower fall of both, not yet at those levels, raises a medium one. Pure functions; the live
scorer decides them with NEWS2 (docs/HOME_AND_TEAMS.md)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from alerts.lifecycle import Observed
from core.care_flags import OPIOID_FLAGS, CareFlag
from core.types import AlertKey, AlertKind, AlertSeverity, CareSetting, Parameter

__all__ = [
    "RR_DEPRESSED_MAX_PER_MIN",
    "RR_TREND_MAX_PER_MIN",
    "RR_TREND_SLOPE_PER_10_MIN",
    "SPO2_DEPRESSED_MAX_PERCENT",
    "SPO2_TREND_MAX_PERCENT",
    "SPO2_TREND_SLOPE_PER_10_MIN",
    "TREND_MIN_SAMPLES",
    "TREND_MIN_SPAN_S",
    "TREND_WINDOW_S",
    "respiratory_depression_observed",
    "respiratory_trend_observed",
]

# PRODIGY's episode thresholds (Khanna et al., Anesth Analg 2020): respiration rate <= 5/min, SpO2 <= 85 %. Either,
# sustained for the confirmation delay (LifecyclePolicy.sustain_s), raises the alert. PRODIGY's research definition
# asks for 3 min; an alarm that waits 3 min on a patient breathing 4 times a minute waits too long, so vaktrom uses
# 30 s, the apnoea criterion's duration (configurable per deployment).
RR_DEPRESSED_MAX_PER_MIN = 5.0
SPO2_DEPRESSED_MAX_PERCENT = 85.0
_FLAG_WORDS = {
    CareFlag.OPIOID_AGONIST_TREATMENT: "on opioid agonist treatment",
    CareFlag.OPIOID_WITHDRAWAL: "in opioid withdrawal management",
    CareFlag.OTHER_OPIOIDS: "on opioids",
}


def respiratory_depression_observed(
    patient_id: str,
    values: Mapping[Parameter, float],
    flags: Collection[CareFlag],
    *,
    ward_id: str | None,
    at: datetime,
    setting: CareSetting,
) -> Observed:
    """The condition now: clear unless the patient has an opioid flag, is continuously monitored, and a fresh value
    is at a PRODIGY level. Always an observation, so an open alert resolves when the flag or the signs go."""
    key = AlertKey(patient_id, None, AlertKind.RESPIRATORY_DEPRESSION)
    opioid = sorted(flag for flag in flags if flag in OPIOID_FLAGS)
    if not opioid or setting is CareSetting.HOME:
        return Observed(key, None, "", at, ward_id, setting)
    signs = []
    respiration, spo2 = values.get(Parameter.RESP_RATE), values.get(Parameter.SPO2)
    if respiration is not None and respiration <= RR_DEPRESSED_MAX_PER_MIN:
        signs.append(f"respiration rate {respiration:g}/min")
    if spo2 is not None and spo2 <= SPO2_DEPRESSED_MAX_PERCENT:
        signs.append(f"SpO2 {spo2:g} %")
    if not signs:
        # Evidence only when both were measured: a probe that stopped is not breathing back to normal.
        measured = respiration is not None and spo2 is not None
        return Observed(key, None, "", at, ward_id, setting, conclusive=measured)
    why = ", ".join(_FLAG_WORDS[flag] for flag in opioid)
    message = f"Possible opioid respiratory depression: {' and '.join(signs)} ({why}) — go to the patient now"
    return Observed(key, AlertSeverity.HIGH, message, at, ward_id, setting)


# The falling trend (medium). No published criterion defines a "slow" fall; these values are vaktrom's, chosen from
# the NEWS2 chart (RCP 2017) and PRODIGY's levels, to be reviewed by the clinicians who use it:
# - over the last 10 min (TREND_WINDOW_S: long enough that a least-squares slope over a 1 Hz monitor's noise is
#   steady, about ±0.15/min per 10 min for RR noise of ±1; short enough to warn well before PRODIGY's levels),
# - respiration rate falling by 2/min or more per 10 min and SpO2 by 1 % or more per 10 min (both: a patient who
#   falls asleep slows their breathing, but keeps their saturation; opioid depression loses both),
# - and now (the fitted line's end) at a level NEWS2 already scores: respiration rate <= 11/min (its 9-11 band) and
#   SpO2 <= 95 % (its scale 1 band 94-95),
# - but not yet at PRODIGY's levels (RR <= 5, SpO2 <= 85): that is the high alert's.
# A fit needs TREND_MIN_SAMPLES values spanning TREND_MIN_SPAN_S, so a monitor just put on says nothing.
TREND_WINDOW_S = 600.0
RR_TREND_SLOPE_PER_10_MIN = -2.0
SPO2_TREND_SLOPE_PER_10_MIN = -1.0
RR_TREND_MAX_PER_MIN = 11.0
SPO2_TREND_MAX_PERCENT = 95.0
TREND_MIN_SAMPLES = 3
TREND_MIN_SPAN_S = 300.0


@dataclass(frozen=True, slots=True)
class _Fit:
    slope_per_10_min: float
    start: float  # the fitted line at the window's first value
    end: float  # at its last
    last: float  # the last value itself


def _fit(samples: Sequence[tuple[datetime, float]], at: datetime) -> _Fit | None:
    """Least squares over the values measured in the window before `at`; None when too few or too short."""
    window = sorted((t, v) for t, v in samples if 0 <= (at - t).total_seconds() <= TREND_WINDOW_S)
    if len(window) < TREND_MIN_SAMPLES:
        return None
    xs = [(t - window[0][0]).total_seconds() for t, _ in window]
    if xs[-1] < TREND_MIN_SPAN_S:
        return None
    ys = [v for _, v in window]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)
    # To a millionth: a fall of exactly 2/min in 10 min is one, whatever the float arithmetic's last bits say.
    start, end = mean_y - slope * mean_x, mean_y + slope * (xs[-1] - mean_x)
    return _Fit(round(slope * 600.0, 6), round(start, 6), round(end, 6), ys[-1])


def respiratory_trend_observed(
    patient_id: str,
    history: Mapping[Parameter, Sequence[tuple[datetime, float]]],
    flags: Collection[CareFlag],
    *,
    ward_id: str | None,
    at: datetime,
    setting: CareSetting,
) -> Observed:
    """The falling-trend condition now, from the patient's respiration rate and SpO2 values (time, value) of about
    the last TREND_WINDOW_S: medium when both fall as the constants above say, otherwise clear."""
    key = AlertKey(patient_id, None, AlertKind.RESPIRATORY_TREND)
    clear = Observed(key, None, "", at, ward_id, setting)
    opioid = sorted(flag for flag in flags if flag in OPIOID_FLAGS)
    if not opioid or setting is CareSetting.HOME:
        return clear
    rr = _fit(history.get(Parameter.RESP_RATE, ()), at)
    spo2 = _fit(history.get(Parameter.SPO2, ()), at)
    if rr is None or spo2 is None:  # too few values to fit: no evidence either way
        return replace(clear, conclusive=False)
    falling = rr.slope_per_10_min <= RR_TREND_SLOPE_PER_10_MIN and spo2.slope_per_10_min <= SPO2_TREND_SLOPE_PER_10_MIN
    low = rr.end <= RR_TREND_MAX_PER_MIN and spo2.end <= SPO2_TREND_MAX_PERCENT
    episode = rr.last <= RR_DEPRESSED_MAX_PER_MIN or spo2.last <= SPO2_DEPRESSED_MAX_PERCENT
    if not (falling and low) or episode:
        return clear
    why = ", ".join(_FLAG_WORDS[flag] for flag in opioid)
    message = (
        f"Breathing slowing: respiration rate {rr.start:.0f} → {rr.end:.0f}/min and SpO2 {spo2.start:.0f} → "
        f"{spo2.end:.0f} % over the last {TREND_WINDOW_S / 60:.0f} min ({why}) — see the patient"
    )
    return Observed(key, AlertSeverity.MEDIUM, message, at, ward_id, setting)
