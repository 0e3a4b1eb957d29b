"""Single-value deviations (§7.4): 1-s values outside [U_low,sv, U_high,sv].

Start = first 1-s value outside, Peak = the most extreme (first one on a tie), Stop = the *last value still
outside*. The [TD] example fixes this rule: its Start 210 and Stop 208 (min) and Start 253 and Stop 252 (max) must
all be outside the limits, so the example's limits were U_low,sv > 210 V and U_high,sv < 252 V, and the Stop is the
last outside sample (14:32:20), not the first one back. All three entries are emitted when the excursion ends, and
only if it lasted less than the averaging window ("excursions of at least 1 s that are shorter than the averaging
window"); longer ones are left to the window mean. A phase out, a gap or a power-down ends an excursion at its last
sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meter_sim.power_quality.events import (
    SV_MAX_PEAK,
    SV_MAX_START,
    SV_MAX_STOP,
    SV_MIN_PEAK,
    SV_MIN_START,
    SV_MIN_STOP,
    VQ_CODE,
    PqEvent,
)
from meter_sim.power_quality.settings import PqSettings

Excursion = list[float]  # [start_t, start_u, peak_t, peak_u, last_t, last_u]


class SingleValueDeviations:
    __slots__ = ("events", "hi", "lo", "mn", "mx", "open", "window_s")

    def __init__(self, s: PqSettings, events: list[PqEvent]) -> None:
        self.lo, self.hi, self.window_s = s.u_low_sv, s.u_high_sv, s.window_s
        self.events = events
        self.reset()

    def reset(self) -> None:
        self.mn: list[Excursion | None] = [None, None, None]  # per phase
        self.mx: list[Excursion | None] = [None, None, None]
        self.open = 0  # excursions in progress

    def sample(self, t: int, u1: float, u2: float, u3: float, ok1: bool, ok2: bool, ok3: bool) -> None:
        lo, hi = self.lo, self.hi
        for i, ui, ok in ((0, u1, ok1), (1, u2, ok2), (2, u3, ok3)):
            ex = self.mn[i]
            if ok and ui < lo:
                if ex is None:
                    self.mn[i] = [t, ui, t, ui, t, ui]
                    self.open += 1
                else:
                    if ui < ex[3]:
                        ex[2], ex[3] = t, ui
                    ex[4], ex[5] = t, ui
            elif ex is not None:
                self._close(i, low=True)
            ex = self.mx[i]
            if ok and ui > hi:
                if ex is None:
                    self.mx[i] = [t, ui, t, ui, t, ui]
                    self.open += 1
                else:
                    if ui > ex[3]:
                        ex[2], ex[3] = t, ui
                    ex[4], ex[5] = t, ui
            elif ex is not None:
                self._close(i, low=False)

    def close_all(self) -> None:
        for i in (0, 1, 2):
            if self.mn[i] is not None:
                self._close(i, low=True)
            if self.mx[i] is not None:
                self._close(i, low=False)

    def _close(self, i: int, *, low: bool) -> None:
        ex = self.mn[i] if low else self.mx[i]
        assert ex is not None
        if low:
            self.mn[i] = None
        else:
            self.mx[i] = None
        self.open -= 1
        start_t, start_u, peak_t, peak_u, stop_t, stop_u = ex
        if stop_t - start_t + 1 >= self.window_s:
            return  # not shorter than the averaging window: left to the long-term check (§7.4)
        phase = i + 1
        if low:
            for kind, tt, uu in ((SV_MIN_START, start_t, start_u), (SV_MIN_PEAK, peak_t, peak_u),
                                 (SV_MIN_STOP, stop_t, stop_u)):
                self.events.append(PqEvent(int(tt), kind, phase,
                                           {"code": VQ_CODE[kind], "mean": 0.0, "max": 0.0, "min": uu}))
        else:
            for kind, tt, uu in ((SV_MAX_START, start_t, start_u), (SV_MAX_PEAK, peak_t, peak_u),
                                 (SV_MAX_STOP, stop_t, stop_u)):
                self.events.append(PqEvent(int(tt), kind, phase,
                                           {"code": VQ_CODE[kind], "mean": 0.0, "max": uu, "min": 0.0}))

    def to_state(self) -> dict[str, Any]:
        return {"mn": [None if e is None else list(e) for e in self.mn],
                "mx": [None if e is None else list(e) for e in self.mx]}

    def restore(self, mn: Sequence[Any], mx: Sequence[Any]) -> None:
        self.mn = [None if e is None else [float(x) for x in e] for e in mn]
        self.mx = [None if e is None else [float(x) for x in e] for e in mx]
        self.open = sum(e is not None for e in self.mn) + sum(e is not None for e in self.mx)
