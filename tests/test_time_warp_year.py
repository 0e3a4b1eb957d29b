"""A year of meter life in one run (the time-warp contract): the load profile it still holds sums to the A+ the
register gained over the same span, the ring holds exactly the data sheet's depth, and the monthly debiting
stops fall on the right dates across both DST changes and a leap day. It is the one test that crosses every boundary
the meter knows. It runs on the time-warp engine (meter_sim/warp.py), which takes every boundary and event second by
second with the per-second model and agrees with that model over spans crossing each kind of boundary
(tests/test_warp_reference.py): seconds, where the per-second model alone took five minutes of one core."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.warp import warp_to

START = datetime(2027, 12, 31, 23, 0, tzinfo=UTC)  # 00:00 local standard time, 1 January 2028 (a leap year)
YEAR_S = 366 * 86400


@pytest.mark.slow
def test_a_year_of_life_sums_to_the_register() -> None:
    # A+ only (X9 = 1) with 5-min periods (Z4 = 1): the data sheet's shallowest ring, 92 days.
    settings = MeterSimSettings(type_number="6841131BN113101040", z4=1, seed=7, household={"ev_charger_kw": 11})
    t0 = int(START.timestamp())
    m = Meter("year", settings, SteppedClock(t0))
    capacity = m.load_profile.capacity
    assert capacity == 92 * 288  # 92 days of 5-min periods
    end = t0 + YEAR_S
    held_from = end - capacity * 300  # the oldest entry still held at the end covers the period after this
    warp_to(m, t0 + YEAR_S // 2)
    # Half-way: save and restore (the permanent memory), as a gateway restart would
    m = Meter("year", settings, SteppedClock(m.t), state=json.loads(json.dumps(m.to_state())),
              logs=json.loads(json.dumps(m.logs_state())))
    warp_to(m, held_from)
    a_plus_then = m.register("a_plus")
    warp_to(m, end)
    entries = m.load_profile.entries()
    assert len(entries) == capacity and entries[0].t == held_from + 300 and entries[-1].t == end
    assert [b.t - a.t for a, b in pairwise(entries)] == [300] * (capacity - 1)
    assert sum(e.values["1.8.0"] for e in entries) == pytest.approx(m.register("a_plus") - a_plus_then, abs=1e-6)
    assert m.register("a_plus") > 1000  # a household with an EV: thousands of kWh in a year
    # Twelve monthly debiting stops at 00:00 standard time on the 1st (Z6 = 1, Z7 = 1), DST or not
    stops = [m.rtc.standard_time(s.t).strftime("%Y-%m-%d %H:%M") for s in m.billing.entries()]
    assert stops == [f"2028-{month:02d}-01 00:00" for month in range(2, 13)] + ["2029-01-01 00:00"]
    assert m.debiting_periods == 12
    days = [e.t for e in m.billing2.entries()]  # debiting logger 2, daily (Z25 = 1): 366 days, leap day included
    assert len(days) == min(366, m.billing2.capacity)
