"""The slower falling-trend rule: respiration rate and SpO2 both falling for an opioid patient on continuous
monitoring, at levels NEWS2 scores but not yet PRODIGY's (a table on a fake clock, and properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from alerts.respiratory import respiratory_trend_observed
from core.care_flags import CareFlag
from core.types import AlertKind, AlertSeverity, CareSetting, Parameter

AT = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
OAT = frozenset({CareFlag.OPIOID_AGONIST_TREATMENT})
Series = list[tuple[datetime, float]]


def line(start: float, end: float, *, minutes: float = 10, every_s: int = 30) -> Series:
    """Values falling (or rising) linearly from `start` to `end` over the `minutes` before AT."""
    steps = int(minutes * 60 // every_s)
    return [
        (AT - timedelta(seconds=(steps - i) * every_s), start + (end - start) * i / steps) for i in range(steps + 1)
    ]


def observe(
    rr: Series, spo2: Series, flags: frozenset[CareFlag] = OAT, setting: CareSetting = CareSetting.BEDSIDE
) -> tuple[AlertSeverity | None, str]:
    history = {Parameter.RESP_RATE: rr, Parameter.SPO2: spo2}
    seen = respiratory_trend_observed("p1", history, flags, ward_id="w1", at=AT, setting=setting)
    assert seen.key.kind is AlertKind.RESPIRATORY_TREND
    return seen.severity, seen.message


MEDIUM = AlertSeverity.MEDIUM


@pytest.mark.parametrize(
    ("rr", "spo2", "flags", "setting", "severity"),
    [
        (line(14, 10), line(97, 93), OAT, CareSetting.BEDSIDE, MEDIUM),  # the slow slide this rule is for
        (line(13, 11), line(96, 95), OAT, CareSetting.BEDSIDE, MEDIUM),  # every edge met exactly
        (line(13, 11.1), line(96, 95), OAT, CareSetting.BEDSIDE, None),  # RR still above NEWS2's 9-11 band
        (line(13, 11), line(96, 95.1), OAT, CareSetting.BEDSIDE, None),  # SpO2 still above 95
        (line(12.9, 11), line(96, 95), OAT, CareSetting.BEDSIDE, None),  # RR falls 1.9/min in 10 min: too slow
        (line(13, 11), line(95.9, 95), OAT, CareSetting.BEDSIDE, None),  # SpO2 falls 0.9 %: too slow
        (line(10, 10), line(97, 93), OAT, CareSetting.BEDSIDE, None),  # RR low but steady: asleep, not sliding
        (line(14, 10), line(94, 94), OAT, CareSetting.BEDSIDE, None),  # SpO2 held: not this rule
        (line(10, 5), line(92, 88), OAT, CareSetting.BEDSIDE, None),  # at PRODIGY's RR 5: the high alert's
        (line(10, 6), line(90, 85), OAT, CareSetting.BEDSIDE, None),  # at PRODIGY's SpO2 85: the high alert's
        (line(10, 6), line(90, 86), OAT, CareSetting.BEDSIDE, MEDIUM),  # one above both
        (line(14, 10), line(97, 93), frozenset({CareFlag.OTHER_OPIOIDS}), CareSetting.BEDSIDE, MEDIUM),
        (line(14, 10), line(97, 93), frozenset({CareFlag.ALCOHOL_WITHDRAWAL}), CareSetting.BEDSIDE, None),
        (line(14, 10), line(97, 93), OAT, CareSetting.HOME, None),  # spot checks: no continuous monitoring
        (line(12, 10, minutes=4), line(96, 94, minutes=4), OAT, CareSetting.BEDSIDE, None),  # < 5 min of values
        (line(14, 10, every_s=600), line(97, 93, every_s=600), OAT, CareSetting.BEDSIDE, None),  # 2 values: no fit
        ([], line(97, 93), OAT, CareSetting.BEDSIDE, None),  # no respiration rate
    ],
)  # fmt: skip
def test_the_rule_raises_a_medium_alert_only_for_a_fall_of_both_at_levels_news2_scores(
    rr: Series, spo2: Series, flags: frozenset[CareFlag], setting: CareSetting, severity: AlertSeverity | None
) -> None:
    assert observe(rr, spo2, flags, setting)[0] == severity


def test_the_message_says_from_what_to_what_and_why() -> None:
    severity, message = observe(line(14, 10), line(97, 93))

    assert severity is MEDIUM
    assert "respiration rate 14 → 10/min and SpO2 97 → 93 % over the last 10 min" in message
    assert "on opioid agonist treatment" in message


def test_values_older_than_the_window_do_not_count() -> None:
    old = [(t - timedelta(minutes=11), v) for t, v in line(14, 10)]  # the same fall, 11 min ago

    assert observe([*old, (AT, 10.0)], line(97, 93))[0] is None


@given(
    rr_start=st.floats(min_value=6, max_value=30),
    rr_end=st.floats(min_value=0, max_value=30),
    spo2_start=st.floats(min_value=80, max_value=100),
    spo2_end=st.floats(min_value=70, max_value=100),
    flags=st.frozensets(st.sampled_from(list(CareFlag))),
    setting=st.sampled_from(list(CareSetting)),
)
def test_a_straight_fall_alerts_exactly_when_the_documented_rule_says(
    rr_start: float,
    rr_end: float,
    spo2_start: float,
    spo2_end: float,
    flags: frozenset[CareFlag],
    setting: CareSetting,
) -> None:
    # Away from the edges, where a fitted line's last bits of rounding could fall either side.
    for value, edge in ((rr_end - rr_start, -2), (spo2_end - spo2_start, -1), (rr_end, 11), (spo2_end, 95)):
        assume(abs(value - edge) > 1e-6)

    severity, _ = observe(line(rr_start, rr_end), line(spo2_start, spo2_end), flags, setting)

    falling = rr_end - rr_start <= -2 and spo2_end - spo2_start <= -1
    expected = (
        bool(flags - {CareFlag.ALCOHOL_WITHDRAWAL})
        and setting is CareSetting.BEDSIDE
        and falling
        and 5 < rr_end <= 11
        and 85 < spo2_end <= 95
    )
    assert (severity is MEDIUM) is expected and (severity is None) is not expected


@given(
    rr=st.lists(st.floats(min_value=0, max_value=40), min_size=0, max_size=30),
    spo2=st.lists(st.floats(min_value=50, max_value=100), min_size=0, max_size=30),
)
def test_a_rising_respiration_rate_never_alerts(rr: list[float], spo2: list[float]) -> None:
    rising = [(AT - timedelta(seconds=20 * (len(rr) - i)), v) for i, v in enumerate(sorted(rr))]
    noisy = [(AT - timedelta(seconds=20 * (len(spo2) - i)), v) for i, v in enumerate(spo2)]

    assert observe(rising, noisy)[0] is None
