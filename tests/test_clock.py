"""The accelerated real-time clock of a served or in-process simulated meter (meter_sim/clock.py). Apart from
test_meter_model.py, whose tests never sleep: this clock reads the monotonic clock, and what is tested is a meter
that takes long to build."""

from __future__ import annotations

import time

from meter_sim.clock import ScaledClock, SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter


def test_a_meter_on_an_accelerated_clock_starts_at_its_start_however_long_it_was_in_the_making() -> None:
    """At 600× a 4 ms build is 2 simulated seconds: the meter's first second must still be its configured start,
    or its seconds are not those of the same meter elsewhere (a served meter and its twin in the HAN end-to-end
    test were 1 W apart, under load). The clock starts at its first reading: the meter's power-on."""
    start = 1_768_474_800  # 2026-01-15 11:00 UTC
    clock = ScaledClock(600, start)
    time.sleep(0.02)  # 12 simulated seconds before the meter reads its clock
    meter = Meter("slow", MeterSimSettings(seed=1), clock)
    assert meter.t == start
    twin = Meter("twin", MeterSimSettings(seed=1), SteppedClock(start))
    target = meter.t + 166
    meter.advance_to(target)
    twin.advance_to(target)
    assert meter.readings() == twin.readings()
