"""Simulated home patients over days: a COPD exacerbation with SpO2 falling out of her personal target, and when a
patient measures (at her plan's times, until she stops). Pure functions of scenario time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from devices.scenario import Keyframe, Scenario, Vitals

__all__ = [
    "COPD_HOME_KEYFRAMES_D",
    "COPD_TARGET_SPO2_PERCENT",
    "MeasuringHabit",
    "check_times",
    "copd_home_exacerbation_scenario",
]

# Her personal SpO2 target, set by her lung doctor (BTS: 88-92 % for a patient at risk of hypercapnic failure).
COPD_TARGET_SPO2_PERCENT = (88.0, 92.0)
# A COPD patient with hypercapnic failure on long-term home oxygen, SpO2 scale 2 (devices/demo.py), over 5 days: two
# stable days inside her target, then an infective exacerbation. Times in days. NEWS2 on scale 2 (on oxygen, no
# ACVPU at home, so a lower bound): 2 at 0-1 d (oxygen); 3 at 2 d (pulse 92; SpO2 88 % still in her target);
# 7 at 3 d (RR 23, SpO2 85 %, pulse 100); 10 at 4 d (RR 26, SpO2 83 %, pulse 108, 38.2 °C). SpO2 leaves her target
# (< 88 %) a little after 2 d. On scale 1 the same readings would score 5 from the first day (SpO2 90 % on oxygen:
# 3 + 2), a permanent alert that tells nobody anything.
COPD_HOME_KEYFRAMES_D: tuple[tuple[float, Vitals], ...] = (
    (0.0, Vitals(86, 18, 90, 136, 82, 36.9, on_oxygen=True)),
    (1.0, Vitals(86, 18, 90, 136, 82, 36.9, on_oxygen=True)),
    (2.0, Vitals(92, 20, 88, 138, 84, 37.2, on_oxygen=True)),
    (3.0, Vitals(100, 23, 85, 142, 86, 37.8, on_oxygen=True)),
    (4.0, Vitals(108, 26, 83, 146, 88, 38.2, on_oxygen=True)),
)


def copd_home_exacerbation_scenario(*, day_s: float = 86_400.0, rest_d: float = 3.0) -> Scenario:
    """The 4-day decline with `day_s` seconds to the day (tests on a fake clock use 86400; the demo's home clock runs
    VAKTROM_SIMULATION_SPEED times faster), a day at worst, 3 days of recovery (antibiotics, steroids), `rest_d`."""
    if day_s <= 0:
        raise ValueError("day_s must be positive")
    keyframes = tuple(Keyframe(at_d * day_s, vitals) for at_d, vitals in COPD_HOME_KEYFRAMES_D)
    return Scenario(keyframes=keyframes, onset_s=0.0, plateau_s=day_s, recover_s=3 * day_s, rest_s=rest_d * day_s)


@dataclass(frozen=True, slots=True)
class MeasuringHabit:
    """When a home patient measures: at each of `local_times` (her plan's), `delay_min` after it, every day, in
    `zone`, until `stops_at` (None: she never stops)."""

    local_times: tuple[time, ...]
    zone: str = "Europe/Oslo"
    delay_min: float = 20.0  # breakfast first: well inside a two-hour window
    stops_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.local_times:
            raise ValueError("a measuring habit needs at least one time of day")
        if self.delay_min < 0:
            raise ValueError("delay_min cannot be negative")


def check_times(habit: MeasuringHabit, *, start: datetime, until: datetime) -> list[datetime]:
    """Every spot check in [start, until) (UTC, in order), none at or after `habit.stops_at`. A local time the clocks
    skip is measured an hour later on the new clock, one shown twice once: the patient goes by her wall clock."""
    zone = ZoneInfo(habit.zone)
    end = until if habit.stops_at is None else min(until, habit.stops_at)
    day = start.astimezone(zone).date() - timedelta(days=1)
    checks: set[datetime] = set()
    while datetime.combine(day, time(0), zone) < end + timedelta(days=1):
        for local in habit.local_times:
            wall = datetime.combine(day, local) + timedelta(minutes=habit.delay_min)
            at = wall.replace(tzinfo=zone).astimezone(zone)  # normalise a skipped wall time, as the clock does
            utc = at.astimezone(UTC)
            if start <= utc < end:
                checks.add(utc)
        day += timedelta(days=1)
    return sorted(checks)
