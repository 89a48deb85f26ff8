"""A rising withdrawal score, the rule: which assessment raises what (a table on a fake clock and properties), what
an entry must be, and the form a sensor fills in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.lifecycle import Observed
from alerts.withdrawal import decide_withdrawal_alert, new_assessment, proposal, withdrawal_observed
from core.errors import InvalidAssessment
from core.escalation import KINDS_INFORMING_CARE_TEAMS, TargetKind, default_policy, policy_for_kind
from core.types import (
    Alert,
    AlertKind,
    AlertPhase,
    AlertPriority,
    AlertSeverity,
    AlertState,
    CareSetting,
    LatestValue,
    Parameter,
)
from core.withdrawal import WithdrawalAssessment, WithdrawalBand, WithdrawalScale
from scoring.withdrawal import SCALES

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
COWS, CIWA, AWS = WithdrawalScale.COWS, WithdrawalScale.CIWA_AR, WithdrawalScale.AWS
MEDIUM, HIGH = AlertSeverity.MEDIUM, AlertSeverity.HIGH


def scored(scale: WithdrawalScale, total: int, *, hours: float = 0) -> WithdrawalAssessment:
    """An assessment `hours` after T0 with this total, spread over the items in the form's scores."""
    items: dict[str, int] = {}
    left = total
    for item, allowed in SCALES[scale].items.items():
        score = max((s for s in allowed if s <= left), default=0)
        items[item.value] = score
        left -= score
    assert left == 0, f"{total} cannot be spread over {scale}"
    at = T0 + timedelta(hours=hours)
    return new_assessment(
        assessment_id=f"a-{scale}-{total}-{hours}", patient_id="p1", scale=scale, items=items, assessed_at=at,
        assessed_by="nurse-kari", recorded_at=at,
    )  # fmt: skip


def observe(new: WithdrawalAssessment, previous: WithdrawalAssessment | None) -> Observed:
    return withdrawal_observed(new, previous, ward_id="w1", setting=CareSetting.BEDSIDE)


@pytest.mark.parametrize(
    ("previous", "new", "severity", "says"),
    [
        (None, scored(COWS, 8), None, ""),  # a first, mild score: nothing to compare
        (None, scored(COWS, 37), HIGH, "Severe withdrawal: COWS 37 (severe)"),  # severe needs no history
        (scored(COWS, 8), scored(COWS, 12, hours=2), None, ""),  # 8 -> 12: both mild
        (scored(COWS, 12), scored(COWS, 13, hours=2), MEDIUM, "COWS 13 (moderate), up from 12 (mild)"),
        (scored(COWS, 24), scored(COWS, 25, hours=4), MEDIUM, "25 (moderately severe), up from 24 (moderate)"),
        (scored(COWS, 13), scored(COWS, 12, hours=2), None, ""),  # falling
        (scored(COWS, 12), scored(COWS, 13, hours=24), MEDIUM, "up from 12"),  # a day apart: still the course
        (scored(COWS, 12), scored(COWS, 13, hours=24.01), None, ""),  # older than a day: no comparison
        (scored(COWS, 30), scored(COWS, 40, hours=30), HIGH, "COWS 40 (severe)"),  # severe whatever came before
        (scored(CIWA, 9), scored(CIWA, 10, hours=1), MEDIUM, "CIWA-Ar 10 (moderate), up from 9 (mild)"),
        (scored(CIWA, 15), scored(CIWA, 16, hours=1), HIGH, "CIWA-Ar 16 (severe), up from 15 (moderate)"),
        (scored(AWS, 5), scored(AWS, 6, hours=1), MEDIUM, "AWS 6 (moderate), up from 5 (mild)"),
        (scored(AWS, 9), scored(AWS, 10, hours=1), HIGH, "AWS 10 (severe)"),
    ],
)  # fmt: skip
def test_a_higher_band_within_a_day_is_medium_and_severe_is_high(
    previous: WithdrawalAssessment | None, new: WithdrawalAssessment, severity: AlertSeverity | None, says: str
) -> None:
    seen = observe(new, previous)

    assert (seen.key.kind, seen.key.patient_id, seen.severity) == (AlertKind.WITHDRAWAL_RISING, "p1", severity)
    assert says in seen.message and seen.at == new.assessed_at


