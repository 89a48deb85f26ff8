"""Escalation policies and each alert's running chain.

A chain follows its alert in the alert's own transaction (`follow_alert`, called by core/store/alerts.py): opening
an alert starts one, acknowledging or resolving stops it and cancels what has not gone out. Firing a due step runs
a decision (alerts/escalation.py) on the locked chain row and writes the step's deliveries and a history row with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa

from core.alert_facts import AlertFacts
from core.escalation import (
    ContactPoint,
    DeliveryPurpose,
    DeliveryState,
    Escalation,
    EscalationPolicy,
    OnCallContext,
    StepFiring,
    TargetKind,
    chain_after,
    default_policy,
    policy_for_kind,
)
from core.store import schema as s
from core.store.alert_facts import alert_facts
from core.store.alert_rows import alerts_free_to_lock, insert_transitions, transition_row
from core.store.chains import (
    escalation_of_row,
    locked_chain,
    locked_chains,
    policy_from_json,
    policy_json,
    save_chain,
    save_chains,
)
from core.store.deliveries import cancel_pending, insert_deliveries
from core.store.protocols import StepDecision
from core.store.rosters import contacts_of, on_call_context
from core.store.sql import SqlStore, one_of, upsert
from core.types import Alert, AlertPhase, AlertPriority, AlertState

__all__ = ["ChainLookups", "EscalationQueries", "follow_alert", "stop_chains"]

_p, _x, _d = s.escalation_policies, s.alert_escalations, s.deliveries


# Acknowledging or resolving stops the running chain: the chain carries its site and policy, nothing is read.
_STOPPING = frozenset({AlertPhase.ACKNOWLEDGED, AlertPhase.RESOLVED})


def _policy_for(conn: sa.Connection, site_id: str, priority: AlertPriority) -> EscalationPolicy:
    row = conn.execute(sa.select(_p).where(_p.c.site_id == site_id, _p.c.priority == priority.value)).first()
    if row is None:
        return default_policy(priority)
    return policy_from_json(row._asdict())


def _ward_site(conn: sa.Connection, ward_id: str) -> str | None:
    site = conn.execute(sa.select(s.wards.c.site_id).where(s.wards.c.ward_id == ward_id)).scalar()
    return None if site is None else str(site)


def _device_site(conn: sa.Connection, device_id: str) -> str | None:
    site = conn.execute(sa.select(s.devices.c.site_id).where(s.devices.c.device_id == device_id)).scalar()
    return None if site is None else str(site)


class ChainLookups:
    """Sites and policies read once per write transaction that starts many chains (a ward's devices falling silent
    together: each alert read its ward's site and the site's policy again). Only within one transaction: a policy
    changed meanwhile applies from the next one, as if it had been changed just after."""

    def __init__(self) -> None:
        # By ward and by device apart: a ward's devices share their ward's site, read once.
        self._ward_sites: dict[str, str | None] = {}
        self._device_sites: dict[str, str | None] = {}
        self._policies: dict[tuple[str, AlertPriority], EscalationPolicy] = {}

    def site_of(self, conn: sa.Connection, alert: Alert) -> str | None:
        """The alert's ward's site, else its device's (a device alert with no ward), else None."""
        if alert.ward_id is not None:
            if alert.ward_id not in self._ward_sites:
                self._ward_sites[alert.ward_id] = _ward_site(conn, alert.ward_id)
            if self._ward_sites[alert.ward_id] is not None:
                return self._ward_sites[alert.ward_id]
        if alert.device_id is not None:
            if alert.device_id not in self._device_sites:
                self._device_sites[alert.device_id] = _device_site(conn, alert.device_id)
            return self._device_sites[alert.device_id]
        return None

    def policy_for(self, conn: sa.Connection, site_id: str, priority: AlertPriority) -> EscalationPolicy:
        key = (site_id, priority)
        if key not in self._policies:
            self._policies[key] = _policy_for(conn, site_id, priority)
        return self._policies[key]


