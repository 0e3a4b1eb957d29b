"""Rapid voltage changes (§7.7): |ΔU| ≥ 5 % of Un (11.5 V) between consecutive samples of a phase, both within
[U_low,sv, U_high,sv]; at most one count per second (a polyphase event). A phase out, a gap or a power-down breaks
the history (NaN: no previous sample, which never matches)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from meter_sim.power_quality.counters import RVC
from meter_sim.power_quality.json_state import flt, num
from meter_sim.power_quality.settings import PqSettings

_NAN: Final = math.nan


class RapidVoltageChanges:
    __slots__ = ("counters", "hi", "lo", "p1", "p2", "p3", "threshold")

    def __init__(self, s: PqSettings, counters: list[int]) -> None:
        self.threshold = float(s.un) * 5 / 100
        self.lo, self.hi = s.u_low_sv, s.u_high_sv
        self.counters = counters
        self.p1 = self.p2 = self.p3 = _NAN  # the previous valid sample per phase

    def forget(self) -> None:
        """The samples are no longer consecutive."""
        self.p1 = self.p2 = self.p3 = _NAN

    def count(self, u1: float, u2: float, u3: float) -> None:
        """Count the second if a phase changed by the threshold within the limits (the caller has seen a change of
        at least the threshold; the history is the caller's to update)."""
        th, lo, hi = self.threshold, self.lo, self.hi
        for ui, pi in ((u1, self.p1), (u2, self.p2), (u3, self.p3)):
            d = ui - pi
            if (d >= th or d <= -th) and lo <= ui <= hi and lo <= pi <= hi:
                self.counters[RVC] += 1  # one polyphase event per second
                return

    def add_plain(self, us: Sequence[float], ok: Sequence[bool]) -> None:
        """One sample; a phase out (not ok) breaks its history."""
        th, lo, hi = self.threshold, self.lo, self.hi
        prev = [self.p1, self.p2, self.p3]
        hit = False
        for i in (0, 1, 2):
            if ok[i]:
                d = us[i] - prev[i]
                if (d >= th or d <= -th) and lo <= us[i] <= hi and lo <= prev[i] <= hi:
                    hit = True
                prev[i] = us[i]
            else:
                prev[i] = _NAN
        if hit:
            self.counters[RVC] += 1
        self.p1, self.p2, self.p3 = prev

    def to_state(self) -> list[Any]:
        return [num(self.p1), num(self.p2), num(self.p3)]

    def restore(self, state: Sequence[Any]) -> None:
        self.p1, self.p2, self.p3 = (flt(x, _NAN) for x in state)
