"""Clocks that drive the meter model. The model never reads the system time itself."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (UTC) on the meter's time line."""
        ...


class SteppedClock:
    """A clock that only moves when told to: for tests and time-warp runs."""

    def __init__(self, start: float) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds} s)")
        self._t += seconds
        return self._t

    def set(self, t: float) -> None:
        if t < self._t:
            raise ValueError(f"a clock cannot go backwards ({t} < {self._t})")
        self._t = float(t)


class ScaledClock:
    """Real time, optionally accelerated: `speed` simulated seconds pass per real second.

    `start` is the simulated time at the first reading (default: now), which is the meter's power-on: a
    meter reads its clock when it is built. Not at the clock's creation: a meter that took 4 ms to build at
    600× would start 2 s late, and its seconds would not be those of the same meter built elsewhere (seen
    as a HAN push 1 W away from the meter it stands for, in a test run under load). Uses the monotonic
    clock, so a change of the system time does not make the meter jump.
    """

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self._start = time.time() if start is None else float(start)
        self._mono0: float | None = None

    def now(self) -> float:
        mono = time.monotonic()
        if self._mono0 is None:
            self._mono0 = mono
        return self._start + (mono - self._mono0) * self.speed