def follow_alert(
    conn: sa.Connection,
    alert: Alert,
    phase: AlertPhase,
    *,
    lookups: ChainLookups | None = None,
    unchained: bool = False,
) -> None:
    """Start, restart or stop the alert's chain after `phase`, in the alert's transaction. An alert with no site
    (a device nobody registered to one) has no chain: it is shown on the page only. `lookups`: the transaction's
    cache of sites and policies, when it follows many alerts. `unchained`: the caller knows the alert has no chain
    row (it was inserted in this transaction), so none is read: one round trip less per alert a ward's outage opens."""
    if phase in _STOPPING:
        if not unchained:
            stop_chains(conn, [alert], phase)
        return
    lookups = lookups if lookups is not None else ChainLookups()
    site_id = lookups.site_of(conn, alert)
    if site_id is None:
        return
    current = None if unchained else locked_chain(conn, alert.alert_id)
    policy = policy_for_kind(lookups.policy_for(conn, site_id, alert.priority), alert.kind)
    chain = chain_after(phase, alert, current, policy=policy, site_id=site_id, at=alert.updated_at)
    if chain is None:
        return
    if current is not None:  # ended or not: a retry of its last step may still be queued
        cancel_pending(conn, [alert], reason=f"chain ended: {phase.value}")
    save_chain(conn, chain)


def stop_chains(conn: sa.Connection, ended: Sequence[Alert], phase: AlertPhase) -> None:
    """Stop the chains of alerts just acknowledged or resolved (`phase`) and cancel what has not gone out, in the
    alerts' transaction: one round trip each to lock, cancel and save, however many alerts. A chain carries its
    site and policy, so nothing else is read."""
    chains = locked_chains(conn, [alert.alert_id for alert in ended])
    stopped: list[Escalation] = []
    chained: list[Alert] = []
    for alert in ended:
        current = chains.get(alert.alert_id)
        if current is None:
            continue
        # A chain that fired its last step has ended, but a retry of that step's page may still be queued (a gateway
        # that failed): it must not go out saying the alert is open.
        chained.append(alert)
        chain = chain_after(phase, alert, current, policy=current.policy, site_id=current.site_id, at=alert.updated_at)
        if chain is not None:
            stopped.append(chain)
    cancel_pending(conn, chained, reason=f"chain ended: {phase.value}")
    save_chains(conn, stopped)


def _people_named(policy: EscalationPolicy) -> list[str]:
    return [t.value for step in policy.steps for t in step.targets if t.kind is TargetKind.PERSON]


def _with_care_teams(conn: sa.Connection, facts: Iterable[AlertFacts]) -> dict[str, tuple[ContactPoint, ...]]:
    """The contact points of every care-team member of the batch's patients (a step may inform them): one query."""
    members = sorted({m.member_id for f in facts for m in f.care_team})
    return contacts_of(conn, members) if members else {}


def _with_rounds_reached(conn: sa.Connection, chains: Sequence[Escalation]) -> list[Escalation]:
    """The chains, each knowing whether its round has reached somebody and how many rounds in a row before it did
    (`Escalation.reached`): a round reached somebody when a responder's page of it has not failed (nor been
    cancelled). Read from the deliveries in the claiming transaction, so a restart changes nothing: one query."""
    if not chains:
        return []
    gone = [DeliveryState.FAILED.value, DeliveryState.CANCELLED.value]
    query = (
        sa.select(_d.c.alert_id, _d.c.epoch, _d.c.loop)
        .where(one_of(_d.c.alert_id, [chain.alert_id for chain in chains]))
        .where(_d.c.purpose == DeliveryPurpose.RESPOND.value, _d.c.state.not_in(gone))
        .distinct()
    )
    reached = {(int(row.alert_id), int(row.epoch), int(row.loop)) for row in conn.execute(query).all()}
    known = []
    for chain in chains:
        before = 0
        while (chain.alert_id, chain.epoch, chain.loop - before - 1) in reached:
            before += 1
        round_reached = (chain.alert_id, chain.epoch, chain.loop) in reached
        known.append(replace(chain, reached=round_reached, rounds_reached=before))
    return known


