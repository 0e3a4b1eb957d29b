"""The supply side: phase voltages around 230 V and frequency around 50 Hz.

Voltage = nominal + a fixed per-phase offset + a daily sag at peak hours + a drop with the phase's
own load and a rise with its export + slow noise. Any phase can be overridden (a simulation input,
e.g. to test under/overvoltage or a missing phase).
"""

from __future__ import annotations

import random
from typing import Any

from meter_sim.persistence import rng_state_from_json, rng_state_to_json

NOMINAL_V = 230.0
NOMINAL_HZ = 50.0
GRID_OHMS = 0.25  # source impedance seen by the house: 10 A load ≈ 2.5 V drop


class Grid:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed ^ 0x5EED)
        self.offset = [(self.rng.random() - 0.5) * 4.0 for _ in range(3)]
        self.u = [NOMINAL_V] * 3
        self.f = NOMINAL_HZ
        self.override: list[float | None] = [None, None, None]
        self._daily = 0.0
        self._noise = 0.0

    def minute(self, local_hour: float) -> None:
        # Feeder voltage is lowest in the evening peak and highest at night.
        evening = max(0.0, 1.0 - abs(local_hour - 19.0) / 3.0)
        night = max(0.0, 1.0 - abs(local_hour - 3.0) / 3.0)
        self._daily = -3.0 * evening + 2.0 * night

    def step(self, p: list[float]) -> None:
        rng = self.rng
        self._noise += (rng.random() - 0.5) * 0.4 - self._noise * 0.02
        self.f += (rng.random() - 0.5) * 0.004 - (self.f - NOMINAL_HZ) * 0.01
        self.compose(p)

    def compose(self, p: list[float]) -> None:
        """Phase voltages from the present state and load (no random draws)."""
        base = NOMINAL_V + self._daily + self._noise
        u, off, ov = self.u, self.offset, self.override
        for i in (0, 1, 2):
            forced = ov[i]
            u[i] = forced if forced is not None else base + off[i] - GRID_OHMS * p[i] / NOMINAL_V

    def to_state(self) -> dict[str, Any]:
        return {"rng": rng_state_to_json(self.rng.getstate()), "f": self.f, "noise": self._noise,
                "override": self.override}

    def restore(self, state: dict[str, Any]) -> None:
        self.rng.setstate(rng_state_from_json(state["rng"]))
        self.f = float(state["f"])
        self._noise = float(state["noise"])
        self.override = [None if v is None else float(v) for v in state["override"]]
