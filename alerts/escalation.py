"""Firing an escalation step: who is on call for the step's targets now, one delivery per person and contact point,
and when the next step is due. A pure decision: the store runs it on the locked chain row (core/store/escalations.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

import orjson

from alerts.isbar import ISBAR_PARTS, isbar_of
from alerts.rosters import on_call
from core.alert_facts import AlertFacts
from core.errors import InvalidRoster
from core.escalation import (
    Delivery,
    DeliveryPurpose,
    DeliveryState,
    Escalation,
    EscalationTarget,
    OnCallContext,
    StepFiring,
    TargetKind,
    fired,
    what_next,
)
from core.oncall import OnCallRole
from core.types import Alert, AlertState

__all__ = ["delivery_id", "fire_step"]


def delivery_id(chain: Escalation, *, person_id: str, endpoint_id: str, address: str) -> str:
    """Stable for (alert, epoch, round, step, person, endpoint, address): firing the same step again, after a crash,
    yields the same id, so the store keeps one row and the receiver can drop a repeat. Person ids stay out of it."""
    who = hashlib.sha256(f"{person_id}\x1f{endpoint_id}\x1f{address}".encode()).hexdigest()[:12]
    return f"{chain.alert_id}-{chain.epoch}-{chain.loop}-{chain.step_index}-{who}"


@dataclass(frozen=True, slots=True)
class _Recipient:
    person_id: str
    why: str
    purpose: DeliveryPurpose


def _people(
    chain: Escalation, target: EscalationTarget, context: OnCallContext, facts: AlertFacts, at: datetime
) -> list[_Recipient]:
    """Who one target names now; empty when nobody is on call (or the patient has no such care-team member)."""
    if target.kind is TargetKind.PERSON:
        return [_Recipient(target.value, "named in the policy", DeliveryPurpose.RESPOND)]
    if target.kind is TargetKind.CARE_TEAM:
        if chain.loop > 0:
            return []  # informed once per chain: a second round is for the responders
        team = [m for m in facts.care_team if m.role.value == target.value]
        why = f"{target.value} in the patient's care team"
        return [_Recipient(m.member_id, f"{why} ({m.organisation})", DeliveryPurpose.INFORM) for m in team]
    role = OnCallRole(target.value)
    try:
        shifts = on_call(context.rotations, context.overrides, site_id=chain.site_id, role=role, at=at)
    except InvalidRoster:
        return []  # a broken rotation must not stop the chain: the step says nobody was found and moves on
    why = f"{role.value} on call for {chain.site_id}"
    return [_Recipient(shift.person_id, why, DeliveryPurpose.RESPOND) for shift in shifts]


def _body(
    facts: AlertFacts, chain: Escalation, *, delivery: str, recipient: _Recipient, address: str, at: datetime
) -> bytes:
    alert, isbar = facts.alert, isbar_of(facts)
    return orjson.dumps(
        {
            "delivery_id": delivery,
            "sent_for_at": at.isoformat(),
            "purpose": recipient.purpose.value,
            "recipient": {"person_id": recipient.person_id, "address": address},
            "alert": {
                "alert_id": alert.alert_id,
                "kind": alert.kind.value,
                "priority": alert.priority.value,
                "category": alert.category.value,
                "severity": int(alert.severity),
                "state": alert.state.value,
                "message": alert.message,
                "patient_id": alert.patient_id,
                "ward_id": alert.ward_id,
                "device_id": alert.device_id,
                "site_id": chain.site_id,
                "opened_at": alert.opened_at.isoformat(),
            },
            "escalation": {
                "epoch": chain.epoch,
                "round": chain.loop + 1,
                "step": chain.step_index + 1,
                "steps": len(chain.policy.steps),
                "policy": chain.policy.name,
            },
            "isbar": dict(zip(ISBAR_PARTS, isbar.sections(), strict=True)) | {"text": isbar.text()},
        }
    )


def _deliveries(
    chain: Escalation, facts: AlertFacts, recipients: list[_Recipient], context: OnCallContext, at: datetime
) -> tuple[list[Delivery], list[str]]:
    made: list[Delivery] = []
    unreachable: list[str] = []
    for recipient in recipients:
        person_id = recipient.person_id
        points = context.contacts.get(person_id, ())
        if not points:
            unreachable.append(f"{person_id} has no contact point")
            no_id = delivery_id(chain, person_id=person_id, endpoint_id="", address="")
            failed = _delivery(chain, no_id, recipient, None, "", DeliveryState.FAILED, at, b"")
            made.append(replace(failed, outcome="no contact point"))
            continue
        for point in points:
            d_id = delivery_id(chain, person_id=person_id, endpoint_id=point.endpoint_id, address=point.address)
            body = _body(facts, chain, delivery=d_id, recipient=recipient, address=point.address, at=at)
            made.append(
                _delivery(chain, d_id, recipient, point.endpoint_id, point.address, DeliveryState.QUEUED, at, body)
            )
    return made, unreachable


def _delivery(
    chain: Escalation,
    d_id: str,
    recipient: _Recipient,
    endpoint_id: str | None,
    address: str,
    state: DeliveryState,
    at: datetime,
    body: bytes,
) -> Delivery:
    due = at if state is DeliveryState.QUEUED else None
    return Delivery(
        d_id, chain.alert_id, chain.epoch, chain.loop, chain.step_index, recipient.person_id, recipient.why,
        endpoint_id, address, state, at, at, next_attempt_at=due, body=body, purpose=recipient.purpose,
        priority=chain.policy.priority,
    )  # fmt: skip


def fire_step(
    chain: Escalation, alert: Alert, context: OnCallContext, *, at: datetime, facts: AlertFacts | None = None
) -> StepFiring:
    """Fire the chain's next step at `at`. `facts` (read with the alert) make the message's ISBAR text; without them
    it says only what the alert says. An alert no longer open (its chain should have stopped with it) stops the
    chain and notifies nobody."""
    if alert.state is not AlertState.OPEN:
        stopped = replace(chain, next_step_at=None, stopped_at=at, stop_reason=f"alert {alert.state.value}")
        return StepFiring(stopped, (), f"chain stopped: the alert is {alert.state.value}")
    facts = AlertFacts(alert, at) if facts is None else replace(facts, alert=alert)
    step = chain.policy.steps[chain.step_index]
    recipients: list[_Recipient] = []
    nobody: list[str] = []
    for target in step.targets:
        found = _people(chain, target, context, facts, at)
        if not found and target.kind is not TargetKind.CARE_TEAM:  # most patients have no LAR or FACT team
            nobody.append(f"nobody on call as {target.value} for {chain.site_id}")
        recipients.extend(found)
    made, unreachable = _deliveries(chain, facts, _first_per_person(recipients), context, at)
    responders = [d for d in made if d.purpose is DeliveryPurpose.RESPOND]
    waiting = any(d.state is DeliveryState.QUEUED for d in responders)
    parts = [f"step {chain.step_index + 1}/{len(chain.policy.steps)}, round {chain.loop + 1}"]
    parts.append(_named("notified", responders) or "notified nobody")
    parts.extend(filter(None, [_named("informed", [d for d in made if d.purpose is DeliveryPurpose.INFORM])]))
    parts.extend(nobody + unreachable)
    moved = fired(chain, at=at, waiting=waiting)
    if not waiting:
        parts.append(what_next(moved, at=at))
    return StepFiring(moved, tuple(made), "; ".join(parts))


def _named(verb: str, deliveries: list[Delivery]) -> str:
    people = sorted({d.person_id for d in deliveries if d.state is DeliveryState.QUEUED})
    return f"{verb} {', '.join(people)}" if people else ""


def _first_per_person(recipients: list[_Recipient]) -> list[_Recipient]:
    """One person named twice in a step is notified once, as a responder when any target asks them to respond (the
    nurse on call who is also in the patient's team answers for the unit)."""
    chosen: dict[str, _Recipient] = {}
    for recipient in recipients:
        first = chosen.setdefault(recipient.person_id, recipient)
        if first.purpose is DeliveryPurpose.INFORM and recipient.purpose is DeliveryPurpose.RESPOND:
            chosen[recipient.person_id] = recipient
    return list(chosen.values())
