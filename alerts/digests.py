"""Composing a care-team member's daily summary (core/digests.py) from what the store read: pure, no I/O.

The summary lists each of the member's patients who had a physiological alert unresolved at some moment of the
day, with what became of it. A day with nothing to report sends nothing: a daily "all quiet" teaches a GP to skip
the message that matters.
"""

from __future__ import annotations

import hashlib

import orjson

from alerts.isbar import clinical_time
from core.digests import DigestFacts, DigestFiring, DigestPatient, DigestSchedule, next_digest_at
from core.escalation import ContactPoint, Delivery, DeliveryPurpose, DeliveryState
from core.types import Alert, AlertCategory, AlertPriority, AlertState

__all__ = ["compose_digest", "digest_delivery_id"]


def digest_delivery_id(schedule: DigestSchedule, point: ContactPoint | None) -> str:
    """Stable for (person, endpoint, address, due time): a summary fired again after a crash has the same id."""
    where = f"{schedule.person_id}\x1f{point.endpoint_id if point else ''}\x1f{point.address if point else ''}"
    who = hashlib.sha256(where.encode()).hexdigest()[:12]
    return f"digest-{schedule.next_due_at:%Y%m%d%H%M}-{who}"


def _fate(alert: Alert) -> str:
    if alert.state is AlertState.RESOLVED and alert.resolved_at is not None:
        why = f" ({alert.resolve_reason})" if alert.resolve_reason else ""
        return f"resolved {clinical_time(alert.resolved_at)} by {alert.resolved_by}{why}"
    if alert.state is AlertState.ACKNOWLEDGED:
        return f"still open, acknowledged by {alert.acknowledged_by}"
    return "still open, not acknowledged"


def _line(alert: Alert) -> str:
    return f"{alert.message} ({alert.priority.value}) from {clinical_time(alert.opened_at)}; {_fate(alert)}"


def _patient_json(item: DigestPatient) -> dict[str, object]:
    return {
        "patient_id": item.patient.patient_id,
        "display_name": item.patient.display_name,
        "place": item.place,
        "alerts": [
            {
                "alert_id": a.alert_id,
                "kind": a.kind.value,
                "priority": a.priority.value,
                "message": a.message,
                "state": a.state.value,
                "opened_at": a.opened_at.isoformat(),
                "acknowledged_by": a.acknowledged_by,
                "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
                "resolve_reason": a.resolve_reason,
            }
            for a in item.alerts
        ],
    }


def _text(facts: DigestFacts, items: list[DigestPatient]) -> str:
    period = f"{clinical_time(facts.schedule.covered_from)} - {clinical_time(facts.schedule.next_due_at)}"
    lines = [f"Vaktrom daily summary for {facts.schedule.person_id}, {period}:"]
    for item in items:
        patient = item.patient
        lines.append(f"- {patient.display_name} ({patient.patient_id}), {item.place}:")
        lines.extend(f"  {_line(alert)}" for alert in item.alerts)
    return "\n".join(lines)


def _body(facts: DigestFacts, items: list[DigestPatient], d_id: str, point: ContactPoint) -> bytes:
    schedule = facts.schedule
    return orjson.dumps(
        {
            "delivery_id": d_id,
            "sent_for_at": facts.at.isoformat(),
            "purpose": DeliveryPurpose.DIGEST.value,
            "recipient": {"person_id": schedule.person_id, "address": point.address},
            "period": {"from": schedule.covered_from.isoformat(), "to": schedule.next_due_at.isoformat()},
            "patients": [_patient_json(item) for item in items],
            "text": _text(facts, items),
        }
    )


def _delivery(facts: DigestFacts, d_id: str, point: ContactPoint | None, body: bytes) -> Delivery:
    at, person = facts.at, facts.schedule.person_id
    state = DeliveryState.QUEUED if point is not None else DeliveryState.FAILED
    return Delivery(
        d_id, None, 0, 0, 0, person, "daily summary of the care team's patients",
        point.endpoint_id if point else None, point.address if point else "", state, at, at,
        next_attempt_at=at if point is not None else None, body=body, purpose=DeliveryPurpose.DIGEST,
        priority=AlertPriority.LOW, outcome="" if point is not None else "no contact point",
    )  # fmt: skip


def compose_digest(facts: DigestFacts) -> DigestFiring:
    """The summary's deliveries (one per contact point; a failed one when the person has none) and the schedule
    after it: next due at the first summary time after now (a worker that was down for days sends one summary, not
    one per missed day), reporting from where this one ended, so no alert falls between two summaries."""
    schedule = facts.schedule
    after = DigestSchedule(schedule.person_id, next_digest_at(facts.at), schedule.next_due_at)
    items = [
        DigestPatient(item.patient, item.place, physiological)
        for item in facts.patients
        if (physiological := tuple(a for a in item.alerts if a.category is AlertCategory.PHYSIOLOGICAL))
    ]
    if not items:
        return DigestFiring(after, ())
    if not facts.contacts:
        return DigestFiring(after, (_delivery(facts, digest_delivery_id(schedule, None), None, b""),))
    deliveries = []
    for point in facts.contacts:
        d_id = digest_delivery_id(schedule, point)
        deliveries.append(_delivery(facts, d_id, point, _body(facts, items, d_id, point)))
    return DigestFiring(after, tuple(deliveries))
