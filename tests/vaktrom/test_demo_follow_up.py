"""The demo's home follow-up: every home patient gets a plan (with its timers armed), the LAR patient her care flag
and the COPD patient her personal SpO2 thresholds, once, however often the demo starts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core.care_flags import CareFlag
from core.homecare import ACTIVITY_TIMER
from core.store.sqlite import SqliteStore
from core.thresholds import MeasurementThresholds
from core.types import CareTeamRole, Parameter
from devices.demo import seed_demo_unit
from devices.scenario_library import ScenarioName, demo_patient_of
from vaktrom.demo_follow_up import DEMO_COPD_SPO2_BANDS, DEMO_PLAN_ITEMS, seed_demo_follow_up

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
        copd = demo_patient_of(unit, ScenarioName.COPD_EXACERBATION)
        [thresholds] = await store.threshold_history(copd)
        assert thresholds.of(Parameter.SPO2) == MeasurementThresholds(Parameter.SPO2, DEMO_COPD_SPO2_BANDS)
    finally:
        await store.close()


async def test_the_demo_has_a_fact_and_a_lar_team_with_members_following_patients_at_home_and_in_beds(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "demo.db")
    await store.open()
    try:
        unit = await seed_demo_unit(store, now=NOW)
        for _ in range(2):  # a second start of the demo changes nothing
            await seed_demo_follow_up(store, unit, now=NOW)

        teams = {t.team_id: t for t in await store.list_teams()}
        assert {(t.team_id, t.kind) for t in teams.values()} == {
            ("demo-fact-team", CareTeamRole.FACT_TEAM),
            ("demo-lar-team", CareTeamRole.LAR_TEAM),
        }
        assert sorted(await store.team_members("demo-fact-team", at=NOW)) == ["fact.demo", "fact.lege"]
        assert await store.team_members("demo-lar-team", at=NOW) == ["lar.demo"]
        for member in ("fact.demo", "fact.lege", "lar.demo"):
            user = await store.get_user(member)
            assert user is not None and set(user.site_ids) == set(unit.site_ids)
        withdrawal = demo_patient_of(unit, ScenarioName.ALCOHOL_WITHDRAWAL)
        opioid = demo_patient_of(unit, ScenarioName.OPIOID_RESPIRATORY_DEPRESSION)
        fact_home, lar_home = unit.home_patients[1].patient_id, unit.home_patients[2].patient_id
        assert sorted(await store.team_patients("demo-fact-team", at=NOW)) == sorted([withdrawal, fact_home])
        assert sorted(await store.team_patients("demo-lar-team", at=NOW)) == sorted([opioid, lar_home])
        flags = await store.care_flags([withdrawal, opioid])
        assert flags == {
            withdrawal: frozenset({CareFlag.ALCOHOL_WITHDRAWAL}),
            opioid: frozenset({CareFlag.OPIOID_AGONIST_TREATMENT}),
        }
        assert len(await store.care_flag_history(opioid)) == 1
    finally:
        await store.close()
