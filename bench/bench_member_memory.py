"""A fleet member's memory as it ages: the Python heap of one simulated meter restored from its saved state at
ages of 0 … 365 days (time-warped there), against the same meter new (the baseline, measured in the same run),
and what 10,000 such members would hold. The loggers fill over the first months (the load profile holds 175
days at 15 minutes with 4 channels), so a fleet's memory grows with its age, not only with its size; the fleet
benchmark (bench_fleet.py) runs new meters.

Run: .venv/bin/python bench/bench_member_memory.py [days ...]   (default: 1 7 30 365)
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from typing import Any

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.warp import warp_to

T0 = 1_800_000_000  # 2027-01-15 UTC


def restored_bytes(days: float) -> tuple[int, dict[str, int]]:
    """The heap a meter of that age takes when built from its saved state (as a gateway builds its members), and
    its loggers' entry counts."""
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    warp_to(meter, T0 + round(days * 86_400) + 60)
    state, logs = meter.to_state(), meter.logs_state()
    counts = {name: len(part["log"]["entries"] if "log" in part else part.get("entries", ())) for name, part in
              logs.items() if isinstance(part, dict) and name != "events"}
    counts["events"] = sum(len(ring["entries"]) for ring in logs["events"].values())
    gc.collect()
    tracemalloc.start()
    kept: Any = Meter("m", MeterSimSettings(), SteppedClock(meter.t), state, logs=logs)
    gc.collect()  # what restoring left in reference cycles (the gateway collects before it freezes the heap)
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return size, counts


def main() -> None:
    ages = [float(a) for a in sys.argv[1:]] or [1.0, 7.0, 30.0, 365.0]
    base, _ = restored_bytes(0)
    print(f"a new member: {base / 1e3:,.0f} kB (10,000: {base * 10_000 / 1e9:.2f} GB)")
    for days in ages:
        size, counts = restored_bytes(days)
        entries = ", ".join(f"{k} {v:,}" for k, v in counts.items())
        print(f"{days:g} days old: {size / 1e3:,.0f} kB, {size / base:.1f}x a new one "
              f"(10,000: {size * 10_000 / 1e9:.2f} GB); entries: {entries}")


if __name__ == "__main__":
    main()
