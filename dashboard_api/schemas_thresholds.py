"""Bodies and responses of the personal-thresholds routes: pydantic at the edge, extra="forbid", bounds on every
number; what a clinician can mean (contiguous bands, a green one) is checked by alerts/triage.validate_thresholds."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from alerts.triage import MAX_BANDS, describe_bands
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import Parameter

__all__ = ["BandIn", "BandOut", "MeasurementThresholdsIn", "ThresholdsIn", "ThresholdsOut"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class BandIn(_In):
    colour: TriageColour = Field(description="VKP triage code: R, O, Y, G or B.")
    low: float | None = Field(default=None, ge=0, le=1000, description="Included; null for the lowest band.")
    high: float | None = Field(default=None, ge=0, le=1000, description="Not included; null for the highest band.")


class MeasurementThresholdsIn(_In):
    measurement: Parameter = Field(description="spo2, pulse, resp_rate, systolic_bp, diastolic_bp, temperature")
    bands: list[BandIn] = Field(
        min_length=1, max_length=MAX_BANDS, description="Lowest first, each from where the one below ends."
    )

    def to_domain(self) -> MeasurementThresholds:
        return MeasurementThresholds(
            self.measurement, tuple(ThresholdBand(b.colour, b.low, b.high) for b in self.bands)
        )


class ThresholdsIn(_In):
    reason: str = Field(min_length=3, max_length=500, description="Why (e.g. COPD, target 88-92 % on oxygen).")
    thresholds: list[MeasurementThresholdsIn] = Field(max_length=len(Parameter), description="Empty: clears them.")

    def to_domain(self, patient_id: str, *, set_by: str, set_at: datetime) -> ThresholdSet:
        measurements = tuple(m.to_domain() for m in self.thresholds)
        return ThresholdSet(patient_id, measurements, self.reason.strip(), set_by, set_at)


class BandOut(_Out):
    colour: str
    display: str
    low: float | None
    high: float | None


class MeasurementThresholdsOut(_Out):
    measurement: str
    bands: list[BandOut]
    described: str = Field(description='In words: "red < 85, yellow 85-88, green 88-93, ..."')


class ThresholdsOut(_Out):
    patient_id: str
    thresholds: list[MeasurementThresholdsOut]
    reason: str
    set_by: str
    set_at: datetime

    @classmethod
    def of(cls, thresholds: ThresholdSet) -> ThresholdsOut:
        measurements = [
            MeasurementThresholdsOut(
                measurement=m.parameter.value,
                bands=[
                    BandOut(colour=b.colour.value, display=b.colour.display, low=b.low, high=b.high) for b in m.bands
                ],
                described=describe_bands(m.bands),
            )
            for m in thresholds.measurements
        ]
        return cls(
            patient_id=thresholds.patient_id, thresholds=measurements, reason=thresholds.reason,
            set_by=thresholds.set_by, set_at=thresholds.set_at,
        )  # fmt: skip
