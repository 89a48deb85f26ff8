"""NEWS2 (RCP 2017) for one observation set and for numpy batches; both agree exactly. See docs in NEWS2.md.

Numeric values are first rounded half up to the chart's resolution on the value as written (`scoring.rounding`):
38.05 °C is charted 38.1 and scores 1; 20.5 /min is charted 21 and scores 2.

A missing parameter scores nothing, so the total of an incomplete set is a lower bound of the full score, and
the risk is the least the full score can carry. SpO2 scale 2 with unknown oxygen status: SpO2 >= 93 scores 0 (the
on-air score, the lowest possible), so the bound stays safe; the set is incomplete anyway because oxygen is missing.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from core.types import NEWS2_PARAMETERS, ClinicalRisk, Consciousness, Parameter, SpO2Scale
from scoring.rounding import CHART_DECIMALS, round_half_up, round_half_up_array

__all__ = [
    "MISSING_SCORE",
    "RISK_ORDER",
    "News2Batch",
    "News2Result",
    "Observation",
    "ObservationBatch",
    "clinical_risk",
    "parameter_score",
    "score",
    "score_batch",
    "stored_consciousness",
    "stored_oxygen",
]

MISSING_SCORE = -1  # in News2Batch.parameter_scores: the parameter was not observed
RISK_ORDER: tuple[ClinicalRisk, ...] = (
    ClinicalRisk.LOW,
    ClinicalRisk.LOW_MEDIUM,
    ClinicalRisk.MEDIUM,
    ClinicalRisk.HIGH,
)
_OXYGEN_SCORE = 2  # "Air or oxygen" row: any supplemental oxygen scores 2, air 0
_SINGLE_PARAMETER_RED = 3
_MEDIUM_TOTAL = 5  # key threshold: urgent response
_HIGH_TOTAL = 7  # emergency response


@dataclass(frozen=True, slots=True)
class _Bands:
    """One chart row: `upper_edges[i]` is the inclusive upper bound of band i; the last band is open-ended."""

    upper_edges: tuple[float, ...]
    scores: tuple[int, ...]

    def score(self, charted: float) -> int:
        return self.scores[bisect_left(self.upper_edges, charted)]

    def score_array(self, charted: NDArray[np.float64]) -> NDArray[np.int8]:
        # NaN sorts past every edge; callers mask missing values afterwards.
        index = np.searchsorted(np.asarray(self.upper_edges), charted, side="left")
        return np.asarray(self.scores, dtype=np.int8)[index]


# The chart's rows (NEWS2.md), on charted values.
_RESP_RATE = _Bands((8, 11, 20, 24), (3, 1, 0, 2, 3))
_SPO2_SCALE_1 = _Bands((91, 93, 95), (3, 2, 1, 0))
_SPO2_SCALE_2_AIR = _Bands((83, 85, 87), (3, 2, 1, 0))  # 88-92, or >= 93 on air: 0
_SPO2_SCALE_2_OXYGEN = _Bands((83, 85, 87, 92, 94, 96), (3, 2, 1, 0, 1, 2, 3))
_SYSTOLIC_BP = _Bands((90, 100, 110, 219), (3, 2, 1, 0, 3))
_PULSE = _Bands((40, 50, 90, 110, 130), (3, 1, 0, 1, 2, 3))
_TEMPERATURE = _Bands((35.0, 36.0, 38.0, 39.0), (3, 1, 0, 1, 2))
_NUMERIC_BANDS: dict[Parameter, _Bands] = {
    Parameter.RESP_RATE: _RESP_RATE,
    Parameter.SYSTOLIC_BP: _SYSTOLIC_BP,
    Parameter.PULSE: _PULSE,
    Parameter.TEMPERATURE: _TEMPERATURE,
}


@dataclass(frozen=True, slots=True)
class Observation:
    """One observation set. None means not observed; numbers are as measured (rounded here to the chart)."""

    resp_rate_per_min: float | None = None
    spo2_percent: float | None = None
    spo2_scale: SpO2Scale = SpO2Scale.SCALE_1
    supplemental_o2: bool | None = None
    systolic_bp_mmhg: float | None = None
    pulse_per_min: float | None = None
    consciousness: Consciousness | None = None
    temperature_c: float | None = None

    def __post_init__(self) -> None:
        for name in ("resp_rate_per_min", "spo2_percent", "systolic_bp_mmhg", "pulse_per_min", "temperature_c"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0 or None, not {value!r}")

    def _numeric(self) -> dict[Parameter, float | None]:
        return {
            Parameter.RESP_RATE: self.resp_rate_per_min,
            Parameter.SPO2: self.spo2_percent,
            Parameter.SYSTOLIC_BP: self.systolic_bp_mmhg,
            Parameter.PULSE: self.pulse_per_min,
            Parameter.TEMPERATURE: self.temperature_c,
        }


@dataclass(frozen=True, slots=True)
class News2Result:
    """`total` is a lower bound of the full score when `complete` is False; `missing` says what is absent."""

    total: int
    complete: bool
    risk: ClinicalRisk
    single_param_3: bool
    parameter_scores: dict[Parameter, int] = field(default_factory=dict)
    missing: tuple[Parameter, ...] = ()


def clinical_risk(total: int, *, single_param_3: bool) -> ClinicalRisk:
    """The chart's clinical risk for an aggregate (>= 7 high, 5-6 medium, a single 3 low-medium, else low)."""
    if total >= _HIGH_TOTAL:
        return ClinicalRisk.HIGH
    if total >= _MEDIUM_TOTAL:
        return ClinicalRisk.MEDIUM
    if single_param_3:
        return ClinicalRisk.LOW_MEDIUM
    return ClinicalRisk.LOW


