"""The scenario library by name (`vaktrom simulate --scenario NAME`), and who plays each in the demo unit."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time

from devices.demo import DemoUnit
from devices.scenario import SEPSIS_KEYFRAMES, Scenario, sepsis_scenario, stable_scenario
from devices.scenarios_home import MeasuringHabit, copd_home_exacerbation_scenario
from devices.scenarios_sud import alcohol_withdrawal_scenario, opioid_respiratory_depression_scenario

__all__ = [
    "DEFAULT_SCENARIOS",
    "DEMO_HOUR_S",
    "SCENARIO_SUMMARIES",
    "Casting",
    "ScenarioName",
    "demo_casting",
    "demo_patient_of",
]


class ScenarioName(enum.StrEnum):
    SEPSIS = "sepsis"  # a bedside patient deteriorating over 10 min (devices/scenario.py)
    OPIOID_RESPIRATORY_DEPRESSION = "opioid-respiratory-depression"  # RR and SpO2 falling over minutes, KAD bed
    ALCOHOL_WITHDRAWAL = "alcohol-withdrawal"  # pulse, BP, temperature rising over hours, KAD bed
    COPD_EXACERBATION = "copd-exacerbation"  # SpO2 falling out of her 88-92 % target over days, at home
    STOPS_MEASURING = "stops-measuring"  # a home patient followed by a FACT team who stops measuring


SCENARIO_SUMMARIES: Mapping[ScenarioName, str] = {
    ScenarioName.SEPSIS: "bed 3 deteriorates like sepsis over 10 min, recovers, and again",
    ScenarioName.OPIOID_RESPIRATORY_DEPRESSION: "bed 5, a LAR patient on opioid agonist treatment: SpO2, then "
    "breathing, fall over 7 min",
    ScenarioName.ALCOHOL_WITHDRAWAL: "bed 6, in alcohol withdrawal: pulse, BP, temperature and breathing rise over "
    "16 h, played in 8 min",
    ScenarioName.COPD_EXACERBATION: "home patient 1, COPD on SpO2 scale 2: out of her 88-92 % target over 4 days of "
    "the home clock, which VAKTROM_SIMULATION_SPEED speeds up (720: a day in 2 min)",
    ScenarioName.STOPS_MEASURING: "home patient 2, followed by the FACT team: measures no more, so her plan's "
    "windows close unmeasured",
}
# What `make run` plays when no scenario is named: the sepsis bed, as before; name more with --scenario.
DEFAULT_SCENARIOS: tuple[ScenarioName, ...] = (ScenarioName.SEPSIS,)
# The demo plays an hour of alcohol withdrawal in 30 s: the whole rise in 8 min, like the sepsis bed's.
DEMO_HOUR_S = 30.0
# The demo's cast, by position in devices/demo.py's unit (bed 3 is unit.deteriorating_patient_id).
_OPIOID_BED, _WITHDRAWAL_BED = 4, 5  # beds 5 and 6
_COPD_HOME, _STOPPED_HOME = 0, 1  # home patients 1 (scale 2) and 2 (followed by the FACT team)
# The plan's times (vaktrom/demo_follow_up.py): a patient who stopped is still asked to measure at them.
_PLAN_TIMES = (time(8), time(20))


@dataclass(frozen=True, slots=True)
class Casting:
    """Patient id -> the scenario they play (any other patient is stable) and -> when they measure at home
    (without a habit, a home patient measures on the simulator's cadence)."""

    scenarios: Mapping[str, Scenario] = field(default_factory=dict)
    habits: Mapping[str, MeasuringHabit] = field(default_factory=dict)


def demo_patient_of(unit: DemoUnit, name: ScenarioName) -> str:
    """The demo patient who plays `name`."""
    if name is ScenarioName.SEPSIS:
        assert unit.deteriorating_patient_id is not None
        return unit.deteriorating_patient_id
    if name is ScenarioName.OPIOID_RESPIRATORY_DEPRESSION:
        return unit.beds[_OPIOID_BED].patient_id
    if name is ScenarioName.ALCOHOL_WITHDRAWAL:
        return unit.beds[_WITHDRAWAL_BED].patient_id
    if name is ScenarioName.COPD_EXACERBATION:
        return unit.home_patients[_COPD_HOME].patient_id
    return unit.home_patients[_STOPPED_HOME].patient_id


def demo_casting(unit: DemoUnit, names: Collection[ScenarioName], *, started_at: datetime) -> Casting:
    """The demo unit playing `names`; the sepsis bed rests at its baseline unless SEPSIS is named."""
    scenarios: dict[str, Scenario] = {}
    habits: dict[str, MeasuringHabit] = {}
    if ScenarioName.SEPSIS not in names:
        scenarios[demo_patient_of(unit, ScenarioName.SEPSIS)] = stable_scenario(SEPSIS_KEYFRAMES[0].vitals)
    for name in names:
        patient_id = demo_patient_of(unit, name)
        if name is ScenarioName.SEPSIS:
            scenarios[patient_id] = sepsis_scenario()
        elif name is ScenarioName.OPIOID_RESPIRATORY_DEPRESSION:
            scenarios[patient_id] = opioid_respiratory_depression_scenario()
        elif name is ScenarioName.ALCOHOL_WITHDRAWAL:
            scenarios[patient_id] = alcohol_withdrawal_scenario(hour_s=DEMO_HOUR_S)
        elif name is ScenarioName.COPD_EXACERBATION:
            scenarios[patient_id] = copd_home_exacerbation_scenario()
        else:  # she stopped before the demo started: her kit is on, she does not use it
            habits[patient_id] = MeasuringHabit(_PLAN_TIMES, stops_at=started_at)
    return Casting(scenarios, habits)
