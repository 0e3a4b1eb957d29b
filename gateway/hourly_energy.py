"""Energy per clock hour, from the meter's A+ and A− totals: the ledger that energy periods and capacity tariffs
read. Sans-IO: readings (instant, totals) in, hourly energies out; no clock.

Each reading is the totals at one instant. The energy between two readings is what the totals rose by, and it is
attributed to the time between them, `(t0, t1]`, spread in proportion to time over the clock hours that interval
covers:

* readings a few seconds apart (the simulated meter, M-Bus, Modbus, DLMS) put nearly all of it in one hour, and a
  boundary between two readings is split by time;
* HAN list 2's hourly totals stand for the hour boundary they were captured at (the source gives that instant,
  `Source.totals_time`), so each push's energy goes wholly to the hour that ended, though it arrives seconds later;
* a meter (or gateway) offline for days: the gap's energy is spread evenly over the gap's hours. Its total is
  exact and no hour, day or month gets a spike or a negative value; the shape inside the gap is a flat estimate
  (docs/capacity-tariffs.md).

A total that went backwards (a replaced meter, a reset) counts nothing: the ledger starts again from the new value.
A reading older than the last one (a clock set back) re-anchors the ledger there and counts what the totals rose
by in the hour it is first seen. Hours are indexed from the epoch (UTC): every zone a meter has (Z11) is a whole
number of hours from UTC, so a UTC hour is a clock hour of the meter's local time, in summer time too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class Anchor:
    """The last reading counted: its instant (UTC epoch seconds) and totals (kWh)."""

    t: float
    a_plus: float
    a_minus: float | None


def hour_of(t: float) -> int:
    """The index of the clock hour `[start, end)` holding instant t."""
    return math.floor(t / HOUR_S)


def hour_ending_at_or_after(t: float) -> int:
    """The index of the hour `(start, end]` holding t: an instant on a boundary belongs to the hour it ends."""
    return math.ceil(t / HOUR_S) - 1


class HourLedger:
    """Import and export (kWh) per clock hour, for the hours from `keep_from` on."""

    def __init__(self) -> None:
        self.anchor: Anchor | None = None
        self.hours: dict[int, list[float]] = {}  # hour index -> [import kWh, export kWh]
        self.keep_from = -(2**62)  # hours before this one are not kept (see prune)

    def observe(self, t: float, a_plus: float, a_minus: float | None) -> bool:
        """Count one reading (instant t, totals in kWh). Whether it moved the ledger on."""
        if not (math.isfinite(t) and math.isfinite(a_plus)) or (a_minus is not None and not math.isfinite(a_minus)):
            return False
        last = self.anchor
        if last is None:
            self.anchor = Anchor(t, a_plus, a_minus)
            return True
        if t == last.t:
            return False
        imported = max(0.0, a_plus - last.a_plus)
        exported = max(0.0, a_minus - last.a_minus) if a_minus is not None and last.a_minus is not None else 0.0
        if t < last.t:  # the clock was set back: what was seen goes to the hour it is seen in
            self._add(hour_ending_at_or_after(t), imported, exported)
        else:
            self._spread(last.t, t, imported, exported)
        self.anchor = Anchor(t, a_plus, a_minus)
        return True

    def _spread(self, t0: float, t1: float, imported: float, exported: float) -> None:
        if imported == 0.0 and exported == 0.0:
            return
        span = t1 - t0
        start = max(t0, self.keep_from * HOUR_S)  # what falls before the kept hours is not stored
        hour = hour_of(start)
        while start < t1:
            end = min((hour + 1) * HOUR_S, t1)
            share = (end - start) / span
            self._add(hour, imported * share, exported * share)
            start, hour = end, hour + 1

    def _add(self, hour: int, imported: float, exported: float) -> None:
        if hour < self.keep_from:
            return
        bucket = self.hours.setdefault(hour, [0.0, 0.0])
        bucket[0] += imported
        bucket[1] += exported

    def energy(self, hour: int) -> tuple[float, float]:
        """(import, export) of one hour, kWh; (0, 0) for an hour nothing was attributed to."""
        bucket = self.hours.get(hour)
        return (bucket[0], bucket[1]) if bucket else (0.0, 0.0)

    def prune(self, keep_from: int) -> None:
        """Forget the hours before `keep_from` (the periods still published start there)."""
        self.keep_from = keep_from
        for hour in [h for h in self.hours if h < keep_from]:
            del self.hours[hour]

    # --- persistence: a plain dict, JSON-ready -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        a = self.anchor
        return {
            "anchor": None if a is None else {"t": a.t, "a_plus": a.a_plus, "a_minus": a.a_minus},
            "keep_from": self.keep_from,
            "hours": {str(h): [round(i, 9), round(e, 9)] for h, (i, e) in sorted(self.hours.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HourLedger:
        """The ledger `to_dict` saved; raises ValueError (or KeyError, TypeError) on anything else."""
        ledger = cls()
        anchor = data.get("anchor")
        if anchor is not None:
            a_minus = anchor["a_minus"]
            ledger.anchor = Anchor(float(anchor["t"]), float(anchor["a_plus"]),
                                   None if a_minus is None else float(a_minus))
        ledger.keep_from = int(data["keep_from"])
        for hour, (imported, exported) in data["hours"].items():
            if float(imported) < 0 or float(exported) < 0:
                raise ValueError(f"hour {hour}: a negative energy")
            ledger.hours[int(hour)] = [float(imported), float(exported)]
        return ledger
