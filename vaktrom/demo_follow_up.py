"""The demo's home follow-up, seeded beside the demo unit: each home patient's measurement plan (so the coordinator's
worklist fills as windows pass unmeasured), the LAR patient's care flag, and the demo's FACT and LAR teams with the
patients of the substance-use scenarios (vaktrom/demo_teams.py). Idempotent, like the unit's seeding."""

from __future__ import annotations

from datetime import datetime, time

from alerts.plans import first_timers
from core.care_flags import CareFlag, CareFlagChange
from core.homecare import MeasurementPlan, PlanItem
from core.store import Store
from core.types import Parameter
from devices.demo import DemoUnit
from vaktrom.demo_teams import seed_demo_teams

__all__ = ["DEMO_PLAN_ITEMS", "seed_demo_follow_up"]

# A typical DHO plan: SpO2 and pulse morning and evening, temperature in the morning, each within two hours.
DEMO_PLAN_ITEMS = (
    PlanItem("spo2-pulse", frozenset({Parameter.SPO2, Parameter.PULSE}), (time(8), time(20)), 120),
    PlanItem("temperature", frozenset({Parameter.TEMPERATURE}), (time(8),), 120),
)
_ZONE = "Europe/Oslo"
_INACTIVE_AFTER_H = 48.0
_PLANNED_BY = "demo-koordinator"
_LAR_PRESCRIBER = "demo-russpesialist"


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
