"""The demo's home follow-up, seeded beside the demo unit: each home patient's measurement plan (so the coordinator's
worklist fills as windows pass unmeasured), the LAR patient's care flag, and the demo's FACT and LAR teams with the
patients of the substance-use scenarios (vaktrom/demo_teams.py), and the COPD patient's personal SpO2 thresholds.
Idempotent, like the unit's seeding."""

from __future__ import annotations

from datetime import datetime, time

from alerts.plans import first_timers
from core.care_flags import CareFlag, CareFlagChange
from core.homecare import MeasurementPlan, PlanItem
from core.store import Store
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import Parameter
from devices.demo import DEMO_SCALE2_SET_BY, DemoUnit
from devices.scenario_library import ScenarioName, demo_patient_of
from vaktrom.demo_teams import seed_demo_teams

__all__ = ["DEMO_COPD_SPO2_BANDS", "DEMO_PLAN_ITEMS", "seed_demo_follow_up"]

# A typical DHO plan: SpO2 and pulse morning and evening, temperature in the morning, each within two hours.
DEMO_PLAN_ITEMS = (
    PlanItem("spo2-pulse", frozenset({Parameter.SPO2, Parameter.PULSE}), (time(8), time(20)), 120),
    PlanItem("temperature", frozenset({Parameter.TEMPERATURE}), (time(8),), 120),
)
_ZONE = "Europe/Oslo"
_INACTIVE_AFTER_H = 48.0
_PLANNED_BY = "demo-koordinator"
_LAR_PRESCRIBER = "demo-russpesialist"
# The COPD patient's own SpO2 bands, her doctor's target 88-92 % on home oxygen (docs/HOME_AND_TEAMS.md): as the
# copd-exacerbation scenario's SpO2 falls her worklist item opens yellow below 88 and turns red below 85.
DEMO_COPD_SPO2_BANDS = (
    ThresholdBand(TriageColour.RED, None, 85),
    ThresholdBand(TriageColour.YELLOW, 85, 88),
    ThresholdBand(TriageColour.GREEN, 88, 93),
    ThresholdBand(TriageColour.YELLOW, 93, 97),
    ThresholdBand(TriageColour.ORANGE, 97, None),
)


async def seed_demo_follow_up(store: Store, unit: DemoUnit, *, now: datetime) -> None:
    for home in unit.home_patients:
        if await store.measurement_plan(home.patient_id) is None:
            plan = MeasurementPlan(home.patient_id, _ZONE, DEMO_PLAN_ITEMS, _INACTIVE_AFTER_H, _PLANNED_BY, now)
            await store.set_measurement_plan(plan, first_timers(plan, now=now, last_reading_at=None))
    if len(unit.home_patients) < 3:
        return
    lar = unit.home_patients[2].patient_id  # "in opioid agonist treatment (LAR)" (devices/demo.py)
    if not await store.care_flag_history(lar):
        reason = "LAR: buprenorfin depot (demo)"
        await store.set_care_flags(
            [CareFlagChange(lar, CareFlag.OPIOID_AGONIST_TREATMENT, True, reason, _LAR_PRESCRIBER, now)]
        )
    await seed_demo_teams(store, unit, now=now)
    copd = demo_patient_of(unit, ScenarioName.COPD_EXACERBATION)
    if not await store.threshold_history(copd):
        bands = (MeasurementThresholds(Parameter.SPO2, DEMO_COPD_SPO2_BANDS),)
        reason = "KOLS, mål 88-92 % på hjemmeoksygen (demo)"
        await store.set_thresholds(ThresholdSet(copd, bands, reason, DEMO_SCALE2_SET_BY, now))
