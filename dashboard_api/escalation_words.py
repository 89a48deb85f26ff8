"""An alert's escalation state in words for the pages: "Doctor on call dr-lund notified 21:43, not yet read"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from core.escalation import Delivery, DeliveryPurpose, DeliveryState, Escalation, EscalationTarget, TargetKind
from core.oncall import OnCallRole
from core.store import Store
from core.types import Alert
from dashboard_api.schemas import EscalationStateOut, NotifiedOut

__all__ = ["DISPLAY_ZONE", "escalation_state", "escalation_states"]

# vaktrom's units are in Norway and their rosters count in this zone: a nurse reads "21:43" as her own clock.
DISPLAY_ZONE = ZoneInfo("Europe/Oslo")

_ROLE_WORDS = {
    OnCallRole.UNIT_NURSE: "unit nurse",
    OnCallRole.DOCTOR_ON_CALL: "doctor on call",
    OnCallRole.HOSPITAL_SPECIALIST: "hospital specialist",
    OnCallRole.HOME_COORDINATOR: "home coordinator",
}
_ROLES = {role.value: role for role in OnCallRole}
_RESPONDERS = (TargetKind.ROLE, TargetKind.PERSON)
_STATE_WORDS = {
    DeliveryState.QUEUED: "not yet delivered",
    DeliveryState.SENDING: "not yet delivered",
    DeliveryState.DELIVERED: "not yet read",
    DeliveryState.READ: "read, not yet answered",
    DeliveryState.ACCEPTED: "accepted",
    DeliveryState.DECLINED: "declined",
    DeliveryState.CANCELLED: "cancelled",
}
# Of one person's deliveries in a step (one per contact point), the one that got furthest speaks for them.
_PROGRESS = (
    DeliveryState.CANCELLED,
    DeliveryState.FAILED,
    DeliveryState.QUEUED,
    DeliveryState.SENDING,
    DeliveryState.DELIVERED,
    DeliveryState.READ,
    DeliveryState.DECLINED,
    DeliveryState.ACCEPTED,
)


def _clock(at: datetime, now: datetime) -> str:
    """21:43 today (in the unit's zone), 14.01 21:43 on another day."""
    local, today = at.astimezone(DISPLAY_ZONE), now.astimezone(DISPLAY_ZONE).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%d.%m %H:%M")


def _role_of(delivery: Delivery) -> OnCallRole | None:
    """The roster role a person was fetched as; their reason reads "doctor_on_call on call for s1"."""
    return _ROLES.get(delivery.reason.split(" ", 1)[0])


def _target_words(target: EscalationTarget) -> str:
    role = _ROLES.get(target.value) if target.kind is TargetKind.ROLE else None
    return _ROLE_WORDS[role] if role else target.value


def _person_words(delivery: Delivery, now: datetime) -> str:
    role = _role_of(delivery)
    who = f"{_ROLE_WORDS[role]} {delivery.person_id}" if role else delivery.person_id
    when = _clock(delivery.created_at, now)
    if delivery.state is DeliveryState.FAILED:
        return f"{who} not reached {when} ({delivery.outcome or 'failed'})"
    return f"{who} notified {when}, {_STATE_WORDS[delivery.state]}"


def _latest_step(chain: Escalation, deliveries: Sequence[Delivery]) -> list[Delivery]:
    """One delivery per person asked to respond in the chain's latest fired step (its current epoch only), the
    furthest along."""
    mine = [d for d in deliveries if d.epoch == chain.epoch and d.purpose is DeliveryPurpose.RESPOND]
    if not mine:
        return []
    latest = max((d.loop, d.step_index) for d in mine)
    best: dict[str, Delivery] = {}
    for d in (d for d in mine if (d.loop, d.step_index) == latest):
        if d.person_id not in best or _PROGRESS.index(d.state) > _PROGRESS.index(best[d.person_id].state):
            best[d.person_id] = d
    return sorted(best.values(), key=lambda d: d.person_id)


def _next_words(chain: Escalation, now: datetime) -> str:
    if chain.next_step_at is None:
        return ""
    # Care-team members are informed along the way; the step's people are the ones asked to respond.
    targets = [t for t in chain.policy.steps[chain.step_index].targets if t.kind in _RESPONDERS]
    who = " and ".join(_target_words(t) for t in targets) or "nobody"
    when = "now" if chain.next_step_at <= now else f"at {_clock(chain.next_step_at, now)}"
    return f"next: {who} {when}"


def escalation_state(
    alert: Alert, chain: Escalation | None, deliveries: Sequence[Delivery], *, now: datetime
) -> EscalationStateOut:
    """What the alert's chain has done and will do, in a sentence and in parts. Pure."""
    if chain is None:
        return EscalationStateOut(alert_id=alert.alert_id, status="none", text="Pages nobody", notified=[])
    latest = _latest_step(chain, deliveries)
    parts = [_person_words(d, now) for d in latest]
    informed = sorted(
        {d.person_id for d in deliveries if d.epoch == chain.epoch and d.purpose is DeliveryPurpose.INFORM}
    )
    if informed:
        parts.append("care team informed: " + ", ".join(informed))
    if chain.running:
        parts.append(_next_words(chain, now) if latest else _next_words(chain, now).replace("next: ", "paging ", 1))
    else:
        parts.append(f"stopped {_clock(chain.stopped_at, now)}: {chain.stop_reason}" if chain.stopped_at else "stopped")
    text = "; ".join(p for p in parts if p)
    return EscalationStateOut(
        alert_id=alert.alert_id,
        status="running" if chain.running else "stopped",
        text=text[:1].upper() + text[1:],
        notified=[NotifiedOut.of(d, role=_role_of(d)) for d in latest],
        next_step_at=chain.next_step_at,
        stopped_at=chain.stopped_at,
    )


async def escalation_states(store: Store, alerts: Sequence[Alert], *, now: datetime) -> dict[int, EscalationStateOut]:
    """Each alert's state, read from the store (two reads per alert: a page shows a handful of open alerts)."""
    found: dict[int, EscalationStateOut] = {}
    for alert in alerts:
        chain = await store.get_escalation(alert.alert_id)
        deliveries = await store.list_deliveries(alert.alert_id) if chain is not None else []
        found[alert.alert_id] = escalation_state(alert, chain, deliveries, now=now)
    return found
