"""The tumbling windows on the grid of local standard time (t + standard_offset), e.g. 10-min windows end at :00,
:10, …; a window left by a gap or a power-down is evaluated over the samples it has.

- `MeanWindow` (§7.2, §7.4): the configurable U_time-period,mean; a window whose mean per phase is above
  U_high,mean or below U_low,mean is logged (`mean_over` / `mean_under`, time stamp = window start).
- `CounterWindow` (§7.3, §7.7): 10-min means for the occurrence counters. VoltageVariation and unbalance: one count
  per window in which *any* phase meets the condition; THD: per phase (inputs in percent, > 8 %). Unbalance u2 =
  |U_neg|/|U_pos| from magnitudes only, assuming 120° displacement (see `unbalance`); its 10-min mean of the
  per-second values is compared with 2 %; a second with a phase out is skipped.
- `FrequencyWindow` (§7.1): 10-s means, F1/F2 (fn ∓ 2 %) and the [EM] frequency bands.

Samples with a phase out are left out of that phase's means (IEC 61000-4-30 flags such intervals): `add_plain`
takes the per-phase `ok` flags. The every-phase-present sample is added by the fast accumulator
(meter_sim/power_quality/accumulator.py), which writes these windows' sums directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from meter_sim.power_quality.counters import F1, F2, HIGH, LOW1, LOW2, THD_I, THD_U, UNBALANCE
from meter_sim.power_quality.events import MEAN_OVER, MEAN_UNDER, VQ_CODE, PqEvent
from meter_sim.power_quality.json_state import flt, num
from meter_sim.power_quality.settings import PqSettings

FREQ_WINDOW_S: Final = 10  # §7.1
COUNTER_WINDOW_S: Final = 600  # §7.3/§7.7: 10-min means for the counters
UNBALANCE_LIMIT: Final = 0.02  # §7.7: > 2 %
THD_LIMIT_PCT: Final = 8.0  # §7.7: > 8 %
_ZERO3: Final = (0.0, 0.0, 0.0)


def grid_window(t: int, width: int, offset: int) -> tuple[int, int]:
    """(start, end) of the window of length `width` holding the sample that ends at t, aligned on t + offset."""
    start = (t - 1 + offset) // width * width - offset
    return start, start + width


def unbalance(u1: float, u2: float, u3: float) -> float:
    """u2 = |U_neg|/|U_pos| (fraction) from RMS magnitudes, assuming the phases are 120° apart (inferred)."""
    total = u1 + u2 + u3
    if total <= 0.0:
        return 0.0
    s = u1 * u1 + u2 * u2 + u3 * u3 - u1 * u2 - u2 * u3 - u3 * u1
    return math.sqrt(s) / total if s > 0.0 else 0.0


class _VoltageWindow:
    """What the mean and counter windows share: the window on the time grid, the shared sample count n, per-phase
    missing counts and voltage sums."""

    __slots__ = ("end", "miss", "n", "offset", "s1", "s2", "s3", "start", "width")
    start: int
    end: int
    n: int
    miss: list[int]
    s1: float
    s2: float
    s3: float
    offset: int
    width: int

    def reset(self) -> None:
        self.start = self.end = 0
        self.n = 0
        self.miss = [0, 0, 0]
        self.s1 = self.s2 = self.s3 = 0.0

    def roll(self, t: int) -> None:
        """The sample ending at t lies outside the window: close the window (if it has samples), move to t's."""
        if self.n:
            self.finish()
        self.start, self.end = grid_window(t, self.width, self.offset)

    def finish(self) -> None:
        raise NotImplementedError


