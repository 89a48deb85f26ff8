"""A probe that stops is not a patient who recovered: the patient-limit and opioid respiratory rules see a missing
value as no evidence, so their open alerts stay until the value is measured again within bounds (docs/ALERTS.md,
"Only a complete NEWS2 is clear", which the NEWS2 rule follows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.lifecycle import Observed, observe
from alerts.limits import limit_observed
from alerts.respiratory import respiratory_depression_observed, respiratory_trend_observed
from core.care_flags import CareFlag
from core.types import Alert, AlertPhase, AlertState, CareSetting, Parameter, PatientLimit

T0 = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
RR, SPO2, HR = Parameter.RESP_RATE, Parameter.SPO2, Parameter.PULSE
OAT = frozenset({CareFlag.OPIOID_AGONIST_TREATMENT})
COPD = PatientLimit("p1", SPO2, 88.0, 92.0, "KOLS", "dr-berg", T0)
TACHY = PatientLimit("p1", HR, None, 125.0, "chronic", "dr-berg", T0)
CLEARED = PatientLimit("p1", HR, None, None, "no longer needed", "dr-berg", T0)


def _limit(values: dict[Parameter, float], limits: list[PatientLimit], at: datetime = T0) -> Observed:
    return limit_observed("p1", values, limits, ward_id="w1", at=at, setting=CareSetting.BEDSIDE)


def _depression(values: dict[Parameter, float], at: datetime = T0) -> Observed:
    return respiratory_depression_observed("p1", values, OAT, ward_id="w1", at=at, setting=CareSetting.BEDSIDE)


def _trend(history: dict[Parameter, list[tuple[datetime, float]]], at: datetime = T0) -> Observed:
    return respiratory_trend_observed("p1", history, OAT, ward_id="w1", at=at, setting=CareSetting.BEDSIDE)


def _steady(value: float) -> list[tuple[datetime, float]]:
    return [(T0 - timedelta(minutes=m), value) for m in range(9, -1, -1)]


@pytest.mark.parametrize(
    ("seen", "conclusive"),
    [
        pytest.param(_limit({SPO2: 90}, [COPD]), True, id="limit-value-within"),
        pytest.param(_limit({}, [COPD]), False, id="limit-value-missing"),
        pytest.param(_limit({SPO2: 90}, [COPD, TACHY]), False, id="limit-one-of-two-missing"),
        pytest.param(_limit({SPO2: 90, HR: 100}, [COPD, TACHY]), True, id="limit-both-within"),
        pytest.param(_limit({}, [CLEARED]), True, id="limit-cleared-no-limit-left"),
        pytest.param(_limit({}, []), True, id="limit-none-set"),
        pytest.param(_depression({RR: 14, SPO2: 96}), True, id="depression-both-normal"),
        pytest.param(_depression({SPO2: 96}), False, id="depression-rr-missing"),
        pytest.param(_depression({RR: 14}), False, id="depression-spo2-missing"),
        pytest.param(_trend({RR: _steady(14), SPO2: _steady(96)}), True, id="trend-steady"),
        pytest.param(_trend({SPO2: _steady(96)}), False, id="trend-rr-missing"),
        pytest.param(_trend({RR: _steady(14), SPO2: _steady(96)[-2:]}), False, id="trend-too-few-spo2"),
    ],
)
def test_a_clear_is_evidence_only_when_the_rule_could_see_its_values(seen: Observed, conclusive: bool) -> None:
    assert (seen.severity, seen.conclusive) == (None, conclusive)


def _run(rule: object, opened: Observed, then: list[Observed]) -> Alert | None:
    """An alert opened by `opened`, then each observation every 5 min; the alert left (None: resolved)."""
    update = observe(None, opened)
    assert update is not None and update.phase is AlertPhase.OPENED, rule
    alert: Alert | None = update.alert
    for seen in then:
        assert alert is not None
        changed = observe(alert, seen)
        if changed is not None:
            alert = None if changed.alert.state is AlertState.RESOLVED else changed.alert
        if alert is None:
            break
    return alert


def _every_5_min(make: object, hours: float) -> list[Observed]:
    assert callable(make)
    return [make(T0 + timedelta(minutes=5 * (i + 1))) for i in range(int(hours * 12))]


@pytest.mark.parametrize(
    ("rule", "opened", "silent", "measured"),
    [
        pytest.param(
            "limit",
            _limit({SPO2: 84}, [COPD]),
            lambda at: _limit({}, [COPD], at),
            lambda at: _limit({SPO2: 90}, [COPD], at),
            id="patient-limit",
        ),
        pytest.param(
            "depression",
            _depression({RR: 4, SPO2: 84}),
            lambda at: _depression({SPO2: 96}, at),  # the capnography line came off; the oximeter goes on
            lambda at: _depression({RR: 14, SPO2: 96}, at),
            id="respiratory-depression",
        ),
    ],
)
def test_an_alert_whose_probe_stopped_stays_open_until_the_value_is_back_within_bounds(
    rule: str, opened: Observed, silent: object, measured: object
) -> None:
    """Before, 'no value' counted as clear: the alert resolved itself after its hold while nothing was measured."""
    assert _run(rule, opened, _every_5_min(silent, 24)) is not None
    assert _run(rule, opened, _every_5_min(measured, 24)) is None
