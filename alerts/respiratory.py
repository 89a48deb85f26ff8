"""Opioid respiratory depression: for a patient with an opioid care flag on continuous monitoring, a respiration
rate or SpO2 at the levels of the PRODIGY episode definitions raises a high alert of its own, without waiting for
NEWS2 to add up. Pure functions; the live scorer decides it with NEWS2 (docs/HOME_AND_TEAMS.md)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from alerts.lifecycle import Observed
from core.care_flags import OPIOID_FLAGS, CareFlag
from core.types import AlertKey, AlertKind, AlertSeverity, CareSetting, Parameter

__all__ = ["RR_DEPRESSED_MAX_PER_MIN", "SPO2_DEPRESSED_MAX_PERCENT", "respiratory_depression_observed"]

# PRODIGY's episode thresholds (Khanna et al., Anesth Analg 2020): respiration rate <= 5/min, SpO2 <= 85 %. Either,
# sustained for the confirmation delay (LifecyclePolicy.sustain_s), raises the alert. PRODIGY's research definition
# asks for 3 min; an alarm that waits 3 min on a patient breathing 4 times a minute waits too long, so vaktrom uses
# 30 s, the apnoea criterion's duration (configurable per deployment).
RR_DEPRESSED_MAX_PER_MIN = 5.0
SPO2_DEPRESSED_MAX_PERCENT = 85.0
_FLAG_WORDS = {
    CareFlag.OPIOID_AGONIST_TREATMENT: "on opioid agonist treatment",
    CareFlag.OPIOID_WITHDRAWAL: "in opioid withdrawal management",
    CareFlag.OTHER_OPIOIDS: "on opioids",
}


def respiratory_depression_observed(
    patient_id: str,
    values: Mapping[Parameter, float],
    flags: Collection[CareFlag],
    *,
    ward_id: str | None,
    at: datetime,
    setting: CareSetting,
) -> Observed:
    """The condition now: clear unless the patient has an opioid flag, is continuously monitored, and a fresh value
    is at a PRODIGY level. Always an observation, so an open alert resolves when the flag or the signs go."""
    key = AlertKey(patient_id, None, AlertKind.RESPIRATORY_DEPRESSION)
    opioid = sorted(flag for flag in flags if flag in OPIOID_FLAGS)
    if not opioid or setting is CareSetting.HOME:
        return Observed(key, None, "", at, ward_id, setting)
    signs = []
    respiration, spo2 = values.get(Parameter.RESP_RATE), values.get(Parameter.SPO2)
    if respiration is not None and respiration <= RR_DEPRESSED_MAX_PER_MIN:
        signs.append(f"respiration rate {respiration:g}/min")
    if spo2 is not None and spo2 <= SPO2_DEPRESSED_MAX_PERCENT:
        signs.append(f"SpO2 {spo2:g} %")
    if not signs:
        return Observed(key, None, "", at, ward_id, setting)
    why = ", ".join(_FLAG_WORDS[flag] for flag in opioid)
    message = f"Possible opioid respiratory depression: {' and '.join(signs)} ({why}) — go to the patient now"
    return Observed(key, AlertSeverity.HIGH, message, at, ward_id, setting)
