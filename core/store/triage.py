"""Personal thresholds (append-only sets) and the worklist items readings and alerts open: threshold breaches, one
open item per patient and measurement, whose colour only rises (docs/HOME_AND_TEAMS.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from core.homecare import WorklistChange, WorklistEvent, WorklistItem, WorklistKind
from core.store import schema as s
from core.store.homecare import insert_worklist_event, insert_worklist_item, worklist_item_of_row
from core.store.sql import SqlStore
from core.store.worklist_rows import open_key_of, readings_json
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import Parameter

__all__ = ["IMPLICATED_MAX", "TriageQueries"]

_ts, _w = s.threshold_sets, s.worklist_items
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
        query = sa.select(_ts).where(_ts.c.patient_id.in_(list(patient_ids))).order_by(_ts.c.set_at, _ts.c.id)
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
