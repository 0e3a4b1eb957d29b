"""Alarms the meter raises, and the set of those active now.

Voltage alarms use the single-value limits of the data sheet's power-quality defaults:
undervoltage below U_low,sv = 207 V, overvoltage above U_high,sv = 253 V, and a missing phase
below U_outage,level = 50 V (the phase is then not reported as under-voltage as well).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

U_LOW_SV = 207.0
U_HIGH_SV = 253.0
U_OUTAGE_LEVEL = 50.0


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    time: float
    type: str
    active: bool
    phase: int | None = None  # 1–3
    detail: dict[str, Any] = field(default_factory=dict)


def voltage_condition(u: float) -> str | None:
    if u < U_OUTAGE_LEVEL:
        return "voltage_missing"
    if u < U_LOW_SV:
        return "undervoltage"
    if u > U_HIGH_SV:
        return "overvoltage"
    return None


class Alarms:
    def __init__(self) -> None:
        self.active: dict[tuple[str, int | None], float] = {}  # (type, phase) → since
        self._phase_condition: list[str | None] = [None, None, None]
        self._voltage_alarm = False  # any phase has a voltage condition (see check_voltages)

    def check_voltages(self, t: float, u: Sequence[float], out: list[AlarmEvent]) -> None:
        # Runs every simulated second: when no phase had a condition and every phase is within the limits (the
        # usual second) nothing can change, and one chained comparison per phase settles it (NaN takes the
        # long way round, where it is no condition either).
        if not self._voltage_alarm and (U_LOW_SV <= u[0] <= U_HIGH_SV and U_LOW_SV <= u[1] <= U_HIGH_SV
                                        and U_LOW_SV <= u[2] <= U_HIGH_SV):
            return
        for i in (0, 1, 2):
            cond = voltage_condition(u[i])
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
            if phase is not None and kind in ("voltage_missing", "undervoltage", "overvoltage"):
                self._phase_condition[int(phase) - 1] = str(kind)
                self._voltage_alarm = True