class MeanWindow(_VoltageWindow):
    """Long-term (U_time-period,mean) voltage means per phase, with the window's max and min."""

    __slots__ = ("events", "hi", "lo", "mn", "mx")

    def __init__(self, s: PqSettings, offset: int, events: list[PqEvent]) -> None:
        self.width, self.offset, self.events = s.window_s, offset, events
        self.hi, self.lo = s.u_high_mean, s.u_low_mean
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.mx = [-math.inf, -math.inf, -math.inf]
        self.mn = [math.inf, math.inf, math.inf]

    def add_plain(self, us: Sequence[float], ok: Sequence[bool]) -> None:
        self.n += 1
        mx, mn = self.mx, self.mn
        for i in (0, 1, 2):
            ui = us[i]
            if not ok[i]:
                self.miss[i] += 1
                continue
            if ui > mx[i]:
                mx[i] = ui
            if ui < mn[i]:
                mn[i] = ui
        if ok[0]:
            self.s1 += us[0]
        if ok[1]:
            self.s2 += us[1]
        if ok[2]:
            self.s3 += us[2]

    def finish(self) -> None:
        n, start, w = self.n, self.start, self.width
        for i, s in enumerate((self.s1, self.s2, self.s3)):
            k = n - self.miss[i]
            if k <= 0:
                continue
            mean = s / k
            if mean > self.hi:
                kind = MEAN_OVER
            elif mean < self.lo:
                kind = MEAN_UNDER
            else:
                continue
            self.events.append(PqEvent(start, kind, i + 1, {"code": VQ_CODE[kind], "mean": mean, "max": self.mx[i],
                                                            "min": self.mn[i], "window_s": w}))
        self.n = 0
        self.miss[:] = (0, 0, 0)
        self.s1 = self.s2 = self.s3 = 0.0
        self.mx[:] = (-math.inf, -math.inf, -math.inf)
        self.mn[:] = (math.inf, math.inf, math.inf)
        self.start, self.end = self.end, self.end + w

    def to_state(self) -> list[Any]:
        return [self.start, self.end, self.n, list(self.miss), [self.s1, self.s2, self.s3],
                [num(x) for x in self.mx], [num(x) for x in self.mn]]

    def restore(self, state: Sequence[Any]) -> None:
        start, end, n, miss, sums, mx, mn = state
        self.start, self.end, self.n = int(start), int(end), int(n)
        self.miss = [int(x) for x in miss]
        self.s1, self.s2, self.s3 = (float(x) for x in sums)
        self.mx = [flt(x, -math.inf) for x in mx]
        self.mn = [flt(x, math.inf) for x in mn]


class CounterWindow(_VoltageWindow):
    """10-min means of the voltages, the unbalance and the THD, for the occurrence counters."""

    __slots__ = ("counters", "high_v", "low1_v", "low2_v", "thi", "thu", "ub_n", "ub_sum")

    def __init__(self, s: PqSettings, offset: int, counters: list[int]) -> None:
        un = float(s.un)
        # Thresholds computed with integer percentages so that 230 V ± 10 % is exactly 207/253 V.
        self.low1_v, self.low2_v, self.high_v = un * 90 / 100, un * 85 / 100, un * 110 / 100
        self.width, self.offset, self.counters = COUNTER_WINDOW_S, offset, counters
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.ub_sum = 0.0
        self.ub_n = 0
        self.thu = [0.0, 0.0, 0.0]
        self.thi = [0.0, 0.0, 0.0]

    def add_plain(self, us: Sequence[float], ok: Sequence[bool], thd_u: Sequence[float],
                  thd_i: Sequence[float]) -> None:
        self.n += 1
        for i in (0, 1, 2):
            if not ok[i]:
                self.miss[i] += 1
                continue
            self.thu[i] += thd_u[i]
            self.thi[i] += thd_i[i]
        if ok[0]:
            self.s1 += us[0]
        if ok[1]:
            self.s2 += us[1]
        if ok[2]:
            self.s3 += us[2]
        if ok[0] and ok[1] and ok[2]:  # unbalance is undefined with a phase missing: such a second is skipped
            u1, u2, u3 = us[0], us[1], us[2]
            neg = u1 * u1 + u2 * u2 + u3 * u3 - u1 * u2 - u2 * u3 - u3 * u1  # as unbalance(), summed in its order
            if neg > 0.0:
                self.ub_sum += math.sqrt(neg) / (u1 + u2 + u3)
            self.ub_n += 1

    def finish(self) -> None:
        n, c = self.n, self.counters
        low1 = low2 = high = False
        for i, s in enumerate((self.s1, self.s2, self.s3)):
            k = n - self.miss[i]
            if k <= 0:
                continue
            mean = s / k
            low1 = low1 or mean < self.low1_v
            low2 = low2 or mean < self.low2_v
            high = high or mean > self.high_v
            if self.thu[i] / k > THD_LIMIT_PCT:
                c[THD_U + i] += 1
            if self.thi[i] / k > THD_LIMIT_PCT:
                c[THD_I + i] += 1
        c[LOW1] += low1
        c[LOW2] += low2
        c[HIGH] += high
        if self.ub_n and self.ub_sum / self.ub_n > UNBALANCE_LIMIT:
            c[UNBALANCE] += 1
        self.n = 0
        self.miss[:] = (0, 0, 0)
        self.s1 = self.s2 = self.s3 = 0.0
        self.ub_sum = 0.0
        self.ub_n = 0
        self.thu[:] = _ZERO3
        self.thi[:] = _ZERO3
        self.start, self.end = self.end, self.end + COUNTER_WINDOW_S

    def to_state(self) -> list[Any]:
        return [self.start, self.end, self.n, list(self.miss), [self.s1, self.s2, self.s3], self.ub_sum, self.ub_n,
                list(self.thu), list(self.thi)]

    def restore(self, state: Sequence[Any]) -> None:
        start, end, n, miss, sums, ub_sum, ub_n, thu, thi = state
        self.start, self.end, self.n = int(start), int(end), int(n)
        self.miss = [int(x) for x in miss]
        self.s1, self.s2, self.s3 = (float(x) for x in sums)
        self.ub_sum, self.ub_n = float(ub_sum), int(ub_n)
        self.thu = [float(x) for x in thu]
        self.thi = [float(x) for x in thi]


