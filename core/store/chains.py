"""Rows of each alert's running chain, and the JSON a policy is kept as (a site's policy and a chain's copy of it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from core.escalation import Escalation, EscalationPolicy, EscalationStep, EscalationTarget
from core.store import schema as s
from core.store.sql import one_of, upsert
from core.types import AlertPriority

__all__ = [
    "escalation_of_row",
    "locked_chain",
    "locked_chains",
    "policy_from_json",
    "policy_json",
    "save_chain",
    "save_chains",
]

_x = s.alert_escalations


def policy_json(policy: EscalationPolicy) -> dict[str, Any]:
    steps = [{"escalate_after_s": st.escalate_after_s, "targets": [t.label for t in st.targets]} for st in policy.steps]
    return {
        "site_id": policy.site_id,
        "priority": policy.priority.value,
        "name": policy.name,
        "repeat": policy.repeat,
        "steps": steps,
    }


def policy_from_json(data: dict[str, Any]) -> EscalationPolicy:
    steps = tuple(
        EscalationStep(tuple(EscalationTarget.parse(t) for t in step["targets"]), int(step["escalate_after_s"]))
        for step in data["steps"]
    )
    return EscalationPolicy(data["site_id"], AlertPriority(data["priority"]), steps, int(data["repeat"]), data["name"])


def escalation_of_row(row: Any) -> Escalation:
    return Escalation(
        alert_id=int(row.alert_id),
        epoch=int(row.epoch),
        site_id=row.site_id,
        policy=policy_from_json(row.policy),
        started_at=row.started_at,
        step_index=int(row.step_index),
        loop=int(row.loop),
        next_step_at=row.next_step_at,
        stopped_at=row.stopped_at,
        stop_reason=row.stop_reason,
    )


# Built once, as the alert statements are (core/store/alert_rows.py): every alert raised again reads its chain.
_LOCKED_CHAIN = sa.select(_x).where(_x.c.alert_id == sa.bindparam("chain_alert_id")).with_for_update()


def locked_chain(conn: sa.Connection, alert_id: int) -> Escalation | None:
    row = conn.execute(_LOCKED_CHAIN, {"chain_alert_id": alert_id}).first()
    return None if row is None else escalation_of_row(row)


def locked_chains(conn: sa.Connection, alert_ids: Sequence[int]) -> dict[int, Escalation]:
    """The chains of those alerts that have one, locked in alert order, in one statement."""
    query = sa.select(_x).where(one_of(_x.c.alert_id, alert_ids)).order_by(_x.c.alert_id).with_for_update()
    return {chain.alert_id: chain for chain in map(escalation_of_row, conn.execute(query).all())}


def _chain_row(escalation: Escalation) -> dict[str, Any]:
    return {
        "alert_id": escalation.alert_id,
        "epoch": escalation.epoch,
        "site_id": escalation.site_id,
        "policy": policy_json(escalation.policy),
        "started_at": escalation.started_at,
        "step_index": escalation.step_index,
        "loop": escalation.loop,
        "next_step_at": escalation.next_step_at,
        "stopped_at": escalation.stopped_at,
        "stop_reason": escalation.stop_reason,
    }


def save_chains(conn: sa.Connection, escalations: Sequence[Escalation]) -> None:
    """Insert or replace each alert's chain row, in one round trip however many."""
    upsert(conn, _x, [_chain_row(escalation) for escalation in escalations], key=["alert_id"])


def save_chain(conn: sa.Connection, escalation: Escalation) -> None:
    upsert(conn, _x, _chain_row(escalation), key=["alert_id"])
