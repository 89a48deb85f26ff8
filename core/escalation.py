"""Escalation and delivery: who is fetched, in what order, and every notification as a stored delivery with a state.

An escalation policy belongs to a site and a priority. When an alert starts (or re-opens), it gets an `Escalation`:
a snapshot of the policy it started with, the next step and when it is due. The due time is a column; whichever
worker claims it fires the step, which turns the step's targets into `Delivery` rows. docs/ALERTS.md has the model.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from core.oncall import OnCallRole, RosterOverride, Rotation
from core.types import Alert, AlertKind, AlertPhase, AlertPriority, CareTeamRole

__all__ = [
    "CARE_TEAMS_INFORMED_OF_HIGH",
    "DEFAULT_POLICIES",
    "KINDS_INFORMING_CARE_TEAMS",
    "MAX_POLICY_REPEAT",
    "MAX_POLICY_STEPS",
    "MAX_ROUNDS",
    "NOBODY_REACHED_RETRY_S",
    "ContactPoint",
    "Delivery",
    "DeliveryPurpose",
    "DeliveryState",
    "Escalation",
    "EscalationPolicy",
    "EscalationStep",
    "EscalationTarget",
    "OnCallContext",
    "RecipientRateLimit",
    "StepFiring",
    "TargetKind",
    "WebhookEndpoint",
    "chain_after",
    "default_policy",
    "fired",
    "following",
    "held_back_until",
    "hurried",
    "policy_for_kind",
    "what_next",
]

# Bounds an admin cannot exceed: a policy longer than this is a roster problem, and a chain that repeats forever is
# an alarm flood for the people at its end.
MAX_POLICY_STEPS = 8
MAX_POLICY_REPEAT = 3
# A round that reached nobody (nobody on call in any of its roles, or nobody with a contact point: a roster gap)
# starts the next round this long after it, also past the policy's last round, until a round reaches somebody or
# the alert is acknowledged or resolved: the first nurse on shift after the gap is paged within 5 min of the
# handoff. Not at once: in a gap every step of a round fires within seconds, and the rounds would be used up
# before anyone came on. 5 min is within the default high policy's own waits (3, 5, 10 min), and while nobody is
# reachable nothing is sent: a try costs a history row per step, never a page.
NOBODY_REACHED_RETRY_S = 300
# Rounds a chain can count (`loop` is a SMALLINT column, and part of each delivery id): 113 days of trying every
# NOBODY_REACHED_RETRY_S, far past any roster gap; only a site with no roster at all gets there, and its chain then
# stops and says so rather than failing every tick.
MAX_ROUNDS = 32_767


class TargetKind(enum.StrEnum):
    ROLE = "role"  # whoever the site's roster has on call in that role when the step fires
    PERSON = "person"  # a named person (a hospital's fixed duty phone, a GP in a small municipality)
    # The patient's care-team members in that team role (a CareTeamRole value): informed, not asked to respond, in
    # the chain's first round only. A LAR or FACT team learns that its patient is deteriorating wherever the patient
    # is, but its answer neither acknowledges the alert nor holds up the unit's chain.
    CARE_TEAM = "care_team"


class DeliveryPurpose(enum.StrEnum):
    RESPOND = "respond"  # a person on the chain: accepting acknowledges the alert; declining moves the chain on
    INFORM = "inform"  # a care-team member kept informed: the answer is recorded and changes nothing else
    DIGEST = "digest"  # a care-team member's daily summary of their patients' alerts (no alert of its own)


@dataclass(frozen=True, slots=True)
class EscalationTarget:
    kind: TargetKind
    value: str  # an OnCallRole value, or a person id

    @classmethod
    def role(cls, role: OnCallRole) -> EscalationTarget:
        return cls(TargetKind.ROLE, role.value)

    @classmethod
    def parse(cls, label: str) -> EscalationTarget:
        """From its label, "role:doctor_on_call", "person:dr-lund" or "care_team:lar_team". Raises ValueError."""
        kind, _, value = label.partition(":")
        if not value or kind not in TargetKind.__members__.values():
            raise ValueError(f"a target is 'role:<role>', 'person:<id>' or 'care_team:<team role>', not {label!r}")
        if kind == TargetKind.CARE_TEAM and value not in CareTeamRole.__members__.values():
            raise ValueError(f"no care-team role {value!r}; one of {', '.join(CareTeamRole)}")
        return cls(TargetKind(kind), value)

    @property
    def purpose(self) -> DeliveryPurpose:
        return DeliveryPurpose.INFORM if self.kind is TargetKind.CARE_TEAM else DeliveryPurpose.RESPOND

    @property
    def label(self) -> str:
        return f"{self.kind.value}:{self.value}"


@dataclass(frozen=True, slots=True)
class EscalationStep:
    targets: tuple[EscalationTarget, ...]
    # How long the step's people have to acknowledge before the next step fires (GoAlert's "delay"). A decline or a
    # delivery that fails for every target of the step moves on at once.
    escalate_after_s: int


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    site_id: str | None  # None: vaktrom's default for sites that have not set their own
    priority: AlertPriority
    steps: tuple[EscalationStep, ...]
    repeat: int = 0  # how many more times the whole chain runs after its last step
    name: str = ""


def _steps(
    *steps: tuple[tuple[OnCallRole, ...], int], informed: tuple[CareTeamRole, ...] = ()
) -> tuple[EscalationStep, ...]:
    """Steps fetching the roles in order; the first also informs the patient's care-team members in `informed`."""
    made = [EscalationStep(tuple(EscalationTarget.role(r) for r in roles), wait) for roles, wait in steps]
    team = tuple(EscalationTarget(TargetKind.CARE_TEAM, role.value) for role in informed)
    return (replace(made[0], targets=made[0].targets + team), *made[1:]) if made else ()


