"""The time-warp engine (meter_sim/warp.py) against its reference, the per-second model (`Meter.advance_to`): on the
same seeds and inputs both must leave the meter in the same state — registers and every saved float within 1e-9
relative, the same load-profile timestamps and status bits, billing entries, event logs, alarm and breaker events, and
the random generators at exactly the same state — over multi-day spans that cross midnights, a DST change, a
monthly debiting stop and tariff switch points, with scenario events (sags, swells, an undervoltage, an outage,
breaker commands, a tariff override, PV and an EV)."""

from __future__ import annotations

import copy
import json
import math
import random
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from meter_sim import bulk_random
from meter_sim.cli import main
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.fleet import member_settings
from meter_sim.meter import Meter
from meter_sim.recurrence import first_order
from meter_sim.scenario import Scenario, run
from meter_sim.warp import WarpStats, warp_to
from meter_sim.warp_chunk import _BLOCK_S, _WH, Chunk

# 12:00 UTC on Saturday 28 March 2026: the EU summer time starts the next night, the debiting stop of 1 April
# (00:00 standard time) follows three days later.
START = int(datetime(2026, 3, 28, 12, 0, 7, tzinfo=UTC).timestamp())
REL = 1e-9
TEMPLATE = MeterSimSettings(tariff_command_overrides_any_source=True)
EVENTS: list[dict[str, Any]] = [
    {"at": "5h", "kind": "sag", "phase": 1, "depth_v": 70, "duration": "200ms"},
    {"at": "9h 00:00:30", "kind": "swell", "phase": 2, "depth_v": 60, "duration": "300ms"},
    {"at": "20h", "kind": "voltage", "phase": 3, "volts": 200, "duration": "10m"},
    {"at": "1d 03:00", "kind": "tariff", "tariff": 2, "duration": "5h"},
    {"at": "1d 14:00", "kind": "breaker", "action": "disconnect"},
    {"at": "1d 15:30", "kind": "breaker", "action": "connect"},
    {"at": "2d 02:00", "kind": "outage", "duration": "30m"},
    {"at": "2d 10:00", "kind": "load", "extra_w": 3000, "duration": "2h"},
]
SCENARIO = Scenario.from_dict({"events": EVENTS})