def score(obs: Observation) -> News2Result:
    """NEWS2 of one observation set."""
    scores: dict[Parameter, int] = {}
    for parameter, value in obs._numeric().items():
        if value is not None and parameter in _NUMERIC_BANDS:
            scores[parameter] = _band_score(parameter, value)
    if obs.spo2_percent is not None:
        scores[Parameter.SPO2] = _spo2_score(obs.spo2_percent, obs.spo2_scale, obs.supplemental_o2)
    if obs.supplemental_o2 is not None:
        scores[Parameter.SUPPLEMENTAL_O2] = _oxygen_score(obs.supplemental_o2)
    if obs.consciousness is not None:
        scores[Parameter.CONSCIOUSNESS] = _consciousness_score(obs.consciousness)
    return _result(scores)


def parameter_score(parameter: Parameter, value: float, *, spo2_scale: SpO2Scale, supplemental_o2: bool | None) -> int:
    """One parameter's score as `score` gives it in a set with that SpO2 scale and oxygen status. Values as stored:
    ACVPU as its `Consciousness` code, oxygen as 1.0 / 0.0. Raises ValueError for one that cannot be charted."""
    if parameter is Parameter.SUPPLEMENTAL_O2:
        return _oxygen_score(stored_oxygen(value))
    if parameter is Parameter.CONSCIOUSNESS:
        return _consciousness_score(stored_consciousness(value))
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{parameter.value} must be a finite number >= 0, not {value!r}")
    if parameter is Parameter.SPO2:
        return _spo2_score(value, spo2_scale, supplemental_o2)
    if parameter not in _NUMERIC_BANDS:
        raise ValueError(f"{parameter.value} is not a NEWS2 parameter")
    return _band_score(parameter, value)


def stored_oxygen(value: float) -> bool:
    """Oxygen as stored (1.0 on oxygen, 0.0 on air) as the chart's row reads it. Raises ValueError otherwise."""
    if value not in (0.0, 1.0):
        raise ValueError(f"supplemental_o2 must be stored as 1.0 (oxygen) or 0.0 (air), not {value!r}")
    return value == 1.0


def stored_consciousness(value: float) -> Consciousness:
    """ACVPU as stored (its `Consciousness` code). Raises ValueError for anything else."""
    if not float(value).is_integer():
        raise ValueError(f"consciousness must be stored as an ACVPU code 0-4, not {value!r}")
    return Consciousness(int(value))


def _band_score(parameter: Parameter, value: float) -> int:
    return _NUMERIC_BANDS[parameter].score(round_half_up(value, decimals=CHART_DECIMALS[parameter]))


def _oxygen_score(on_oxygen: bool) -> int:
    return _OXYGEN_SCORE if on_oxygen else 0


def _consciousness_score(level: Consciousness) -> int:
    return 0 if level is Consciousness.ALERT else _SINGLE_PARAMETER_RED


def _spo2_score(spo2_percent: float, scale: SpO2Scale, on_oxygen: bool | None) -> int:
    charted = round_half_up(spo2_percent, decimals=CHART_DECIMALS[Parameter.SPO2])
    if scale is SpO2Scale.SCALE_1:
        return _SPO2_SCALE_1.score(charted)
    # Unknown oxygen on scale 2 takes the on-air row: its scores are never above the on-oxygen row's.
    return (_SPO2_SCALE_2_OXYGEN if on_oxygen else _SPO2_SCALE_2_AIR).score(charted)


