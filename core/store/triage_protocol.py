"""The store's interface for personal thresholds and the breach items they open (core/store/triage.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.homecare import WorklistChange, WorklistItem
from core.thresholds import ThresholdSet

__all__ = ["TriageStore"]


class TriageStore(Protocol):
    """Personal thresholds (append-only; the newest set per patient in force) and threshold-breach items."""

    async def set_thresholds(self, thresholds: ThresholdSet) -> None: ...
    async def thresholds(self, patient_ids: Sequence[str]) -> dict[str, ThresholdSet]:
        """The set in force per patient; patients never given one are absent."""

    async def threshold_history(self, patient_id: str) -> list[ThresholdSet]:
        """Every set the patient was given, oldest first."""

    async def open_or_raise_breaches(self, items: Sequence[WorklistItem]) -> list[WorklistChange]:
        """Open each breach, or add its reading to the open one of its patient and measurement (raising its colour);
        a reading already on a recent item of the pair changes nothing."""

    async def sync_alert_items(self, now: datetime) -> list[WorklistChange]:
        """An item for each unresolved alert of a home patient without one; alert items follow their alert
        (raised with it, closed when it resolves)."""
