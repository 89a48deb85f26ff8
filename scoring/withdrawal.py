"""Withdrawal scales as pure functions: each item's allowed scores, the total, its band per the published scale, and
the items a monitor's latest values can propose. Sources and cut points: docs/HOME_AND_TEAMS.md."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from core.errors import InvalidAssessment
from core.types import LatestValue, Parameter
from core.withdrawal import AwsItem, CiwaArItem, CowsItem, WithdrawalBand, WithdrawalItem, WithdrawalScale
from scoring.rounding import round_half_up

__all__ = [
    "PROPOSAL_MAX_AGE_S",
    "SCALES",
    "ProposedItem",
    "ScaleSpec",
    "WithdrawalScore",
    "band_of",
    "propose_items",
    "score_items",
]


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """One scale: its items with the scores each may take (the printed form's choices), and the lowest total of
    each of its bands, ascending from 0."""

    scale: WithdrawalScale
    title: str
    items: Mapping[WithdrawalItem, tuple[int, ...]]
    band_floors: tuple[tuple[int, WithdrawalBand], ...]

    @property
    def max_total(self) -> int:
        return sum(max(scores) for scores in self.items.values())


_SEVEN = tuple(range(8))  # CIWA-Ar: 0-7, the form's anchors at 0, 1, 4 and 7 with the steps between
# COWS (Wesson & Ling 2003): 11 items, each with its own printed choices; 0-48. Bands: 5-12 mild, 13-24 moderate,
# 25-36 moderately severe, more than 36 severe; below 5 the paper names no withdrawal band.
_COWS = ScaleSpec(
    WithdrawalScale.COWS,
    "COWS",
    {
        CowsItem.RESTING_PULSE: (0, 1, 2, 4),
        CowsItem.SWEATING: (0, 1, 2, 3, 4),
        CowsItem.RESTLESSNESS: (0, 1, 3, 5),
        CowsItem.PUPIL_SIZE: (0, 1, 2, 5),
        CowsItem.BONE_JOINT_ACHES: (0, 1, 2, 4),
        CowsItem.RUNNY_NOSE_TEARING: (0, 1, 2, 4),
        CowsItem.GI_UPSET: (0, 1, 2, 3, 5),
        CowsItem.TREMOR: (0, 1, 2, 4),
        CowsItem.YAWNING: (0, 1, 2, 4),
        CowsItem.ANXIETY_IRRITABILITY: (0, 1, 2, 4),
        CowsItem.GOOSEFLESH: (0, 3, 5),
    },
    (
        (0, WithdrawalBand.NONE),
        (5, WithdrawalBand.MILD),
        (13, WithdrawalBand.MODERATE),
        (25, WithdrawalBand.MODERATELY_SEVERE),
        (37, WithdrawalBand.SEVERE),
    ),
)
# CIWA-Ar (Sullivan et al. 1989): nine items 0-7 and orientation 0-4; 0-67. The paper: below 10 patients do not
# usually need medication for withdrawal; sources band 8/10-15 as moderate and above 15 as severe. Vaktrom uses
# < 10 mild (minimal to mild), 10-15 moderate, > 15 severe.
_CIWA_AR = ScaleSpec(
    WithdrawalScale.CIWA_AR,
    "CIWA-Ar",
    {item: (tuple(range(5)) if item is CiwaArItem.ORIENTATION else _SEVEN) for item in CiwaArItem},
    ((0, WithdrawalBand.MILD), (10, WithdrawalBand.MODERATE), (16, WithdrawalBand.SEVERE)),
)
# AWS (Wetterling et al. 1997; the form in Wetterling & Veltrup 1997): somatic items pulse 0-4 (4: arrhythmia),
# diastolic BP, temperature, sweating and tremor 0-3, breathing rate 0-2; psychological items agitation and
# hallucinations 0-4, contact and orientation 0-3, anxiety 0-2; 0-34. Bands: <= 5 mild, 6-9 moderate, >= 10 severe
# (below 6 the authors found no withdrawal medication needed).
_AWS = ScaleSpec(
    WithdrawalScale.AWS,
    "AWS",
    {
        AwsItem.PULSE: (0, 1, 2, 3, 4),
        AwsItem.DIASTOLIC_BP: (0, 1, 2, 3),
        AwsItem.TEMPERATURE: (0, 1, 2, 3),
        AwsItem.BREATHING_RATE: (0, 1, 2),
        AwsItem.SWEATING: (0, 1, 2, 3),
        AwsItem.TREMOR: (0, 1, 2, 3),
        AwsItem.AGITATION: (0, 1, 2, 3, 4),
        AwsItem.CONTACT: (0, 1, 2, 3),
        AwsItem.ORIENTATION: (0, 1, 2, 3),
        AwsItem.HALLUCINATIONS: (0, 1, 2, 3, 4),
        AwsItem.ANXIETY: (0, 1, 2),
    },
    ((0, WithdrawalBand.MILD), (6, WithdrawalBand.MODERATE), (10, WithdrawalBand.SEVERE)),
)
SCALES: dict[WithdrawalScale, ScaleSpec] = {spec.scale: spec for spec in (_COWS, _CIWA_AR, _AWS)}


@dataclass(frozen=True, slots=True)
class WithdrawalScore:
    scale: WithdrawalScale
    items: tuple[tuple[WithdrawalItem, int], ...]  # in the scale's order
    total: int
    band: WithdrawalBand
    max_total: int


def band_of(scale: WithdrawalScale, total: int) -> WithdrawalBand:
    """The band of a total on this scale. Raises InvalidAssessment for a total the scale cannot reach."""
    spec = SCALES[scale]
    if not 0 <= total <= spec.max_total:
        raise InvalidAssessment("total", f"{total} is outside {spec.title}'s 0-{spec.max_total}")
    floors = [floor for floor, _ in spec.band_floors]
    return spec.band_floors[bisect_right(floors, total) - 1][1]


def score_items(scale: WithdrawalScale, items: Mapping[str, int]) -> WithdrawalScore:
    """Every item of the scale, each with one of its printed scores: the total and its band. Raises
    InvalidAssessment naming the first unknown, missing or wrongly scored item."""
    spec = SCALES[scale]
    names = {item.value: item for item in spec.items}
    for name in items:
        if name not in names:
            raise InvalidAssessment(f"items.{name}", f"not an item of {spec.title}; its items are {', '.join(names)}")
    scored: list[tuple[WithdrawalItem, int]] = []
    for item, allowed in spec.items.items():
        if item.value not in items:
            raise InvalidAssessment(f"items.{item.value}", f"missing: score every item of {spec.title}")
        value = items[item.value]
        if isinstance(value, bool) or value not in allowed:
            choices = ", ".join(str(s) for s in allowed)
            raise InvalidAssessment(f"items.{item.value}", f"{value!r} is not a score of this item; one of {choices}")
        scored.append((item, value))
    total = sum(score for _, score in scored)
    return WithdrawalScore(scale, tuple(scored), total, band_of(scale, total), spec.max_total)


# A proposal comes from a value measured at most this long ago: the scales score the patient as seen now, and a
# bedside monitor sends every few seconds; 15 min also takes in a nurse's spot check made for the assessment.
PROPOSAL_MAX_AGE_S = 900.0


@dataclass(frozen=True, slots=True)
class _Cuts:
    """A vital-sign item: `upper_edges[i]` is the inclusive upper bound of score `scores[i]` on the value rounded
    to `decimals`; the last score is open-ended."""

    parameter: Parameter
    decimals: int
    upper_edges: tuple[float, ...]
    scores: tuple[int, ...]

    def score(self, value: float) -> int:
        return self.scores[bisect_left(self.upper_edges, round_half_up(value, decimals=self.decimals))]


# The printed cut points. COWS resting pulse: <= 80, 81-100, 101-120, > 120 -> 0, 1, 2, 4. AWS pulse: < 100,
# 101-110, 111-120, > 120 -> 0-3 (the form leaves 100 itself out: vaktrom proposes 0; 4, an arrhythmia, only a
# clinician scores); diastolic < 95, 95-100, 101-105, > 105; temperature < 37.0, < 37.5, < 38.0, else 3 (38.0
# itself, which the form leaves out, proposes 3); breathing rate < 20, 20-24, > 24 -> 0-2.
_SENSOR_ITEMS: dict[WithdrawalScale, dict[WithdrawalItem, _Cuts]] = {
    WithdrawalScale.COWS: {CowsItem.RESTING_PULSE: _Cuts(Parameter.PULSE, 0, (80, 100, 120), (0, 1, 2, 4))},
    WithdrawalScale.CIWA_AR: {},  # every CIWA-Ar item is asked or observed
    WithdrawalScale.AWS: {
        AwsItem.PULSE: _Cuts(Parameter.PULSE, 0, (100, 110, 120), (0, 1, 2, 3)),
        AwsItem.DIASTOLIC_BP: _Cuts(Parameter.DIASTOLIC_BP, 0, (94, 100, 105), (0, 1, 2, 3)),
        AwsItem.TEMPERATURE: _Cuts(Parameter.TEMPERATURE, 1, (36.9, 37.4, 37.9), (0, 1, 2, 3)),
        AwsItem.BREATHING_RATE: _Cuts(Parameter.RESP_RATE, 0, (19, 24), (0, 1, 2)),
    },
}


@dataclass(frozen=True, slots=True)
class ProposedItem:
    """A score a sensor proposes for one item: the clinician confirms or overrides it."""

    item: WithdrawalItem
    score: int
    parameter: Parameter
    value: float
    measured_at: datetime
    device_id: str


def propose_items(
    scale: WithdrawalScale,
    latest: Mapping[Parameter, LatestValue],
    *,
    now: datetime,
    max_age_s: float = PROPOSAL_MAX_AGE_S,
) -> tuple[ProposedItem, ...]:
    """The items of `scale` a fresh value can score, in the scale's order; a stale or missing value proposes
    nothing (the item is left to the clinician)."""
    proposed = []
    for item, cuts in _SENSOR_ITEMS[scale].items():
        reading = latest.get(cuts.parameter)
        if reading is None or (now - reading.measured_at).total_seconds() > max_age_s:
            continue
        score = cuts.score(reading.value)
        proposed.append(
            ProposedItem(item, score, cuts.parameter, reading.value, reading.measured_at, reading.device_id)
        )
    return tuple(proposed)
