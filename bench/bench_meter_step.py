"""Cost of one simulated second: µs per step of Meter.advance_to over one simulated day, against a baseline
measured in the same run (the same number of calls to a no-op method in a bare Python loop), so the ratio
says how many "empty calls" one meter step costs and stays comparable between machines and loads.
Also times the per-second steps of the physics and detector modules on their own (inputs recorded from
the meter's own day), to show where the time goes; each includes the bare loop over the samples, shown first.

Run: .venv/bin/python bench/bench_meter_step.py [days] [repeats]   (best of `repeats`, default 1 day × 3)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from meter_sim.alarms import AlarmEvent, Alarms
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.grid import Grid
from meter_sim.meter import Meter
from meter_sim.metrology import Metrology
from meter_sim.power_quality import PowerQuality

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
Sample = tuple[int, list[float], list[float], list[float], float, int, bool]


class _Noop:
    def step(self) -> None:
        pass


def best_of(repeats: int, run: Callable[[], None]) -> float:
    """Shortest wall time of `repeats` runs (s): the least disturbed by other processes."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def baseline(steps: int) -> None:
    step = _Noop().step
    for _ in range(steps):
        step()


def meter_day(steps: int) -> Callable[[], None]:
    def run() -> None:
        meter = Meter("bench", MeterSimSettings(start=datetime.fromtimestamp(START, UTC)), SteppedClock(START))
        meter.advance_to(START + steps)
    return run


def record(steps: int) -> list[Sample]:
    """The module inputs of every second of a meter run (voltages, P, Q, f, tariff, breaker)."""
    meter = Meter("bench", MeterSimSettings(start=datetime.fromtimestamp(START, UTC)), SteppedClock(START))
    out: list[Sample] = []
    for _ in range(steps):
        meter.step()
        hh = meter.household
        out.append((meter.t, list(meter.grid.u), list(hh.p), list(hh.q), meter.grid.f, meter.tariffs.active,
                    meter.breaker.closed))
    return out


def module_runs(samples: list[Sample]) -> dict[str, Callable[[], None]]:
    def loop() -> None:  # the loop and unpacking every module run below shares
        step = _Noop().step
        for _, _, _, _, _, _, _ in samples:
            step()

    def metrology() -> None:
        step = Metrology().step
        for _, u, p, q, f, tariff, closed in samples:
            step(1.0, u, p, q, closed, f, tariff)

    def power_quality() -> None:
        step = PowerQuality().step
        for t, u, _, _, f, _, _ in samples:
            step(t, u, f)

    def alarms() -> None:
        step, out = Alarms().check_voltages, list[AlarmEvent]()
        for t, u, _, _, _, _, _ in samples:
            step(t, u, out)

    def grid() -> None:
        step = Grid(1).step
        for _, _, p, _, _, _, _ in samples:
            step(p)

    return {"(loop over samples)": loop, "metrology": metrology, "power_quality": power_quality, "alarms": alarms,
            "grid": grid}


def main() -> None:
    days = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    steps = int(days * 86400)

    base = best_of(repeats, lambda: baseline(steps))
    model = best_of(repeats, meter_day(steps))
    print(f"simulated {days:g} days ({steps} steps), best of {repeats}")
    print(f"baseline (no-op call) : {base / steps * 1e9:7.0f} ns/step")
    print(f"Meter.advance_to      : {model / steps * 1e6:7.2f} µs/step  ({steps / model:,.0f} sim s per s)")
    print(f"ratio model/baseline  : {model / base:7.1f}x; one year would take {model / steps * 31_557_600:.0f} s")

    samples = record(min(steps, 86400))
    per_call = base / steps
    for name, run in module_runs(samples).items():
        spent = best_of(repeats, run) / len(samples)
        print(f"  {name:20s}: {spent * 1e9:7.0f} ns/step  ({spent / per_call:5.1f}x)")


if __name__ == "__main__":
    main()
