"""The worklist columns of threshold breaches and alert items: implicated readings as JSON and back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.homecare import WorklistItem, WorklistKind
from core.types import Parameter, Reading

__all__ = ["item_triage_values", "open_key_of", "readings_json", "readings_of_json"]


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
