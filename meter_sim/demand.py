"""Demand (spec §2.5–2.7): mean powers over the integration period (Z4), peaks with their time
stamps (totals and per tariff), accumulated peaks, the power-threshold counter and the daily P+
maximum and minimum.

Means come from the energy registers: mean = Δ register over the period × 3600 / period, so a
period that saw a power cut or a restart averages exactly what was registered. A period's tariff
peak goes to the tariff active at the period's end (inferred; the spec does not say how a tariff
switch inside a period is split, and switch points fall on period boundaries in practice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omnipower.registers import MAX_TARIFF

# mean/peak quantity → the energy register it is derived from
ENERGY_OF: dict[str, str] = {
    "p_plus": "a_plus", "p_minus": "a_minus", "q_plus": "r_plus", "q_minus": "r_minus",
    "s_plus": "e_plus", "s_minus": "e_minus",
}  # fmt: skip
# Peaks kept per tariff (§2.6): P+max for every tariff (1.6.x), P−max and Q+max for T1/T2 as the spec lists.
TARIFF_PEAKS: dict[str, tuple[int, ...]] = {
    "p_plus": tuple(range(1, MAX_TARIFF + 1)), "p_minus": (1, 2), "q_plus": (1, 2),
}
ACCUMULATED: tuple[str, ...] = ("p_plus", "p_minus", "q_plus", "q_minus", "p_plus_t1", "p_plus_t2")


@dataclass(frozen=True, slots=True)
class Peak:
    value: float = 0.0  # W, var or VA
    time: int | None = None  # end of the period that set it (UTC s)


NO_PEAK = Peak()  # a register with no peak yet (frozen: one is enough; `peak` is read every second per meter)


class Demand:
    def __init__(self, period_s: int, pth_w: float = 0.0) -> None:
        if period_s not in (300, 900, 1800, 3600):
            raise ValueError(f"integration period must be 5, 15, 30 or 60 min, got {period_s} s")
        self.period_s = period_s
        self.pth_w = pth_w  # power threshold PTH (96.51.1); 0 = counter off
        self.means: dict[str, float] = dict.fromkeys(ENERGY_OF, 0.0)
        self.period_energy: dict[str, float] = dict.fromkeys(ENERGY_OF.values(), 0.0)  # Wh… of the last period
        self.peaks: dict[str, Peak] = {}
        self.accumulated: dict[str, float] = dict.fromkeys(ACCUMULATED, 0.0)
        self.pth_counter = 0
        self.daily_max = Peak()
        self.daily_min: Peak | None = None
        self._start: dict[str, float] | None = None  # energy registers at the start of the period
        self._day: int | None = None  # local day number of the daily max/min
        # Counts the changes to what is published (means, peaks, accumulated, counter, daily max/min): a fleet
        # reads these every second, and they change once a period (`Meter.base_vector` keeps them until this moves).
        self.revision = 0

    def start(self, energies: Mapping[str, float]) -> None:
        """Remember the registers at the start of the running period (on first power-up)."""
        if self._start is None:
            self.restart(energies)

    def restart(self, energies: Mapping[str, float]) -> None:
        """Start the running period afresh (after a power cut that spanned a period boundary)."""
        self._start = {q: float(energies[e]) for q, e in ENERGY_OF.items()}

    def end_of_period(self, t: int, energies: Mapping[str, float], tariff: int, local_day: int) -> None:
        """Close the period ending at t (energies in Wh/varh/VAh, the tariff active now, the local day
        number of the period's start for the daily max/min)."""
        self.revision += 1
        start = self._start if self._start is not None else {q: float(energies[e]) for q, e in ENERGY_OF.items()}
        for q, e in ENERGY_OF.items():
            registered = float(energies[e]) - start[q]
            self.period_energy[e] = registered
            mean = registered * 3600.0 / self.period_s
            self.means[q] = mean
            self._raise(q, mean, t)
            if tariff in TARIFF_PEAKS.get(q, ()):
                self._raise(f"{q}_t{tariff}", mean, t)
        self._start = {q: float(energies[e]) for q, e in ENERGY_OF.items()}
        p = self.means["p_plus"]
        if self.pth_w > 0 and p > self.pth_w:
            self.pth_counter += 1  # (inferred) one count per period whose P+ mean exceeds PTH
        if local_day != self._day:  # (inferred) the daily max/min restart at local midnight
            self._day, self.daily_max, self.daily_min = local_day, Peak(), None
        if p > self.daily_max.value or self.daily_max.time is None:
            self.daily_max = Peak(p, t)
        if self.daily_min is None or p < self.daily_min.value:
            self.daily_min = Peak(p, t)

    def _raise(self, key: str, value: float, t: int) -> None:
        if value > self.peaks.get(key, NO_PEAK).value:
            self.peaks[key] = Peak(value, t)

    def peak(self, key: str) -> Peak:
        return self.peaks.get(key, NO_PEAK)

    def debiting_stop(self) -> None:
        """At a debiting stop each peak is added to its accumulated register (the snapshot follows,
        then `reset_peaks`)."""
        self.revision += 1
        for key in ACCUMULATED:
            self.accumulated[key] += self.peak(key).value

    def reset_peaks(self) -> None:
        self.revision += 1
        self.peaks = {}

    # --- permanent memory -----------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "means": self.means,
            "peaks": {k: [p.value, p.time] for k, p in self.peaks.items()},
            "accumulated": self.accumulated,
            "pth_counter": self.pth_counter,
            "daily": [self._day, [self.daily_max.value, self.daily_max.time],
                      None if self.daily_min is None else [self.daily_min.value, self.daily_min.time]],
            "start": self._start,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.revision += 1
        self.means.update({k: float(v) for k, v in state["means"].items()})
        self.peaks = {k: Peak(float(v), None if t is None else int(t)) for k, (v, t) in state["peaks"].items()}
        self.accumulated.update({k: float(v) for k, v in state["accumulated"].items()})
        self.pth_counter = int(state["pth_counter"])
        day, dmax, dmin = state["daily"]
        self._day = day
        self.daily_max = Peak(float(dmax[0]), dmax[1])
        self.daily_min = None if dmin is None else Peak(float(dmin[0]), dmin[1])
        self._start = None if state["start"] is None else {k: float(v) for k, v in state["start"].items()}
