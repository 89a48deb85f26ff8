"""The faults and non-actionable events real bedside monitors show, for the simulator: a slipped probe, a sensor
error code, a few seconds of motion, SpO2 dips from motion or a loose probe, brief bursts of pulse.

The dips and bursts are what alarm-fatigue controls are measured against (bench/bench_fatigue.py): off by default, so
the demo and the other benches keep their figures; `REALISTIC_ARTEFACTS` turns them on at rates a ward sees.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["NO_ARTEFACTS", "REALISTIC_ARTEFACTS", "ArtefactRun", "Artefacts", "artefact_duration_s", "with_artefacts"]


@dataclass(frozen=True, slots=True)
class Artefacts:
    """Per-pack chances (one pack a second) of the faults real bedside monitors show."""

    spo2_dropout: float = 0.01  # probe slipped: the pack has no SpO2
    motion_spike: float = 0.002  # the patient moves: a few seconds of high pulse (plausible, so it is stored)
    out_of_range: float = 0.0005  # SpO2 127, a sensor error code: the ingest must dead-letter it
    spo2_dip: float = 0.0  # motion or a loose probe: SpO2 reads 5-14 points low for a while (artefact_duration_s)
    pulse_burst: float = 0.0  # the patient sits up, coughs, is turned: pulse 30-45 bpm higher for a while


NO_ARTEFACTS = Artefacts(spo2_dropout=0.0, motion_spike=0.0, out_of_range=0.0)
# A monitored patient on a ward: about 4 SpO2 artefact dips and 2 bursts of pulse an hour (studies of bedside SpO2
# alarms find most are artefact, several an hour per patient, most over within 10-20 s).
REALISTIC_ARTEFACTS = Artefacts(spo2_dip=4 / 3600, pulse_burst=2 / 3600)

_SPIKE_S = 4.0
_SPIKE_PULSE_BPM = 25.0
_DIP_POINTS = (5.0, 14.0)
_BURST_BPM = (30.0, 45.0)
# How long a dip or a burst lasts: 3 s plus an exponential with a 6 s mean (median ~7 s, ~6 % longer than 20 s, the
# longest cut at 90 s). The long tail is real: a patient who fiddles with the probe for half a minute.
_MIN_S, _MEAN_EXTRA_S, _MAX_S = 3.0, 6.0, 90.0


def artefact_duration_s(rng: random.Random) -> float:
    return min(_MAX_S, _MIN_S + rng.expovariate(1.0 / _MEAN_EXTRA_S))


@dataclass(slots=True)
class ArtefactRun:
    """One bed's artefacts in progress."""

    spike_until: datetime | None = None
    dip_until: datetime | None = None
    dip_points: float = 0.0
    burst_until: datetime | None = None
    burst_bpm: float = 0.0


def with_artefacts(
    run: ArtefactRun, pulse_bpm: float, spo2_percent: float, *, now: datetime, rng: random.Random, chances: Artefacts
) -> tuple[float, float]:
    """The pulse and SpO2 the monitor reports now. Draws from `rng` only for the chances that are not zero, so a
    simulation without dips and bursts repeats the same numbers for the same seed."""
    if run.spike_until is None and rng.random() < chances.motion_spike:
        run.spike_until = now + timedelta(seconds=_SPIKE_S)
    if run.spike_until is not None:
        if now < run.spike_until:
            pulse_bpm += _SPIKE_PULSE_BPM
        else:
            run.spike_until = None
    if chances.spo2_dip and run.dip_until is None and rng.random() < chances.spo2_dip:
        run.dip_until = now + timedelta(seconds=artefact_duration_s(rng))
        run.dip_points = rng.uniform(*_DIP_POINTS)
    if run.dip_until is not None:
        if now < run.dip_until:
            spo2_percent = round(spo2_percent - run.dip_points)
        else:
            run.dip_until = None
    if chances.pulse_burst and run.burst_until is None and rng.random() < chances.pulse_burst:
        run.burst_until = now + timedelta(seconds=artefact_duration_s(rng))
        run.burst_bpm = rng.uniform(*_BURST_BPM)
    if run.burst_until is not None:
        if now < run.burst_until:
            pulse_bpm = round(pulse_bpm + run.burst_bpm)
        else:
            run.burst_until = None
    return pulse_bpm, spo2_percent
