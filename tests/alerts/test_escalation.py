"""Escalation chains on a fake clock: when each step fires, who it reaches, and what stops or hurries it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.escalation import delivery_id, fire_step
from core.alert_facts import AlertFacts
from core.escalation import (
    ContactPoint,
    DeliveryPurpose,
    DeliveryState,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    EscalationTarget,
    OnCallContext,
    RecipientRateLimit,
    TargetKind,
    chain_after,
    default_policy,
    fired,
    following,
    held_back_until,
    hurried,
)
from core.oncall import OnCallRole, RosterOverride, Rotation
from core.types import (
    Alert,
    AlertKind,
    AlertPhase,
    AlertPriority,
    AlertSeverity,
    AlertState,
    CareTeamMember,
    CareTeamRole,
)

T0 = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)  # the night the clocks go forward in Oslo: rosters must not care
NURSE, DOCTOR, SPECIALIST = OnCallRole.UNIT_NURSE, OnCallRole.DOCTOR_ON_CALL, OnCallRole.HOSPITAL_SPECIALIST
HIGH = default_policy(AlertPriority.HIGH)


def alert(*, state: AlertState = AlertState.OPEN, severity: AlertSeverity = AlertSeverity.HIGH) -> Alert:
    return Alert(42, "pat-1", "w1", AlertKind.NEWS2, severity, state, "NEWS2 7", T0, T0, acknowledged_by="nurse-kari")


def rotation(role: OnCallRole, *members: str, rotation_id: int = 1) -> Rotation:
    return Rotation(rotation_id, role.value, role, frozenset({"s1"}), (time(8),), members, date(2025, 1, 1))


def context(
    *rotations: Rotation, unreachable: tuple[str, ...] = (), overrides: tuple[RosterOverride, ...] = ()
) -> OnCallContext:
    people = {m for r in rotations for m in r.members} | {o.person_id for o in overrides}
    contacts: dict[str, tuple[ContactPoint, ...]] = {
        p: (ContactPoint(p, "gw", f"pager-{p}"),) for p in people if p not in unreachable
    }
    return OnCallContext(tuple(rotations), overrides, contacts)


UNIT = context(
    rotation(NURSE, "nurse-kari", rotation_id=1),
    rotation(DOCTOR, "dr-lund", rotation_id=2),
    rotation(SPECIALIST, "dr-hansen", rotation_id=3),
)


def started(policy: EscalationPolicy = HIGH, *, at: datetime = T0) -> Escalation:
    chain = chain_after(AlertPhase.OPENED, alert(), None, policy=policy, site_id="s1", at=at)
    assert chain is not None
    return chain


def run_chain(chain: Escalation, on_call: OnCallContext, *, until: datetime) -> list[tuple[timedelta, list[str]]]:
    """Fire every step due until `until`, nobody answering: (when after T0, who) per step."""
    fired_steps = []
    while chain.running and chain.next_step_at is not None and chain.next_step_at <= until:
        at = chain.next_step_at
        firing = fire_step(chain, alert(), on_call, at=at)
        fired_steps.append((at - T0, [d.person_id for d in firing.deliveries]))
        chain = firing.escalation
    return fired_steps


# --- when steps fire ------------------------------------------------------------------------------------------
def test_high_alert_fetches_the_nurse_then_the_doctor_after_3_min_then_the_specialist_5_min_later() -> None:
    steps = run_chain(started(), UNIT, until=T0 + timedelta(minutes=30))
    assert steps == [
        (timedelta(0), ["nurse-kari"]),
        (timedelta(minutes=3), ["dr-lund"]),
        (timedelta(minutes=8), ["dr-hansen"]),
        # the default high policy runs twice: after the specialist's 10 min, the whole chain again
        (timedelta(minutes=18), ["nurse-kari"]),
        (timedelta(minutes=21), ["dr-lund"]),
        (timedelta(minutes=26), ["dr-hansen"]),
    ]


def test_a_chain_ends_after_its_last_round_and_says_so() -> None:
    chain = started()
    for _ in range(6):
        assert chain.next_step_at is not None
        chain = fire_step(chain, alert(), UNIT, at=chain.next_step_at).escalation
    assert not chain.running and chain.next_step_at is None
    assert chain.stop_reason == "every step fired (2 rounds)"


@pytest.mark.parametrize(
    ("on_call", "expected"),
    [
        # nobody rostered as doctor: the specialist is fetched at once after the nurse's 3 min
        (context(rotation(NURSE, "nurse-kari"), rotation(SPECIALIST, "dr-hansen", rotation_id=3)),
         [(timedelta(0), ["nurse-kari"]), (timedelta(minutes=3), []), (timedelta(minutes=3), ["dr-hansen"])]),
        # the doctor has no contact point: a failed delivery, and on at once
        (context(*UNIT.rotations, unreachable=("dr-lund",)),
         [(timedelta(0), ["nurse-kari"]), (timedelta(minutes=3), ["dr-lund"]), (timedelta(minutes=3), ["dr-hansen"])]),
    ],
    ids=["nobody-on-call", "no-contact-point"],
)  # fmt: skip
def test_a_step_that_reaches_nobody_moves_on_at_once(
    on_call: OnCallContext, expected: list[tuple[timedelta, list[str]]]
) -> None:
    assert run_chain(started(), on_call, until=T0 + timedelta(minutes=3))[:3] == expected


def test_a_step_that_reaches_nobody_says_who_was_missing() -> None:
    chain = replace(started(), step_index=1)
    firing = fire_step(chain, alert(), context(rotation(NURSE, "nurse-kari")), at=T0)
    assert (
        firing.note == "step 2/3, round 1; notified nobody; nobody on call as doctor_on_call for s1; moved on at once"
    )
    assert firing.escalation.next_step_at == T0


def test_an_unreachable_person_gets_a_failed_delivery_with_the_reason() -> None:
    firing = fire_step(started(), alert(), context(rotation(NURSE, "nurse-kari"), unreachable=("nurse-kari",)), at=T0)
    [failed] = firing.deliveries
    assert (failed.state, failed.outcome, failed.next_attempt_at) == (DeliveryState.FAILED, "no contact point", None)
    assert "nurse-kari has no contact point" in firing.note


def test_an_override_takes_the_step_for_its_window() -> None:
    swap = RosterOverride(9, 2, "dr-vikar", T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    on_call = context(*UNIT.rotations, overrides=(swap,))
    chain = replace(started(), step_index=1)
    assert [d.person_id for d in fire_step(chain, alert(), on_call, at=T0).deliveries] == ["dr-vikar"]


def test_one_person_named_twice_in_a_step_is_notified_once() -> None:
    both = EscalationStep((EscalationTarget.role(NURSE), EscalationTarget(TargetKind.PERSON, "nurse-kari")), 60)
    policy = EscalationPolicy("s1", AlertPriority.HIGH, (both,))
    firing = fire_step(started(policy), alert(), UNIT, at=T0)
    assert [(d.person_id, d.reason) for d in firing.deliveries] == [("nurse-kari", "unit_nurse on call for s1")]


def test_a_late_step_gives_its_people_their_full_wait() -> None:
    late = T0 + timedelta(seconds=70)  # e.g. the database was away for a minute
    chain = fire_step(started(), alert(), UNIT, at=late).escalation
    assert chain.next_step_at == late + timedelta(minutes=3)


def test_firing_a_step_again_gives_the_same_delivery_ids() -> None:
    first = fire_step(started(), alert(), UNIT, at=T0)
    again = fire_step(started(), alert(), UNIT, at=T0 + timedelta(seconds=5))  # a worker died before committing
    assert [d.delivery_id for d in first.deliveries] == [d.delivery_id for d in again.deliveries]


def test_an_alert_no_longer_open_stops_its_chain_and_notifies_nobody() -> None:
    firing = fire_step(started(), alert(state=AlertState.ACKNOWLEDGED), UNIT, at=T0)
    assert firing.deliveries == () and not firing.escalation.running
    assert firing.escalation.stop_reason == "alert acknowledged"


# --- what starts, stops and hurries a chain --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("phase", "severity", "expect"),
    [
        (AlertPhase.OPENED, AlertSeverity.HIGH, "new"),
        (AlertPhase.REOPENED, AlertSeverity.HIGH, "new"),
        (AlertPhase.RENOTIFIED, AlertSeverity.HIGH, "new"),
        (AlertPhase.RAISED, AlertSeverity.HIGH, "same"),  # same priority: the chain keeps its clock
        (AlertPhase.RAISED, AlertSeverity.MEDIUM, "new"),  # (running chain is high) a different priority: restart
        (AlertPhase.ESCALATED, AlertSeverity.HIGH, "same"),
        (AlertPhase.ACKNOWLEDGED, AlertSeverity.HIGH, "stopped"),
        (AlertPhase.RESOLVED, AlertSeverity.HIGH, "stopped"),
    ],
)
def test_what_each_phase_does_to_a_running_chain(phase: AlertPhase, severity: AlertSeverity, expect: str) -> None:
    running = replace(started(), step_index=1, next_step_at=T0 + timedelta(minutes=3))
    policy = default_policy(alert(severity=severity).priority)
    after = chain_after(phase, alert(severity=severity), running, policy=policy, site_id="s1", at=T0)
    if expect == "same":
        assert after is None
    elif expect == "stopped":
        assert after is not None and not after.running and after.next_step_at is None
    else:
        assert after is not None
        assert (after.epoch, after.step_index, after.loop, after.next_step_at) == (2, 0, 0, T0)
        assert after.policy == policy


def test_a_low_priority_alert_pages_nobody() -> None:
    ml = Alert(7, "pat-1", "w1", AlertKind.ML_RISK, AlertSeverity.MEDIUM, AlertState.OPEN, "ML", T0, T0)
    policy = default_policy(ml.priority)
    assert chain_after(AlertPhase.OPENED, ml, None, policy=policy, site_id="s1", at=T0) is None


def test_a_decline_hurries_only_the_step_that_follows_it() -> None:
    waiting = fire_step(started(), alert(), UNIT, at=T0).escalation  # nurse notified; doctor due at +3 min
    declined_at = T0 + timedelta(seconds=40)
    moved = hurried(waiting, epoch=1, loop=0, step_index=0, at=declined_at)
    assert moved is not None and moved.next_step_at == declined_at
    assert hurried(waiting, epoch=1, loop=0, step_index=1, at=declined_at) is None  # not the step before the next
    assert hurried(waiting, epoch=2, loop=0, step_index=0, at=declined_at) is None  # an older chain's step


@given(
    steps=st.integers(min_value=1, max_value=8),
    repeat=st.integers(min_value=0, max_value=3),
    waits=st.lists(st.integers(min_value=0, max_value=3600), min_size=8, max_size=8),
)
def test_every_step_of_every_round_fires_exactly_once_in_order(steps: int, repeat: int, waits: list[int]) -> None:
    policy = EscalationPolicy(
        "s1",
        AlertPriority.HIGH,
        tuple(EscalationStep((EscalationTarget(TargetKind.PERSON, f"p{i}"),), waits[i]) for i in range(steps)),
        repeat,
    )
    chain, seen, at = started(policy), [], T0
    while chain.running:
        assert chain.next_step_at is not None and chain.next_step_at >= at  # never back in time
        at = chain.next_step_at
        seen.append((chain.loop, chain.step_index))
        chain = fired(chain, at=at, waiting=True)
    assert seen == [(loop, step) for loop in range(repeat + 1) for step in range(steps)]
    assert following(policy, loop=repeat, step_index=steps - 1) is None


def test_delivery_ids_fit_the_webhook_header_and_differ_per_person() -> None:
    chain = started()
    ids = {delivery_id(chain, person_id=p, endpoint_id="gw", address="a") for p in ("nurse-kari", "dr-lund")}
    assert len(ids) == 2
    assert all(len(i) <= 64 and "." not in i for i in ids)


# --- care-team routing: the patient's LAR, FACT and PSHT teams are informed of a high alert -----------------------
def team_facts(*members: tuple[str, CareTeamRole]) -> AlertFacts:
    team = tuple(CareTeamMember("pat-1", m, role, "Vest-Finnmark", T0 - timedelta(days=30)) for m, role in members)
    return AlertFacts(alert(), T0, care_team=team)


def reachable(on_call: OnCallContext, *people: str) -> OnCallContext:
    return replace(on_call, contacts=on_call.contacts | {p: (ContactPoint(p, "gw", f"phone-{p}"),) for p in people})


def test_the_default_high_policy_informs_the_patients_lar_and_fact_teams_with_the_first_step() -> None:
    facts = team_facts(("lar-alta", CareTeamRole.LAR_TEAM), ("fact-vest", CareTeamRole.FACT_TEAM))
    firing = fire_step(started(), alert(), reachable(UNIT, "lar-alta", "fact-vest"), at=T0, facts=facts)
    by_person = {d.person_id: d.purpose for d in firing.deliveries}
    assert by_person == {
        "nurse-kari": DeliveryPurpose.RESPOND,
        "lar-alta": DeliveryPurpose.INFORM,
        "fact-vest": DeliveryPurpose.INFORM,
    }
    assert firing.note == "step 1/3, round 1; notified nurse-kari; informed fact-vest, lar-alta"


def test_the_gp_and_other_team_roles_are_not_paged_by_the_default_policy() -> None:
    facts = team_facts(("dr-gp", CareTeamRole.GP), ("rel-1", CareTeamRole.RELATIVE))
    firing = fire_step(started(), alert(), reachable(UNIT, "dr-gp", "rel-1"), at=T0, facts=facts)
    assert [d.person_id for d in firing.deliveries] == ["nurse-kari"]


def test_a_medium_alert_informs_no_care_team() -> None:
    facts = team_facts(("lar-alta", CareTeamRole.LAR_TEAM))
    medium = started(default_policy(AlertPriority.MEDIUM))
    firing = fire_step(medium, alert(severity=AlertSeverity.MEDIUM), reachable(UNIT, "lar-alta"), at=T0, facts=facts)
    assert [d.person_id for d in firing.deliveries] == ["nurse-kari"]


def test_informing_a_team_never_holds_up_the_chain_when_nobody_can_respond() -> None:
    facts = team_facts(("lar-alta", CareTeamRole.LAR_TEAM))
    no_nurse = reachable(context(rotation(DOCTOR, "dr-lund")), "lar-alta")
    firing = fire_step(started(), alert(), no_nurse, at=T0, facts=facts)
    assert [(d.person_id, d.purpose) for d in firing.deliveries] == [("lar-alta", DeliveryPurpose.INFORM)]
    assert firing.escalation.next_step_at == T0  # the doctor is fetched at once, not after the nurse's 3 min
    assert firing.note.endswith("nobody on call as unit_nurse for s1; moved on at once")


def test_a_team_is_informed_in_the_first_round_only() -> None:
    facts = team_facts(("lar-alta", CareTeamRole.LAR_TEAM))
    second_round = replace(started(), loop=1)
    firing = fire_step(second_round, alert(), reachable(UNIT, "lar-alta"), at=T0, facts=facts)
    assert [d.person_id for d in firing.deliveries] == ["nurse-kari"]


def test_the_nurse_on_call_who_is_also_in_the_team_is_asked_to_respond_once() -> None:
    facts = team_facts(("nurse-kari", CareTeamRole.PSHT))
    [delivery] = fire_step(started(), alert(), UNIT, at=T0, facts=facts).deliveries
    assert (delivery.person_id, delivery.purpose) == ("nurse-kari", DeliveryPurpose.RESPOND)


def test_every_delivery_carries_the_isbar_message_and_its_purpose() -> None:
    facts = team_facts(("lar-alta", CareTeamRole.LAR_TEAM))
    firing = fire_step(started(), alert(), reachable(UNIT, "lar-alta"), at=T0, facts=facts)
    for delivery in firing.deliveries:
        body = orjson.loads(delivery.body)
        assert body["purpose"] == delivery.purpose.value
        assert body["isbar"]["text"].split("\n")[0].startswith("I: pat-1")
        assert "lar team lar-alta (Vest-Finnmark)" in body["isbar"]["background"]
        assert body["isbar"]["recommendation"].startswith("Emergency response")


# --- the rate limit per recipient -------------------------------------------------------------------------------
TEN_A_MINUTE = RecipientRateLimit(max_sends=10, window_s=60.0)


@pytest.mark.parametrize(
    ("priority", "sent_s_ago", "held_for_s"),
    [
        (AlertPriority.MEDIUM, [], None),
        (AlertPriority.MEDIUM, [50] * 9, None),  # the tenth in a minute still goes
        (AlertPriority.MEDIUM, [50] * 10, 10),  # the eleventh waits until the first leaves the window
        (AlertPriority.MEDIUM, [59, 30, 20, 10, 9, 8, 7, 6, 5, 4], 1),
        (AlertPriority.LOW, [61] * 10 + [1], None),  # older than the window: forgotten
        (AlertPriority.LOW, [60] * 10, None),  # exactly a window ago: gone
        (AlertPriority.HIGH, [1] * 50, None),  # a NEWS2 of 7 is never held back
    ],
)
def test_a_recipient_gets_at_most_ten_medium_or_low_messages_a_minute(
    priority: AlertPriority, sent_s_ago: list[int], held_for_s: int | None
) -> None:
    sent = [T0 - timedelta(seconds=s) for s in sent_s_ago]
    held = held_back_until(priority, sent, now=T0, limit=TEN_A_MINUTE)
    assert held == (None if held_for_s is None else T0 + timedelta(seconds=held_for_s))


@given(
    due_s=st.lists(st.integers(min_value=0, max_value=600), min_size=1, max_size=80),
    high=st.lists(st.booleans(), min_size=80, max_size=80),
)
def test_held_back_messages_all_go_out_never_more_than_the_limit_in_a_window(
    due_s: list[int], high: list[bool]
) -> None:
    """A sender that sends each due message unless held back, and re-tries held ones when they fall due."""
    queue = sorted((T0 + timedelta(seconds=s), i) for i, s in enumerate(due_s))
    sent: list[tuple[datetime, bool]] = []
    while queue:
        due, i = queue.pop(0)
        priority = AlertPriority.HIGH if high[i] else AlertPriority.MEDIUM
        held = held_back_until(priority, [at for at, _ in sent], now=due, limit=TEN_A_MINUTE)
        if held is None:
            sent.append((due, high[i]))
            assert not high[i] or due == T0 + timedelta(seconds=due_s[i])  # high is never late
        else:
            assert held > due
            queue = sorted([*queue, (held, i)])
    assert len(sent) == len(due_s)  # nothing dropped
    for k, (at, is_high) in enumerate(sent):
        before = [s for s, _ in sent[:k] if at - timedelta(seconds=60) < s <= at]
        assert is_high or len(before) < 10  # a medium one went out only with room in its minute
