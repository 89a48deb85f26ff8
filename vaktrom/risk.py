"""Loads the ML risk model for the live pipeline (explicitly, at startup, never at import)."""

from __future__ import annotations

from core.settings import Settings
from ingest.risk import RiskAssessor

__all__ = ["load_risk_assessor"]


def load_risk_assessor(settings: Settings) -> RiskAssessor | None:
    return None
