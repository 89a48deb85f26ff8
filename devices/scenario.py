"""Simulated patients' vital signs as pure functions of scenario time: stable baselines, a sepsis-like decline, and a
COPD patient who lives at SpO2 88-92 % and now and then has an exacerbation."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from core.types import Consciousness

__all__ = [
    "COPD_BASELINE",
    "COPD_EXACERBATION_KEYFRAMES",
    "SEPSIS_KEYFRAMES",
    "Keyframe",
    "Scenario",
    "Vitals",
    "copd_scenario",
    "sepsis_scenario",
    "stable_scenario",
    "vitals_at",
]


@dataclass(frozen=True, slots=True)
class Vitals:
    """What a patient shows at one moment. ACVPU and oxygen are charted by a nurse, not measured by a sensor."""

    heart_rate_bpm: float
    resp_rate_per_min: float
    spo2_percent: float
    systolic_bp_mmhg: float
    diastolic_bp_mmhg: float
    temperature_c: float
    consciousness: Consciousness = Consciousness.ALERT
    on_oxygen: bool = False


@dataclass(frozen=True, slots=True)
class Keyframe:
    """The vitals `at_s` seconds into a deterioration; numbers are interpolated linearly between keyframes,
    consciousness and oxygen change in steps (a nurse charts them when they change)."""

    at_s: float
    vitals: Vitals


@dataclass(frozen=True, slots=True)
class Scenario:
    """A cycle: baseline for `onset_s`, decline through the keyframes, plateau, recovery (the decline backwards),
    rest at baseline; then it starts again, so a demo left running keeps showing change. One keyframe: stable."""

    keyframes: tuple[Keyframe, ...]
    onset_s: float = 60.0
    plateau_s: float = 300.0
    recover_s: float = 300.0
    rest_s: float = 240.0

    def __post_init__(self) -> None:
        if not self.keyframes or self.keyframes[0].at_s != 0:
            raise ValueError("a scenario needs a first keyframe at 0 s (the baseline)")
        times = [k.at_s for k in self.keyframes]
        if times != sorted(set(times)):
            raise ValueError("keyframe times must increase")

    @property
    def baseline(self) -> Vitals:
        return self.keyframes[0].vitals

    @property
    def decline_s(self) -> float:
        return self.keyframes[-1].at_s

    @property
    def period_s(self) -> float:
        return self.onset_s + self.decline_s + self.plateau_s + self.recover_s + self.rest_s

    def decline_time(self, t_s: float) -> float:
        """Scenario time -> how far along the decline the patient is (0 = baseline, decline_s = worst)."""
        if len(self.keyframes) == 1:
            return 0.0
        phase = t_s % self.period_s
        for length, position in (
            (self.onset_s, lambda _: 0.0),
            (self.decline_s, lambda x: x),
            (self.plateau_s, lambda _: self.decline_s),
            (self.recover_s, lambda x: self.decline_s * (1.0 - x / self.recover_s)),
        ):
            if phase < length:
                return position(phase)
            phase -= length
        return 0.0


def stable_scenario(baseline: Vitals) -> Scenario:
    return Scenario(keyframes=(Keyframe(0.0, baseline),))


# Sepsis-like decline over 10 minutes (time compressed from hours for the demo). NEWS2 by the RCP chart on these
# values: 0 at 0 s, 1 at 180 s, 5 at 300 s (RR 22, SpO2 95, pulse 106, 38.4 °C), 10 at 390 s once a nurse starts
# oxygen, 18 at 600 s (RR 28, SpO2 90 on oxygen, SBP 90, pulse 130, 39.3 °C, new confusion).
SEPSIS_KEYFRAMES: tuple[Keyframe, ...] = (
    Keyframe(0.0, Vitals(78, 16, 97, 124, 76, 37.0)),
    Keyframe(180.0, Vitals(94, 19, 96, 118, 72, 37.8)),
    Keyframe(300.0, Vitals(106, 22, 95, 112, 68, 38.4)),
    Keyframe(390.0, Vitals(112, 23, 93, 108, 64, 38.6, on_oxygen=True)),
    Keyframe(510.0, Vitals(122, 26, 91, 98, 58, 39.0, Consciousness.NEW_CONFUSION, on_oxygen=True)),
    Keyframe(600.0, Vitals(130, 28, 90, 90, 54, 39.3, Consciousness.NEW_CONFUSION, on_oxygen=True)),
)


def sepsis_scenario(*, onset_s: float = 60.0, rest_s: float = 240.0) -> Scenario:
    """`rest_s`: time at baseline after recovery before the next decline (the demo's 4 min keeps it lively; longer
    than the 30 min hold lets each episode's alert resolve, so every episode is a new alert, as on a ward)."""
    return Scenario(keyframes=SEPSIS_KEYFRAMES, onset_s=onset_s, rest_s=rest_s)


# A COPD patient (chronic hypercapnic respiratory failure) who lives at SpO2 88-92 % on air: on SpO2 scale 1 her 90 %
# scores 3, a permanent single-3 alert unless a doctor sets her own limits or prescribes scale 2. Every other value
# sits a few noise SDs inside its band (NEWS2 3 on scale 1, 0 on scale 2).
COPD_BASELINE = Vitals(84, 17, 90, 134, 80, 36.9)
# An infective exacerbation over 20 min: NEWS2 (scale 1) 3 at 0 s, 6 at 600 s (RR 22, SpO2 87, pulse 98),
# 10 at 900 s once a nurse starts oxygen, 14 at 1200 s (RR 28, SpO2 86 on oxygen, pulse 116, 38.4 °C, new confusion).
COPD_EXACERBATION_KEYFRAMES: tuple[Keyframe, ...] = (
    Keyframe(0.0, COPD_BASELINE),
    Keyframe(600.0, Vitals(98, 22, 87, 138, 82, 37.6)),
    Keyframe(900.0, Vitals(108, 25, 86, 142, 84, 38.1, on_oxygen=True)),
    Keyframe(1200.0, Vitals(116, 28, 86, 146, 86, 38.4, Consciousness.NEW_CONFUSION, on_oxygen=True)),
)


def copd_scenario(*, onset_s: float = 6 * 3600.0, rest_s: float = 6 * 3600.0) -> Scenario:
    """Stable at 88-92 % for `onset_s`, an exacerbation (20 min decline, 30 min at worst, 30 min recovery), then
    `rest_s` at baseline before the next."""
    return Scenario(
        keyframes=COPD_EXACERBATION_KEYFRAMES, onset_s=onset_s, plateau_s=1800.0, recover_s=1800.0, rest_s=rest_s
    )


# Measurement noise, one standard deviation, roughly what consecutive readings of a resting patient vary by.
_NOISE_SD = {
    "heart_rate_bpm": 1.5,
    "resp_rate_per_min": 0.8,
    "spo2_percent": 0.6,
    "systolic_bp_mmhg": 3.0,
    "diastolic_bp_mmhg": 2.0,
    "temperature_c": 0.05,
}
# Devices report whole numbers, temperature to 0.1 °C.
_DECIMALS = {name: (1 if name == "temperature_c" else 0) for name in _NOISE_SD}


def vitals_at(scenario: Scenario, t_s: float, rng: random.Random | None) -> Vitals:
    """The patient's vitals `t_s` seconds into the scenario, at device resolution. `rng` None: no noise."""
    exact = _interpolate(scenario.keyframes, scenario.decline_time(t_s))

    def noisy(name: str) -> float:
        value = float(getattr(exact, name)) + (rng.gauss(0.0, _NOISE_SD[name]) if rng is not None else 0.0)
        value = round(value, _DECIMALS[name])
        return min(100.0, value) if name == "spo2_percent" else value

    return _map_numbers(exact, noisy)


def _interpolate(keyframes: tuple[Keyframe, ...], at_s: float) -> Vitals:
    before = keyframes[0]
    for after in keyframes[1:]:
        if at_s < after.at_s:
            return _between(before, after, at_s)
        before = after
    return before.vitals


def _between(before: Keyframe, after: Keyframe, at_s: float) -> Vitals:
    share = (at_s - before.at_s) / (after.at_s - before.at_s)
    start, end = before.vitals, after.vitals
    return _map_numbers(start, lambda name: _lerp(getattr(start, name), getattr(end, name), share))


def _map_numbers(base: Vitals, number: Callable[[str], float]) -> Vitals:
    """`base` with each measured number replaced by `number(field name)`; charted ACVPU and oxygen kept."""
    return Vitals(
        heart_rate_bpm=number("heart_rate_bpm"),
        resp_rate_per_min=number("resp_rate_per_min"),
        spo2_percent=number("spo2_percent"),
        systolic_bp_mmhg=number("systolic_bp_mmhg"),
        diastolic_bp_mmhg=number("diastolic_bp_mmhg"),
        temperature_c=number("temperature_c"),
        consciousness=base.consciousness,
        on_oxygen=base.on_oxygen,
    )


def _lerp(start: float, end: float, share: float) -> float:
    return start + (end - start) * share
