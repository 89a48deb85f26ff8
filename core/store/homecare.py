"""Home follow-up: measurement plans (append-only), their durable timers, and the coordinators' worklist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from core.errors import Conflict, NotFound
from core.homecare import (
    ARRIVAL_GRACE_S,
    MeasurementPlan,
    PlanCheckDecide,
    PlanCheckFacts,
    PlanItem,
    PlanTimer,
    VkpCode,
    WorklistEvent,
    WorklistItem,
    WorklistKind,
    WorklistState,
)
from core.store import schema as s
from core.store.outreach import open_outreach_tasks
from core.store.reference import open_at
from core.store.sql import SqlStore
from core.store.worklist_rows import item_triage_values, readings_of_json, worklist_urgency_sql
from core.thresholds import TriageColour
from core.types import CareSetting, Parameter

__all__ = ["HomecareQueries", "insert_worklist_event", "insert_worklist_item", "worklist_item_of_row"]

_p, _t, _w, _e = s.measurement_plans, s.plan_timers, s.worklist_items, s.worklist_events
_NOT_CLOSED = (WorklistState.OPEN.value, WorklistState.CLAIMED.value)


def _items_json(items: Sequence[PlanItem]) -> list[dict[str, Any]]:
    return [
        {
            "item_id": i.item_id,
            "parameters": sorted(p.value for p in i.parameters),
            "local_times": [t.isoformat(timespec="minutes") for t in i.local_times],
            "window_min": i.window_min,
            "weekdays": sorted(i.weekdays),
        }
        for i in items
    ]


def _plan_of_row(row: Any) -> MeasurementPlan:
    items = tuple(
        PlanItem(
            item_id=i["item_id"],
            parameters=frozenset(Parameter(p) for p in i["parameters"]),
            local_times=tuple(time.fromisoformat(t) for t in i["local_times"]),
            window_min=i["window_min"],
            weekdays=frozenset(i["weekdays"]),
        )
        for i in row.items
    )
    return MeasurementPlan(row.patient_id, row.timezone, items, row.inactive_after_h, row.set_by, row.set_at)


def _item_of_row(row: Any) -> WorklistItem:
    return WorklistItem(
        item_id=row.item_id,
        site_id=row.site_id,
        patient_id=row.patient_id,
        kind=WorklistKind(row.kind),
        vkp_code=VkpCode(row.vkp_code),
        summary=row.summary,
        opened_at=row.opened_at,
        state=WorklistState(row.state),
        missing_loinc=tuple(row.missing_loinc),
        window_opens_at=row.window_opens_at,
        window_closes_at=row.window_closes_at,
        owner=row.owner,
        closed_at=row.closed_at,
        outcome=row.outcome,
        parameter=Parameter(row.parameter) if row.parameter else None,
        triage_colour=TriageColour(row.triage_colour) if row.triage_colour else None,
        implicated=readings_of_json(row.implicated or []),
        alert_id=row.alert_id,
        assignee=row.assignee,
    )


def _plan_in_force(conn: sa.Connection, patient_id: str) -> MeasurementPlan | None:
    query = sa.select(_p).where(_p.c.patient_id == patient_id).order_by(_p.c.set_at.desc(), _p.c.id.desc()).limit(1)
    row = conn.execute(query).first()
    return None if row is None else _plan_of_row(row)


def _insert_item(conn: sa.Connection, item: WorklistItem) -> None:
    conn.execute(
        sa.insert(_w).values(
            item_id=item.item_id, site_id=item.site_id, patient_id=item.patient_id, kind=item.kind.value,
            vkp_code=item.vkp_code.value, summary=item.summary, opened_at=item.opened_at, state=item.state.value,
            missing_loinc=list(item.missing_loinc), window_opens_at=item.window_opens_at,
            window_closes_at=item.window_closes_at, owner=item.owner, closed_at=item.closed_at, outcome=item.outcome,
            **item_triage_values(item),
        )
    )  # fmt: skip
    _insert_event(conn, WorklistEvent(item.item_id, item.opened_at, "system", "opened", item.summary))


def _insert_event(conn: sa.Connection, event: WorklistEvent) -> None:
    values = {"item_id": event.item_id, "at": event.at, "actor": event.actor, "action": event.action}
    conn.execute(sa.insert(_e).values(**values, text=event.text))


def _set_timers(conn: sa.Connection, patient_id: str, timers: Sequence[PlanTimer]) -> None:
    conn.execute(sa.delete(_t).where(_t.c.patient_id == patient_id))
    if timers:
        rows = [
            {"patient_id": t.patient_id, "item_id": t.item_id, "opens_at": t.opens_at, "due_at": t.due_at}
            for t in timers
        ]
        conn.execute(sa.insert(_t), rows)


def _facts(conn: sa.Connection, timer: PlanTimer, now: datetime) -> PlanCheckFacts:
    plan = _plan_in_force(conn, timer.patient_id)
    home = conn.execute(
        sa.select(s.wards.c.site_id, s.stays.c.start_at)
        .select_from(s.stays.join(s.wards, s.wards.c.ward_id == s.stays.c.ward_id))
        .where(s.stays.c.patient_id == timer.patient_id, s.stays.c.setting == CareSetting.HOME.value)
        .where(open_at(s.stays, now))
        .order_by(s.stays.c.start_at.desc())
        .limit(1)
    ).first()
    seen: frozenset[Parameter] = frozenset()
    obs = s.observations.c
    if plan is not None:
        planned = next((i.parameters for i in plan.items if i.item_id == timer.item_id), frozenset())
        if planned:
            rows = conn.execute(
                sa.select(obs.parameter)
                .distinct()
                .where(obs.patient_id == timer.patient_id, obs.parameter.in_([p.value for p in planned]))
                .where(obs.measured_at >= timer.opens_at, obs.measured_at <= timer.due_at)
            )
            seen = frozenset(Parameter(r.parameter) for r in rows)
    last = conn.execute(
        sa.select(sa.func.max(s.latest_values.c.measured_at)).where(s.latest_values.c.patient_id == timer.patient_id)
    ).scalar()
    inactive_open = conn.execute(
        sa.select(sa.func.count())
        .select_from(_w)
        .where(_w.c.patient_id == timer.patient_id, _w.c.kind == WorklistKind.INACTIVE_PATIENT.value)
        .where(_w.c.state.in_(_NOT_CLOSED))
    ).scalar_one()
    site_id, home_since = (home.site_id, home.start_at) if home is not None else (None, None)
    return PlanCheckFacts(timer, plan, site_id, seen, last, inactive_open > 0, home_since)


def _fire_due(conn: sa.Connection, now: datetime, decide: PlanCheckDecide, limit: int) -> list[WorklistItem]:
    cutoff = now - timedelta(seconds=ARRIVAL_GRACE_S)  # late arrivals measured inside a window still count
    due = (
        sa.select(_t).where(_t.c.due_at <= cutoff).order_by(_t.c.due_at).limit(limit).with_for_update(skip_locked=True)
    )  # a second worker takes the others; SQLite: the one writer
    raised = []
    for row in conn.execute(due).all():
        timer: PlanTimer | None = PlanTimer(row.patient_id, row.item_id, row.opens_at, row.due_at)
        key = sa.and_(_t.c.patient_id == row.patient_id, _t.c.item_id == row.item_id)
        # After an outage several windows of one item may have closed: each is checked (and raises its item) now.
        while timer is not None and timer.due_at <= cutoff:
            decision = decide(_facts(conn, timer, now))
            if decision.item is not None:
                _insert_item(conn, decision.item)
                open_outreach_tasks(conn, decision.item)  # FACT/LAR teams follow up too, in this transaction
                raised.append(decision.item)
            timer = decision.next_timer
        if timer is None:
            conn.execute(sa.delete(_t).where(key))
        else:
            conn.execute(sa.update(_t).where(key).values(opens_at=timer.opens_at, due_at=timer.due_at))
    return raised


@dataclass(frozen=True, slots=True)
class _ItemChange:
    item_id: str
    actor: str
    action: str
    at: datetime
    text: str
    outcome: str | None
    alert_id: int | None


def _update_item(conn: sa.Connection, change: _ItemChange) -> WorklistItem:
    item_id, actor = change.item_id, change.actor
    row = conn.execute(sa.select(_w).where(_w.c.item_id == item_id).with_for_update()).first()
    if row is None:
        raise NotFound("worklist item", item_id)
    if row.state == WorklistState.CLOSED.value:
        raise Conflict(item_id, reason=f"worklist item {item_id} is closed ({row.outcome}); it cannot change")
    values: dict[str, Any] = {}
    if change.action == "claimed":
        if row.state == WorklistState.CLAIMED.value and row.owner == actor:
            return _item_of_row(row)  # claimed again by its owner (a double click, a retry): nothing changes
        if row.state == WorklistState.CLAIMED.value and row.assignee != actor:
            why = f"worklist item {item_id} is claimed by {row.owner}; they can assign it to you"
            raise Conflict(item_id, reason=why)
        values = {"state": WorklistState.CLAIMED.value, "owner": actor}
    elif change.action == "closed":  # a closed item frees its patient and measurement for the next breach
        values = {"state": WorklistState.CLOSED.value, "closed_at": change.at, "outcome": change.outcome}
        values["open_key"] = None
    elif change.action == "assigned":
        values = {"assignee": change.text}
    elif change.action == "escalated":  # the alert it became or joined, which goes through the escalation chain
        values = {"alert_id": change.alert_id}
    if values:
        conn.execute(sa.update(_w).where(_w.c.item_id == item_id).values(**values))
    _insert_event(conn, WorklistEvent(item_id, change.at, actor, change.action, change.text))
    return _item_of_row(conn.execute(sa.select(_w).where(_w.c.item_id == item_id)).one())


def _others_hold_alert(conn: sa.Connection, alert_id: int, item_id: str) -> bool:
    """Whether an item other than `item_id` and not closed points at the alert. The alert's row is locked first
    (PostgreSQL; SQLite has one writer): two items sharing it, closed at once, are decided one after the other, so
    the second sees the first closed and neither leaves the alert running with no item."""
    conn.execute(sa.select(s.alerts.c.alert_id).where(s.alerts.c.alert_id == alert_id).with_for_update())
    others = (
        sa.select(sa.func.count())
        .select_from(_w)
        .where(_w.c.alert_id == alert_id, _w.c.item_id != item_id, _w.c.state.in_(_NOT_CLOSED))
    )
    return int(conn.execute(others).scalar_one()) > 0


# For the other worklist writers (threshold breaches and alert items, core/store/triage.py).
insert_worklist_item, insert_worklist_event, worklist_item_of_row = _insert_item, _insert_event, _item_of_row


class HomecareQueries(SqlStore):
    async def set_measurement_plan(self, plan: MeasurementPlan, timers: Sequence[PlanTimer]) -> None:
        """Store `plan` (the newest is in force) and replace the patient's timers with `timers`, in one transaction."""
        row = {
            "patient_id": plan.patient_id, "timezone": plan.timezone, "items": _items_json(plan.items),
            "inactive_after_h": plan.inactive_after_h, "set_by": plan.set_by, "set_at": plan.set_at,
        }  # fmt: skip

        def write(conn: sa.Connection) -> None:
            conn.execute(sa.insert(_p).values(**row))
            _set_timers(conn, plan.patient_id, timers)

        await self._write(write)

    async def measurement_plan(self, patient_id: str) -> MeasurementPlan | None:
        return await self._read(lambda c: _plan_in_force(c, patient_id))

    async def plan_timers(self, patient_id: str) -> list[PlanTimer]:
        query = sa.select(_t).where(_t.c.patient_id == patient_id).order_by(_t.c.due_at, _t.c.item_id)
        rows = await self._read(lambda c: c.execute(query).all())
        return [PlanTimer(r.patient_id, r.item_id, r.opens_at, r.due_at) for r in rows]

    async def fire_due_plan_checks(
        self, now: datetime, decide: PlanCheckDecide, *, limit: int = 50
    ) -> list[WorklistItem]:
        """Claim due plan timers (rows another worker holds are skipped), apply `decide`, and write the item it
        raises and the timer's next due time (or its removal) in one transaction. Returns the items raised."""
        return await self._write(lambda c: _fire_due(c, now, decide, limit))

    async def worklist(self, site_id: str, *, states: Sequence[WorklistState], limit: int = 500) -> list[WorklistItem]:
        """A programme's first `limit` items in `states`: the most urgent first, then the oldest (as
        alerts/triage.worklist_order); only closed ones: the newest closed first. Ordered before the limit, so a
        long backlog never hides a new red item or a recent closure; ask `limit + 1` to learn the list was cut."""
        if set(states) == {WorklistState.CLOSED}:
            order: tuple[sa.ColumnElement[Any], ...] = (_w.c.closed_at.desc(), _w.c.item_id)
        else:
            order = (worklist_urgency_sql().desc(), _w.c.opened_at, _w.c.item_id)
        query = (
            sa.select(_w)
            .where(_w.c.site_id == site_id, _w.c.state.in_([st.value for st in states]))
            .order_by(*order)
            .limit(limit)
        )
        return [_item_of_row(r) for r in await self._read(lambda c: c.execute(query).all())]

    async def worklist_item(self, item_id: str) -> tuple[WorklistItem, list[WorklistEvent]]:
        """The item and its history. Raises NotFound."""

        def read(conn: sa.Connection) -> tuple[WorklistItem, list[WorklistEvent]]:
            row = conn.execute(sa.select(_w).where(_w.c.item_id == item_id)).first()
            if row is None:
                raise NotFound("worklist item", item_id)
            events = conn.execute(sa.select(_e).where(_e.c.item_id == item_id).order_by(_e.c.at, _e.c.id)).all()
            return _item_of_row(row), [WorklistEvent(e.item_id, e.at, e.actor, e.action, e.text) for e in events]

        return await self._read(read)

    async def update_worklist_item(
        self,
        item_id: str,
        *,
        actor: str,
        action: str,
        at: datetime,
        text: str = "",
        outcome: str | None = None,
        alert_id: int | None = None,
    ) -> WorklistItem:
        """claimed (takes ownership), assigned (`text` names the assignee), escalated (to `alert_id`), note (adds
        to the history), or closed (with an outcome and a comment): one transaction. Raises NotFound, or Conflict for
        anything done to a closed item and for a claim of an item someone else owns (unless it is assigned to the
        claimant: the handover); the owner claiming again changes nothing."""
        change = _ItemChange(item_id, actor, action, at, text, outcome, alert_id)
        return await self._write(lambda c: _update_item(c, change))

    async def close_worklist_item(
        self, item_id: str, *, actor: str, at: datetime, outcome: str, comment: str
    ) -> tuple[WorklistItem, bool]:
        """Close the item (as `update_worklist_item`) and say whether it was the last item not closed holding the
        alert it was escalated into: decided in the close's transaction with the alert's row locked, so of two items
        sharing an escalation closed at once exactly one answers True. False for an item never escalated and for an
        alert item (its alert has its own lifecycle)."""
        change = _ItemChange(item_id, actor, "closed", at, comment, outcome, None)

        def write(conn: sa.Connection) -> tuple[WorklistItem, bool]:
            item = _update_item(conn, change)
            if item.alert_id is None or item.kind is WorklistKind.ALERT:
                return item, False
            return item, not _others_hold_alert(conn, item.alert_id, item_id)

        return await self._write(write)
