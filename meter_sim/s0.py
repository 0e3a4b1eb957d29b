"""The S0 pulse output (DIN 43864, terminals 20/21) and the module pulse outputs.

Spec (facts digest §1, §9, Z8 in §11.2): S0 gives 1000 imp/kWh on direct meters and 5000 imp/kWh on CT meters,
pulse width 30 ms ±10 %, always active, synchronous with the LED, driven by A+. Module pulse outputs give
1–1000 imp/kWh with a 30 or 80 ms pulse (Z8: 1/2 = 30 ms, 3/4 = 80 ms).

Model (1-second steps, pure):
- Energy is kept exactly: each second's A+ energy (Wh, a float) is converted to pulses with rational arithmetic,
  so the fraction of a pulse left over is carried forward and nothing is lost or counted twice; over any run the
  pulses due are exactly floor(Σ Wh · imp_per_kwh / 1000).
- (inferred, §9) A pulse needs its width on and at least its width off, so the line carries at most
  f_max = 1 / (2 · width) pulses per second (16.67 Hz at 30 ms, 6.25 Hz at 80 ms). This matches the module table:
  at 1000 imp/kWh the output keeps up to 86 A (30 ms) and 32 A (80 ms) on 3 × 230 V. Pulses due faster queue and
  leave later, as early as the line allows (back to back from the start of the second); a queued pulse is never
  dropped. Only pulse counts per second are modelled, not where in the second a pulse falls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

__all__ = ["CT_IMP_PER_KWH", "DIRECT_IMP_PER_KWH", "PULSE_WIDTHS_MS", "S0Output", "z8_width_ms"]

DIRECT_IMP_PER_KWH = 1000  # §1 S0 output, direct meters
CT_IMP_PER_KWH = 5000  # §1 S0 output, CT meters
PULSE_WIDTHS_MS = (30, 80)  # Z8
MAX_IMP_PER_KWH = 10_000  # (inferred) accept up to the CT LED constant; module outputs are 1–1000, S0 1000/5000


def z8_width_ms(z8: int) -> int:
    """Z8 code → pulse width: 1/2 = 30 ms, 3/4 = 80 ms (the alarm-input half of the code is not ours)."""
    if z8 not in (1, 2, 3, 4):
        raise ValueError(f"z8 must be 1–4 (1/2 = 30 ms, 3/4 = 80 ms), got {z8!r}")
    return 30 if z8 in (1, 2) else 80


class S0Output:
    """Pulses for the A+ energy fed in once a second.

    `count` is the total of pulses emitted, `queued` the whole pulses due but not yet emitted (line too slow),
    `rate_hz` the pulses emitted by the last `feed` divided by the seconds it covered (1 s when fed every second;
    not smoothed).
    """

    def __init__(self, imp_per_kwh: int = DIRECT_IMP_PER_KWH, width_ms: int = 30) -> None:
        if isinstance(imp_per_kwh, bool) or not isinstance(imp_per_kwh, int) or not \
                1 <= imp_per_kwh <= MAX_IMP_PER_KWH:
            raise ValueError(f"imp_per_kwh must be an integer 1–{MAX_IMP_PER_KWH}, got {imp_per_kwh!r}")
        if width_ms not in PULSE_WIDTHS_MS:
            raise ValueError(f"width_ms must be 30 or 80 (Z8), got {width_ms!r}")
        self.imp_per_kwh = imp_per_kwh
        self.width_ms = width_ms
        self.count = 0
        self.queued = 0
        self.rate_hz = 0.0
        self._remainder = Fraction(0)  # fraction of the next pulse already registered, 0 ≤ r < 1
        self._busy_until_ms: int | None = None  # the line is free again at this millisecond
        self._last_t: int | None = None

    @classmethod
    def from_z8(cls, z8: int, *, ct_meter: bool = False) -> S0Output:
        """The meter's own S0 output: 1000 imp/kWh (CT 5000), width from Z8."""
        return cls(CT_IMP_PER_KWH if ct_meter else DIRECT_IMP_PER_KWH, z8_width_ms(z8))

    @property
    def f_max_hz(self) -> float:
        """Highest pulse rate the line carries: 1 / (2 · width)."""
        return 1000.0 / (2 * self.width_ms)

    @property
    def remainder(self) -> Fraction:
        """The part of a pulse registered but not yet due (exact)."""
        return self._remainder

    def _emit(self, start_ms: int, end_ms: int) -> int:
        """Emit queued pulses within [start_ms, end_ms), back to back, each taking 2 · width."""
        if self.queued == 0 or end_ms <= start_ms:
            return 0
        period = 2 * self.width_ms
        free = start_ms if self._busy_until_ms is None else max(start_ms, self._busy_until_ms)
        if free >= end_ms:
            return 0
        slots = (end_ms - free + period - 1) // period  # pulses that can start before end_ms
        n = min(self.queued, slots)
        self._busy_until_ms = free + n * period
        self.queued -= n
        self.count += n
        return n

    def feed(self, t: int, wh: float) -> int:
        """Register `wh` of A+ energy in second t; return the pulses emitted in that second.

        Seconds must increase. If seconds were skipped since the last call, the queue kept draining through
        them and those pulses are included in the return value (and `rate_hz` is averaged over the gap).
        """
        if isinstance(t, bool) or not isinstance(t, int):
            raise TypeError(f"S0 time must be int seconds, got {t!r}")
        if self._last_t is not None and t <= self._last_t:
            raise ValueError(f"S0 fed twice or backwards: second {t} after {self._last_t}")
        if isinstance(wh, bool) or not isinstance(wh, int | float) or not math.isfinite(wh) or wh < 0:
            raise ValueError(f"S0 energy must be a finite number of Wh ≥ 0, got {wh!r}")
        gap_start = t if self._last_t is None else self._last_t + 1
        emitted = self._emit(gap_start * 1000, t * 1000)  # queue draining through skipped seconds
        whole, self._remainder = add_pulses(self._remainder, wh, self.imp_per_kwh)
        self.queued += whole
        emitted += self._emit(t * 1000, (t + 1) * 1000)
        self.rate_hz = emitted / (t + 1 - gap_start)
        self._last_t = t
        return emitted

    def to_state(self) -> dict[str, Any]:
        return {
            "imp_per_kwh": self.imp_per_kwh,
            "width_ms": self.width_ms,
            "count": self.count,
            "queued": self.queued,
            "remainder": f"{self._remainder.numerator}/{self._remainder.denominator}",
            "busy_until_ms": self._busy_until_ms,
            "last_t": self._last_t,
            "rate_hz": self.rate_hz,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore `to_state()` output. If the pulse constant changed since, the pending energy (queue and
        remainder) is converted exactly to the new constant; the count is kept as it was."""
        old_imp = int(state["imp_per_kwh"])
        if not 1 <= old_imp <= MAX_IMP_PER_KWH:
            raise ValueError(f"stored imp_per_kwh must be 1–{MAX_IMP_PER_KWH}, got {old_imp}")
        remainder = Fraction(str(state["remainder"]))
        queued = int(state["queued"])
        count = int(state["count"])
        if not 0 <= remainder < 1 or queued < 0 or count < 0:
            raise ValueError("stored S0 state is inconsistent: need 0 ≤ remainder < 1, queued ≥ 0, count ≥ 0")
        pending = (queued + remainder) * self.imp_per_kwh / old_imp
        self.queued = math.floor(pending)
        self._remainder = pending - self.queued
        self.count = count
        busy = state["busy_until_ms"]
        self._busy_until_ms = None if busy is None else int(busy)
        self._last_t = None if state["last_t"] is None else int(state["last_t"])
        self.rate_hz = float(state.get("rate_hz", 0.0))


def add_pulses(remainder: Fraction, wh: float, imp_per_kwh: int) -> tuple[int, Fraction]:
    """The whole pulses and the new remainder after `wh` more, exactly: `add_pulses_reference` written out in
    integers, in a quarter of its time (every member of a fleet feeds every 10 s). Both reduce, so both give the
    same numbers (tests/test_display_s0.py holds them together)."""
    n, d = wh.as_integer_ratio()
    den = remainder.denominator * d * 1000
    num = remainder.numerator * d * 1000 + n * imp_per_kwh * remainder.denominator
    g = math.gcd(num, den)
    num //= g
    den //= g
    whole = num // den
    return whole, Fraction(num - whole * den, den)


def add_pulses_reference(remainder: Fraction, wh: float, imp_per_kwh: int) -> tuple[int, Fraction]:
    due = remainder + Fraction(wh) * imp_per_kwh / 1000
    whole = math.floor(due)
    return whole, due - whole
