"""Write the ward page's alarm sounds (IEC 60601-1-8 high and medium priority bursts) as small mono WAV files."""

from __future__ import annotations

import argparse
import math
import sys
import wave
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HIGH", "MEDIUM", "Burst", "main", "render", "write_wav"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "dashboard_api" / "static"
# 16 kHz keeps the fifth harmonic of C5 (2.6 kHz) far below Nyquist and a file under 200 kB.
SAMPLE_RATE_HZ = 16_000
# -2 dBFS peak: loud on a ward PC's small speakers without clipping after the harmonics add up.
PEAK = 0.8
# IEC 60601-1-8 wants at least four harmonics in 300-4000 Hz within 15 dB of the fundamental: relative amplitudes
# of harmonics 1-5 (the quietest, 0.3, is -10.5 dB).
HARMONICS = (1.0, 0.7, 0.5, 0.4, 0.3)


@dataclass(frozen=True, slots=True)
class Burst:
    """One alarm burst: pulses of `pulse_s` starting at `onsets_s`, then `tail_s` of silence (the loop's pause)."""

    fundamental_hz: float
    pulse_s: float
    ramp_s: float
    onsets_s: tuple[float, ...]
    tail_s: float

    @property
    def duration_s(self) -> float:
        return self.onsets_s[-1] + self.pulse_s + self.tail_s


def _onsets(*, pulse_s: float, gaps_s: Sequence[float]) -> tuple[float, ...]:
    """Pulse start times from the silent gaps between consecutive pulses."""
    onsets = [0.0]
    for gap_s in gaps_s:
        onsets.append(onsets[-1] + pulse_s + gap_s)
    return tuple(onsets)


# High priority: pulse 150 ms (75-200), spacing x = 100 ms (50-125); between pulses 3-4 and 8-9 the standard's
# 2x + td, between 5-6 a 600 ms pause (0.35-1.30 s), so the burst reads "3, 2 ... 3, 2". The 2.5 s tail is the
# interburst interval (2.5-15 s) when the page loops the file: the shortest allowed, for a nurse down the corridor.
# Rise and fall 20 ms (10-20 % of the pulse): no click. C5: above speech, distinct from the medium sound.
_HIGH_PULSE_S = 0.150
_HIGH_X_S = 0.100
HIGH = Burst(
    fundamental_hz=523.25,
    pulse_s=_HIGH_PULSE_S,
    ramp_s=0.020,
    onsets_s=_onsets(
        pulse_s=_HIGH_PULSE_S,
        gaps_s=(
            _HIGH_X_S,
            _HIGH_X_S,
            2 * _HIGH_X_S + _HIGH_PULSE_S,
            _HIGH_X_S,
            0.600,
            _HIGH_X_S,
            _HIGH_X_S,
            2 * _HIGH_X_S + _HIGH_PULSE_S,
            _HIGH_X_S,
        ),
    ),
    tail_s=2.5,
)
# Medium priority: three pulses of 200 ms (125-250) 200 ms apart (125-250), A4, rise and fall 30 ms (15 %).
# The page plays it once per new alert; the short tail only lets the last fall finish before playback ends.
_MEDIUM_PULSE_S = 0.200
MEDIUM = Burst(
    fundamental_hz=440.0,
    pulse_s=_MEDIUM_PULSE_S,
    ramp_s=0.030,
    onsets_s=_onsets(pulse_s=_MEDIUM_PULSE_S, gaps_s=(0.200, 0.200)),
    tail_s=0.050,
)


def _envelope(t_s: float, *, pulse_s: float, ramp_s: float) -> float:
    """Raised-cosine rise and fall, flat in between; `t_s` is the time since the pulse began."""
    edge_s = min(t_s, pulse_s - t_s)
    if edge_s >= ramp_s:
        return 1.0
    return 0.5 - 0.5 * math.cos(math.pi * max(edge_s, 0.0) / ramp_s)


def render(burst: Burst, *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> array[int]:
    """The burst as signed 16-bit samples peaking at `PEAK`; the same input always gives the same samples."""
    tone = [0.0] * round(burst.duration_s * sample_rate_hz)
    pulse_n = round(burst.pulse_s * sample_rate_hz)
    for onset_s in burst.onsets_s:
        start = round(onset_s * sample_rate_hz)
        for i in range(pulse_n):
            t_s = i / sample_rate_hz
            harmonics = sum(
                amplitude * math.sin(2 * math.pi * burst.fundamental_hz * (k + 1) * t_s)
                for k, amplitude in enumerate(HARMONICS)
            )
            tone[start + i] = harmonics * _envelope(t_s, pulse_s=burst.pulse_s, ramp_s=burst.ramp_s)
    scale = PEAK * 32767 / max(abs(x) for x in tone)
    return array("h", (round(x * scale) for x in tone))


def write_wav(path: Path, samples: array[int], *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
    """Mono, 16-bit PCM; WAV is little-endian whatever this machine is."""
    data = array("h", samples)
    if sys.byteorder == "big":
        data.byteswap()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(data.tobytes())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-dir", type=Path, default=STATIC_DIR, help="where to write (default: %(default)s)")
    args = parser.parse_args(argv)
    out_dir: Path = args.out_dir
    write_wav(out_dir / "alarm-high.wav", render(HIGH))
    write_wav(out_dir / "alarm-medium.wav", render(MEDIUM))


if __name__ == "__main__":
    main()
