"""Simulated substance-use patients in a KAD bed: opioid respiratory depression over minutes, alcohol withdrawal over
hours. Pure trajectories (devices/scenario.py's keyframes); what each should raise is in docs/HOME_AND_TEAMS.md."""

from __future__ import annotations

from core.types import Consciousness
from devices.scenario import Keyframe, Scenario, Vitals

__all__ = [
    "ALCOHOL_WITHDRAWAL_KEYFRAMES_H",
    "OPIOID_CRITERION_SPO2_AT_S",
    "OPIOID_KEYFRAMES",
    "OPIOID_RR_BAND_8_AT_S",
    "alcohol_withdrawal_scenario",
    "opioid_respiratory_depression_scenario",
]

# Opioid respiratory depression after a dose (a LAR patient admitted to a KAD bed, or opioid withdrawal management),
# over 7 minutes. Breathing first grows shallow (tidal volume falls before the rate does), so on air SpO2 falls while
# the rate is still 11-12/min; then the rate falls too. On these values, without noise:
# - SpO2 <= 85 % (PRODIGY's level, alerts/respiratory.py) from 224 s (OPIOID_CRITERION_SPO2_AT_S), with RR 12.6/min;
#   sustained 30 s, the respiratory-depression alert opens at ~254 s; SpO2 falls 9 % a minute there, so noise (SD
#   0.6 %) moves that by seconds only;
# - RR first rounds to 8/min, NEWS2's RR <= 8 band (3 points), at 353 s (OPIOID_RR_BAND_8_AT_S): ~99 s after the alert,
#   and until 317 s a rate reading of 8 needs the noise (SD 0.8/min) 3 SDs low: the alert comes first;
# - RR <= 5 at 398 s; at 420 s the nurse charts "responds to voice" (NEWS2 3 for consciousness).
# The plateau and recovery are naloxone and stimulation: back to baseline over 5 min.
OPIOID_KEYFRAMES: tuple[Keyframe, ...] = (
    Keyframe(0.0, Vitals(74, 14, 96, 122, 74, 36.8)),
    Keyframe(180.0, Vitals(68, 13, 92, 114, 68, 36.7)),
    Keyframe(240.0, Vitals(64, 12.5, 83, 110, 66, 36.7)),
    Keyframe(300.0, Vitals(62, 12, 80, 106, 62, 36.6)),
    Keyframe(420.0, Vitals(56, 4, 76, 98, 58, 36.5, Consciousness.VOICE)),
)
OPIOID_CRITERION_SPO2_AT_S = 224.0  # exact SpO2 85.4 %, the last value a device reports as 85
OPIOID_RR_BAND_8_AT_S = 353.0  # exact RR 8.47/min, the last value a device reports as 8


def opioid_respiratory_depression_scenario(*, onset_s: float = 60.0, rest_s: float = 600.0) -> Scenario:
    """Baseline for `onset_s`, the 7 min decline, 2 min at worst, 5 min recovery (naloxone), `rest_s` at baseline."""
    return Scenario(keyframes=OPIOID_KEYFRAMES, onset_s=onset_s, plateau_s=120.0, recover_s=300.0, rest_s=rest_s)


# Alcohol withdrawal in a KAD bed (or a detox unit), hours after the last drink: autonomic hyperactivity, pulse, blood
# pressure, temperature and breathing rising, then delirium. Times in hours. NEWS2 by the RCP chart (scale 1, on air,
# alert until 16 h): 0 at 0 h; 1 at 4 h (pulse 98); 3 at 8 h (RR 21, pulse 108); 5 at 12 h (RR 23, pulse 118,
# 38.3 °C): the medium band; 10 at 16 h (RR 25, SpO2 95, pulse 126, 38.7 °C, new confusion): the high band.
# The AWS items a sensor can fill (pulse, diastolic BP, temperature, breathing rate) rise with them.
ALCOHOL_WITHDRAWAL_KEYFRAMES_H: tuple[tuple[float, Vitals], ...] = (
    (0.0, Vitals(86, 16, 97, 136, 84, 36.9)),
    (4.0, Vitals(98, 18, 97, 148, 92, 37.3)),
    (8.0, Vitals(108, 21, 96, 158, 98, 37.8)),
    (12.0, Vitals(118, 23, 96, 166, 104, 38.3)),
    (16.0, Vitals(126, 25, 95, 172, 108, 38.7, Consciousness.NEW_CONFUSION)),
)


def alcohol_withdrawal_scenario(*, hour_s: float = 3600.0, onset_h: float = 1.0, rest_h: float = 12.0) -> Scenario:
    """The 16 h course with `hour_s` seconds to the hour (the demo plays an hour in 30 s; tests on a fake clock use
    3600): `onset_h` at baseline, the rise, 4 h at worst, 8 h of treated recovery, `rest_h` at baseline."""
    if hour_s <= 0:
        raise ValueError("hour_s must be positive")
    keyframes = tuple(Keyframe(at_h * hour_s, vitals) for at_h, vitals in ALCOHOL_WITHDRAWAL_KEYFRAMES_H)
    return Scenario(
        keyframes=keyframes, onset_s=onset_h * hour_s, plateau_s=4 * hour_s, recover_s=8 * hour_s,
        rest_s=rest_h * hour_s,
    )  # fmt: skip