_NURSE, _DOCTOR, _SPECIALIST = OnCallRole.UNIT_NURSE, OnCallRole.DOCTOR_ON_CALL, OnCallRole.HOSPITAL_SPECIALIST
# The teams that follow a patient with severe mental illness or substance use across levels of care: they are told
# when their patient's NEWS2 reaches 7 wherever the patient is (a KAD bed, a sykestue, at home), and only then. The
# GP is not paged: a GP follows up in office hours, not at 3 a.m.
CARE_TEAMS_INFORMED_OF_HIGH = (
    CareTeamRole.LAR_TEAM,
    CareTeamRole.FACT_TEAM,
    CareTeamRole.DIGITAL_FACT_TEAM,
    CareTeamRole.PSHT,
)
# Defaults (docs/ALERTS.md says why): high fetches the doctor on call after 3 min and the hospital specialist 5 min
# later, as the sykestue night describes; medium gives the chart's "urgent response within the hour" room.
DEFAULT_POLICIES: dict[AlertPriority, EscalationPolicy] = {
    AlertPriority.HIGH: EscalationPolicy(
        None,
        AlertPriority.HIGH,
        _steps(((_NURSE,), 180), ((_DOCTOR,), 300), ((_SPECIALIST,), 600), informed=CARE_TEAMS_INFORMED_OF_HIGH),
        1,
        "default high",
    ),
    AlertPriority.MEDIUM: EscalationPolicy(
        None, AlertPriority.MEDIUM, _steps(((_NURSE,), 600), ((_DOCTOR,), 1200)), 0, "default medium"
    ),
    # Low (the ML flag, a device fault at home) pages nobody: it is for the page and the worklist. An alarm that
    # asks for no response must not wake a phone.
    AlertPriority.LOW: EscalationPolicy(None, AlertPriority.LOW, (), 0, "default low: the page only"),
}


def default_policy(priority: AlertPriority) -> EscalationPolicy:
    return DEFAULT_POLICIES[priority]


# Kinds whose alert also informs the patient's care teams below the high tier: the LAR or FACT team that follows a
# patient through withdrawal management wants to hear when it worsens, not only when it turns severe.
KINDS_INFORMING_CARE_TEAMS = frozenset({AlertKind.WITHDRAWAL_RISING})


def policy_for_kind(policy: EscalationPolicy, kind: AlertKind) -> EscalationPolicy:
    """The policy an alert of `kind` follows: for KINDS_INFORMING_CARE_TEAMS its first step also informs the
    patient's care-team members in CARE_TEAMS_INFORMED_OF_HIGH (once each, however the site set its policy)."""
    if kind not in KINDS_INFORMING_CARE_TEAMS or not policy.steps:
        return policy
    first = policy.steps[0]
    teams = (EscalationTarget(TargetKind.CARE_TEAM, role.value) for role in CARE_TEAMS_INFORMED_OF_HIGH)
    added = tuple(target for target in teams if target not in first.targets)
    return replace(policy, steps=(replace(first, targets=first.targets + added), *policy.steps[1:]))


