"""The supply side: phase voltages around 230 V, frequency around 50 Hz and the background voltage THD.

Voltage = nominal + a fixed per-phase offset + a daily sag at peak hours + a drop with the phase's
own load and a rise with its export + slow noise. Any phase can be overridden (a simulation input,
e.g. to test under/overvoltage or a missing phase).

Voltage THD (`thd_u`, percent, spec §7.7; instantaneous 32/52/72.7.124) is the feeder's background
distortion, all (inferred): mostly the 5th harmonic of the switched-mode power supplies of every
house on the network flowing through its impedance, so it follows their use: lowest at night, highest
in the evening TV and lighting hours (field measurements in residential LV networks show the 5th
harmonic peaking with evening television viewing; Testa & Langella, "Harmonic pollution in Italian
distribution networks in coincidence with important sport events"). Typical LV values are 1.5–4 %,
well under the EN 50160 limit of 8 %. Here: 2.4 % by day, 3.3 % at 20:30, 2.0 % at 04:00, plus a
fixed per-phase offset (±0.1) and slow value noise (±0.4: a network-wide part with knots every 6 h,
and a per-phase part with knots every 40 min), so 1.5–3.8 % by construction. It is a pure function of
the seed, the local hour and the UTC time given to `minute()`: no state to save, no draws from the
voltage/frequency generator, and a restored meter continues exactly. A forced phase voltage
(`override`) leaves the phase's THD at the background.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from meter_sim.persistence import rng_state_from_json, rng_state_to_json

NOMINAL_V = 230.0
NOMINAL_HZ = 50.0
GRID_OHMS = 0.25  # source impedance seen by the house: 10 A load ≈ 2.5 V drop

# Background voltage THD (percent), see the module docstring; all (inferred).
THD_U_DAY = 2.4
THD_U_EVENING_RISE = 0.9  # at 20:30 local time, fading over ±3.5 h
THD_U_NIGHT_DROP = 0.4  # at 04:00 local time, fading over ±4 h
THD_U_PHASE_SPREAD = 0.1  # fixed per-phase offset, uniform within ±this
THD_U_SLOW = (6 * 3600, 0.25)  # network-wide value noise: knot spacing (s), amplitude (percentage points)
THD_U_FAST = (40 * 60, 0.15)  # per-phase value noise
_FAST_STREAMS = ("fast1", "fast2", "fast3")  # per phase
THD_U_MIN = THD_U_DAY - THD_U_NIGHT_DROP - THD_U_PHASE_SPREAD - THD_U_SLOW[1] - THD_U_FAST[1]  # 1.5
THD_U_MAX = THD_U_DAY + THD_U_EVENING_RISE + THD_U_PHASE_SPREAD + THD_U_SLOW[1] + THD_U_FAST[1]  # 3.8


class Grid:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed ^ 0x5EED)
        self.offset = [(self.rng.random() - 0.5) * 4.0 for _ in range(3)]
        self.u = [NOMINAL_V] * 3
        self.f = NOMINAL_HZ
        self.override: list[float | None] = [None, None, None]
        self._daily = 0.0
        self._noise = 0.0
        # THD: its own generators, so that the voltage/frequency stream above stays as it was.
        self._thd_seed = seed
        shape = random.Random(f"grid-thd-u:{seed}")
        self._thd_offset = [(shape.random() * 2.0 - 1.0) * THD_U_PHASE_SPREAD for _ in range(3)]
        self._knots: dict[str, tuple[int, float, float]] = {}  # stream → (index, value there, value at next)
        self.thd_u = [THD_U_DAY + off for off in self._thd_offset]

    def minute(self, local_hour: float, t: float | None = None) -> None:
        """Once a minute: the daily voltage profile and the voltage THD. `t` (UTC s) drives the THD's slow
        variation; without it the THD follows only the hour of the day."""
        # Feeder voltage is lowest in the evening peak and highest at night.
        evening = max(0.0, 1.0 - abs(local_hour - 19.0) / 3.0)
        night = max(0.0, 1.0 - abs(local_hour - 3.0) / 3.0)
        self._daily = -3.0 * evening + 2.0 * night
        self._update_thd(local_hour, t)

    def _update_thd(self, local_hour: float, t: float | None) -> None:
        base = (THD_U_DAY + THD_U_EVENING_RISE * _bump(local_hour, 20.5, 3.5)
                - THD_U_NIGHT_DROP * _bump(local_hour, 4.0, 4.0))
        if t is not None:
            base += self._value_noise("slow", t, *THD_U_SLOW)
        for i, stream in enumerate(_FAST_STREAMS):
            thd = base + self._thd_offset[i]
            if t is not None:
                thd += self._value_noise(stream, t, *THD_U_FAST)
            self.thd_u[i] = thd

    def _value_noise(self, stream: str, t: float, spacing: int, amplitude: float) -> float:
        """Smooth noise within ±amplitude: seeded random knots every `spacing` s, cosine-interpolated. A pure
        function of (seed, stream, t); the two knots in use are cached."""
        k = math.floor(t / spacing)
        cached = self._knots.get(stream)
        if cached is None or cached[0] != k:
            # Moving on to the next interval keeps its start knot (seeding a generator costs some µs).
            start = cached[2] if cached is not None and cached[0] == k - 1 else self._knot(stream, k)
            cached = (k, start, self._knot(stream, k + 1))
            self._knots[stream] = cached
        w = (1.0 - math.cos(math.pi * (t / spacing - k))) / 2.0
        return amplitude * (cached[1] + (cached[2] - cached[1]) * w)

    def _knot(self, stream: str, k: int) -> float:
        return random.Random(f"grid-thd-u:{self._thd_seed}:{stream}:{k}").random() * 2.0 - 1.0

    def step(self, p: Sequence[float]) -> None:
        """One second: draw the slow noise and the frequency walk, then compose the phase voltages."""
        rng = self.rng
        self._noise += (rng.random() - 0.5) * 0.4 - self._noise * 0.02
        self.f += (rng.random() - 0.5) * 0.004 - (self.f - NOMINAL_HZ) * 0.01
        self.compose(p)

    def compose(self, p: Sequence[float]) -> None:
        """Phase voltages from the present state and load (no random draws)."""
        # Written out per phase rather than looped: this runs every simulated second.
        base = NOMINAL_V + self._daily + self._noise
        u, off, ov = self.u, self.offset, self.override
        forced = ov[0]
        u[0] = forced if forced is not None else base + off[0] - GRID_OHMS * p[0] / NOMINAL_V
        forced = ov[1]
        u[1] = forced if forced is not None else base + off[1] - GRID_OHMS * p[1] / NOMINAL_V
        forced = ov[2]
        u[2] = forced if forced is not None else base + off[2] - GRID_OHMS * p[2] / NOMINAL_V

    def to_state(self) -> dict[str, Any]:
        return {"rng": rng_state_to_json(self.rng.getstate()), "f": self.f, "noise": self._noise,
                "override": self.override}

    def restore(self, state: dict[str, Any]) -> None:
        self.rng.setstate(rng_state_from_json(state["rng"]))
        self.f = float(state["f"])
        self._noise = float(state["noise"])
        self.override = [None if v is None else float(v) for v in state["override"]]


def _bump(hour: float, centre: float, half_width: float) -> float:
    """1 at `centre`, falling linearly to 0 at ±half_width hours, across midnight too."""
    d = abs(hour - centre) % 24.0
    return max(0.0, 1.0 - min(d, 24.0 - d) / half_width)
