"""The array engine (meter_sim/columns.py) against the per-second model: the same fleet, the same scenario, stepped
both ways; every member's saved state, logs, readings and events must be equal, bit for bit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from test_warp_reference import EVENTS, SCENARIO, START, TEMPLATE  # the warp reference's scenario

from meter_sim.clock import SteppedClock
from meter_sim.columns import Columns
from meter_sim.config import MeterSimSettings
from meter_sim.fleet import member_settings
from meter_sim.meter import Meter
from meter_sim.scenario import Scenario, apply

# The same kinds of events within ten hours, across the DST change (29 March 01:00 UTC).
SHORT_START = int(datetime(2026, 3, 28, 20, 0, 7, tzinfo=UTC).timestamp())
SHORT = Scenario.from_dict({"events": [
    *({**event, "at": at} for event, at in zip(EVENTS, ("1h", "2h 00:00:30", "3h", "4h", "6h", "390m", "7h", "8h"),
                                                  strict=True)),
    {"at": "9h", "kind": "load", "extra_w": 45000, "duration": "20m"},  # near and over the fuse
]})


def fleet(count: int, start: int = START) -> list[Meter]:
    """Fleet members as the gateway makes them (each with its S0 output), some with PV, some with an EV."""
    meters = []
    for n in range(1, count + 1):
        s = member_settings(TEMPLATE, 11, n)
        household = s.household.model_copy(update={"pv_kwp": 5.0 * (n % 2), "ev_charger_kw": 11.0 * (n % 3 == 0)})
        s = s.model_copy(update={"household": household})
        meters.append(Meter(f"m{n}", s, SteppedClock(start)))
    return meters


def run_both(count: int, until: int, start: int = START, scenario: Scenario = SCENARIO) -> tuple[
        list[Meter], list[Meter], Columns]:
    exact, columned = fleet(count, start), fleet(count, start)
    columns = Columns(columned)
    for action in scenario.timeline(start, until):
        for m in exact:
            m.advance_to(action.t)
            apply(m, action)
        columns.advance_to(action.t)
        columns.write_back()
        for m in columned:
            apply(m, action)
        columns.read_in()
    for m in exact:
        m.advance_to(until)
    columns.advance_to(until)
    columns.write_back()
    return exact, columned, columns


def assert_same(exact: Meter, columned: Meter) -> None:
    assert columned.t == exact.t
    assert columned.to_state() == exact.to_state()  # registers, demand, RNG states, power quality, S0 …
    assert columned.logs_state() == exact.logs_state()  # load profile, billing, event logs, analysis
    assert columned.household.rng.getstate() == exact.household.rng.getstate()
    assert columned.grid.rng.getstate() == exact.grid.rng.getstate()
    assert columned.metrology.instant == exact.metrology.instant
    assert columned.readings() == exact.readings()
    assert columned.drain_events() == exact.drain_events()


def test_a_fleet_with_a_scenario_agrees_bit_for_bit() -> None:
    """Faults, a tariff override, the breaker, an outage, a load over the fuse, the DST change."""
    until = SHORT_START + 10 * 3600
    exact, columned, columns = run_both(3, until, SHORT_START, SHORT)
    for e, c in zip(exact, columned, strict=True):
        assert_same(e, c)
    assert exact[0].logs.to_state()  # events were compared
    # Most member-seconds ran in the columns, and some (the scenario's faults, appliances) exactly.
    assert columns.column_s > 0.8 * 3 * (until - SHORT_START)
    assert columns.exact_s > 0


@pytest.mark.slow
def test_a_debiting_stop_and_midnights() -> None:
    """The short scenario's events, two midnights and the month's debiting stop (31 March 23:00 UTC), six members."""
    start = int(datetime(2026, 3, 30, 20, 0, 7, tzinfo=UTC).timestamp())
    until = int(datetime(2026, 4, 1, 0, 30, tzinfo=UTC).timestamp())
    exact, columned, columns = run_both(6, until, start, SHORT)
    for e, c in zip(exact, columned, strict=True):
        assert_same(e, c)
    assert exact[0].billing.entries() and exact[0].logs.to_state()  # a debiting stop and events were compared
    assert columns.column_s > 0.8 * 6 * (until - start)


def test_write_back_at_any_second_and_carry_on() -> None:
    """Objects brought up to date in the middle of a minute (as a command or a save needs) agree, and the columns
    carry on from them."""
    exact, columned = fleet(3), fleet(3)
    columns = Columns(columned)
    for t in (START + 37, START + 3600 + 1, START + 3600 + 59, START + 7200 + 30):
        for m in exact:
            m.advance_to(t)
        columns.advance_to(t)
        columns.write_back()
        for e, c in zip(exact, columned, strict=True):
            assert_same(e, c)
        columns.read_in()


@pytest.mark.parametrize("template", [
    {"household": {"annual_kwh": 9000}},
    {"z4": 4, "household": {"pv_kwp": 4.0}},
    {"z4": 1, "accuracy": {"error_fraction": 0.5}},
])
def test_other_settings(template: dict[str, Any]) -> None:
    exact = [Meter("a", MeterSimSettings.model_validate({**template, "seed": 3}), SteppedClock(START))]
    columned = [Meter("a", MeterSimSettings.model_validate({**template, "seed": 3}), SteppedClock(START))]
    columns = Columns(columned)
    exact[0].advance_to(START + 5 * 3600)
    columns.advance_to(START + 5 * 3600)
    columns.write_back()
    assert_same(exact[0], columned[0])
