"""The accelerated real-time clock of a served or in-process simulated meter (meter_sim/clock.py). Apart from
test_meter_model.py, whose tests never sleep: this clock reads the monotonic clock, and what is tested is a meter
that takes long to build."""

from __future__ import annotations

import calendar
import time

from meter_sim.clock import ScaledClock, SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from omnipower.rtc import Rtc


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


def test_a_wall_clock_reading_names_its_instant() -> None:
    """`Rtc.from_wall`, which the DLMS clock set and the gateway's local days both use: CET (Z11 = 1) with EU
    summer time (Z15 = 1)."""
    rtc = Rtc(1, 1)

    def wall(*fields: int) -> float:
        return float(calendar.timegm((*fields, 0)))

    assert rtc.from_wall(wall(2026, 1, 15, 12, 0)) == wall(2026, 1, 15, 11, 0)  # winter: UTC+1
    assert rtc.from_wall(wall(2026, 7, 1, 12, 0)) == wall(2026, 7, 1, 10, 0)  # summer: UTC+2
    assert rtc.from_wall(wall(2026, 3, 29, 0, 0)) == wall(2026, 3, 28, 23, 0)  # the midnight before the switch
    assert rtc.from_wall(wall(2026, 3, 30, 0, 0)) == wall(2026, 3, 29, 22, 0)  # the midnight after it