@st.composite
def assessments(draw: st.DrawFn, scale: WithdrawalScale) -> WithdrawalAssessment:
    items = {item.value: draw(st.sampled_from(allowed)) for item, allowed in SCALES[scale].items.items()}
    at = T0 + timedelta(hours=draw(st.floats(0, 48)))
    return new_assessment(
        assessment_id="a", patient_id="p1", scale=scale, items=items, assessed_at=at, assessed_by="n", recorded_at=at
    )


@given(data=st.data(), scale=st.sampled_from(list(WithdrawalScale)))
def test_an_alert_means_severe_or_a_higher_band_within_a_day(data: st.DataObject, scale: WithdrawalScale) -> None:
    previous, new = data.draw(assessments(scale)), data.draw(assessments(scale))
    if new.assessed_at < previous.assessed_at:
        previous, new = new, previous

    seen = observe(new, previous)

    recent = new.assessed_at - previous.assessed_at <= timedelta(hours=24)
    assert (seen.severity is HIGH) is (new.band is WithdrawalBand.SEVERE)
    assert (seen.severity is MEDIUM) is (new.band is not WithdrawalBand.SEVERE and recent and new.band > previous.band)


def _open_alert(severity: AlertSeverity) -> Alert:
    return Alert(7, "p1", "w1", AlertKind.WITHDRAWAL_RISING, severity, AlertState.OPEN, "COWS 13", T0, T0)


def test_the_next_assessment_that_no_longer_rises_resolves_the_alert_and_a_severe_one_raises_it() -> None:
    moderate, calmer = scored(COWS, 13, hours=1), scored(COWS, 10, hours=3)
    key, decide = decide_withdrawal_alert(calmer, ward_id="w1", setting=CareSetting.BEDSIDE)({COWS: (moderate,)})

    update = decide(_open_alert(MEDIUM))

    assert key.kind is AlertKind.WITHDRAWAL_RISING and update is not None
    assert (update.phase, update.alert.state) == (AlertPhase.RESOLVED, AlertState.RESOLVED)
    assert update.reason == "next assessment COWS 10 (mild)"
    _, decide_severe = decide_withdrawal_alert(scored(COWS, 38, hours=4), ward_id="w1", setting=CareSetting.BEDSIDE)(
        {COWS: (calmer, moderate)}
    )
    raised = decide_severe(_open_alert(MEDIUM))
    assert raised is not None and (raised.phase, raised.alert.priority) == (AlertPhase.RAISED, AlertPriority.HIGH)
    assert decide_severe(None) is not None  # opens one when none is open
    assert decide(None) is None  # nothing open, nothing rising: nothing


# A polysubstance patient scored on COWS and CIWA-Ar: what the next assessment does to the open alert (None: nothing
# open), given each scale's newest earlier scores (newest first). Outcome: (phase, priority) written, or None.
RESOLVED, RAISED = AlertPhase.RESOLVED, AlertPhase.RAISED


