"""Personal thresholds (append-only sets) and the worklist items readings and alerts open: threshold breaches, one
open item per patient and measurement, whose colour only rises (docs/HOME_AND_TEAMS.md)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.homecare import VkpCode, WorklistChange, WorklistEvent, WorklistItem, WorklistKind, WorklistState
from core.store import schema as s
from core.store.homecare import insert_worklist_event, insert_worklist_item, worklist_item_of_row
from core.store.reference import open_at
from core.store.sql import SqlStore, one_of
from core.store.worklist_rows import open_key_of, readings_json
from core.thresholds import (
    ALERT_COLOURS,
    WORKLIST_ALERT_KINDS,
    MeasurementThresholds,
    ThresholdBand,
    ThresholdSet,
    TriageColour,
)
from core.types import AlertSeverity, AlertState, CareSetting, Parameter

__all__ = ["IMPLICATED_MAX", "TriageQueries"]

_ts, _w, _a = s.threshold_sets, s.worklist_items, s.alerts
_NOT_CLOSED = (WorklistState.OPEN.value, WorklistState.CLAIMED.value)
# How an alert's item reads on the worklist.
_ALERT_NAMES = {
    "news2": "NEWS2", "ml_risk": "ML risk", "patient_limit": "Own limits",
    "respiratory_depression": "Respiratory depression", "respiratory_trend": "Breathing slowing",
    "withdrawal_rising": "Withdrawal rising",
}  # fmt: skip
# An open breach keeps its newest readings: enough for a trend over days of twice-daily spot checks, and a row of
# bounded size for a patient on continuous monitoring.
IMPLICATED_MAX = 20
# A redelivered reading is recognised on the last few items of its patient and measurement.
_RECENT_ITEMS = 5


def _set_json(thresholds: ThresholdSet) -> list[dict[str, Any]]:
    return [
        {
            "parameter": m.parameter.value,
            "bands": [{"colour": b.colour.value, "low": b.low, "high": b.high} for b in m.bands],
        }
        for m in thresholds.measurements
    ]


def _set_of_row(row: Any) -> ThresholdSet:
    measurements = tuple(
        MeasurementThresholds(
            Parameter(m["parameter"]),
            tuple(ThresholdBand(TriageColour(b["colour"]), b["low"], b["high"]) for b in m["bands"]),
        )
        for m in row.measurements
    )
    return ThresholdSet(row.patient_id, measurements, row.reason, row.set_by, row.set_at)


def _already_seen(conn: sa.Connection, item: WorklistItem) -> bool:
    """Is the candidate's reading on a recent item of its patient and measurement (a redelivery)?"""
    rows = conn.execute(
        sa.select(_w.c.implicated)
        .where(_w.c.patient_id == item.patient_id, _w.c.kind == WorklistKind.THRESHOLD_BREACH.value)
        .where(_w.c.parameter == (item.parameter.value if item.parameter else None))
        .order_by(_w.c.opened_at.desc())
        .limit(_RECENT_ITEMS)
    ).all()
    new = {_identity(r) for r in readings_json(item.implicated)}
    return any(_identity(r) in new for row in rows for r in row.implicated or [])


def _identity(reading: dict[str, Any]) -> tuple[object, ...]:
    """What makes a reading the same one again (its arrival time differs on a redelivery)."""
    return (reading["device_id"], reading["parameter"], float(reading["value"]), reading["measured_at"])


def _open_or_raise(conn: sa.Connection, item: WorklistItem) -> WorklistChange | None:
    if _already_seen(conn, item):
        return None
    key = open_key_of(item)
    row = conn.execute(sa.select(_w).where(_w.c.open_key == key).with_for_update()).first()
    if row is None:
        insert_worklist_item(conn, item)
        return WorklistChange(item, "opened")
    current = worklist_item_of_row(row)
    implicated = (*current.implicated, *item.implicated)[-IMPLICATED_MAX:]
    values: dict[str, Any] = {"implicated": readings_json(implicated)}
    action = "reading"
    new, old = item.triage_colour, current.triage_colour
    if new is not None and old is not None and new.rank > old.rank:
        values |= {"triage_colour": new.value, "summary": item.summary}
        action = "raised"
        text = f"{old.display} to {new.display}: {item.summary}"
        insert_worklist_event(conn, WorklistEvent(current.item_id, item.opened_at, "system", action, text))
    conn.execute(sa.update(_w).where(_w.c.item_id == current.item_id).values(**values))
    updated = conn.execute(sa.select(_w).where(_w.c.item_id == current.item_id)).one()
    return WorklistChange(worklist_item_of_row(updated), action)


def _alert_item(row: Any) -> WorklistItem:
    colour = ALERT_COLOURS[AlertSeverity(row.severity)]
    return WorklistItem(
        item_id=uuid.uuid4().hex, site_id=row.site_id, patient_id=row.patient_id, kind=WorklistKind.ALERT,
        vkp_code=VkpCode.MEASUREMENT_REPORTED, summary=f"{_ALERT_NAMES.get(row.kind, row.kind)}: {row.message}",
        opened_at=row.opened_at, triage_colour=colour, alert_id=row.alert_id,
    )  # fmt: skip


