"""Loads the ML risk model for the live pipeline (explicitly, at startup, never at import)."""

from __future__ import annotations

from core.settings import Settings
from ingest.risk import RiskAssessor
from models.live import StoreRiskAssessor
from models.predict import RiskModel

__all__ = ["load_risk_assessor"]


def load_risk_assessor(settings: Settings) -> RiskAssessor:
    """The shipped model, or VAKTROM_MODEL_PATH's. Raises ModelArtefactError when the artefact does not fit."""
    return StoreRiskAssessor(RiskModel.load(settings.model_path))
