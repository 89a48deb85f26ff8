"""The GP's daily summary: what it lists, when it sends nothing, and when the next one is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from alerts.digests import compose_digest
from core.digests import DigestFacts, DigestPatient, DigestSchedule
from core.escalation import ContactPoint, DeliveryPurpose, DeliveryState
from core.types import Alert, AlertKind, AlertSeverity, AlertState, Patient

DUE = datetime(2025, 1, 15, 7, 0, tzinfo=UTC)  # 08:00 in Oslo
SCHEDULE = DigestSchedule("dr-gp", DUE, DUE - timedelta(days=1))
OLA = Patient("pat-1", "Ola Nordmann", 1948)
PHONE = ContactPoint("dr-gp", "gw", "phone-gp")


def alert(kind: AlertKind = AlertKind.NEWS2, **kw: object) -> Alert:
    fields: dict[str, object] = {
        "alert_id": 42,
        "patient_id": "pat-1",
        "ward_id": "w1",
        "kind": kind,
        "severity": AlertSeverity.HIGH,
        "state": AlertState.RESOLVED,
        "message": "NEWS2 7 (high risk) — emergency response",
        "opened_at": datetime(2025, 1, 14, 20, 36, tzinfo=UTC),
        "updated_at": datetime(2025, 1, 15, 1, 10, tzinfo=UTC),
        "acknowledged_by": "nurse-kari",
        "resolved_at": datetime(2025, 1, 15, 1, 10, tzinfo=UTC),
        "resolved_by": "vaktrom",
        "resolve_reason": "clear for 30 min",
    } | kw
    return Alert(**fields)  # type: ignore[arg-type]


def facts(*alerts: Alert, at: datetime = DUE, contacts: tuple[ContactPoint, ...] = (PHONE,)) -> DigestFacts:
    patients = (DigestPatient(OLA, "Kautokeino sykestue, Senger", alerts),) if alerts else ()
    return DigestFacts(SCHEDULE, at, patients, contacts)


def test_a_day_with_an_alert_sends_one_summary_naming_the_patient_and_what_became_of_it() -> None:
    [delivery] = compose_digest(facts(alert())).deliveries
    assert (delivery.alert_id, delivery.purpose, delivery.state) == (None, DeliveryPurpose.DIGEST, DeliveryState.QUEUED)
    assert (delivery.person_id, delivery.address, delivery.next_attempt_at) == ("dr-gp", "phone-gp", DUE)
    body = orjson.loads(delivery.body)
    assert body["purpose"] == "digest"
    assert body["period"] == {"from": "2025-01-14T07:00:00+00:00", "to": "2025-01-15T07:00:00+00:00"}
    [patient] = body["patients"]
    assert (patient["patient_id"], patient["display_name"], patient["alerts"][0]["alert_id"]) == (
        "pat-1",
        "Ola Nordmann",
        42,
    )
    assert body["text"].split("\n") == [
        "Vaktrom daily summary for dr-gp, 14.01 08:00 - 15.01 08:00:",
        "- Ola Nordmann (pat-1), Kautokeino sykestue, Senger:",
        "  NEWS2 7 (high risk) — emergency response (high) from 14.01 21:36; "
        "resolved 15.01 02:10 by vaktrom (clear for 30 min)",
    ]


def test_an_open_alert_says_whether_anyone_has_acknowledged_it() -> None:
    acked = alert(state=AlertState.ACKNOWLEDGED, resolved_at=None, resolved_by=None, resolve_reason=None)
    unacked = alert(state=AlertState.OPEN, acknowledged_by=None, resolved_at=None, resolved_by=None)
    assert (
        "still open, acknowledged by nurse-kari"
        in orjson.loads(compose_digest(facts(acked)).deliveries[0].body)["text"]
    )
    assert "still open, not acknowledged" in orjson.loads(compose_digest(facts(unacked)).deliveries[0].body)["text"]


def test_a_quiet_day_sends_nothing_and_moves_on_to_tomorrow() -> None:
    firing = compose_digest(facts())
    assert firing.deliveries == ()
    assert firing.schedule == DigestSchedule("dr-gp", DUE + timedelta(days=1), DUE)


def test_device_faults_are_not_for_the_gp() -> None:
    silent = alert(kind=AlertKind.DEVICE_SILENT, severity=AlertSeverity.LOW_MEDIUM, message="mon-3 silent")
    assert compose_digest(facts(silent)).deliveries == ()


def test_a_gp_without_a_contact_point_gets_a_failed_delivery_that_says_so() -> None:
    [failed] = compose_digest(facts(alert(), contacts=())).deliveries
    assert (failed.state, failed.outcome, failed.next_attempt_at) == (DeliveryState.FAILED, "no contact point", None)


def test_a_summary_fired_days_late_reports_everything_since_the_last_and_is_not_repeated_per_missed_day() -> None:
    late = DUE + timedelta(days=3, hours=2)  # the workers were down for three days
    firing = compose_digest(facts(alert(), at=late))
    assert firing.schedule == DigestSchedule("dr-gp", DUE + timedelta(days=4), DUE)  # next 08:00 after now


def test_firing_the_same_summary_again_gives_the_same_delivery_id() -> None:
    first = compose_digest(facts(alert())).deliveries[0]
    again = compose_digest(facts(alert(), at=DUE + timedelta(seconds=3))).deliveries[0]  # a worker died mid-way
    assert first.delivery_id == again.delivery_id
    assert first.delivery_id.startswith("digest-202501150700-")