def _result(scores: dict[Parameter, int]) -> News2Result:
    ordered = {p: scores[p] for p in NEWS2_PARAMETERS if p in scores}
    total = sum(ordered.values())
    single_param_3 = _SINGLE_PARAMETER_RED in ordered.values()
    return News2Result(
        total=total,
        complete=len(ordered) == len(NEWS2_PARAMETERS),
        risk=clinical_risk(total, single_param_3=single_param_3),
        single_param_3=single_param_3,
        parameter_scores=ordered,
        missing=tuple(p for p in NEWS2_PARAMETERS if p not in ordered),
    )


# --- batches -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservationBatch:
    """Columns of observation sets, one row per set. NaN means not observed.

    `spo2_scale` holds 1 or 2; `supplemental_o2` 1.0 (oxygen), 0.0 (air) or NaN; `consciousness` the ACVPU code
    (`Consciousness` value, 0 = alert) or NaN.
    """

    resp_rate_per_min: NDArray[np.float64]
    spo2_percent: NDArray[np.float64]
    spo2_scale: NDArray[np.int64]
    supplemental_o2: NDArray[np.float64]
    systolic_bp_mmhg: NDArray[np.float64]
    pulse_per_min: NDArray[np.float64]
    consciousness: NDArray[np.float64]
    temperature_c: NDArray[np.float64]

    def __post_init__(self) -> None:
        lengths = {len(column) for column in self._columns().values()}
        if len(lengths) != 1:
            raise ValueError(f"every column of an ObservationBatch must have the same length, not {sorted(lengths)}")
        _check_batch(self)

    def __len__(self) -> int:
        return len(self.spo2_scale)

    def _columns(self) -> dict[Parameter | str, NDArray[np.float64] | NDArray[np.int64]]:
        return {
            Parameter.RESP_RATE: self.resp_rate_per_min,
            Parameter.SPO2: self.spo2_percent,
            "spo2_scale": self.spo2_scale,
            Parameter.SUPPLEMENTAL_O2: self.supplemental_o2,
            Parameter.SYSTOLIC_BP: self.systolic_bp_mmhg,
            Parameter.PULSE: self.pulse_per_min,
            Parameter.CONSCIOUSNESS: self.consciousness,
            Parameter.TEMPERATURE: self.temperature_c,
        }

    @classmethod
    def from_observations(cls, observations: Sequence[Observation]) -> ObservationBatch:
        def column(values: Sequence[float | None]) -> NDArray[np.float64]:
            return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)

        return cls(
            resp_rate_per_min=column([o.resp_rate_per_min for o in observations]),
            spo2_percent=column([o.spo2_percent for o in observations]),
            spo2_scale=np.array([int(o.spo2_scale) for o in observations], dtype=np.int64),
            supplemental_o2=column([o.supplemental_o2 for o in observations]),
            systolic_bp_mmhg=column([o.systolic_bp_mmhg for o in observations]),
            pulse_per_min=column([o.pulse_per_min for o in observations]),
            consciousness=column([o.consciousness for o in observations]),
            temperature_c=column([o.temperature_c for o in observations]),
        )


def _check_batch(batch: ObservationBatch) -> None:
    with np.errstate(invalid="ignore"):
        for name in ("resp_rate_per_min", "spo2_percent", "systolic_bp_mmhg", "pulse_per_min", "temperature_c"):
            values: NDArray[np.float64] = getattr(batch, name)
            if np.any(~np.isnan(values) & ~(np.isfinite(values) & (values >= 0))):
                raise ValueError(f"{name} must hold finite numbers >= 0 or NaN")
        if not np.all(np.isin(batch.spo2_scale, (1, 2))):
            raise ValueError("spo2_scale must hold 1 or 2")
        if not np.all(np.isnan(batch.supplemental_o2) | np.isin(batch.supplemental_o2, (0.0, 1.0))):
            raise ValueError("supplemental_o2 must hold 1.0 (oxygen), 0.0 (air) or NaN")
        codes = [c.value for c in Consciousness]
        if not np.all(np.isnan(batch.consciousness) | np.isin(batch.consciousness, codes)):
            raise ValueError(f"consciousness must hold ACVPU codes {codes} or NaN")


