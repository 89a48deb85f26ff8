"""The collector's view of a long-running service's heap: what was loaded at startup is never scanned again."""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> int:
    """Move every object alive now (modules, the ML model, SQLAlchemy's tables) out of the collector's reach.

    Why: a full collection scans every tracked object. A service holds ~200,000 of them after startup, most for its
    whole life, so each full collection paused ingest's event loop ~120-170 ms (measured 20 times in a minute at
    1,000 beds x 1 pack/s): the p99 of publish -> dashboard and ~15 % of a backlog's drain time. Frozen objects are
    still freed by reference counting; only cycles among them would stay, and startup objects live until exit.
    Returns how many objects were frozen.
    """
    gc.collect()  # collect startup's garbage first, so it is not frozen with the rest
    gc.freeze()
    return gc.get_freeze_count()