class FrequencyWindow:
    """10-s frequency means: the F1/F2 counters and the [EM] frequency band counters."""

    __slots__ = ("bands", "counters", "edges", "end", "f1", "f2", "n", "offset", "start", "sum")

    def __init__(self, s: PqSettings, offset: int, counters: list[int]) -> None:
        fn = float(s.fn)
        self.f1, self.f2 = fn * 98 / 100, fn * 102 / 100
        # [EM] band edges (§ Appendix A), fn ± 1/2/4/6/15 %.
        self.edges = tuple(fn * p / 100 for p in (85, 94, 98, 99, 101, 102, 104, 115))
        self.offset, self.counters = offset, counters
        self.bands = [0] * 8
        self.reset()

    def reset(self) -> None:
        """Clear the running window (the band counters are running totals, kept)."""
        self.start = self.end = 0
        self.sum = 0.0
        self.n = 0

    def roll(self, t: int) -> None:
        if self.n:
            self.finish()
        self.start, self.end = grid_window(t, FREQ_WINDOW_S, self.offset)

    def add(self, t: int, f: float) -> None:
        """One sample, with its window's bookkeeping (the plain path)."""
        if not self.start < t <= self.end:
            self.roll(t)
        self.sum += f
        self.n += 1
        if t == self.end:
            self.finish()

    def finish(self) -> None:
        mean = self.sum / self.n
        if mean < self.f1:
            self.counters[F1] += 1
        elif mean > self.f2:
            self.counters[F2] += 1
        e85, e94, e98, e99, e101, e102, e104, e115 = self.edges
        band = -1
        if mean < e99:
            if mean < e85:
                band = 6
            elif mean < e94:
                band = 2
            elif mean < e98:
                band = 4
            else:
                band = 0
        elif mean > e101:
            if mean > e115:
                band = 7
            elif mean > e104:
                band = 3
            elif mean > e102:
                band = 5
            else:
                band = 1
        if band >= 0:
            self.bands[band] += 1
        self.sum = 0.0
        self.n = 0
        self.start, self.end = self.end, self.end + FREQ_WINDOW_S

    def to_state(self) -> list[Any]:
        return [self.start, self.end, self.sum, self.n]

    def restore(self, state: Sequence[Any]) -> None:
        start, end, fsum, n = state
        self.start, self.end, self.sum, self.n = int(start), int(end), float(fsum), int(n)
