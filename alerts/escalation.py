"""Firing an escalation step: who is on call for the step's targets now, one delivery per person and contact point,
and when the next step is due. A pure decision: the store runs it on the locked chain row (core/store/escalations.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime

import orjson

from alerts.rosters import on_call
from core.errors import InvalidRoster
from core.escalation import (
    Delivery,
    DeliveryState,
    Escalation,
    EscalationTarget,
    OnCallContext,
    StepFiring,
    TargetKind,
    fired,
)
from core.oncall import OnCallRole
from core.types import Alert, AlertState

__all__ = ["delivery_id", "fire_step"]


def delivery_id(chain: Escalation, *, person_id: str, endpoint_id: str, address: str) -> str:
    """Stable for (alert, epoch, round, step, person, endpoint, address): firing the same step again, after a crash,
    yields the same id, so the store keeps one row and the receiver can drop a repeat. Person ids stay out of it."""
    who = hashlib.sha256(f"{person_id}\x1f{endpoint_id}\x1f{address}".encode()).hexdigest()[:12]
    return f"{chain.alert_id}-{chain.epoch}-{chain.loop}-{chain.step_index}-{who}"


def _people(chain: Escalation, target: EscalationTarget, context: OnCallContext, at: datetime) -> list[tuple[str, str]]:
    """(person, why) for one target; empty when nobody is on call."""
    if target.kind is TargetKind.PERSON:
        return [(target.value, "named in the policy")]
    role = OnCallRole(target.value)
    try:
        shifts = on_call(context.rotations, context.overrides, site_id=chain.site_id, role=role, at=at)
    except InvalidRoster:
        return []  # a broken rotation must not stop the chain: the step says nobody was found and moves on
    return [(shift.person_id, f"{role.value} on call for {chain.site_id}") for shift in shifts]


def _body(alert: Alert, chain: Escalation, *, delivery: str, person_id: str, address: str, at: datetime) -> bytes:
    return orjson.dumps(
        {
            "delivery_id": delivery,
            "sent_for_at": at.isoformat(),
            "recipient": {"person_id": person_id, "address": address},
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
        }
    )


def _deliveries(
    chain: Escalation, alert: Alert, people: list[tuple[str, str]], context: OnCallContext, at: datetime
) -> tuple[list[Delivery], list[str]]:
    made: list[Delivery] = []
    unreachable: list[str] = []
    for person_id, why in people:
        points = context.contacts.get(person_id, ())
        if not points:
            unreachable.append(f"{person_id} has no contact point")
            no_id = delivery_id(chain, person_id=person_id, endpoint_id="", address="")
            failed = _delivery(chain, no_id, person_id, why, None, "", DeliveryState.FAILED, at, b"")
            made.append(replace(failed, outcome="no contact point"))
            continue
        for point in points:
            d_id = delivery_id(chain, person_id=person_id, endpoint_id=point.endpoint_id, address=point.address)
            body = _body(alert, chain, delivery=d_id, person_id=person_id, address=point.address, at=at)
            made.append(
                _delivery(chain, d_id, person_id, why, point.endpoint_id, point.address, DeliveryState.QUEUED, at, body)
            )
    return made, unreachable


def _delivery(
    chain: Escalation,
    d_id: str,
    person_id: str,
    why: str,
    endpoint_id: str | None,
    address: str,
    state: DeliveryState,
    at: datetime,
    body: bytes,
) -> Delivery:
    due = at if state is DeliveryState.QUEUED else None
    return Delivery(
        d_id, chain.alert_id, chain.epoch, chain.loop, chain.step_index, person_id, why, endpoint_id, address,
        state, at, at, next_attempt_at=due, body=body,
    )  # fmt: skip


def fire_step(chain: Escalation, alert: Alert, context: OnCallContext, *, at: datetime) -> StepFiring:
    """Fire the chain's next step at `at`. An alert no longer open (its chain should have stopped with it) stops the
    chain and notifies nobody."""
    if alert.state is not AlertState.OPEN:
        stopped = replace(chain, next_step_at=None, stopped_at=at, stop_reason=f"alert {alert.state.value}")
        return StepFiring(stopped, (), f"chain stopped: the alert is {alert.state.value}")
    step = chain.policy.steps[chain.step_index]
    people: list[tuple[str, str]] = []
    nobody: list[str] = []
    for target in step.targets:
        found = _people(chain, target, context, at)
        if not found:
            nobody.append(f"nobody on call as {target.value} for {chain.site_id}")
        people.extend(found)
    made, unreachable = _deliveries(chain, alert, _first_per_person(people), context, at)
    waiting = any(d.state is DeliveryState.QUEUED for d in made)
    notified = sorted({d.person_id for d in made if d.state is DeliveryState.QUEUED})
    parts = [f"step {chain.step_index + 1}/{len(chain.policy.steps)}, round {chain.loop + 1}"]
    parts.append("notified " + ", ".join(notified) if notified else "notified nobody")
    parts.extend(nobody + unreachable)
    if not waiting:
        parts.append("moved on at once")
    return StepFiring(fired(chain, at=at, waiting=waiting), tuple(made), "; ".join(parts))


def _first_per_person(people: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One person named twice in a step (two targets) is notified once."""
    seen: dict[str, str] = {}
    for person, why in people:
        seen.setdefault(person, why)
    return list(seen.items())
