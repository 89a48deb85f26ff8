"""Scores whose values went stale are scored again. Scoring runs when a reading or a rescore request comes; a
monitor unplugged sends neither, and its patient's last score, computed from values then fresh, would be shown as
"complete" for hours (NEWS2.md: a partial score is never shown as complete). The sweep reads the store, so any
worker finds them after any restart; each is re-scored as an incomplete score naming what is missing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from core.clock import Clock
from core.errors import StorageUnavailable
from core.settings import Settings
from core.store import Store

__all__ = ["STALE_SWEEP_S", "patients_scored_on_stale_values", "run_stale_sweep"]

logger = logging.getLogger(__name__)

# How often the store is swept. The shortest bedside max age is minutes (docs/ALERTS.md), so a score shows a value
# gone stale at most this long after it went; one sweep reads the scores and latest values of the patients in a stay
# (~1,000: four reads), cheap at this rate. With several workers each sweeps; the first to re-score a patient fixes
# their score, which the others then find fresh.
STALE_SWEEP_S = 30.0


async def patients_scored_on_stale_values(store: Store, settings: Settings, now: datetime) -> list[str]:
    """Patients in a stay whose current score counted a value now older than its max age for their care setting
    (a value exactly at its max age still counts, as `scoring.live.fresh_values` says)."""
    patient_ids = await store.scored_patients(at=now)
    stays = await store.stays_of_patients(patient_ids, at=now)
    in_stay = [p for p in patient_ids if p in stays]  # a stay ended since the first read
    scores = await store.current_scores(in_stay)
    latest = await store.latest_values(in_stay)
    stale = []
    for patient_id in in_stay:
        score = scores.get(patient_id)
        if score is None:
            continue
        max_age_s = settings.max_age_s(stays[patient_id].setting)
        values = latest.get(patient_id, {})
        for parameter in score.parameter_scores:
            value, limit_s = values.get(parameter), max_age_s.get(parameter)
            if value is not None and limit_s is not None and (now - value.measured_at).total_seconds() > limit_s:
                stale.append(patient_id)
                break
    return stale


async def run_stale_sweep(
    store: Store, settings: Settings, rescore: Callable[[Iterable[str]], None], clock: Clock
) -> None:
    """Forever: every STALE_SWEEP_S, hand the patients scored on stale values to `rescore` (the live scorer)."""
    while True:
        await asyncio.sleep(STALE_SWEEP_S)
        try:
            stale = await patients_scored_on_stale_values(store, settings, clock())
        except StorageUnavailable as exc:
            logger.warning("Stale-score sweep skipped: %s", exc)
            continue
        except Exception:  # it runs in ingest's task group: one failed sweep must not stop the worker
            logger.exception("Unexpected failure in the stale-score sweep")
            continue
        if stale:
            logger.info("Re-scoring %d patients whose scores counted values now stale", len(stale))
            rescore(stale)
