"""An alert's escalation state in the words the pages show, times on the unit's clock (Europe/Oslo)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.escalation import (
    DEFAULT_POLICIES,
    Delivery,
    DeliveryPurpose,
    DeliveryState,
    Escalation,
    EscalationPolicy,
    EscalationStep,
)
from core.escalation import EscalationTarget as Target
from core.types import Alert, AlertKind, AlertPriority, AlertSeverity, AlertState
from dashboard_api.escalation_words import escalation_state

NIGHT = datetime(2025, 1, 15, 20, 43, tzinfo=UTC)  # 21:43 in Oslo (winter time)
SUMMER = datetime(2025, 7, 15, 19, 43, tzinfo=UTC)  # 21:43 in Oslo (summer time)
HIGH = DEFAULT_POLICIES[AlertPriority.HIGH]  # unit nurse 3 min, doctor on call 5 min, hospital specialist


def alert(at: datetime) -> Alert:
    return Alert(
        alert_id=42, patient_id="p1", device_id=None, ward_id="w1", kind=AlertKind.NEWS2,
        severity=AlertSeverity.HIGH, state=AlertState.OPEN, message="NEWS2 7", opened_at=at, updated_at=at,
    )  # fmt: skip


def chain(at: datetime, *, step_index: int, next_at: datetime | None, policy: EscalationPolicy = HIGH) -> Escalation:
    return Escalation(42, 1, "s1", policy, started_at=at, step_index=step_index, next_step_at=next_at)


def delivery(person: str, state: DeliveryState, at: datetime, *, step: int, why: str, epoch: int = 1) -> Delivery:
    return Delivery(
        f"42-{epoch}-0-{step}-{person}-{state.value}", 42, epoch, 0, step, person, why, "gw", "pager", state, at, at,
        outcome="no contact point" if state is DeliveryState.FAILED else "",
    )  # fmt: skip


@pytest.mark.parametrize("at", [NIGHT, SUMMER])
def test_the_doctor_notified_at_2143_and_not_yet_read(at: datetime) -> None:
    nurse = delivery("nurse-kari", DeliveryState.DECLINED, at - timedelta(minutes=3), step=0, why="unit_nurse on call")
    doctor = delivery("dr-lund", DeliveryState.DELIVERED, at, step=1, why="doctor_on_call on call for s1")
    state = escalation_state(
        alert(at), chain(at, step_index=2, next_at=at + timedelta(minutes=5)), [nurse, doctor], now=at
    )
    assert state.text == "Doctor on call dr-lund notified 21:43, not yet read; next: hospital specialist at 21:48"
    assert [(n.person_id, n.role, n.state) for n in state.notified] == [("dr-lund", "doctor_on_call", "delivered")]


def test_one_person_reached_on_any_contact_point_counts_as_reached() -> None:
    why = "unit_nurse on call for s1"
    failed = delivery("nurse-kari", DeliveryState.FAILED, NIGHT, step=0, why=why)
    read = delivery("nurse-kari", DeliveryState.READ, NIGHT, step=0, why=why)
    state = escalation_state(alert(NIGHT), chain(NIGHT, step_index=1, next_at=NIGHT), [failed, read], now=NIGHT)
    assert state.text == "Unit nurse nurse-kari notified 21:43, read, not yet answered; next: doctor on call now"


def test_a_person_not_reached_says_why_and_a_named_person_has_no_role() -> None:
    named = EscalationPolicy("s1", AlertPriority.HIGH, (EscalationStep((Target.parse("person:dr-vakt"),), 60),))
    failed = delivery("dr-vakt", DeliveryState.FAILED, NIGHT, step=0, why="named in the policy")
    stopped = Escalation(42, 1, "s1", named, NIGHT, stopped_at=NIGHT, stop_reason="every step fired (1 rounds)")
    state = escalation_state(alert(NIGHT), stopped, [failed], now=NIGHT + timedelta(hours=1))
    assert state.text == "Dr-vakt not reached 21:43 (no contact point); stopped 21:43: every step fired (1 rounds)"
    assert (state.status, state.notified[0].role) == ("stopped", None)


def test_a_time_on_another_day_carries_its_date_and_an_old_epoch_is_not_shown() -> None:
    old = delivery("nurse-kari", DeliveryState.ACCEPTED, NIGHT, step=0, why="unit_nurse on call", epoch=0)
    later = NIGHT + timedelta(hours=4)  # 01:43 the next day
    state = escalation_state(alert(NIGHT), chain(NIGHT, step_index=0, next_at=later), [old], now=later)
    assert state.text == "Paging unit nurse now"
    tomorrow = escalation_state(alert(NIGHT), chain(NIGHT, step_index=0, next_at=NIGHT), [], now=later)
    assert tomorrow.text == "Paging unit nurse now"
    waiting = escalation_state(alert(NIGHT), chain(NIGHT, step_index=0, next_at=later), [], now=NIGHT)
    assert waiting.text == "Paging unit nurse at 16.01 01:43"


def test_care_team_members_informed_are_named_apart_from_who_must_respond() -> None:
    nurse = delivery("nurse-kari", DeliveryState.DELIVERED, NIGHT, step=0, why="unit_nurse on call for s1")
    lar = replace(
        delivery("lar-anna", DeliveryState.READ, NIGHT, step=0, why="lar_team of p1"), purpose=DeliveryPurpose.INFORM
    )
    state = escalation_state(alert(NIGHT), chain(NIGHT, step_index=1, next_at=NIGHT), [nurse, lar], now=NIGHT)
    assert state.text == (
        "Unit nurse nurse-kari notified 21:43, not yet read; care team informed: lar-anna; next: doctor on call now"
    )
    assert [n.person_id for n in state.notified] == ["nurse-kari"]


def test_an_alert_without_a_chain_pages_nobody() -> None:
    state = escalation_state(alert(NIGHT), None, [], now=NIGHT)
    assert (state.status, state.text, state.notified) == ("none", "Pages nobody", [])
