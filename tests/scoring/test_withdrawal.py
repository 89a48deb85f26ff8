"""Withdrawal scales: each band edge of COWS, CIWA-Ar and AWS from their sources, the items' printed choices, the
items a monitor proposes, and properties over every assessment a nurse can enter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidAssessment
from core.types import LatestValue, Parameter
from core.withdrawal import AwsItem, CiwaArItem, CowsItem, WithdrawalBand, WithdrawalScale
from scoring.withdrawal import SCALES, band_of, propose_items, score_items

COWS, CIWA, AWS = WithdrawalScale.COWS, WithdrawalScale.CIWA_AR, WithdrawalScale.AWS
NONE, MILD, MODERATE = WithdrawalBand.NONE, WithdrawalBand.MILD, WithdrawalBand.MODERATE
MOD_SEVERE, SEVERE = WithdrawalBand.MODERATELY_SEVERE, WithdrawalBand.SEVERE
NOW = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("scale", "total", "band"),
    [
        (COWS, 0, NONE), (COWS, 4, NONE), (COWS, 5, MILD), (COWS, 12, MILD), (COWS, 13, MODERATE),
        (COWS, 24, MODERATE), (COWS, 25, MOD_SEVERE), (COWS, 36, MOD_SEVERE), (COWS, 37, SEVERE), (COWS, 48, SEVERE),
        (CIWA, 0, MILD), (CIWA, 9, MILD), (CIWA, 10, MODERATE), (CIWA, 15, MODERATE), (CIWA, 16, SEVERE),
        (CIWA, 67, SEVERE),
        (AWS, 0, MILD), (AWS, 5, MILD), (AWS, 6, MODERATE), (AWS, 9, MODERATE), (AWS, 10, SEVERE), (AWS, 34, SEVERE),
    ],
)  # fmt: skip
def test_a_total_gets_the_band_its_published_scale_gives_it(
    scale: WithdrawalScale, total: int, band: WithdrawalBand
) -> None:
    assert band_of(scale, total) is band


@pytest.mark.parametrize(("scale", "maximum"), [(COWS, 48), (CIWA, 67), (AWS, 34)])
def test_each_scale_has_its_published_items_and_maximum(scale: WithdrawalScale, maximum: int) -> None:
    spec = SCALES[scale]

    assert spec.max_total == maximum
    assert len(spec.items) == {COWS: 11, CIWA: 10, AWS: 11}[scale]
    with pytest.raises(InvalidAssessment, match=f"{maximum + 1} is outside"):
        band_of(scale, maximum + 1)


def all_zero(scale: WithdrawalScale) -> dict[str, int]:
    return {item.value: 0 for item in SCALES[scale].items}


@pytest.mark.parametrize(
    ("scale", "changes", "field", "says"),
    [
        (COWS, {"resting_pulse": 3}, "items.resting_pulse", "3 is not a score of this item; one of 0, 1, 2, 4"),
        (COWS, {"gooseflesh": 1}, "items.gooseflesh", "one of 0, 3, 5"),
        (COWS, {"restlessness": 2}, "items.restlessness", "one of 0, 1, 3, 5"),
        (CIWA, {"orientation": 5}, "items.orientation", "one of 0, 1, 2, 3, 4"),
        (CIWA, {"headache": 8}, "items.headache", "8 is not a score"),
        (CIWA, {"tremor": -1}, "items.tremor", "-1 is not a score"),
        (AWS, {"breathing_rate": 3}, "items.breathing_rate", "one of 0, 1, 2"),
        (AWS, {"anxiety": 3}, "items.anxiety", "one of 0, 1, 2"),
        (AWS, {"pupil_size": 0}, "items.pupil_size", "not an item of AWS"),
    ],
)
def test_a_score_the_form_does_not_offer_is_refused_naming_the_item(
    scale: WithdrawalScale, changes: dict[str, int], field: str, says: str
) -> None:
    with pytest.raises(InvalidAssessment, match=says) as raised:
        score_items(scale, all_zero(scale) | changes)

    assert raised.value.field == field


def test_an_assessment_missing_an_item_is_refused_naming_it() -> None:
    items = all_zero(COWS)
    del items["yawning"]

    with pytest.raises(InvalidAssessment, match="missing: score every item of COWS") as raised:
        score_items(COWS, items)

    assert raised.value.field == "items.yawning"


def test_a_cows_assessment_adds_up_to_its_band() -> None:
    items = all_zero(COWS) | {"resting_pulse": 2, "sweating": 2, "restlessness": 3, "pupil_size": 2, "yawning": 4}

    scored = score_items(COWS, items)

    assert (scored.total, scored.band, scored.max_total) == (13, MODERATE, 48)
    assert scored.items[0] == (CowsItem.RESTING_PULSE, 2)


@st.composite
def assessments(draw: st.DrawFn) -> tuple[WithdrawalScale, dict[str, int]]:
    scale = draw(st.sampled_from(list(WithdrawalScale)))
    items = {item.value: draw(st.sampled_from(allowed)) for item, allowed in SCALES[scale].items.items()}
    return scale, items


@given(assessment=assessments())
def test_the_total_is_the_sum_of_the_items_and_within_the_scale(
    assessment: tuple[WithdrawalScale, dict[str, int]],
) -> None:
    scale, items = assessment

    scored = score_items(scale, items)

    assert scored.total == sum(items.values()) == sum(score for _, score in scored.items)
    assert 0 <= scored.total <= SCALES[scale].max_total
    assert scored.band is band_of(scale, scored.total)


@given(scale=st.sampled_from(list(WithdrawalScale)), data=st.data())
def test_a_higher_total_never_has_a_lower_band(scale: WithdrawalScale, data: st.DataObject) -> None:
    top = SCALES[scale].max_total
    low = data.draw(st.integers(0, top))
    high = data.draw(st.integers(low, top))

    assert band_of(scale, low) <= band_of(scale, high)


def latest(values: dict[Parameter, float], *, age_s: float = 60) -> dict[Parameter, LatestValue]:
    return {p: LatestValue(p, v, NOW - timedelta(seconds=age_s), "mon-1") for p, v in values.items()}


@pytest.mark.parametrize(
    ("pulse", "score"),
    [(80, 0), (80.4, 0), (80.5, 1), (81, 1), (100, 1), (101, 2), (120, 2), (121, 4), (180, 4)],
)
def test_cows_resting_pulse_is_proposed_from_the_heart_rate(pulse: float, score: int) -> None:
    (proposed,) = propose_items(COWS, latest({Parameter.PULSE: pulse, Parameter.SPO2: 97}), now=NOW)

    assert (proposed.item, proposed.score, proposed.value) == (CowsItem.RESTING_PULSE, score, pulse)
    assert proposed.measured_at == NOW - timedelta(seconds=60)


@pytest.mark.parametrize(
    ("parameter", "value", "item", "score"),
    [
        (Parameter.PULSE, 100, AwsItem.PULSE, 0), (Parameter.PULSE, 101, AwsItem.PULSE, 1),
        (Parameter.PULSE, 110, AwsItem.PULSE, 1), (Parameter.PULSE, 111, AwsItem.PULSE, 2),
        (Parameter.PULSE, 120, AwsItem.PULSE, 2), (Parameter.PULSE, 121, AwsItem.PULSE, 3),
        (Parameter.DIASTOLIC_BP, 94, AwsItem.DIASTOLIC_BP, 0), (Parameter.DIASTOLIC_BP, 95, AwsItem.DIASTOLIC_BP, 1),
        (Parameter.DIASTOLIC_BP, 100, AwsItem.DIASTOLIC_BP, 1), (Parameter.DIASTOLIC_BP, 101, AwsItem.DIASTOLIC_BP, 2),
        (Parameter.DIASTOLIC_BP, 105, AwsItem.DIASTOLIC_BP, 2), (Parameter.DIASTOLIC_BP, 106, AwsItem.DIASTOLIC_BP, 3),
        (Parameter.TEMPERATURE, 36.9, AwsItem.TEMPERATURE, 0), (Parameter.TEMPERATURE, 37.0, AwsItem.TEMPERATURE, 1),
        (Parameter.TEMPERATURE, 37.4, AwsItem.TEMPERATURE, 1), (Parameter.TEMPERATURE, 37.5, AwsItem.TEMPERATURE, 2),
        (Parameter.TEMPERATURE, 37.9, AwsItem.TEMPERATURE, 2), (Parameter.TEMPERATURE, 38.0, AwsItem.TEMPERATURE, 3),
        (Parameter.TEMPERATURE, 36.95, AwsItem.TEMPERATURE, 1),  # charted 37.0
        (Parameter.RESP_RATE, 19, AwsItem.BREATHING_RATE, 0), (Parameter.RESP_RATE, 20, AwsItem.BREATHING_RATE, 1),
        (Parameter.RESP_RATE, 24, AwsItem.BREATHING_RATE, 1), (Parameter.RESP_RATE, 25, AwsItem.BREATHING_RATE, 2),
    ],
)  # fmt: skip
def test_aws_vital_sign_items_are_proposed_at_the_forms_cut_points(
    parameter: Parameter, value: float, item: AwsItem, score: int
) -> None:
    (proposed,) = propose_items(AWS, latest({parameter: value}), now=NOW)

    assert (proposed.item, proposed.score, proposed.parameter) == (item, score, parameter)


def test_aws_proposes_its_four_vital_items_in_the_scales_order_and_ciwa_ar_none() -> None:
    vitals = {Parameter.RESP_RATE: 22, Parameter.TEMPERATURE: 37.6, Parameter.DIASTOLIC_BP: 98, Parameter.PULSE: 115}

    aws = propose_items(AWS, latest(vitals), now=NOW)

    assert [(p.item, p.score) for p in aws] == [
        (AwsItem.PULSE, 2),
        (AwsItem.DIASTOLIC_BP, 1),
        (AwsItem.TEMPERATURE, 2),
        (AwsItem.BREATHING_RATE, 1),
    ]
    assert propose_items(CIWA, latest(vitals), now=NOW) == ()
    assert CiwaArItem.ORIENTATION in SCALES[CIWA].items


def test_a_stale_value_proposes_nothing() -> None:
    assert propose_items(COWS, latest({Parameter.PULSE: 130}, age_s=901), now=NOW) == ()
    assert len(propose_items(COWS, latest({Parameter.PULSE: 130}, age_s=900), now=NOW)) == 1