def _open_alert_items(conn: sa.Connection, now: datetime) -> list[WorklistChange]:
    """An item for each unresolved alert of a patient followed at home that has none yet."""
    st, wd = s.stays, s.wards
    has_item = sa.exists().where(_w.c.alert_id == _a.c.alert_id, _w.c.kind == WorklistKind.ALERT.value)
    query = (
        sa.select(_a.c.alert_id, _a.c.patient_id, _a.c.kind, _a.c.severity, _a.c.message, _a.c.opened_at, wd.c.site_id)
        .select_from(st.join(_a, _a.c.patient_id == st.c.patient_id).join(wd, wd.c.ward_id == st.c.ward_id))
        .where(st.c.setting == CareSetting.HOME.value, open_at(st, now))
        .where(_a.c.state != AlertState.RESOLVED.value, _a.c.kind.in_([k.value for k in WORKLIST_ALERT_KINDS]))
        .where(~has_item)
        .order_by(_a.c.alert_id)
    )
    changes = []
    for row in conn.execute(query).all():
        item = _alert_item(row)
        insert_worklist_item(conn, item)
        changes.append(WorklistChange(item, "opened"))
    return changes


def _follow_alerts(conn: sa.Connection, now: datetime) -> list[WorklistChange]:
    """Alert items not closed follow their alert: raised with it, closed when it resolves."""
    query = (
        sa.select(_w, _a.c.state.label("alert_state"), _a.c.severity, _a.c.resolved_by, _a.c.resolve_reason)
        .select_from(_w.join(_a, _a.c.alert_id == _w.c.alert_id))
        .where(_w.c.kind == WorklistKind.ALERT.value, _w.c.state.in_(_NOT_CLOSED))
        .where(_w.c.open_key.is_not(None))  # the same rows, found through the open-key index: closed items pile up
    )
    changes = []
    for row in conn.execute(query).all():
        item, colour = worklist_item_of_row(row), ALERT_COLOURS[AlertSeverity(row.severity)]
        if row.alert_state == AlertState.RESOLVED.value:
            values: dict[str, Any] = {"state": WorklistState.CLOSED.value, "closed_at": now, "open_key": None}
            values["outcome"] = "alert resolved"
            text = f"alert {row.alert_id} resolved by {row.resolved_by or 'system'}: {row.resolve_reason or ''}"
            action = "closed"
        elif item.triage_colour is not None and colour.rank > item.triage_colour.rank:
            values, action = {"triage_colour": colour.value}, "raised"
            text = f"{item.triage_colour.display} to {colour.display}: alert {row.alert_id} raised"
        else:
            continue
        conn.execute(sa.update(_w).where(_w.c.item_id == item.item_id).values(**values))
        insert_worklist_event(conn, WorklistEvent(item.item_id, now, "system", action, text.rstrip(": ")))
        updated = conn.execute(sa.select(_w).where(_w.c.item_id == item.item_id)).one()
        changes.append(WorklistChange(worklist_item_of_row(updated), action))
    return changes


class TriageQueries(SqlStore):
    async def set_thresholds(self, thresholds: ThresholdSet) -> None:
        """Store a patient's thresholds; the newest set is in force, earlier ones stay as history."""
        row = {
            "patient_id": thresholds.patient_id, "measurements": _set_json(thresholds), "reason": thresholds.reason,
            "set_by": thresholds.set_by, "set_at": thresholds.set_at,
        }  # fmt: skip
        await self._write(lambda c: c.execute(sa.insert(_ts).values(**row)))

    async def thresholds(self, patient_ids: Sequence[str]) -> dict[str, ThresholdSet]:
        """The set in force per patient (patients never given one are absent; a cleared set is empty)."""
        if not patient_ids:
            return {}
        query = sa.select(_ts).where(one_of(_ts.c.patient_id, list(patient_ids))).order_by(_ts.c.set_at, _ts.c.id)
        rows = await self._read(lambda c: c.execute(query).all())
        return {row.patient_id: _set_of_row(row) for row in rows}  # the newest wins

    async def threshold_history(self, patient_id: str) -> list[ThresholdSet]:
        query = sa.select(_ts).where(_ts.c.patient_id == patient_id).order_by(_ts.c.set_at, _ts.c.id)
        return [_set_of_row(r) for r in await self._read(lambda c: c.execute(query).all())]

    async def open_or_raise_breaches(self, items: Sequence[WorklistItem]) -> list[WorklistChange]:
        """Per candidate breach (one reading each): open it, or add its reading to the open item of its patient and
        measurement and raise that item's colour when the reading's is more urgent. A reading already on a recent
        item of the pair (a redelivery) changes nothing. One transaction."""

        def write(conn: sa.Connection) -> list[WorklistChange]:
            changes = [_open_or_raise(conn, item) for item in items]
            return [change for change in changes if change is not None]

        return await self._write(write) if items else []

    async def sync_alert_items(self, now: datetime) -> list[WorklistChange]:
        """Open an item for each unresolved alert of a home patient (NEWS2, ML, own limits, respiratory) that has
        none, raise items with their alert, close those whose alert resolved. Idempotent; one transaction."""
        return await self._write(lambda c: [*_open_alert_items(c, now), *_follow_alerts(c, now)])
