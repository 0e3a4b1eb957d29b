"""Alarms the meter raises, and the set of those active now.

Voltage alarms follow the meter's configured power-quality single-value limits (§7.2), so that the alarm and the
voltage-quality log agree: undervoltage below U_low,sv, overvoltage above U_high,sv, and a missing phase below
U_outage,level (the phase is then not reported as under-voltage as well). By default 207 V, 253 V and 50 V.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from meter_sim.power_quality import PqSettings
from omnipower.alarms import OVERVOLTAGE, UNDERVOLTAGE, VOLTAGE_MISSING

VOLTAGE_ALARM_TYPES = (VOLTAGE_MISSING.type, UNDERVOLTAGE.type, OVERVOLTAGE.type)


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    time: float
    type: str
    active: bool
    phase: int | None = None  # 1–3
    detail: dict[str, Any] = field(default_factory=dict)


class Alarms:
    def __init__(self, limits: PqSettings | None = None) -> None:
        self.active: dict[tuple[str, int | None], float] = {}  # (type, phase) → since
        self._phase_condition: list[str | None] = [None, None, None]
        self._voltage_alarm = False  # any phase has a voltage condition (see check_voltages)
        self.configure(limits if limits is not None else PqSettings())

    def configure(self, limits: PqSettings) -> None:
        """Supervise with these limits from the next check on (a phase outside them alarms there)."""
        self.limits = limits
        self._missing_v, self._low_v, self._high_v = limits.outage_level, limits.u_low_sv, limits.u_high_sv

    def voltage_condition(self, u: float) -> str | None:
        if u < self._missing_v:
            return VOLTAGE_MISSING.type
        if u < self._low_v:
            return UNDERVOLTAGE.type
        if u > self._high_v:
            return OVERVOLTAGE.type
        return None

    def check_voltages(self, t: float, u: Sequence[float], out: list[AlarmEvent]) -> None:
        # Runs every simulated second: when no phase had a condition and every phase is within the limits (the
        # usual second) nothing can change, and one chained comparison per phase settles it (NaN takes the
        # long way round, where it is no condition either).
        lo, hi = self._low_v, self._high_v
        if not self._voltage_alarm and lo <= u[0] <= hi and lo <= u[1] <= hi and lo <= u[2] <= hi:
            return
        for i in (0, 1, 2):
            cond = self.voltage_condition(u[i])
            old = self._phase_condition[i]
            if cond == old:
                continue
            self._phase_condition[i] = cond
            if old is not None:
                self.active.pop((old, i + 1), None)
                out.append(AlarmEvent(t, old, False, i + 1, {"voltage": round(u[i], 1)}))
            if cond is not None:
                self.active[(cond, i + 1)] = t
                out.append(AlarmEvent(t, cond, True, i + 1, {"voltage": round(u[i], 1)}))
        self._voltage_alarm = self._phase_condition != [None, None, None]

    def to_state(self) -> list[list[Any]]:
        return [[kind, phase, since] for (kind, phase), since in self.active.items()]

    def restore(self, items: list[list[Any]]) -> None:
        for kind, phase, since in items:
            self.active[(str(kind), phase)] = float(since)
            if phase is not None and kind in VOLTAGE_ALARM_TYPES:
                self._phase_condition[int(phase) - 1] = str(kind)
                self._voltage_alarm = True
