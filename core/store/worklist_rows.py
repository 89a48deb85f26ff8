"""The worklist columns of threshold breaches and alert items: implicated readings as JSON and back, and the
urgency the list is ordered by."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.homecare import WorklistItem, WorklistKind
from core.store import schema as s
from core.thresholds import TriageColour
from core.types import Parameter, Reading

__all__ = ["item_triage_values", "open_key_of", "readings_json", "readings_of_json", "worklist_urgency_sql"]

# alerts/triage.worklist_urgency in SQL, so the list is ordered before its limit (core/ imports no alerts/; a test,
# tests/core/test_store_worklist_order.py, holds the two equal for every colour and kind): a colour's rank twice,
# else an inactive patient 7 (between orange and yellow), a missed measurement 5 (between yellow and green), else 0.
_COLOUR_URGENCY = {colour.value: colour.rank * 2 for colour in TriageColour}
_UNCOLOURED_URGENCY = {WorklistKind.INACTIVE_PATIENT.value: 7, WorklistKind.MISSED_MEASUREMENT.value: 5}


def worklist_urgency_sql() -> sa.ColumnElement[int]:
    """Red 10, orange 8, inactive patient 7, yellow 6, missed measurement 5, green 4, blue 2 (higher: sooner)."""
    w = s.worklist_items.c
    by_kind = sa.case(_UNCOLOURED_URGENCY, value=w.kind, else_=0)
    return sa.case(_COLOUR_URGENCY, value=w.triage_colour, else_=by_kind)


def readings_json(readings: Sequence[Reading]) -> list[dict[str, Any]]:
    return [
        {
            "device_id": r.device_id, "patient_id": r.patient_id, "parameter": r.parameter.value, "value": r.value,
            "measured_at": r.measured_at.isoformat(), "received_at": r.received_at.isoformat(),
        }
        for r in readings
    ]  # fmt: skip


def readings_of_json(rows: Sequence[dict[str, Any]]) -> tuple[Reading, ...]:
    return tuple(
        Reading(
            row["device_id"], row["patient_id"], Parameter(row["parameter"]), float(row["value"]),
            datetime.fromisoformat(row["measured_at"]), datetime.fromisoformat(row["received_at"]),
        )
        for row in rows
    )  # fmt: skip


def item_triage_values(item: WorklistItem) -> dict[str, Any]:
    """The columns of revision 0013 for `item` (NULL for a plan's items)."""
    return {
        "parameter": item.parameter.value if item.parameter is not None else None,
        "triage_colour": item.triage_colour.value if item.triage_colour is not None else None,
        "implicated": readings_json(item.implicated) if item.implicated else None,
        "open_key": open_key_of(item),
        "alert_id": item.alert_id,
        "assignee": item.assignee,
    }


def open_key_of(item: WorklistItem) -> str | None:
    """Unique while the item is not closed: one open breach per patient and measurement, one item per alert."""
    if item.closed_at is not None:
        return None
    if item.kind is WorklistKind.THRESHOLD_BREACH and item.parameter is not None:
        return f"{item.patient_id}/{item.parameter.value}"
    if item.kind is WorklistKind.ALERT and item.alert_id is not None:
        return f"alert/{item.alert_id}"
    return None
