"""The silence gate: while ingest catches up a backlog, no device is newly called silent, for at most the bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.silence_gate import SilenceGate

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
MAX_POSTPONE_S = 120.0


class _Ingest:
    """What the gate asks (is ingest catching up?) and when, set by each step of a table."""

    def __init__(self) -> None:
        self.catching_up = False
        self.now = T0


def _gate(ingest: _Ingest) -> SilenceGate:
    return SilenceGate(lambda: ingest.catching_up, max_postpone_s=MAX_POSTPONE_S, clock=lambda: ingest.now)


# (seconds after T0, ingest catching up, silence judged)
CASES = {
    "caught up: judged at every check": [(0, False, True), (10, False, True), (20, False, True)],
    "a drain of 30 s: postponed, then judged": [
        (0, False, True),
        (10, True, False),
        (30, True, False),
        (40, False, True),
    ],
    "a backlog longer than the bound: judged once it has lasted the bound": [
        (10, True, False),
        (129, True, False),
        (130, True, True),
        (140, True, True),
    ],
    "each stretch of catching up has its own bound": [
        (0, True, False),
        (100, False, True),
        (110, True, False),
        (229, True, False),
        (230, True, True),
    ],
}


@pytest.mark.parametrize("steps", CASES.values(), ids=CASES.keys())
def test_silence_is_postponed_only_while_ingest_catches_up_and_only_for_the_bound(
    steps: list[tuple[int, bool, bool]],
) -> None:
    ingest = _Ingest()
    gate = _gate(ingest)
    for at_s, catching_up, judged in steps:
        ingest.now, ingest.catching_up = T0 + timedelta(seconds=at_s), catching_up
        assert gate() is judged, f"at {at_s} s, catching up {catching_up}"


def test_long_backlog_warns_once_that_silence_is_judged_again(caplog: pytest.LogCaptureFixture) -> None:
    ingest = _Ingest()
    gate = _gate(ingest)
    ingest.catching_up = True
    for at_s in (0, 130, 140, 150):
        ingest.now = T0 + timedelta(seconds=at_s)
        gate()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "judged again" in warnings[0] and "check the ingest workers' load" in warnings[0]


def test_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_postpone_s"):
        SilenceGate(lambda: False, max_postpone_s=-1, clock=lambda: T0)


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=300), st.booleans()), min_size=1, max_size=40))
def test_judged_unless_within_the_bound_of_an_unbroken_stretch_of_catching_up(
    steps: list[tuple[int, bool]],
) -> None:
    ingest = _Ingest()
    gate = _gate(ingest)
    stretch_began: datetime | None = None
    for gap_s, catching_up in steps:
        ingest.now += timedelta(seconds=gap_s)
        ingest.catching_up = catching_up
        if not catching_up:
            stretch_began = None
        elif stretch_began is None:
            stretch_began = ingest.now
        postponed = stretch_began is not None and (ingest.now - stretch_began).total_seconds() < MAX_POSTPONE_S
        assert gate() is not postponed