def _same(a: Any, b: Any, path: str = "") -> None:
    """Equal, except floats (and the S0 output's exact remainder) within REL relative."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=REL, abs=1e-12), path
    elif path.endswith("/remainder"):  # S0: a fraction of a pulse, kept exactly from the float energies fed
        assert float(Fraction(a)) == pytest.approx(float(Fraction(b)), abs=1e-9), path
    else:
        assert a == b, path


def _pair(settings: MeterSimSettings) -> tuple[Meter, Meter]:
    return (Meter("x", settings, SteppedClock(START)), Meter("x", settings, SteppedClock(START)))


def _assert_same_meter(exact: Meter, warped: Meter) -> None:
    assert warped.t == exact.t
    _same(exact.to_state(), warped.to_state(), "state")  # registers, demand, RNG states, PQ, S0 …
    _same(exact.logs_state(), warped.logs_state(), "logs")  # load profile, billing, event logs, analysis
    assert [e.t for e in warped.load_profile.entries()] == [e.t for e in exact.load_profile.entries()]
    assert [e.status for e in warped.load_profile.entries()] == [e.status for e in exact.load_profile.entries()]
    assert warped.household.rng.getstate() == exact.household.rng.getstate()
    assert warped.grid.rng.getstate() == exact.grid.rng.getstate()
    _same(exact.readings(), warped.readings(), "readings")
    assert warped.drain_events() == exact.drain_events()  # alarm and breaker events, in order


def test_bulk_draws_are_the_generators_own() -> None:
    rng = random.Random(20260328)
    for _ in range(1001):  # any position within the 624-word block
        rng.random()
    bulk = bulk_random.draw(rng, 5000)
    twin = random.Random()
    twin.setstate(rng.getstate())
    assert bulk.tolist() == [twin.random() for _ in range(5000)]  # bit for bit
    bulk_random.consume(rng, 5000)
    assert rng.getstate() == twin.getstate()
    assert rng.random() == twin.random()


def test_first_order_recurrence_follows_the_step_sums() -> None:
    r = np.random.RandomState(3).random_sample(50_000)
    c = (r - 0.5) * 0.006
    x, ref = 0.002, []
    for ci in c:
        x += ci - x * 0.05
        ref.append(x)
    got = first_order(c, 0.95, 0.002)
    assert np.abs(got - np.array(ref)).max() < 1e-15


@pytest.mark.parametrize("number", [1, 2, 3])
def test_fleet_members_with_a_scenario(number: int) -> None:
    member = member_settings(TEMPLATE, 11, number)  # its own seed and type number; PV and an EV for all
    settings = member.model_copy(update={"household": member.household.model_copy(
        update={"pv_kwp": 5.0, "ev_charger_kw": 11.0})})
    exact, warped = _pair(settings)
    until = START + 3 * 86400 + 12 * 3600 + 1800  # past the debiting stop (31 March 23:00 UTC)
    out_exact = run(exact, SCENARIO, until)
    stats = WarpStats()
    out_warp = run(warped, SCENARIO, until, chunk_s=86400, step_to=lambda m, t: warp_to(m, t, stats))
    assert [o.to_json(str) for o in out_warp] == [o.to_json(str) for o in out_exact]
    _assert_same_meter(exact, warped)
    assert stats.fast_s > 2 * 86400  # the engine did run vectorised, not only step by step
    assert exact.billing.entries() and exact.logs.to_state()  # a debiting stop and events were compared


@pytest.mark.parametrize("seed", [5, 77, 1234])
def test_several_seeds_plain(seed: int) -> None:
    settings = MeterSimSettings(seed=seed, household={"pv_kwp": 3.0 if seed % 2 else 0.0, "ev_charger_kw": 7.4})
    exact, warped = _pair(settings)
    exact.advance_to(START + 86400 + 3600 + 17)
    stats = WarpStats()
    warp_to(warped, START + 86400 + 3600 + 17, stats)
    _assert_same_meter(exact, warped)
    assert stats.fast_s > 0.5 * 86400
    # Continue either way from the warped state: the state carries on (a run can switch engines)
    exact.advance_to(exact.t + 600)
    warped.advance_to(warped.t + 600)
    _assert_same_meter(exact, warped)


def test_a_scheduled_reconfiguration_is_carried_out_at_its_minute_by_both_engines() -> None:
    """A DLMS calendar activation scheduled inside what would be one chunk: the chunk ends before its minute."""
    settings = MeterSimSettings(seed=8, z13=3, tariff_calendar={"day_plans": {"all": {"00:00": 1}}, "seasons": [
        {"start": "01-01", "working": "all", "non_working": "all", "holiday": "all"}]})
    exact, warped = _pair(settings)
    at = START + 10 * 3600 + 1337  # not on a minute: carried out at the next minute tick
    calendar = {"day_plans": {"all": {"00:00": 2, "18:00": 3}}, "seasons": [
        {"start": "01-01", "working": "all", "non_working": "all", "holiday": "all"}]}
    for meter in (exact, warped):
        meter.schedule_change(at, {"tariff_calendar": calendar}, "dlms")
    exact.advance_to(START + 86400)
    stats = WarpStats()
    warp_to(warped, START + 86400, stats)
    _assert_same_meter(exact, warped)
    assert stats.fast_s > 0.5 * 86400 and warped.scheduled is None
    assert warped.settings.calendar.day_plans == {"all": {"00:00": 2, "18:00": 3}}
    changed = [e.t for e in warped.logs.query("meter_status")[0] if e.type == "reconfigured"]
    assert changed == [at + (-at) % 60]


def test_other_analysis_channels_windows_and_accuracy() -> None:
    """The analysis channels the chunk computes apart from its register rows, power-quality mean windows that do
    not lie on whole minutes (per-second sums) and a meter with a registration error (two gains)."""
    channels = ("pf", "pf_l1", "s_plus_l2", "s_minus_l3", "q_plus_l1", "q_minus_l2", "i_l3", "p_minus_l1", "s_minus",
                "q_minus", "thd_u_l1", "thd_u_l3", "frequency", "u_l2", "p_plus_l3", "s_plus")
    settings = MeterSimSettings(seed=21, household={"pv_kwp": 6.0, "ev_charger_kw": 11.0},
                                analysis_logger={"channels": channels, "interval_s": 300},
                                power_quality={"window_s": 90}, accuracy={"error_fraction": 1.0})
    exact, warped = _pair(settings)
    exact.advance_to(START + 86400 + 1800)
    stats = WarpStats()
    warp_to(warped, START + 86400 + 1800, stats)
    _assert_same_meter(exact, warped)
    assert stats.fast_s > 0.5 * 86400
    assert exact.analysis.to_state()


def test_chunks_that_stop_inside_a_block() -> None:
    """A quiet band whose floor the evening voltages cross: chunks stop at seconds inside their blocks (the
    voltages' extremes of such a block are taken per minute) and the exact step takes over, again and again."""
    settings = MeterSimSettings(seed=5, household={"pv_kwp": 6.0, "ev_charger_kw": 11.0},
                                power_quality={"u_low_sv": 227.7})
    exact, warped = _pair(settings)
    exact.advance_to(START + 86400 + 7 * 3600)
    stats = WarpStats()
    warp_to(warped, START + 86400 + 7 * 3600, stats)
    _assert_same_meter(exact, warped)
    assert stats.stopped_early > 20 and stats.fast_s > 0.3 * 86400


def test_a_chunk_that_stops_at_an_s0_pulse_inside_a_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """An S0 feed whose pulses due come within rounding of a whole pulse stops the chunk, the exact step taking that
    feed: arranged through the S0 remainder, at a feed inside the chunk's second block, 70 s after a mean window's
    start. The chunk then takes the voltages' extremes of that block per minute, or the open mean window would hold
    those of seconds it did not commit. That shows only until the exact steps have added the same seconds: the
    meter is compared right after the chunk (and the exact minute after it), and at the end."""
    settings = MeterSimSettings(seed=3, household={"pv_kwp": 0.0})  # A+ fed at every feed
    t1 = START - START % 60 + 60  # the first chunk starts here and runs to `until` (before midnight)
    until = t1 + 5 * 3600 + 17
    probe = Meter("x", settings, SteppedClock(START))
    probe.advance_to(t1)
    assert probe.s0 is not None  # the default type number has an S0 output (X13 = 1)
    chunk = Chunk(probe, until - until % 60)
    chunk._minute_inputs()
    chunk._household()
    chunk._grid()
    chunk._tariffs()
    assert chunk._seconds() == chunk.n == 5 * 3600 and chunk.pq_minutes  # no other stop; windows on minutes
    # Pulses fed up to each feed (as Chunk._s0_flags); the one to stop at: 70 s after a mean window's start
    per_feed = chunk.feed_wh * _WH
    per_feed[0] += probe._s0_wh
    fed = np.cumsum(per_feed * probe.s0.imp_per_kwh / 1000.0)
    start = int(chunk.window_ends[chunk.window_ends > _BLOCK_S + 1800][0])
    stop = start + 70
    j = stop // 10
    assert fed[j] > fed[j - 1] and _BLOCK_S < stop < 2 * _BLOCK_S - 600
    # A tenth of a nano-pulse past a whole pulse at that feed: near enough to stop the chunk (1e-9), far beyond the
    # rounding of either engine's sums (~1e-12 here), so both count that pulse at that feed
    remainder = Fraction(math.ceil(fed[j])) - Fraction(float(fed[j])) + Fraction(1, 10**10)
    assert 0 < remainder < 1
    flags: list[tuple[int, int | None]] = []
    extremes: list[tuple[int, int, int, bool]] = []
    s0_flags, minute_extremes = Chunk._s0_flags, Chunk._minute_extremes

    def record_flags(self: Chunk) -> int | None:
        out = s0_flags(self)
        flags.append((self.t0, out))
        return out

    def record_extremes(self: Chunk, a: int, b: int, u: Any = None) -> None:
        extremes.append((self.t0, a, b, u is None))
        minute_extremes(self, a, b, u)

    monkeypatch.setattr(Chunk, "_s0_flags", record_flags)
    monkeypatch.setattr(Chunk, "_minute_extremes", record_extremes)
    exact, warped = _pair(settings)
    snapshots: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    for m in (exact, warped):
        m.advance_to(t1)
        assert m.s0 is not None
        m.s0._remainder = remainder
    stats = WarpStats()
    warp_to(warped, until, stats, on_chunk=lambda m: snapshots.append(
        (m.t, copy.deepcopy(m.to_state()), copy.deepcopy(m.logs_state()))))
    assert flags[0] == (t1, stop) and stats.stopped_early >= 1  # the S0 feed stopped the first chunk …
    assert (t1, _BLOCK_S, 2 * _BLOCK_S, True) in extremes  # … which took its block's extremes per minute
    t, state, logs = snapshots[0]
    assert t == t1 + stop - stop % 60 + 60  # committed to the minute before, then stepped through its minute
    exact.advance_to(t)
    _same(exact.to_state(), state, "state")
    _same(exact.logs_state(), logs, "logs")
    exact.advance_to(until)
    _assert_same_meter(exact, warped)


@pytest.mark.parametrize("pq", [{"u_low_mean": 227.7}, {"u_high_mean": 232.3, "window_s": 90}])
def test_mean_windows_out_of_bounds(pq: dict[str, float]) -> None:
    """Mean-window limits the evening (or midday) means cross: windows inside a chunk log mean_under/mean_over
    events, the others close quietly (counted at once by the chunk)."""
    settings = MeterSimSettings(seed=8, household={"pv_kwp": 6.0, "ev_charger_kw": 11.0}, power_quality=pq)
    exact, warped = _pair(settings)
    exact.advance_to(START + 86400 + 5 * 3600 + 33)
    stats = WarpStats()
    warp_to(warped, START + 86400 + 5 * 3600 + 33, stats)
    _assert_same_meter(exact, warped)
    assert stats.fast_s > 86400
    assert "mean_" in json.dumps(exact.logs_state())  # events were logged, and compared


def test_simulate_writes_the_same_files_on_both_engines(tmp_path: Path) -> None:
    config = tmp_path / "meters.yaml"
    config.write_text("meters:\n  - id: f\n    start: '2026-03-28T12:00:00+00:00'\n    seed: 9\n"
                      "    household: {pv_kwp: 4, ev_charger_kw: 7.4}\n")
    for engine in ("warp", "exact"):
        assert main(["simulate", "--config", str(config), "--days", "1.1", "--meters", "2",
                     "--engine", engine, "--out", str(tmp_path / engine)]) == 0
    written = sorted(p.relative_to(tmp_path / "exact") for p in (tmp_path / "exact").rglob("*.json"))
    assert [str(p) for p in written] == [f"f{n}/{name}.json" for n in (1, 2) for name in
                                        ("billing", "debiting_logger_2", "events", "load_profile", "registers")]
    for path in written:
        _same(json.loads((tmp_path / "exact" / path).read_text()), json.loads((tmp_path / "warp" / path).read_text()),
              str(path))
