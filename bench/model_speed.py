"""How fast the simulated meter runs: simulated seconds per wall-clock second for one meter, with a
baseline measured in the same run (a bare Python loop of the same length doing one float add), so
the ratio says how much work one simulated second costs relative to the interpreter's floor.

Run: .venv/bin/python bench/model_speed.py [days]
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from meter_sim.clock import SteppedClock
from meter_sim.config import HouseholdSettings, MeterSimSettings
from meter_sim.meter import Meter


def main() -> None:
    days = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    steps = int(days * 86400)
    start = datetime(2026, 6, 1, tzinfo=UTC).timestamp()

    began = time.perf_counter()
    acc = 0.0
    for _ in range(steps):
        acc += 1.0
    baseline = time.perf_counter() - began

    meter = Meter("bench", MeterSimSettings(household=HouseholdSettings(pv_kwp=6, ev_charger_kw=11)),
                  SteppedClock(start))
    began = time.perf_counter()
    meter.advance_to(start + steps)
    model = time.perf_counter() - began

    print(f"simulated {days:g} days ({steps} steps)")
    print(f"baseline loop : {baseline:8.3f} s  ({baseline / steps * 1e9:6.0f} ns/step)")
    print(f"meter model   : {model:8.3f} s  ({model / steps * 1e6:6.2f} µs/step, {steps / model:,.0f} sim s per s)")
    print(f"ratio model/baseline: {model / baseline:.0f}x; one year would take {model / steps * 31_557_600:.0f} s")


if __name__ == "__main__":
    main()
