"""Personal-threshold triage: a COPD patient's SpO2 bands as a table (one row per band edge), every value one
colour (property), and the refusals a clinician sees for bands that cannot be meant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.triage import (
    InvalidThresholds,
    breach_items,
    describe_bands,
    most_urgent,
    triage,
    validate_thresholds,
    worklist_order,
    worklist_urgency,
)
from core.homecare import VkpCode, WorklistItem, WorklistKind
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import Parameter, Reading

R, ORANGE, Y, G, B = (TriageColour(c) for c in ("R", "O", "Y", "G", "B"))
AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
# The COPD patient on oxygen: green 88-92, yellow 85-87 or 93-96, red below 85; above 96 orange (hyperoxia).
COPD_SPO2 = (
    ThresholdBand(R, None, 85),
    ThresholdBand(Y, 85, 88),
    ThresholdBand(G, 88, 93),
    ThresholdBand(Y, 93, 97),
    ThresholdBand(ORANGE, 97, None),
)


def copd(*bands: ThresholdBand, parameter: Parameter = Parameter.SPO2) -> ThresholdSet:
    measurement = MeasurementThresholds(parameter, bands or COPD_SPO2)
    return ThresholdSet("p-1", (measurement,), "COPD, target 88-92 % on oxygen", "dr.lund", AT)


@pytest.mark.parametrize(
    ("spo2", "colour"),
    [
        (70, R), (84, R), (84.9, R),  # red below 85
        (85, Y), (87, Y), (87.9, Y),  # yellow 85-87
        (88, G), (90, G), (92, G), (92.9, G),  # green 88-92: the patient's target
        (93, Y), (96, Y),  # yellow 93-96 on oxygen
        (97, ORANGE), (100, ORANGE),  # orange: hyperoxia
    ],
)  # fmt: skip
def test_a_copd_patients_spo2_triages_by_her_own_bands(spo2: float, colour: TriageColour) -> None:
    assert triage(spo2, COPD_SPO2) is colour


@st.composite
def band_sets(draw: st.DrawFn) -> tuple[ThresholdBand, ...]:
    cuts = sorted(draw(st.sets(st.integers(41, 100), min_size=0, max_size=8)))
    colours = draw(st.lists(st.sampled_from([R, ORANGE, Y, G, B]), min_size=len(cuts) + 1, max_size=len(cuts) + 1))
    colours[draw(st.integers(0, len(cuts)))] = G
    edges: list[float | None] = [None, *map(float, cuts), None]
    return tuple(ThresholdBand(c, lo, hi) for c, lo, hi in zip(colours, edges, edges[1:], strict=False))


@given(bands=band_sets(), value=st.floats(40, 100, allow_nan=False))
def test_every_value_is_held_by_exactly_one_band_of_valid_thresholds(
    bands: tuple[ThresholdBand, ...], value: float
) -> None:
    validate_thresholds(copd(*bands))

    holding = [band for band in bands if band.holds(value)]
    assert len(holding) == 1
    assert triage(value, bands) is holding[0].colour


@given(bands=band_sets(), values=st.lists(st.floats(40, 100, allow_nan=False), min_size=2, max_size=20))
def test_bands_keep_the_order_of_values(bands: tuple[ThresholdBand, ...], values: list[float]) -> None:
    """A higher value never falls in a lower band: the bands are an ordered partition of the scale."""
    index = [next(i for i, b in enumerate(bands) if b.holds(v)) for v in sorted(values)]
    assert index == sorted(index)


@given(colours=st.lists(st.sampled_from(list(TriageColour))))
def test_the_most_urgent_colour_outranks_every_other(colours: list[TriageColour]) -> None:
    urgent = most_urgent(colours)
    assert all(urgent.rank >= c.rank for c in colours)
    assert urgent in colours or (not colours and urgent is TriageColour.NOT_REPORTED)


def test_urgency_runs_red_orange_yellow_green_blue() -> None:
    assert [c.rank for c in (R, ORANGE, Y, G, B)] == [5, 4, 3, 2, 1]


@pytest.mark.parametrize(
    ("bands", "field", "words"),
    [
        ((ThresholdBand(R, None, 85), ThresholdBand(G, 86, None)), "bands[1].low", "gap from 85 to 86"),
        ((ThresholdBand(R, None, 85), ThresholdBand(G, 84, None)), "bands[1].low", "overlaps band 0"),
        ((ThresholdBand(G, 80, None),), "bands[0].low", "lowest band has no low bound"),
        ((ThresholdBand(G, None, 90),), "bands[0].high", "highest band has no high bound"),
        ((ThresholdBand(R, None, None), ThresholdBand(G, 85, None)), "bands[0].high", "only the highest"),
        ((ThresholdBand(R, None, 85), ThresholdBand(Y, 85, None)), "bands", "no green band"),
        ((ThresholdBand(R, None, 30), ThresholdBand(G, 30, None)), "bands[0].high", "above 40"),
        ((ThresholdBand(TriageColour.BLACK, None, 85), ThresholdBand(G, 85, None)), "bands[0].colour", "BL"),
        ((ThresholdBand(TriageColour.NOT_REPORTED, None, 85), ThresholdBand(G, 85, None)), "bands[0].colour", "NR"),
    ],
)
def test_bands_that_cannot_be_meant_are_refused_naming_the_field(
    bands: tuple[ThresholdBand, ...], field: str, words: str
) -> None:
    with pytest.raises(InvalidThresholds) as refused:
        validate_thresholds(copd(*bands))

    assert refused.value.field_name == f"thresholds[spo2].{field}"
    assert words in refused.value.reason


def test_consciousness_takes_no_thresholds_and_a_measurement_is_named_once() -> None:
    acvpu = copd(ThresholdBand(G, None, None), parameter=Parameter.CONSCIOUSNESS)
    twice = ThresholdSet("p-1", copd().measurements * 2, "COPD", "dr.lund", AT)

    with pytest.raises(InvalidThresholds, match=r"thresholds\[consciousness\]\.measurement: takes no thresholds"):
        validate_thresholds(acvpu)
    with pytest.raises(InvalidThresholds, match=r"thresholds\[spo2\]\.measurement: named twice"):
        validate_thresholds(twice)


def test_bands_read_in_words() -> None:
    assert describe_bands(COPD_SPO2) == "red < 85, yellow 85-88, green 88-93, yellow 93-97, orange >= 97"


def reading(parameter: Parameter, value: float) -> Reading:
    return Reading("kit-1", "p-1", parameter, value, AT, AT)


def test_yellow_orange_and_red_readings_become_breach_candidates_and_green_ones_do_not() -> None:
    readings = [reading(Parameter.SPO2, 90), reading(Parameter.SPO2, 83), reading(Parameter.PULSE, 130)]

    [item] = breach_items(readings, copd(), site_id="hjemme", at=AT)

    assert (item.kind, item.vkp_code, item.triage_colour, item.parameter) == (
        WorklistKind.THRESHOLD_BREACH, VkpCode.MEASUREMENT_REPORTED, R, Parameter.SPO2,
    )  # fmt: skip
    assert item.implicated == (readings[1],)
    assert item.summary == "SpO2 83 %: red under the personal thresholds"


def test_a_patient_without_thresholds_gets_no_breach_items() -> None:
    assert breach_items([reading(Parameter.SPO2, 80)], None, site_id="hjemme", at=AT) == []


def _item(kind: WorklistKind, colour: TriageColour | None, minutes: int) -> WorklistItem:
    return WorklistItem(
        f"i-{minutes}-{kind.value}-{colour}", "hjemme", "p-1", kind, VkpCode.MEASUREMENT_REPORTED, "x",
        AT + timedelta(minutes=minutes), triage_colour=colour,
    )  # fmt: skip


def test_the_worklist_puts_red_first_and_a_quiet_patient_between_orange_and_yellow() -> None:
    items = [
        _item(WorklistKind.MISSED_MEASUREMENT, None, 0),
        _item(WorklistKind.THRESHOLD_BREACH, Y, 1),
        _item(WorklistKind.INACTIVE_PATIENT, None, 2),
        _item(WorklistKind.THRESHOLD_BREACH, ORANGE, 3),
        _item(WorklistKind.ALERT, R, 4),
    ]

    ordered = sorted(items, key=worklist_order)

    assert [(i.kind, i.triage_colour) for i in ordered] == [
        (WorklistKind.ALERT, R),
        (WorklistKind.THRESHOLD_BREACH, ORANGE),
        (WorklistKind.INACTIVE_PATIENT, None),
        (WorklistKind.THRESHOLD_BREACH, Y),
        (WorklistKind.MISSED_MEASUREMENT, None),
    ]


@given(
    items=st.lists(
        st.builds(
            _item,
            st.sampled_from(list(WorklistKind)),
            st.sampled_from([None, R, ORANGE, Y, G, B]),
            st.integers(0, 10_000),
        ),
        max_size=30,
    )
)
def test_the_worklist_is_by_urgency_then_oldest_first(items: list[WorklistItem]) -> None:
    ordered = sorted(items, key=worklist_order)

    for before, after in pairwise(ordered):
        assert worklist_urgency(before) >= worklist_urgency(after)
        if worklist_urgency(before) == worklist_urgency(after):
            assert before.opened_at <= after.opened_at
