"""The length-of-stay item: advisory (low priority, about the patient), opened once while one is unresolved, and
never announced again once acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.length_of_stay import stay_limit_passed
from alerts.lifecycle import acknowledge
from core.length_of_stay import DueStayLimit, StayLimit
from core.types import AlertCategory, AlertKind, AlertPhase, AlertPriority, AlertSeverity, AlertState

ADMITTED = datetime(2025, 3, 29, 11, 0, tzinfo=UTC)  # 12:00 in Oslo
DUE = DueStayLimit("p1", "st-1", "kad-w", StayLimit.KAD_72H, ADMITTED, ADMITTED + timedelta(hours=72))


def test_a_passed_limit_opens_a_low_priority_item_saying_since_when_in_oslo_time() -> None:
    update = stay_limit_passed(None, DUE, at=DUE.due_at)

    assert update is not None and update.phase is AlertPhase.OPENED
    item = update.alert
    assert (item.patient_id, item.ward_id, item.kind, item.severity) == (
        "p1", "kad-w", AlertKind.LENGTH_OF_STAY, AlertSeverity.INFO,
    )  # fmt: skip
    assert (item.priority, item.category, item.state) == (
        AlertPriority.LOW, AlertCategory.PHYSIOLOGICAL, AlertState.OPEN,
    )  # fmt: skip
    assert item.message == (
        "Length of stay: KAD/ØHD stay beyond 72 h: decide on discharge or transfer (here since 29.03.2025 12:00)"
    )


def test_an_item_already_unresolved_is_left_as_it_is() -> None:
    opened = stay_limit_passed(None, DUE, at=DUE.due_at)
    assert opened is not None

    assert stay_limit_passed(opened.alert, DUE, at=DUE.due_at + timedelta(hours=1)) is None


def test_an_acknowledged_item_is_never_announced_again() -> None:
    opened = stay_limit_passed(None, DUE, at=DUE.due_at)
    assert opened is not None

    acked = acknowledge(opened.alert, by="nurse.kari", at=DUE.due_at + timedelta(minutes=5))

    assert (acked.alert.state, acked.alert.renotify_at) == (AlertState.ACKNOWLEDGED, None)
