"""Writing to the store from ingest: outages are waited out with capped, jittered backoff and never drop anything;
what the store refuses for the data itself (StorageRefused) is handed back to the caller to dead-letter."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from core.errors import StorageRefused, StorageUnavailable
from ingest.metrics import IngestMetrics
from ingest.senml import quoted

__all__ = ["RETRY_MAX_DELAY_S", "RETRY_MIN_DELAY_S", "StoreRefusal", "retry_storage", "until_answered"]

logger = logging.getLogger(__name__)

# Store outage backoff: the first retry is quick (a failover or a lock), later ones capped so a long outage costs a
# query every few seconds. Messages stay unacknowledged meanwhile; the broker holds the rest.
RETRY_MIN_DELAY_S = 0.1
RETRY_MAX_DELAY_S = 5.0
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class StoreRefusal:
    """The store answered, and refused the write for its data: the StorageRefused it raised."""

    error: StorageRefused

    def line(self) -> str:
        return quoted(self.error.detail, max_chars=200)  # the database's own first line


class _Backoff:
    def __init__(self) -> None:
        self.delay_s = RETRY_MIN_DELAY_S

    async def wait(self, metrics: IngestMetrics) -> None:
        metrics.storage_ok = False
        metrics.storage_retries += 1
        await asyncio.sleep(random.uniform(self.delay_s / 2, self.delay_s))  # backoff, not a synchronisation
        self.delay_s = min(self.delay_s * 2, RETRY_MAX_DELAY_S)


async def until_answered(
    operation: Callable[[], Awaitable[_T]], *, what: str, metrics: IngestMetrics
) -> _T | StoreRefusal:
    """`operation`'s result, waiting out outages (StorageUnavailable, conflicts included) with capped, jittered
    backoff; `StoreRefusal` when the store refused the data itself (StorageRefused), which no retry can change. Any
    other exception is a bug: it is logged with its traceback and retried, as losing the batch would be worse."""
    backoff = _Backoff()
    while True:
        try:
            result = await operation()
        except StorageUnavailable as exc:
            logger.warning("Store unavailable during %s (%s); retrying in up to %.1f s", what, exc, backoff.delay_s)
        except StorageRefused as exc:
            return StoreRefusal(exc)
        except Exception:
            logger.exception("Unexpected store failure during %s; retrying in up to %.1f s", what, backoff.delay_s)
        else:
            metrics.storage_ok = True
            return result
        await backoff.wait(metrics)


async def retry_storage(operation: Callable[[], Awaitable[_T]], *, what: str, metrics: IngestMetrics) -> _T:
    """Run `operation` until the store takes it: capped, jittered backoff; never gives up, never drops.

    An unexpected exception is retried too (and logged with its traceback): losing the batch would be worse.
    (`append_batch` and `save_statuses` do not retry what the store refuses: they dead-letter it.)
    """
    backoff = _Backoff()
    while True:
        result = await until_answered(operation, what=what, metrics=metrics)
        if not isinstance(result, StoreRefusal):
            return result
        logger.error("Store refused %s; retrying in up to %.1f s", what, backoff.delay_s, exc_info=result.error)
        await backoff.wait(metrics)