@dataclass(frozen=True, slots=True)
class Escalation:
    """One alert's running chain. `epoch` counts the chains of this alert (a re-opened alert starts a new one, so
    its deliveries get new ids); `step_index` and `loop` name the next step to fire at `next_step_at`."""

    alert_id: int
    epoch: int
    site_id: str
    policy: EscalationPolicy
    started_at: datetime
    step_index: int = 0
    loop: int = 0
    next_step_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_reason: str = ""
    # Whether a step of round `loop` has reached somebody (a responder's page on its way or answered, not failed),
    # and how many rounds in a row before it did. Not columns: the store reads both from the chain's deliveries
    # when it claims the chain (core/store/escalations.py), so they survive a restart.
    reached: bool = False
    rounds_reached: int = 0

    @property
    def running(self) -> bool:
        return self.stopped_at is None


class DeliveryState(enum.StrEnum):
    """IHE PCD-06/07 dissemination status, plus the states a sender needs. queued → sending → delivered → read →
    accepted/declined; failed (with a reason) when every try is used up; cancelled when the alert was acknowledged
    or resolved before it went out."""

    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    READ = "read"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def pending(self) -> bool:
        """Still on its way: the step waits for it."""
        return self in (DeliveryState.QUEUED, DeliveryState.SENDING)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification of one person for one step. `delivery_id` is stable (alert, epoch, loop, step, person,
    endpoint): a repeat of it is the same notification, so a receiver can drop duplicates."""

    delivery_id: str
    alert_id: int | None  # None: a daily summary (epoch, loop and step_index 0)
    epoch: int
    loop: int
    step_index: int
    person_id: str
    reason: str  # why this person: "doctor_on_call at s1", or why it failed
    endpoint_id: str | None
    address: str  # where the endpoint routes it (a pager number, a Vocera id)
    state: DeliveryState
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None = None
    attempts: int = 0
    answered_by: str | None = None
    outcome: str = ""  # what happened last, in words
    body: bytes = field(default=b"", repr=False)  # the message as sent: patient data, never logged
    purpose: DeliveryPurpose = DeliveryPurpose.RESPOND
    priority: AlertPriority = AlertPriority.HIGH  # the alert's when its step fired
    sent_at: datetime | None = None  # when the last try began


@dataclass(frozen=True, slots=True)
class RecipientRateLimit:
    """At most `max_sends` messages to one recipient (a gateway address: a pager, a phone) in any `window_s`."""

    max_sends: int
    window_s: float


def held_back_until(
    priority: AlertPriority, sent_at: Sequence[datetime], *, now: datetime, limit: RecipientRateLimit
) -> datetime | None:
    """When a message to a recipient who was sent `sent_at` may go out, or None: now. A high-priority message is
    never held back (it still counts against the others): a flood of device faults must not delay a NEWS2 of 7."""
    if priority is AlertPriority.HIGH:
        return None
    window = timedelta(seconds=limit.window_s)
    recent = sorted(at for at in sent_at if now - window < at <= now)
    if len(recent) < limit.max_sends:
        return None
    return recent[len(recent) - limit.max_sends] + window  # when enough of them have left the window


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A hospital's pager, phone or Vocera/Ascom gateway. The secret signs what we send and verifies its answers."""

    endpoint_id: str
    url: str
    secret: bytes = field(repr=False)
    name: str = ""


@dataclass(frozen=True, slots=True)
class ContactPoint:
    """How a person is reached: through which gateway, at which address on it."""

    person_id: str
    endpoint_id: str
    address: str


@dataclass(frozen=True, slots=True)
class OnCallContext:
    """What firing a step of a site's chain may look at, read in the firing transaction: the rotations covering the
    site, their overrides around now, and the contact points of everyone they or the policy name."""

    rotations: tuple[Rotation, ...]
    overrides: tuple[RosterOverride, ...]
    contacts: dict[str, tuple[ContactPoint, ...]]


@dataclass(frozen=True, slots=True)
class StepFiring:
    """What firing a step wrote: the chain after it, the step's deliveries, and one line for the alert's history
    naming who was notified and who could not be (nobody on call, no contact point)."""

    escalation: Escalation
    deliveries: tuple[Delivery, ...]
    note: str