@dataclass(frozen=True, slots=True)
class News2Batch:
    """Scores of an ObservationBatch, row for row. `risk` holds indices into RISK_ORDER; a parameter's score is
    MISSING_SCORE where it was not observed."""

    total: NDArray[np.int64]
    complete: NDArray[np.bool_]
    risk: NDArray[np.int8]
    single_param_3: NDArray[np.bool_]
    parameter_scores: dict[Parameter, NDArray[np.int8]]

    def __len__(self) -> int:
        return len(self.total)

    def risk_at(self, row: int) -> ClinicalRisk:
        return RISK_ORDER[int(self.risk[row])]

    def result_at(self, row: int) -> News2Result:
        """Row `row` as the scalar API would return it."""
        scores = {p: int(s[row]) for p, s in self.parameter_scores.items() if s[row] != MISSING_SCORE}
        return News2Result(
            total=int(self.total[row]),
            complete=bool(self.complete[row]),
            risk=self.risk_at(row),
            single_param_3=bool(self.single_param_3[row]),
            parameter_scores=scores,
            missing=tuple(p for p, s in self.parameter_scores.items() if s[row] == MISSING_SCORE),
        )


def score_batch(batch: ObservationBatch) -> News2Batch:
    """NEWS2 of every row of `batch`, vectorised; row i equals `score()` of the same observation set."""
    numeric = {
        Parameter.RESP_RATE: batch.resp_rate_per_min,
        Parameter.SYSTOLIC_BP: batch.systolic_bp_mmhg,
        Parameter.PULSE: batch.pulse_per_min,
        Parameter.TEMPERATURE: batch.temperature_c,
    }
    scores: dict[Parameter, NDArray[np.int8]] = {}
    for parameter, values in numeric.items():
        charted = round_half_up_array(values, decimals=CHART_DECIMALS[parameter])
        scores[parameter] = _masked(_NUMERIC_BANDS[parameter].score_array(charted), values)
    scores[Parameter.SPO2] = _masked(_spo2_scores(batch), batch.spo2_percent)
    oxygen = np.where(batch.supplemental_o2 == 1.0, _OXYGEN_SCORE, 0).astype(np.int8)
    scores[Parameter.SUPPLEMENTAL_O2] = _masked(oxygen, batch.supplemental_o2)
    alert = np.where(batch.consciousness == Consciousness.ALERT.value, 0, _SINGLE_PARAMETER_RED).astype(np.int8)
    scores[Parameter.CONSCIOUSNESS] = _masked(alert, batch.consciousness)
    return _batch_result({p: scores[p] for p in NEWS2_PARAMETERS}, n_rows=len(batch))


def _masked(scores: NDArray[np.int8], values: NDArray[np.float64]) -> NDArray[np.int8]:
    return np.where(np.isnan(values), np.int8(MISSING_SCORE), scores).astype(np.int8)


def _spo2_scores(batch: ObservationBatch) -> NDArray[np.int8]:
    charted = round_half_up_array(batch.spo2_percent, decimals=CHART_DECIMALS[Parameter.SPO2])
    scale_2 = np.where(
        batch.supplemental_o2 == 1.0,  # NaN (unknown) compares False: the on-air row, see the module docstring
        _SPO2_SCALE_2_OXYGEN.score_array(charted),
        _SPO2_SCALE_2_AIR.score_array(charted),
    )
    return np.where(batch.spo2_scale == SpO2Scale.SCALE_2.value, scale_2, _SPO2_SCALE_1.score_array(charted)).astype(
        np.int8
    )


def _batch_result(scores: dict[Parameter, NDArray[np.int8]], *, n_rows: int) -> News2Batch:
    stacked = np.stack(list(scores.values())).reshape(len(scores), n_rows)
    present = stacked != MISSING_SCORE
    total = np.where(present, stacked, 0).sum(axis=0, dtype=np.int64)
    single_param_3 = np.any(stacked == _SINGLE_PARAMETER_RED, axis=0)
    risk = np.select(
        [total >= _HIGH_TOTAL, total >= _MEDIUM_TOTAL, single_param_3],
        [
            RISK_ORDER.index(ClinicalRisk.HIGH),
            RISK_ORDER.index(ClinicalRisk.MEDIUM),
            RISK_ORDER.index(ClinicalRisk.LOW_MEDIUM),
        ],
        default=RISK_ORDER.index(ClinicalRisk.LOW),
    ).astype(np.int8)
    return News2Batch(
        total=total,
        complete=np.all(present, axis=0),
        risk=risk,
        single_param_3=single_param_3,
        parameter_scores=scores,
    )
