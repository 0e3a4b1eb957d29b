"""Harmonic distortion: the phase-current THD of a load mix (meter_sim.harmonics) and the grid's background voltage
THD (meter_sim.grid). Checked against the physics and the documented ranges: no current no THD, linear loads 3–5 %,
switched-mode electronics 80–120 % (IEC 61000-3-2 Class D), the fundamental from both parts, LV background THD_U
1.5–4 % with an evening peak, deterministic per seed, and no effect on the voltage/frequency random stream."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter_sim.grid import Grid
from meter_sim.harmonics import ELECTRONIC_THD_PCT, LINEAR_THD_PCT, current_thd

POWER = st.floats(min_value=0.0, max_value=20_000.0, allow_nan=False)
CET = 3600  # local standard time = UTC + 1 h for the week below
WEEK_START = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp()) - CET  # Monday 00:00 local


# --- current THD --------------------------------------------------------------------------------------------------
def test_no_current_no_distortion() -> None:
    assert current_thd(0.0, 0.0) == 0.0


@pytest.mark.parametrize("watts", [0.5, 60.0, 2000.0, 11_000.0])
def test_linear_loads_alone_are_3_to_5_percent(watts: float) -> None:
    assert 3.0 <= current_thd(watts, 0.0) <= 5.0


@pytest.mark.parametrize("watts", [0.5, 60.0, 500.0, 3000.0])
def test_electronics_alone_are_80_to_120_percent(watts: float) -> None:
    assert 80.0 <= current_thd(0.0, watts) <= 120.0


def test_electronics_match_a_class_d_device() -> None:
    """IEC 61000-3-2 Class D limits (mA per W of input power) for h = 3…39; at 230 V and unity displacement the
    fundamental is 1000/230 mA/W. A device at the limits has a THD of about 95 %; the household mix is taken within
    15 percentage points of it (smaller devices are unlimited and worse, PFC devices much better)."""
    limits = {3: 3.4, 5: 1.9, 7: 1.0, 9: 0.5, 11: 0.35} | {h: 3.85 / h for h in range(13, 40, 2)}
    fundamental = 1000.0 / 230.0
    class_d = 100.0 * math.sqrt(sum((ma / fundamental) ** 2 for ma in limits.values()))
    assert 90.0 < class_d < 100.0
    assert abs(current_thd(0.0, 300.0) - class_d) <= 15.0


def test_rises_with_the_electronic_share() -> None:
    total = 2300.0
    shares = [k / 1000 for k in range(2, 1001)]  # from 0.2 %: see the next test for the smallest shares
    thd = [current_thd(total * (1 - s), total * s) for s in shares]
    assert all(a < b for a, b in itertools.pairwise(thd))
    assert thd[0] < 5.0 and thd[-1] == pytest.approx(current_thd(0.0, total))


def test_a_trace_of_electronics_barely_dilutes_the_linear_harmonics() -> None:
    """Below a share of (THD_lin/THD_el)² the uncorrelated harmonics of the linear part shrink faster than the
    electronics add theirs; the dip is a few thousandths of a percentage point."""
    base = current_thd(1000.0, 0.0)
    for k in range(0, 21):
        s = k / 10_000
        assert current_thd(1000.0 * (1 - s), 1000.0 * s) > base - 0.005


@given(POWER, POWER)
def test_harmonics_from_the_electronics_fundamental_from_both(p_lin: float, p_el: float) -> None:
    """The harmonic current of the electronic part over the fundamental of the whole load: at least the
    electronics' harmonics alone over the total fundamental, at most the arithmetic sum of both parts' harmonic
    currents (the power-weighted mean of the two THDs); never the electronics' THD itself while linear load flows."""
    total = p_lin + p_el
    thd = current_thd(p_lin, p_el)
    if total == 0.0:
        assert thd == 0.0
        return
    lower = ELECTRONIC_THD_PCT * p_el / total
    upper = (ELECTRONIC_THD_PCT * p_el + LINEAR_THD_PCT * p_lin) / total
    assert lower - 1e-9 <= thd <= upper + 1e-9
    assert LINEAR_THD_PCT * 0.999 <= thd <= ELECTRONIC_THD_PCT + 1e-9
    if p_lin > 0.1 * total:
        assert thd < 0.91 * ELECTRONIC_THD_PCT


@given(st.floats(min_value=1.0, max_value=5000.0), st.floats(min_value=0.0, max_value=1.0),
       st.floats(min_value=0.01, max_value=100.0))
