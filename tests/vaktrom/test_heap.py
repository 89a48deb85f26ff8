"""A service's startup heap (modules, the ML model) is frozen, so full collections do not pause the loop scanning it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# Runs in its own interpreter: freezing pytest's heap would outlive the test.
_PROBE = textwrap.dedent(
    """
    import gc, json
    from core.settings import Settings
    from models.predict import RiskModel
    from vaktrom.heap import freeze_startup_heap

    model = RiskModel.load(Settings().model_path)  # what `vaktrom ingest` loads before it freezes
    before = len(gc.get_objects())
    frozen = freeze_startup_heap()
    tracked = gc.get_objects()
    print(json.dumps({
        "before": before,
        "frozen": frozen,
        "after": len(tracked),
        "model_scanned": any(o is model for o in tracked),
        "young_threshold": gc.get_threshold()[0],
    }))
    """
)


def test_startup_heap_with_the_model_is_left_out_of_full_collections() -> None:
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True)
    figures = json.loads(probe.stdout.strip().splitlines()[-1])
    assert figures["model_scanned"] is False
    assert figures["frozen"] >= figures["before"] * 0.9  # all of startup, less its garbage
    assert figures["after"] < figures["frozen"] / 10  # what a full collection still scans
    # A batch in flight (tens of thousands of objects until stored) mostly dies young, not promoted and re-scanned.
    assert figures["young_threshold"] >= 10_000
