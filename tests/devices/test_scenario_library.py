"""The scenario library in the simulated demo unit: who plays what, and what their devices send."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import orjson

from core.topics import obs_topic, parse_device_topic
from devices.demo import demo_unit
from devices.scenario import SEPSIS_KEYFRAMES, vitals_at
from devices.scenario_library import DEFAULT_SCENARIOS, ScenarioName, demo_casting, demo_patient_of
from devices.scenarios_home import MeasuringHabit
from devices.scenarios_sud import opioid_respiratory_depression_scenario
from devices.simulator import NO_ARTEFACTS, UnitSimulator
from tests.devices.conftest import T0

ROOT = "vaktrom/v1"
UNIT = demo_unit()


def _values(payload: bytes) -> dict[str, float]:
    return {r["n"]: r.get("v", r.get("vb")) for r in orjson.loads(payload)}


def _obs_of(simulator: UnitSimulator, device_id: str, seconds: range) -> list[tuple[datetime, dict[str, float]]]:
    out = []
    for second in seconds:
        now = T0 + timedelta(seconds=second)
        for message in simulator.step(now):
            parsed = parse_device_topic(ROOT, message.topic)
            if parsed is not None and parsed.kind == "obs" and parsed.device_id == device_id:
                out.append((now, _values(message.payload)))
    return out


def test_each_scenario_has_its_own_demo_patient() -> None:
    patients = {name: demo_patient_of(UNIT, name) for name in ScenarioName}
    assert len(set(patients.values())) == len(ScenarioName)
    assert patients[ScenarioName.SEPSIS] == UNIT.deteriorating_patient_id
    assert patients[ScenarioName.COPD_EXACERBATION] == UNIT.scale2_patient_id
    beds = {b.patient_id for b in UNIT.beds}
    homes = {h.patient_id for h in UNIT.home_patients}
    assert patients[ScenarioName.OPIOID_RESPIRATORY_DEPRESSION] in beds
    assert patients[ScenarioName.ALCOHOL_WITHDRAWAL] in beds
    assert patients[ScenarioName.STOPS_MEASURING] in homes
    assert DEFAULT_SCENARIOS == (ScenarioName.SEPSIS,)  # `make run` as before unless more are named


def test_the_opioid_bed_plays_its_decline_and_the_sepsis_bed_rests_when_only_opioid_is_named() -> None:
    casting = demo_casting(UNIT, [ScenarioName.OPIOID_RESPIRATORY_DEPRESSION], started_at=T0)
    simulator = UnitSimulator(
        UNIT, ROOT, started_at=T0, seed=5, artefacts=NO_ARTEFACTS, scenarios=casting.scenarios, habits=casting.habits
    )
    opioid_bed = next(
        b for b in UNIT.beds if b.patient_id == demo_patient_of(UNIT, ScenarioName.OPIOID_RESPIRATORY_DEPRESSION)
    )
    sepsis_bed = next(b for b in UNIT.beds if b.patient_id == UNIT.deteriorating_patient_id)
    seconds = range(0, 60 + 421, 30)
    opioid = _obs_of(simulator, opioid_bed.monitor_id, seconds)
    assert opioid[-1][1]["spo2"] <= 78 and opioid[-1][1]["resp-rate"] <= 6  # 7 min after a minute's onset
    simulator = UnitSimulator(UNIT, ROOT, started_at=T0, seed=5, artefacts=NO_ARTEFACTS, scenarios=casting.scenarios)
    sepsis = _obs_of(simulator, sepsis_bed.monitor_id, seconds)
    baseline = SEPSIS_KEYFRAMES[0].vitals
    assert all(abs(values["heart-rate"] - baseline.heart_rate_bpm) <= 8 for _, values in sepsis)


def test_start_s_starts_the_scenario_part_way() -> None:
    patient = demo_patient_of(UNIT, ScenarioName.OPIOID_RESPIRATORY_DEPRESSION)
    bed = next(b for b in UNIT.beds if b.patient_id == patient)
    scenario = opioid_respiratory_depression_scenario(onset_s=0.0)
    simulator = UnitSimulator(
        UNIT, ROOT, started_at=T0, seed=None, artefacts=NO_ARTEFACTS, scenarios={patient: scenario}, start_s=300.0
    )
    [(_, values)] = _obs_of(simulator, bed.monitor_id, range(1))
    expected = vitals_at(scenario, 300.0, None)
    assert abs(values["spo2"] - expected.spo2_percent) <= 3  # noise of the seedless generator, SD 0.6
    assert abs(values["resp-rate"] - expected.resp_rate_per_min) <= 4


def test_a_patient_who_stopped_measuring_sends_no_spot_check_while_her_kit_stays_online() -> None:
    casting = demo_casting(UNIT, [ScenarioName.STOPS_MEASURING], started_at=T0)
    patient = demo_patient_of(UNIT, ScenarioName.STOPS_MEASURING)
    kit = next(h.kit_id for h in UNIT.home_patients if h.patient_id == patient)
    simulator = UnitSimulator(UNIT, ROOT, started_at=T0, speed=288.0, seed=6, habits=casting.habits)
    topics = [m.topic for second in range(0, 3600, 10) for m in simulator.step(T0 + timedelta(seconds=second))]
    assert obs_topic(ROOT, UNIT.home_site_id or "", kit) not in topics
    assert any(t.endswith(f"/{kit}/status") for t in topics)
    others = {h.kit_id for h in UNIT.home_patients} - {kit}
    assert all(any(t == obs_topic(ROOT, UNIT.home_site_id or "", k) for t in topics) for k in others)


def test_a_home_patient_with_a_habit_measures_at_her_plan_times_until_she_stops() -> None:
    patient = UNIT.home_patients[0]
    stops_at = T0 + timedelta(days=2)  # T0 is 09:00 Oslo
    habit = MeasuringHabit((time(8), time(20)), stops_at=stops_at)
    simulator = UnitSimulator(UNIT, ROOT, started_at=T0, seed=7, habits={patient.patient_id: habit})
    checks = [at for at, _ in _obs_of(simulator, patient.kit_id, range(0, 4 * 86_400, 60))]
    hours = [(at - T0).total_seconds() / 3600 for at in checks]
    # 20:20, 08:20, 20:20 and 08:20 Oslo (UTC+1); she stops at 09:00 on the third day
    assert [round(h, 2) for h in hours] == [11.33, 23.33, 35.33, 47.33]
