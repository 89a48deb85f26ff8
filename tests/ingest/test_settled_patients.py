"""A settled bedside patient's pack skips the full scoring only while every NEWS2 sub-score stays what it was;
anything else (a band crossed, a value gone stale, a moved bed, the period over) sends the patient to a full scoring.
Fake clock; expected sub-scores from the NEWS2 chart (NEWS2.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.types import CareSetting, LatestValue, Parameter, Reading, SpO2Scale, Stay
from ingest.settled_patients import FULL_SCORE_EVERY_S, SettledPatients
from scoring.live import score_latest

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
STAY = Stay("st1", "p1", "w1", CareSetting.BEDSIDE, T0 - timedelta(days=1), bed_id="b1")
MAX_AGE_S = {Parameter.SPO2: 60.0, Parameter.PULSE: 60.0, Parameter.RESP_RATE: 60.0}
# NEWS2 0 for every parameter but SpO2 94 % (scale 1: 94-95 scores 1): total 1, complete.
CALM = {
    Parameter.RESP_RATE: 16.0,
    Parameter.SPO2: 94.0,
    Parameter.SUPPLEMENTAL_O2: 0.0,
    Parameter.SYSTOLIC_BP: 124.0,
    Parameter.PULSE: 80.0,
    Parameter.CONSCIOUSNESS: 0.0,
    Parameter.TEMPERATURE: 37.0,
}


def settled_patients(*, full_every_s: float = FULL_SCORE_EVERY_S) -> SettledPatients:
    """p1 after a full scoring at T0 of CALM, all measured at T0."""
    latest = {p: LatestValue(p, v, T0, "mon-1") for p, v in CALM.items()}
    score = score_latest("p1", latest, now=T0, max_age_s=MAX_AGE_S, spo2_scale=SpO2Scale.SCALE_1)
    assert score.total == 1 and score.complete
    patients = SettledPatients(full_every_s=full_every_s)
    patients.settle(score, stay=STAY, latest=latest, max_age_s=MAX_AGE_S, now=T0)
    return patients


def pack(at_s: float, **values: float) -> list[Reading]:
    at = T0 + timedelta(seconds=at_s)
    return [Reading("mon-1", "p1", Parameter(name), value, at, at) for name, value in values.items()]


@pytest.mark.parametrize(
    ("values", "at_s", "unchanged"),
    [
        ({"spo2": 95.0, "pulse": 90.0, "resp_rate": 20.0}, 1.0, True),  # inside their bands (95: 1; 90: 0; 20: 0)
        ({"spo2": 94.5, "pulse": 89.6}, 1.0, True),  # charted 95 and 90 (rounded half up): the same bands
        ({"diastolic_bp": 40.0}, 1.0, True),  # shown on the ward, not scored
        ({"spo2": 96.0}, 1.0, False),  # 96 scores 0: the total falls to 0
        ({"pulse": 91.0}, 1.0, False),  # 91 scores 1
        ({"resp_rate": 20.5}, 1.0, False),  # charted 21: scores 2
        ({"consciousness": 1.0}, 1.0, False),  # new confusion: 3
        ({"supplemental_o2": 1.0}, 1.0, False),  # oxygen: 2
        ({"pulse": 80.0}, FULL_SCORE_EVERY_S, False),  # the period is over: a full scoring whatever the pack says
        ({"pulse": 80.0}, FULL_SCORE_EVERY_S - 0.5, True),
    ],
)
def test_a_pack_skips_the_full_scoring_only_while_every_sub_score_is_the_same(
    values: dict[str, float], at_s: float, unchanged: bool
) -> None:
    patients = settled_patients()
    now = T0 + timedelta(seconds=at_s)
    assert patients.unchanged("p1", stay=STAY, readings=pack(at_s, **values), now=now) is unchanged
    assert len(patients) == int(unchanged)  # one that changed is no longer settled: its next pack is scored in full


def test_a_value_going_stale_ends_the_shortcut_though_the_packs_are_unchanged() -> None:
    patients = settled_patients(full_every_s=600.0)  # a period longer than the max age: the max age decides
    for second in (2, 30, 59):  # pulse is refreshed; SpO2 and RR, measured at T0, have 60 s
        now = T0 + timedelta(seconds=second)
        assert patients.unchanged("p1", stay=STAY, readings=pack(second, pulse=80.0), now=now)
    assert not patients.unchanged("p1", stay=STAY, readings=pack(60, pulse=80.0), now=T0 + timedelta(seconds=60))


def test_an_older_reading_than_the_remembered_one_is_not_scored() -> None:
    patients = settled_patients()
    late = [Reading("mon-1", "p1", Parameter.SPO2, 99.0, T0 - timedelta(seconds=30), T0 + timedelta(seconds=1))]
    assert patients.unchanged("p1", stay=STAY, readings=late, now=T0 + timedelta(seconds=1))  # the store keeps 94 %


def test_a_moved_or_unknown_patient_is_scored_in_full() -> None:
    patients = settled_patients()
    moved = Stay("st2", "p1", "w2", CareSetting.BEDSIDE, T0, bed_id="b7")
    now, same = T0 + timedelta(seconds=1), pack(1, pulse=80.0)
    assert not patients.unchanged("p1", stay=moved, readings=same, now=now)
    assert not patients.unchanged("p1", stay=STAY, readings=same, now=now)  # forgotten
    assert not patients.unchanged("p2", stay=STAY, readings=[], now=now)
    assert not settled_patients().unchanged("p1", stay=None, readings=same, now=now)  # discharged


def test_a_value_that_cannot_be_charted_goes_to_the_full_scoring() -> None:
    patients = settled_patients()
    odd = pack(1, supplemental_o2=0.5)  # oxygen is stored as 1.0 or 0.0; the full scoring logs what is wrong
    assert not patients.unchanged("p1", stay=STAY, readings=odd, now=T0 + timedelta(seconds=1))


def test_patients_past_their_period_are_forgotten_by_the_sweep() -> None:
    patients = settled_patients()
    patients.expire(T0 + timedelta(seconds=1))
    assert len(patients) == 1
    patients.expire(T0 + timedelta(seconds=FULL_SCORE_EVERY_S + 1))  # a discharged patient sends no more packs
    assert len(patients) == 0