def chain_after(
    phase: AlertPhase, alert: Alert, current: Escalation | None, *, policy: EscalationPolicy, site_id: str, at: datetime
) -> Escalation | None:
    """The escalation an alert has after `phase` (None: it stays as it is). Opening, re-opening and re-notifying
    start a new chain (a new epoch) with the policy of the alert's priority now; a rise in place starts one only
    when it changed the priority; acknowledging or resolving stops the running chain at once."""
    if phase in (AlertPhase.ACKNOWLEDGED, AlertPhase.RESOLVED):
        if current is None or not current.running:
            return None
        by = alert.acknowledged_by if phase is AlertPhase.ACKNOWLEDGED else alert.resolved_by
        return replace(current, next_step_at=None, stopped_at=at, stop_reason=f"{phase.value} by {by}")
    if phase is AlertPhase.ESCALATED or not policy.steps:
        return None
    rise_in_place = phase is AlertPhase.RAISED and current is not None and current.running
    if rise_in_place and current is not None and current.policy.priority is policy.priority:
        return None  # the chain under way already fits: keep its clock
    epoch = 1 if current is None else current.epoch + 1
    return Escalation(alert.alert_id, epoch, site_id, policy, started_at=at, next_step_at=at)


def following(policy: EscalationPolicy, *, loop: int, step_index: int) -> tuple[int, int] | None:
    """(loop, step) of the step after this one, or None at the end of the policy's last round (where `fired` tries
    a chain that has reached nobody again)."""
    if step_index + 1 < len(policy.steps):
        return loop, step_index + 1
    if loop < policy.repeat:
        return loop + 1, 0
    return None


def fired(chain: Escalation, *, at: datetime, waiting: bool) -> Escalation:
    """The chain after its next step fired at `at`. `waiting`: some delivery of the step is on its way, so its people
    get the step's full wait (counted from when it fired, not from when it was due: a late page gets its time);
    otherwise (nobody on call, no contact point) the next step of the round is due at once.

    A chain ends after the policy's rounds (1 + `repeat`) have reached somebody in a row. A round that reached
    nobody starts the count over, and the next round is due NOBODY_REACHED_RETRY_S after it: through a roster gap
    the chain keeps trying, and whoever comes on first gets the whole policy."""
    step = chain.policy.steps[chain.step_index]
    reached = chain.reached or waiting
    wait = timedelta(seconds=step.escalate_after_s) if waiting else timedelta(0)
    if chain.step_index + 1 < len(chain.policy.steps):
        return replace(chain, step_index=chain.step_index + 1, next_step_at=at + wait, reached=reached)
    in_a_row = chain.rounds_reached + 1 if reached else 0
    if in_a_row > chain.policy.repeat:
        rounds = chain.loop + 1
        return replace(chain, next_step_at=None, stopped_at=at, stop_reason=f"every step fired ({rounds} rounds)")
    if chain.loop + 1 >= MAX_ROUNDS:
        reason = f"every step fired ({MAX_ROUNDS} rounds: the most a chain counts)"
        return replace(chain, next_step_at=None, stopped_at=at, stop_reason=reason)
    if not reached:
        wait = timedelta(seconds=NOBODY_REACHED_RETRY_S)
    return replace(
        chain, loop=chain.loop + 1, step_index=0, next_step_at=at + wait, reached=False, rounds_reached=in_a_row
    )


def what_next(chain: Escalation, *, at: datetime) -> str:
    """What a chain does after a step that reached nobody fired at `at` (`chain` as `fired` left it), for the step's
    history line: on at once, a round tried again later (a roster gap), or the end."""
    if chain.next_step_at is None:
        return f"chain ended: {chain.stop_reason}"
    if chain.next_step_at == at:
        return "moved on at once"
    return f"nobody reached in round {chain.loop}; trying again at {chain.next_step_at:%H:%M:%S} UTC"


def hurried(escalation: Escalation, *, epoch: int, loop: int, step_index: int, at: datetime) -> Escalation | None:
    """Every delivery of step (epoch, loop, step_index) was declined or failed: its successor is due now, if it is
    the chain's next step and not due already. None: nothing to change."""
    if not escalation.running or escalation.epoch != epoch or escalation.next_step_at is None:
        return None
    # Past the policy's rounds (a round that reached nobody, tried again) the step after a round's last is the next
    # round's first, as `fired` moves it.
    after = following(escalation.policy, loop=loop, step_index=step_index) or (loop + 1, 0)
    if after != (escalation.loop, escalation.step_index):
        return None
    return replace(escalation, next_step_at=at) if escalation.next_step_at > at else None