@pytest.mark.parametrize(
    ("open_at", "open_as", "history", "new", "outcome"),
    [
        # a calm CIWA-Ar 30 min after a severe COWS: says nothing of the opioid withdrawal, the doctor stays paged
        (0, HIGH, {COWS: [scored(COWS, 37)]}, scored(CIWA, 0, hours=0.5), None),
        # COWS scored again and calm: it ends the alert it raised
        (0, HIGH, {COWS: [scored(COWS, 37)], CIWA: [scored(CIWA, 0, hours=0.5)]}, scored(COWS, 8, hours=1), RESOLVED),
        # both severe: the calm COWS leaves it open while CIWA-Ar is still severe ...
        (0, HIGH, {COWS: [scored(COWS, 37)], CIWA: [scored(CIWA, 16, hours=0.5)]}, scored(COWS, 8, hours=1), None),
        # ... and the calm CIWA-Ar after it ends it
        (
            0, HIGH, {COWS: [scored(COWS, 8, hours=1), scored(COWS, 37)], CIWA: [scored(CIWA, 16, hours=0.5)]},
            scored(CIWA, 4, hours=1.5), RESOLVED,
        ),
        # risen CIWA-Ar (9 -> 10) holds a medium alert a calm COWS would otherwise end
        (
            1, MEDIUM, {COWS: [scored(COWS, 14, hours=1)], CIWA: [scored(CIWA, 10, hours=1.5), scored(CIWA, 9)]},
            scored(COWS, 8, hours=2), None,
        ),
        # a CIWA-Ar that has fallen again holds nothing
        (
            1, MEDIUM, {COWS: [scored(COWS, 14, hours=1)], CIWA: [scored(CIWA, 4, hours=1.5), scored(CIWA, 10)]},
            scored(COWS, 8, hours=2), RESOLVED,
        ),
        # a severe CIWA-Ar charted before this alert opened belonged to an earlier one (resolved by hand)
        (10, HIGH, {COWS: [scored(COWS, 37, hours=10)], CIWA: [scored(CIWA, 16)]}, scored(COWS, 8, hours=11), RESOLVED),
        # another scale's higher band still raises the alert: medium from CIWA-Ar, then a severe COWS
        (0, MEDIUM, {CIWA: [scored(CIWA, 10), scored(CIWA, 9, hours=-1)]}, scored(COWS, 37, hours=0.5), RAISED),
        # nothing open: a calm score opens nothing, whatever another scale showed
        (None, None, {COWS: [scored(COWS, 37)]}, scored(CIWA, 0, hours=0.5), None),
    ],
)  # fmt: skip
def test_a_calm_score_on_one_scale_ends_the_alert_only_once_no_other_scale_shows_withdrawal(
    open_at: float | None,
    open_as: AlertSeverity | None,
    history: dict[WithdrawalScale, list[WithdrawalAssessment]],
    new: WithdrawalAssessment,
    outcome: AlertPhase | None,
) -> None:
    current = None
    if open_at is not None and open_as is not None:
        at = T0 + timedelta(hours=open_at)
        current = Alert(7, "p1", "w1", AlertKind.WITHDRAWAL_RISING, open_as, AlertState.OPEN, "raised", at, at)

    decided = decide_withdrawal_alert(new, ward_id="w1", setting=CareSetting.BEDSIDE)(history)
    assert decided is not None
    update = decided[1](current)

    assert (update.phase if update is not None else None) == outcome
    if outcome is RESOLVED:
        assert update is not None and update.reason == f"next assessment {SCALES[new.scale].title} {new.total} (mild)"
    if outcome is RAISED:
        assert update is not None and update.alert.severity is HIGH and "COWS 37" in update.alert.message


def test_a_rising_withdrawal_alert_informs_the_care_team_even_at_medium() -> None:
    medium = default_policy(AlertPriority.MEDIUM)

    routed = policy_for_kind(medium, AlertKind.WITHDRAWAL_RISING)

    teams = {t.value for t in routed.steps[0].targets if t.kind is TargetKind.CARE_TEAM}
    assert teams == {"lar_team", "fact_team", "digital_fact_team", "psht"}
    assert routed.steps[1:] == medium.steps[1:]
    assert policy_for_kind(medium, AlertKind.NEWS2) == medium  # NEWS2 5-6 stays with the unit
    high = default_policy(AlertPriority.HIGH)
    assert policy_for_kind(high, AlertKind.WITHDRAWAL_RISING) == high  # informed once, not twice
    assert AlertKind.WITHDRAWAL_RISING in KINDS_INFORMING_CARE_TEAMS


@pytest.mark.parametrize(
    ("items", "proposed", "field"),
    [
        ({"gooseflesh": 1}, (), "items.gooseflesh"),
        ({"pupil": 0}, (), "items.pupil"),
        ({}, ("headache",), "proposed"),
    ],
)
def test_an_entry_outside_the_form_is_refused_naming_the_field(
    items: dict[str, int], proposed: tuple[str, ...], field: str
) -> None:
    entry = {item.value: 0 for item in SCALES[COWS].items} | items
    with pytest.raises(InvalidAssessment) as refused:
        new_assessment(
            assessment_id="a1", patient_id="p1", scale=COWS, items=entry, assessed_at=T0, assessed_by="n",
            recorded_at=T0, proposed=proposed,
        )  # fmt: skip
    assert refused.value.field == field


def test_the_aws_form_comes_with_its_vital_items_proposed_and_the_rest_left_to_the_nurse() -> None:
    latest = {
        Parameter.PULSE: LatestValue(Parameter.PULSE, 112, T0 - timedelta(minutes=2), "mon-1"),
        Parameter.TEMPERATURE: LatestValue(Parameter.TEMPERATURE, 38.2, T0 - timedelta(hours=2), "mon-1"),  # stale
    }

    form = proposal(AWS, latest, now=T0)

    assert [f.item for f in form] == [item.value for item in SCALES[AWS].items]
    by_item = {f.item: f for f in form}
    assert by_item["pulse"].proposed is not None and by_item["pulse"].proposed.score == 2
    assert by_item["pulse"].scores == (0, 1, 2, 3, 4)
    assert by_item["temperature"].proposed is None and by_item["tremor"].proposed is None
