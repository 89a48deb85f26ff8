"""The demo's home follow-up: every home patient gets a plan (with its timers armed) and the LAR patient her care
flag, once, however often the demo starts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core.care_flags import CareFlag
from core.homecare import ACTIVITY_TIMER
from core.store.sqlite import SqliteStore
from devices.demo import seed_demo_unit
from vaktrom.demo_follow_up import DEMO_PLAN_ITEMS, seed_demo_follow_up

NOW = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


async def test_each_home_patient_is_followed_by_a_plan_and_the_lar_patient_is_flagged_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "demo.db")
    await store.open()
    try:
        unit = await seed_demo_unit(store, now=NOW)
        for _ in range(2):  # a second start of the demo changes nothing
            await seed_demo_follow_up(store, unit, now=NOW)

        for home in unit.home_patients:
            plan = await store.measurement_plan(home.patient_id)
            assert plan is not None and plan.items == DEMO_PLAN_ITEMS
            timers = {t.item_id for t in await store.plan_timers(home.patient_id)}
            assert timers == {"spo2-pulse", "temperature", ACTIVITY_TIMER}
        lar = unit.home_patients[2].patient_id
        assert await store.care_flags([lar]) == {lar: frozenset({CareFlag.OPIOID_AGONIST_TREATMENT})}
        assert len(await store.care_flag_history(lar)) == 1
    finally:
        await store.close()
