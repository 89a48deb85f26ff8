"""The measurement names and units vaktrom accepts in SenML records (docs/MQTT.md renders this table)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

from core.types import Parameter

__all__ = ["MEASUREMENTS", "Measurement", "ValueKind", "measurement_for"]


class ValueKind(enum.StrEnum):
    NUMBER = "v"  # SenML "v"
    STRING = "vs"  # SenML "vs": ACVPU letter
    BOOLEAN = "vb"  # SenML "vb": on supplemental oxygen


def _same(x: float) -> float:
    return x


@dataclass(frozen=True, slots=True)
class Measurement:
    """One accepted SenML name: its parameter, units (each with a conversion to the canonical unit), and the range
    a living patient can show. A value outside the range is an artefact or a fault, never a reading."""

    name: str
    parameter: Parameter
    kind: ValueKind
    canonical_unit: str
    units: MappingProxyType[str, Callable[[float], float]]
    plausible_min: float
    plausible_max: float
    loinc: str
    ieee_11073: str  # MDC code and numeric id, or "" where the nomenclature has none
    aliases: tuple[str, ...] = field(default=())


def _units(**conversions: Callable[[float], float]) -> MappingProxyType[str, Callable[[float], float]]:
    return MappingProxyType(dict(conversions))


_MMHG_PER_KPA = 7.500617

MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement(
        "resp-rate", Parameter.RESP_RATE, ValueKind.NUMBER, "/min",
        MappingProxyType({"/min": _same, "1/min": _same, "breaths/min": _same}),
        1, 80, "9279-1", "MDC_RESP_RATE (151562)",
    ),
    Measurement(
        "spo2", Parameter.SPO2, ValueKind.NUMBER, "%",
        MappingProxyType({"%": _same, "/": lambda x: x * 100.0}),
        40, 100, "59408-5", "MDC_PULS_OXIM_SAT_O2 (150456)",
    ),
    Measurement(
        "sys-bp", Parameter.SYSTOLIC_BP, ValueKind.NUMBER, "mmHg",
        MappingProxyType({"mmHg": _same, "kPa": lambda x: x * _MMHG_PER_KPA}),
        30, 300, "8480-6", "MDC_PRESS_BLD_NONINV_SYS (150021)",
    ),
    Measurement(
        "dia-bp", Parameter.DIASTOLIC_BP, ValueKind.NUMBER, "mmHg",
        MappingProxyType({"mmHg": _same, "kPa": lambda x: x * _MMHG_PER_KPA}),
        10, 200, "8462-4", "MDC_PRESS_BLD_NONINV_DIA (150022)",
    ),
    Measurement(
        "heart-rate", Parameter.PULSE, ValueKind.NUMBER, "beat/min",
        MappingProxyType({"beat/min": _same, "1/min": _same, "/min": _same}),
        15, 300, "8867-4", "MDC_PULS_RATE (149514); MDC_PULS_OXIM_PULS_RATE (149530); MDC_ECG_HEART_RATE (147842)",
        aliases=("pulse",),
    ),
    Measurement(
        "body-temp", Parameter.TEMPERATURE, ValueKind.NUMBER, "Cel",
        MappingProxyType({"Cel": _same, "K": lambda x: x - 273.15}),
        25, 45, "8310-5", "MDC_TEMP_BODY (150364)",
    ),
    Measurement(
        "acvpu", Parameter.CONSCIOUSNESS, ValueKind.STRING, "", MappingProxyType({"": _same}),
        0, 4, "80288-4", "",
    ),
    Measurement(
        "supp-o2", Parameter.SUPPLEMENTAL_O2, ValueKind.BOOLEAN, "", MappingProxyType({"": _same}),
        0, 1, "3150-0", "",
    ),
)  # fmt: skip

_BY_NAME: dict[str, Measurement] = {name: m for m in MEASUREMENTS for name in (m.name, *m.aliases)}
_BY_PARAMETER: dict[Parameter, Measurement] = {m.parameter: m for m in MEASUREMENTS}


def measurement_for(name: str) -> Measurement | None:
    """The measurement a SenML name (after base-name resolution) stands for, or None when vaktrom does not know it."""
    return _BY_NAME.get(name)


def measurement_of(parameter: Parameter) -> Measurement:
    return _BY_PARAMETER[parameter]


__all__ += ["measurement_of"]
