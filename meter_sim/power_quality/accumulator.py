"""The one accumulation of a sample with every phase present: RVC and the three windows' sums, written out.

`PowerQuality.step()` runs it for the usual second (its fast path) and for every other second with no phase out
(its full step), so the two cannot drift apart. It runs 31.5 million times a simulated year, so it is written out
per phase and updates the detectors' fields in place: a quiet second of `step()` costs 1.3 µs this way, 3.6 µs
through the detectors' plain per-phase code (`PowerQuality.reference_step`). What it gives up is their
encapsulation: it writes
the running sums of RapidVoltageChanges, MeanWindow, CounterWindow and FrequencyWindow itself, by the same float
operations in the same order as their `add_plain` methods with every phase present, so a change to how one of them
accumulates must be made here too; tests/test_fast_paths_reference.py holds the two together bit for bit. Rolling
and closing the windows is the caller's: it never happens inside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from meter_sim.power_quality.rvc import RapidVoltageChanges
from meter_sim.power_quality.windows import CounterWindow, FrequencyWindow, MeanWindow

ZERO3: Final = (0.0, 0.0, 0.0)  # the default THD: recognised by identity, it adds nothing
_sqrt = math.sqrt


class Accumulator:
    __slots__ = ("counter", "freq", "mean", "rvc")

    def __init__(self, rvc: RapidVoltageChanges, mean: MeanWindow, counter: CounterWindow,
                 freq: FrequencyWindow) -> None:
        self.rvc, self.mean, self.counter, self.freq = rvc, mean, counter, freq

    def add(self, u1: float, u2: float, u3: float, f: float, thd_u: Sequence[float], thd_i: Sequence[float]) -> None:
        """Add one sample with every phase present to the RVC history and the windows' sums."""
        r = self.rvc
        th = r.threshold
        d1, d2, d3 = u1 - r.p1, u2 - r.p2, u3 - r.p3  # NaN history never matches
        if d1 >= th or d1 <= -th or d2 >= th or d2 <= -th or d3 >= th or d3 <= -th:
            r.count(u1, u2, u3)
        r.p1, r.p2, r.p3 = u1, u2, u3
        w = self.mean
        w.n += 1
        w.s1 += u1
        w.s2 += u2
        w.s3 += u3
        mx, mn = w.mx, w.mn
        if u1 > mx[0]:
            mx[0] = u1
        if u1 < mn[0]:
            mn[0] = u1
        if u2 > mx[1]:
            mx[1] = u2
        if u2 < mn[1]:
            mn[1] = u2
        if u3 > mx[2]:
            mx[2] = u3
        if u3 < mn[2]:
            mn[2] = u3
        c = self.counter
        c.n += 1
        c.s1 += u1
        c.s2 += u2
        c.s3 += u3
        neg = u1 * u1 + u2 * u2 + u3 * u3 - u1 * u2 - u2 * u3 - u3 * u1  # unbalance(), inlined
        if neg > 0.0:
            c.ub_sum += _sqrt(neg) / (u1 + u2 + u3)
        c.ub_n += 1
        if thd_u is not ZERO3 or thd_i is not ZERO3:
            a, b = c.thu, c.thi
            a[0] += thd_u[0]
            a[1] += thd_u[1]
            a[2] += thd_u[2]
            b[0] += thd_i[0]
            b[1] += thd_i[1]
            b[2] += thd_i[2]
        fw = self.freq
        fw.sum += f
        fw.n += 1