def test_depends_only_on_the_mix_not_the_size(total: float, share: float, scale: float) -> None:
    a = current_thd(total * (1 - share), total * share)
    b = current_thd(scale * total * (1 - share), scale * total * share)
    assert b == pytest.approx(a, rel=1e-9)


@pytest.mark.parametrize("args", [(-1.0, 0.0), (0.0, -5.0), (math.nan, 1.0), (1.0, math.inf)])
def test_rejects_negative_and_non_finite_power(args: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        current_thd(*args)


# --- grid voltage THD ---------------------------------------------------------------------------------------------
def week_of_thd(seed: int, with_time: bool = True) -> list[tuple[float, list[float]]]:
    """(local hour, thd_u) for every minute of a week, driven like the meter drives the grid."""
    grid = Grid(seed)
    out = []
    for minute in range(7 * 1440):
        t = WEEK_START + 60 * minute
        hour = ((t + CET) % 86400) / 3600
        grid.minute(hour, t if with_time else None)
        out.append((hour, list(grid.thd_u)))
    return out


@pytest.mark.parametrize("seed", [1, 2, 77])
def test_grid_thd_u_stays_within_the_typical_lv_range_and_peaks_in_the_evening(seed: int) -> None:
    week = week_of_thd(seed)
    values = [v for _, thd in week for v in thd]
    assert min(values) >= 1.5 and max(values) <= 4.0
    assert max(values) - min(values) > 1.0  # it does move through the range
    for phase in range(3):
        evening = statistics.mean(thd[phase] for hour, thd in week if 19 <= hour < 22)
        night = statistics.mean(thd[phase] for hour, thd in week if 2 <= hour < 5)
        day = statistics.mean(thd[phase] for hour, thd in week if 10 <= hour < 16)
        assert evening > day > night
        assert evening - night > 0.5
    steps = [abs(b[p] - a[p]) for (_, a), (_, b) in itertools.pairwise(week) for p in range(3)]
    assert max(steps) < 0.05  # slowly varying: percentage points per minute


def test_grid_thd_u_varies_from_day_to_day_and_between_phases() -> None:
    week = week_of_thd(5)
    at_nine = [thd for hour, thd in week if hour == 9.0]
    assert len(at_nine) == 7
    assert max(d[0] for d in at_nine) - min(d[0] for d in at_nine) > 0.1
    assert all(len({round(v, 6) for v in thd}) == 3 for _, thd in week[::60])
    without_time = week_of_thd(5, with_time=False)  # the daily profile only
    assert {tuple(thd) for hour, thd in without_time if hour == 9.0} == {tuple(without_time[9 * 60][1])}


def test_grid_thd_u_is_deterministic_per_seed() -> None:
    assert week_of_thd(3) == week_of_thd(3)
    assert week_of_thd(3) != week_of_thd(4)


def test_grid_thd_draws_nothing_from_the_voltage_and_frequency_stream() -> None:
    """With or without the THD's slow variation, and with THD updates every minute, a day of voltages and
    frequency comes out the same: the THD has its own generators."""
    runs = []
    for with_time in (True, False):
        grid = Grid(9)
        trace = []
        for second in range(86400):
            if second % 60 == 0:
                t = WEEK_START + second
                grid.minute(((t + CET) % 86400) / 3600, t if with_time else None)
            grid.step([500.0, 1200.0, -300.0])
            if second % 97 == 0:
                trace.append((tuple(grid.u), grid.f))
        runs.append(trace)
    assert runs[0] == runs[1]


def test_forced_phase_voltage_leaves_the_thd_at_background() -> None:
    free, forced = Grid(4), Grid(4)
    forced.override = [270.0, None, 0.0]
    for minute in range(0, 1440, 7):
        t = WEEK_START + 60 * minute
        hour = ((t + CET) % 86400) / 3600
        free.minute(hour, t)
        forced.minute(hour, t)
        assert forced.thd_u == free.thd_u


def test_a_restored_grid_continues_the_same_thd() -> None:
    a = Grid(6)
    t = WEEK_START + 3 * 86400 + 17 * 3600
    a.minute(18.0, t)
    b = Grid(6)
    b.restore(a.to_state())
    for k in range(1, 600):
        tk = t + 60 * k
        hour = ((tk + CET) % 86400) / 3600
        a.minute(hour, tk)
        b.minute(hour, tk)
        assert a.thd_u == b.thd_u
