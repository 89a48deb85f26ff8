"""The simulator's non-actionable events (SpO2 dips, bursts of pulse) and its COPD patient: what the alarm-fatigue
bench measures against, so their rates, depths and lengths must be what devices/artefacts.py says."""

from __future__ import annotations

import random
import statistics
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from core.types import Parameter, SpO2Scale
from devices.artefacts import REALISTIC_ARTEFACTS, ArtefactRun, Artefacts, artefact_duration_s, with_artefacts
from devices.demo import demo_unit
from devices.scenario import COPD_EXACERBATION_KEYFRAMES, Vitals, copd_scenario, vitals_at
from devices.simulator import UnitSimulator
from ingest.validation import ValidationLimits, validate_pack
from scoring.news2 import Observation, score

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _runs(chances: Artefacts, seconds: int, seed: int = 1) -> tuple[list[float], list[float]]:
    """Lengths (s) of the SpO2 dips and the pulse bursts seen over `seconds` of a resting patient at 97 % and 70."""
    rng, run = random.Random(seed), ArtefactRun()
    dips: list[float] = []
    bursts: list[float] = []
    dipping = bursting = 0
    for second in range(seconds):
        pulse, spo2 = with_artefacts(run, 70.0, 97.0, now=T0 + timedelta(seconds=second), rng=rng, chances=chances)
        dipping, bursting = _count(spo2 < 97.0, dipping, dips), _count(pulse > 70.0, bursting, bursts)
    return dips, bursts


def _count(active: bool, length: int, lengths: list[float]) -> int:
    if active:
        return length + 1
    if length:
        lengths.append(float(length))
    return 0


def test_realistic_artefacts_dip_about_4_times_and_burst_twice_an_hour_mostly_shorter_than_20_s() -> None:
    dips, bursts = _runs(replace(REALISTIC_ARTEFACTS, motion_spike=0.0), 48 * 3600)  # the 4 s spikes apart
    assert 3.0 <= len(dips) / 48 <= 5.0
    assert 1.4 <= len(bursts) / 48 <= 2.6
    lengths = dips + bursts
    assert 5 <= statistics.median(lengths) <= 10
    assert 0.02 <= sum(length > 20 for length in lengths) / len(lengths) <= 0.12


def test_durations_are_at_least_3_s_and_at_most_90_s() -> None:
    rng = random.Random(3)
    durations = [artefact_duration_s(rng) for _ in range(10_000)]
    assert min(durations) >= 3.0 and max(durations) <= 90.0


def test_dips_and_bursts_are_off_by_default() -> None:
    assert _runs(Artefacts(motion_spike=0.0), 6 * 3600) == ([], [])


def test_a_dip_lowers_spo2_by_5_to_14_points() -> None:
    rng, run = random.Random(5), ArtefactRun()
    chances = Artefacts(motion_spike=0.0, spo2_dip=1.0)
    _, spo2 = with_artefacts(run, 70.0, 97.0, now=T0, rng=rng, chances=chances)
    assert 83.0 <= spo2 <= 92.0


def _news2(v: Vitals) -> int:
    observation = Observation(
        resp_rate_per_min=v.resp_rate_per_min, spo2_percent=v.spo2_percent, spo2_scale=SpO2Scale.SCALE_1,
        supplemental_o2=v.on_oxygen, systolic_bp_mmhg=v.systolic_bp_mmhg, pulse_per_min=v.heart_rate_bpm,
        consciousness=v.consciousness, temperature_c=v.temperature_c,
    )  # fmt: skip
    return score(observation).total


def test_the_copd_patient_lives_at_a_single_3_and_her_exacerbation_scores_6_10_14_by_the_chart() -> None:
    assert [_news2(k.vitals) for k in COPD_EXACERBATION_KEYFRAMES] == [3, 6, 10, 14]
    baseline = [vitals_at(copd_scenario(), s, random.Random(s)).spo2_percent for s in range(0, 3600, 7)]
    assert all(88 <= spo2 <= 92 for spo2 in baseline)


def test_a_unit_may_give_a_bed_its_own_scenario() -> None:
    unit = demo_unit()
    copd_bed = unit.beds[4]
    simulator = UnitSimulator(unit, "r", started_at=T0, seed=1, scenarios={copd_bed.patient_id: copd_scenario()})
    messages = simulator.step(T0)
    [pack] = [m for m in messages if m.topic.endswith(f"/{copd_bed.monitor_id}/obs")]
    candidates, _ = validate_pack(copd_bed.monitor_id, pack.payload, received_at=T0, limits=ValidationLimits(120.0))
    assert [c.value for c in candidates if c.parameter is Parameter.SPO2] == [90.0]  # the COPD patient's 90 %
