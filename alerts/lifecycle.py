"""Turning scores into alerts in the store: open one, or raise the open one in place, when the rules say so."""

from __future__ import annotations

import logging
from datetime import datetime

from alerts.rules import alert_message, news2_alert_severity
from core.store import AlertChange, Store
from core.types import AlertKind, PatientScore

__all__ = ["apply_score"]

logger = logging.getLogger(__name__)


async def apply_score(store: Store, score: PatientScore, *, ward_id: str | None, at: datetime) -> AlertChange | None:
    """Raise the patient's NEWS2 alert if `score` reaches a threshold; None when it does not.

    The store keeps one unresolved alert per patient and kind: a higher severity raises it in place, an equal or
    lower one changes nothing (`changed` False). A falling score never lowers or resolves an alert here: a nurse
    acknowledges and resolves it. Raises StorageUnavailable from the store.
    """
    severity = news2_alert_severity(score)
    if severity is None:
        return None
    change = await store.raise_alert(
        patient_id=score.patient_id,
        device_id=None,
        ward_id=ward_id,
        kind=AlertKind.NEWS2,
        severity=severity,
        message=alert_message(score),
        at=at,
    )
    if change.changed:
        logger.info("NEWS2 alert %s for patient %s is now %s", change.alert.alert_id, score.patient_id, severity.name)
    return change