def _fire_due(conn: sa.Connection, now: datetime, decide: StepDecision, limit: int) -> list[tuple[Alert, StepFiring]]:
    query = (
        sa.select(_x)
        .where(_x.c.next_step_at <= now)
        .order_by(_x.c.next_step_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # a second worker takes the others; SQLite: the one writer
    )
    claimed = [escalation_of_row(row) for row in conn.execute(query).all()]
    free = alerts_free_to_lock(conn, [chain.alert_id for chain in claimed])
    chains = _with_rounds_reached(conn, [chain for chain in claimed if chain.alert_id in free])  # the rest: next tick
    alerts = [free[chain.alert_id] for chain in chains]
    # What the messages say, read for the whole batch at once (an alert no longer open notifies nobody).
    facts = alert_facts(conn, [a for a in alerts if a.state is AlertState.OPEN], at=now)
    team_contacts = _with_care_teams(conn, facts.values())
    fired = []
    # One roster read per site and named people in a batch, not per chain: a unit's burst shares it.
    contexts: dict[tuple[str, tuple[str, ...]], OnCallContext] = {}
    for chain, alert in zip(chains, alerts, strict=True):
        key = (chain.site_id, tuple(_people_named(chain.policy)))
        if key not in contexts:
            context = on_call_context(conn, site_id=key[0], people=key[1], at=now)
            contexts[key] = replace(context, contacts=team_contacts | context.contacts)
        firing = decide(chain, alert, contexts[key], facts.get(alert.alert_id) or AlertFacts(alert, now))
        fired.append((alert, firing))
    # Written together, after every decision (they read nothing this batch writes): a burst's chains, pages and
    # history rows cost three round trips, not three per chain.
    save_chains(conn, [firing.escalation for _, firing in fired])
    insert_deliveries(conn, [delivery for _, firing in fired for delivery in firing.deliveries])
    phase = AlertPhase.ESCALATED
    insert_transitions(conn, [transition_row(alert, phase, at=now, reason=firing.note) for alert, firing in fired])
    return fired


def _set_policy(conn: sa.Connection, policy: EscalationPolicy, *, by: str, at: datetime) -> None:
    if policy.site_id is None:
        raise ValueError("a stored policy belongs to a site; vaktrom's defaults are not stored")
    data = policy_json(policy) | {"updated_at": at, "updated_by": by}
    upsert(conn, _p, data, key=["site_id", "priority"])


class EscalationQueries(SqlStore):
    async def set_escalation_policy(self, policy: EscalationPolicy, *, by: str, at: datetime) -> None:
        """Replace the site's policy for its priority. Chains already running keep the policy they started with."""
        await self._write(lambda c: _set_policy(c, policy, by=by, at=at))

    async def get_escalation_policy(self, site_id: str, priority: AlertPriority) -> EscalationPolicy:
        """The site's policy, or vaktrom's default for the priority (site_id None) when it has set none."""
        return await self._read(lambda c: _policy_for(c, site_id, priority))

    async def get_escalation(self, alert_id: int) -> Escalation | None:
        row = await self._read(lambda c: c.execute(sa.select(_x).where(_x.c.alert_id == alert_id)).first())
        return None if row is None else escalation_of_row(row)

    async def fire_due_escalations(
        self, now: datetime, decide: StepDecision, *, limit: int = 50
    ) -> list[tuple[Alert, StepFiring]]:
        """Claim chains whose next step is due (rows another worker holds are skipped), apply `decide` to each and
        write what it fired: the chain, its deliveries (a delivery id already stored is not stored again) and an
        `escalated` history row. Oldest due first, at most `limit`; returns each alert after its history row."""
        return await self._write(lambda c: _fire_due(c, now, decide, limit))
