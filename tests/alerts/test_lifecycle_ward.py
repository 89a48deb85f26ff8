"""Which ward an alert whose condition persists is shown on: one no ward showed is taken up by the ward the patient
lies in now; moving one between wards is left to the transfer (core/store/stay_alerts.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from alerts.lifecycle import Observed, acknowledge, observe
from core.types import Alert, AlertKey, AlertKind, AlertPhase, AlertSeverity, AlertState

T0 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
KEY = AlertKey("p1", None, AlertKind.NEWS2)
WARDLESS = Alert(7, "p1", None, AlertKind.NEWS2, AlertSeverity.HIGH, AlertState.OPEN, "NEWS2 9", T0, T0)
LATER = T0 + timedelta(hours=1)


def _news2_9(ward_id: str | None) -> Observed:
    return Observed(KEY, AlertSeverity.HIGH, "NEWS2 9", LATER, ward_id)


def test_an_open_alert_no_ward_showed_appears_on_the_ward_the_patient_lies_in_now() -> None:
    update = observe(WARDLESS, _news2_9("w2"))

    assert update is not None
    assert (update.alert.ward_id, update.alert.state, update.alert.updated_at) == ("w2", AlertState.OPEN, LATER)
    assert (update.phase, update.reason) == (AlertPhase.TRANSFERRED, "taken up by ward w2: it had no ward")
    # A ward's alert stays on its ward whatever an observation read just before a transfer says: the transfer moves
    # it, with its history row and chain (core/store/stay_alerts.py). Still in no stay: nothing to take it up.
    assert observe(replace(WARDLESS, ward_id="w1"), _news2_9("w2")) is None
    assert observe(WARDLESS, _news2_9(None)) is None


def test_an_acknowledged_alert_no_ward_showed_moves_there_quietly() -> None:
    acked = acknowledge(WARDLESS, by="nurse-1", at=T0 + timedelta(minutes=1)).alert

    update = observe(acked, replace(_news2_9("w2"), at=T0 + timedelta(minutes=2)))  # before its re-notification

    assert update is not None
    assert (update.alert.ward_id, update.alert.state, update.phase) == ("w2", AlertState.ACKNOWLEDGED, None)


def test_a_worse_observation_read_before_a_transfer_leaves_the_alert_on_the_ward_it_was_moved_to() -> None:
    moved = replace(WARDLESS, ward_id="w2", severity=AlertSeverity.MEDIUM)  # the transfer took it to w2

    update = observe(moved, _news2_9("w1"))  # NEWS2 9 scored on the stay read before the transfer

    assert update is not None
    assert (update.alert.severity, update.alert.ward_id, update.phase) == (AlertSeverity.HIGH, "w2", AlertPhase.RAISED)
