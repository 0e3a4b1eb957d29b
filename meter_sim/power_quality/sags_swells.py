"""Sags and swells (§7.5): sub-second events the 1-s model cannot see, injected by the simulation; counted
(VQ_Counter_Sags / _Swells) when 100 ms–1 s long and beyond Un ∓ 20 %, at most one of each per second."""

from __future__ import annotations

from typing import Final

from meter_sim.power_quality.counters import SAGS, SWELLS
from meter_sim.power_quality.json_state import opt_int
from meter_sim.power_quality.settings import PqSettings

SAG_MIN_MS: Final = 100  # §7.5: only 100 ms–1 s events count
SAG_MAX_MS: Final = 1000


class SagsAndSwells:
    __slots__ = ("counters", "last_sag_t", "last_swell_t", "sag_v", "swell_v", "un")

    def __init__(self, s: PqSettings, counters: list[int]) -> None:
        self.un = float(s.un)
        self.sag_v, self.swell_v = self.un * 80 / 100, self.un * 120 / 100
        self.counters = counters
        self.last_sag_t: int | None = None  # the once-per-second guards
        self.last_swell_t: int | None = None

    def sag(self, t: int, phase: int, duration_ms: float, depth_v: float, *, down: bool) -> bool:
        """A dip of depth_v below Un in the second ending at t; True if counted. See PowerQuality.inject_sag."""
        check_injection(phase, duration_ms, depth_v)
        if (down or t == self.last_sag_t or not SAG_MIN_MS <= duration_ms <= SAG_MAX_MS
                or self.un - depth_v >= self.sag_v):
            return False
        self.last_sag_t = t
        self.counters[SAGS] += 1
        return True

    def swell(self, t: int, phase: int, duration_ms: float, depth_v: float, *, down: bool) -> bool:
        """A rise of depth_v above Un in the second ending at t; True if counted (> 276 V, as `sag`)."""
        check_injection(phase, duration_ms, depth_v)
        if (down or t == self.last_swell_t or not SAG_MIN_MS <= duration_ms <= SAG_MAX_MS
                or self.un + depth_v <= self.swell_v):
            return False
        self.last_swell_t = t
        self.counters[SWELLS] += 1
        return True

    def restore(self, last_sag_t: object, last_swell_t: object) -> None:
        self.last_sag_t, self.last_swell_t = opt_int(last_sag_t), opt_int(last_swell_t)


def check_injection(phase: int, duration_ms: float, depth_v: float) -> None:
    if phase not in (1, 2, 3):
        raise ValueError(f"phase must be 1, 2 or 3, got {phase!r}")
    if not duration_ms >= 0:
        raise ValueError(f"duration_ms must be ≥ 0, got {duration_ms!r}")
    if not depth_v >= 0:
        raise ValueError(f"depth_v must be ≥ 0 (the deviation from Un), got {depth_v!r}")
