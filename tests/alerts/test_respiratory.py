"""Opioid respiratory depression, the rule: which patients, which values, which setting (a table and a property)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.lifecycle import DEFAULT_POLICY, Observed
from alerts.respiratory import respiratory_depression_observed
from core.care_flags import CareFlag
from core.types import AlertKind, AlertSeverity, CareSetting, Parameter

AT = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
OAT = frozenset({CareFlag.OPIOID_AGONIST_TREATMENT})


def observe(
    values: dict[Parameter, float], flags: frozenset[CareFlag] = OAT, setting: CareSetting = CareSetting.BEDSIDE
) -> Observed:
    return respiratory_depression_observed("p1", values, flags, ward_id="w1", at=AT, setting=setting)


@pytest.mark.parametrize(
    ("values", "flags", "setting", "severity", "says"),
    [
        ({Parameter.RESP_RATE: 5}, OAT, CareSetting.BEDSIDE, AlertSeverity.HIGH, "respiration rate 5/min"),
        ({Parameter.RESP_RATE: 6}, OAT, CareSetting.BEDSIDE, None, ""),  # one above PRODIGY's 5
        ({Parameter.SPO2: 85}, OAT, CareSetting.BEDSIDE, AlertSeverity.HIGH, "SpO2 85 %"),
        ({Parameter.SPO2: 86}, OAT, CareSetting.BEDSIDE, None, ""),
        ({Parameter.RESP_RATE: 3, Parameter.SPO2: 80}, OAT, CareSetting.BEDSIDE, AlertSeverity.HIGH, "and SpO2 80 %"),
        ({Parameter.RESP_RATE: 3}, frozenset({CareFlag.OPIOID_WITHDRAWAL}), CareSetting.BEDSIDE, AlertSeverity.HIGH,
         "in opioid withdrawal management"),
        ({Parameter.RESP_RATE: 3}, frozenset({CareFlag.ALCOHOL_WITHDRAWAL}), CareSetting.BEDSIDE, None, ""),
        ({Parameter.RESP_RATE: 3}, frozenset(), CareSetting.BEDSIDE, None, ""),  # no opioid flag: NEWS2's business
        ({Parameter.RESP_RATE: 3}, OAT, CareSetting.HOME, None, ""),  # spot checks: no continuous monitoring
        ({}, OAT, CareSetting.BEDSIDE, None, ""),  # nothing fresh: nothing to say
    ],
)  # fmt: skip
def test_the_rule_raises_a_high_alert_only_for_opioid_patients_at_prodigy_levels(
    values: dict[Parameter, float],
    flags: frozenset[CareFlag],
    setting: CareSetting,
    severity: AlertSeverity | None,
    says: str,
) -> None:
    seen = observe(values, flags, setting)

    assert (seen.key.kind, seen.severity) == (AlertKind.RESPIRATORY_DEPRESSION, severity)
    assert says in seen.message


@given(
    rr=st.none() | st.floats(min_value=0, max_value=60),
    spo2=st.none() | st.floats(min_value=40, max_value=100),
    flags=st.frozensets(st.sampled_from(list(CareFlag))),
    setting=st.sampled_from(list(CareSetting)),
)
def test_an_alert_means_an_opioid_flag_at_the_bedside_and_a_value_at_a_prodigy_level(
    rr: float | None, spo2: float | None, flags: frozenset[CareFlag], setting: CareSetting
) -> None:
    values = {p: v for p, v in ((Parameter.RESP_RATE, rr), (Parameter.SPO2, spo2)) if v is not None}

    seen = observe(values, flags, setting)

    depressed = (rr is not None and rr <= 5) or (spo2 is not None and spo2 <= 85)
    opioid = bool(flags - {CareFlag.ALCOHOL_WITHDRAWAL})
    expected = opioid and setting is CareSetting.BEDSIDE and depressed
    assert (seen.severity is AlertSeverity.HIGH) is expected and (seen.severity is None) is not expected


def test_the_high_alert_still_waits_its_sustain_time_at_the_bedside_but_not_at_home() -> None:
    kind, high = AlertKind.RESPIRATORY_DEPRESSION, AlertSeverity.HIGH

    assert DEFAULT_POLICY.confirm_after(kind, CareSetting.BEDSIDE, high) == timedelta(seconds=30)
    assert DEFAULT_POLICY.confirm_after(AlertKind.NEWS2, CareSetting.BEDSIDE, high) == timedelta(0)  # NEWS2 7: at once
