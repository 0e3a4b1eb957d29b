"""The simulated meter: energy conservation, quadrants, tariffs, peak demand, breaker, persistence,
determinism. Every test drives a stepped clock; none sleeps."""

from __future__ import annotations

import importlib
import json
import pkgutil
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from meter_sim.breaker import Breaker, BreakerRefused
from meter_sim.clock import SteppedClock
from meter_sim.config import BreakerSettings, HouseholdSettings, MeterSimSettings
from meter_sim.load_control import LoadControlRefused
from meter_sim.meter import Meter
from meter_sim.metrology import INSTANT_KEYS, Metrology
from meter_sim.persistence import MeterStore, PersistenceError
from meter_sim.refusals import MeterRefused
from meter_sim.tariffs import TariffSchedule
from meter_sim.warp import warp_to

JAN_15 = datetime(2026, 1, 15, 0, 0, tzinfo=UTC).timestamp()  # a Thursday
JUL_15 = datetime(2026, 7, 15, 0, 0, tzinfo=UTC).timestamp()
P_PLUS, P_MINUS, Q_PLUS, Q_MINUS = (INSTANT_KEYS.index(k) for k in ("p_plus", "p_minus", "q_plus", "q_minus"))


def make_meter(
    start: float = JAN_15, state: dict[str, Any] | None = None, **settings: Any
) -> tuple[Meter, SteppedClock]:
    clock = SteppedClock(start)
    return Meter("m", MeterSimSettings(**settings), clock, state), clock


# --- energy integrates power exactly ------------------------------------------------------------
@pytest.mark.parametrize("start", [JAN_15, JUL_15])
def test_energy_equals_integral_of_power(start: float) -> None:
    meter, _ = make_meter(start, household=HouseholdSettings(pv_kwp=8.0, ev_charger_kw=11.0))
    before = {k: meter.register(k) for k in ("a_plus", "a_minus", "r_plus", "r_minus")}
    integral = dict.fromkeys(before, 0.0)
    for _ in range(2 * 86400):
        meter.step()
        inst = meter.metrology.instant
        integral["a_plus"] += inst[P_PLUS] / 3.6e6  # W·s → kWh
        integral["a_minus"] += inst[P_MINUS] / 3.6e6
        integral["r_plus"] += inst[Q_PLUS] / 3.6e6
        integral["r_minus"] += inst[Q_MINUS] / 3.6e6
    for key, value in integral.items():
        delta = meter.register(key) - before[key]
        assert value > 0.1, key  # every register moved: PV exports, loads import, both Q signs occur
        assert delta == pytest.approx(value, rel=1e-3), key


def test_published_power_integrates_to_published_energy() -> None:
    """The same through the published state every 10 s (what an MQTT consumer sees)."""
    meter, clock = make_meter(JUL_15 + 6 * 3600, household=HouseholdSettings(pv_kwp=5.0))
    first = meter.readings()
    integral = 0.0
    for _ in range(6 * 360):
        for _ in range(10):
            clock.advance(1)
            meter.update()
            integral += meter.readings()["p_plus"] / 3.6e6  # type: ignore[operator]
    last = meter.readings()
    assert last["a_plus"] - first["a_plus"] == pytest.approx(integral, rel=1e-3, abs=2e-3)  # type: ignore[operator]


# --- quadrants ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "q", "expect"),
    [
        (1000.0, 300.0, {"a_plus", "r_plus", "r1", "e_plus"}),  # Q1: import, inductive
        (-1000.0, 300.0, {"a_minus", "r_plus", "r2", "e_minus"}),  # Q2: export, +Q
        (-1000.0, -300.0, {"a_minus", "r_minus", "r3", "e_minus"}),  # Q3: export, -Q
        (1000.0, -300.0, {"a_plus", "r_minus", "r4", "e_plus"}),  # Q4: import, capacitive
    ],
)
def test_each_quadrant_feeds_the_right_registers(p: float, q: float, expect: set[str]) -> None:
    m = Metrology()
    per_phase_p, per_phase_q = [p / 3] * 3, [q / 3] * 3
    for _ in range(3600):
        m.step(1.0, [230.0] * 3, per_phase_p, per_phase_q, True, 50.0, 3)
    from meter_sim.metrology import ENERGY_KEYS

    values = dict(zip(ENERGY_KEYS, m.energy, strict=True))
    s = (p * p + q * q) ** 0.5
    expected = {"a_plus": abs(p), "a_minus": abs(p), "r_plus": abs(q), "r_minus": abs(q), "r1": abs(q),
                "r2": abs(q), "r3": abs(q), "r4": abs(q), "e_plus": s, "e_minus": s}
    for key in ("a_plus", "a_minus", "r_plus", "r_minus", "r1", "r2", "r3", "r4", "e_plus", "e_minus"):
        if key in expect:
            assert values[key] == pytest.approx(expected[key]), key
        else:
            assert values[key] == 0.0, key
    # The tariff registers follow the active tariff (3 here) in every quadrant.
    active = "a_plus" if p > 0 else "a_minus"
    reactive = "r_plus" if q > 0 else "r_minus"
    assert values[f"{active}_t3"] == pytest.approx(abs(p))
    assert values[f"{reactive}_t3"] == pytest.approx(abs(q))
    assert sum(values[f"{active}_t{t}"] for t in (1, 2, 4)) == 0.0


def test_vector_summation_nets_phases_and_per_phase_registers_keep_both_directions() -> None:
    m = Metrology()
    for _ in range(3600):
        m.step(1.0, [230.0] * 3, [2000.0, -500.0, -300.0], [0.0, 0.0, 0.0], True, 50.0, 1)
    from meter_sim.metrology import ENERGY_KEYS

    values = dict(zip(ENERGY_KEYS, m.energy, strict=True))
    assert values["a_plus"] == pytest.approx(1200.0) and values["a_minus"] == 0.0
    assert values["a_plus_l1"] == pytest.approx(2000.0)
    assert values["a_minus_l2"] == pytest.approx(500.0) and values["a_minus_l3"] == pytest.approx(300.0)


def test_starting_threshold_and_missing_supply() -> None:
    m = Metrology()
    m.step(3600.0, [230.0] * 3, [2.0, 2.0, 2.0], [1.0, 1.0, 1.0], True, 50.0, 1)
    assert m.energy[0] == 0.0  # below 2.3 W per phase nothing registers
    m.step(3600.0, [230.0, 0.0, 0.0], [100.0, 100.0, 100.0], [0.0, 0.0, 0.0], True, 50.0, 1)
    assert m.energy[0] == pytest.approx(100.0)  # phases without supply carry no load
    m.step(3600.0, [120.0, 100.0, 0.0], [100.0, 100.0, 100.0], [0.0, 0.0, 0.0], True, 50.0, 1)
    assert m.energy[0] == pytest.approx(100.0) and not m.powered  # every phase < 160 V: meter is down


# --- tariffs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("minute", "tariff"),
    [(0, 1), (359, 1), (360, 2), (361, 2), (1319, 2), (1320, 1), (1439, 1)],
)
def test_tariff_schedule_switch_points(minute: int, tariff: int) -> None:
    assert TariffSchedule({"00:00": 1, "06:00": 2, "22:00": 1}).tariff_at(minute) == tariff


def test_schedule_before_first_switch_keeps_previous_days_tariff() -> None:
    schedule = TariffSchedule({"07:00": 3, "23:00": 4})
    assert schedule.tariff_at(0) == 4 and schedule.tariff_at(420) == 3 and schedule.tariff_at(1380) == 4


def test_tariff_registers_split_energy_at_local_switch_times() -> None:
    # Z11 = 01 (GMT+1), winter: 06:00 local = 05:00 UTC, 22:00 local = 21:00 UTC.
    meter, _clock = make_meter(JAN_15, household=HouseholdSettings(pv_kwp=0))
    meter.advance_to(JAN_15 + 5 * 3600)
    a0 = meter.register("a_plus")
    t2_0 = meter.register("a_plus_t2")
    assert a0 > 0 and t2_0 == 0.0 and meter.register("a_plus_t1") == pytest.approx(a0)  # 01:00–06:00 local: T1
    meter.advance_to(JAN_15 + 21 * 3600)
    day = meter.register("a_plus") - a0
    assert meter.register("a_plus_t2") - t2_0 == pytest.approx(day)
    meter.advance_to(JAN_15 + 24 * 3600)
    total = sum(meter.register(f"a_plus_t{t}") for t in (1, 2, 3, 4))
    assert total == pytest.approx(meter.register("a_plus"))
    assert meter.register("a_plus_t3") == meter.register("a_plus_t4") == 0.0


def test_tariff_override_and_back_to_auto() -> None:
    meter, _ = make_meter(JAN_15 + 12 * 3600, household=HouseholdSettings(pv_kwp=0))
    meter.set_tariff(4)
    before = meter.register("a_plus")
    meter.advance_to(JAN_15 + 14 * 3600)
    assert meter.register("a_plus_t4") == pytest.approx(meter.register("a_plus") - before)
    assert meter.readings()["tariff"] == 4
    meter.set_tariff(None)
    assert meter.readings()["tariff"] == 2
    with pytest.raises(ValueError, match="1–4"):
        meter.set_tariff(5)


def test_dst_moves_local_switch_points() -> None:
    # Z15 = 001: in July, 06:00 local is 04:00 UTC.
    meter, _ = make_meter(JUL_15 + 4 * 3600 - 120, household=HouseholdSettings(pv_kwp=0))
    assert meter.tariffs.active == 1
    meter.advance_to(JUL_15 + 4 * 3600 + 1)
    assert meter.tariffs.active == 2
    assert meter.readings()["time"].endswith("+02:00")  # type: ignore[union-attr]


# --- peak power -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("z4", "period"), [(1, 300), (2, 900), (3, 1800), (4, 3600)])
def test_peak_is_the_largest_period_mean_with_its_time(z4: int, period: int) -> None:
    meter, _ = make_meter(JAN_15, z4=z4, household=HouseholdSettings(pv_kwp=0, ev_charger_kw=11))
    means: list[tuple[float, float]] = []
    last = meter.register("a_plus")
    for end in range(int(JAN_15) + period, int(JAN_15) + 86400 + 1, period):
        meter.advance_to(end)
        now = meter.register("a_plus")
        means.append(((now - last) * 1000 * 3600 / period, end))
        last = now
        assert meter.demand.means["p_plus"] == pytest.approx(means[-1][0])
    best, when = max(means)
    assert meter.demand.peak("p_plus").value == pytest.approx(best)
    assert meter.demand.peak("p_plus").time == when
    readings = meter.readings()
    assert readings["p_plus_max"] == round(best)
    assert readings["p_plus_max_time"] == meter.rtc.iso(when)
    # every tariff peak is the largest mean of the periods that ended in that tariff
    assert max(readings[f"p_plus_max_t{t}"] for t in (1, 2, 3, 4)) == round(best)  # type: ignore[type-var]
    assert readings["p_plus_daily_max"] <= readings["p_plus_max"]  # type: ignore[operator]


# --- breaker --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "action", "requires_release", "result"),
    [
        ("connected", "disconnect", True, "disconnected"),
        ("connected", "connect", True, "refused"),
        ("connected", "release", True, "refused"),
        ("connected", "push_button", True, "disconnected"),  # the 6 s hold opens the breaker (manual)
        ("disconnected", "disconnect", True, "refused"),
        ("disconnected", "connect", True, "connected"),
        ("disconnected", "release", True, "ready_for_reconnection"),
        ("disconnected", "push_button", True, "refused"),  # only after a release
        ("disconnected", "push_button", False, "connected"),
        ("ready_for_reconnection", "disconnect", True, "disconnected"),
        ("ready_for_reconnection", "connect", True, "connected"),
        ("ready_for_reconnection", "release", True, "refused"),
        ("ready_for_reconnection", "push_button", True, "connected"),
    ],
)
def test_breaker_transitions(state: str, action: str, requires_release: bool, result: str) -> None:
    breaker = Breaker(state, changed_at=0.0, push_button_requires_release=requires_release,  # type: ignore[arg-type]
                      min_reconnect_delay_s=5.0)
    if result == "refused":
        with pytest.raises(BreakerRefused) as info:
            breaker.command(action, 100.0)  # type: ignore[arg-type]
        assert info.value.state == state and breaker.state == state
    else:
        change = breaker.command(action, 100.0)  # type: ignore[arg-type]
        assert (change.old, change.new, breaker.state) == (state, result, result)


def test_minimum_reconnection_time() -> None:
    breaker = Breaker("connected", min_reconnect_delay_s=5.0)
    breaker.command("disconnect", 1000.0)
    with pytest.raises(BreakerRefused, match="wait 4 s"):
        breaker.command("connect", 1001.0)
    breaker.command("release", 1002.0)  # a release is not a reconnection
    with pytest.raises(BreakerRefused, match="minimum reconnection time"):
        breaker.command("push_button", 1004.9)
    assert breaker.command("push_button", 1005.0).new == "connected"


def test_disconnected_meter_has_no_current_and_registers_nothing() -> None:
    meter, _clock = make_meter(JAN_15 + 12 * 3600, household=HouseholdSettings(pv_kwp=0))
    meter.advance_to(JAN_15 + 12 * 3600 + 60)
    meter.breaker_command("disconnect")
    r = meter.readings()
    assert r["p_plus"] == r["i_l1"] == r["i_l2"] == r["i_l3"] == 0 and r["u_l1"] > 200  # type: ignore[operator]
    energy = list(meter.metrology.energy)
    meter.advance_to(JAN_15 + 14 * 3600)
    assert meter.metrology.energy == energy
    assert meter.readings()["breaker"] == "disconnected"
    meter.breaker_command("connect")
    meter.advance_to(JAN_15 + 14 * 3600 + 60)
    assert meter.register("a_plus") > energy[0] / 1000


def test_delivery_position_z19() -> None:
    meter, _ = make_meter(z19=2)
    assert meter.breaker.state == "disconnected" and meter.readings()["p_plus"] == 0


# --- determinism ----------------------------------------------------------------------------------
def test_same_seed_and_clock_give_the_same_registers_in_any_chunking() -> None:
    settings = {"seed": 42, "household": HouseholdSettings(pv_kwp=6, ev_charger_kw=7)}
    a, _ = make_meter(**settings)
    a.advance_to(JAN_15 + 86400)
    b, _ = make_meter(**settings)
    t = JAN_15
    for chunk in (0.4, 1.7, 13, 599.9, 3600, 7, 82169.0):
        t += chunk
        b.advance_to(t)
    b.advance_to(JAN_15 + 86400)
    assert a.metrology.energy == b.metrology.energy
    assert a.readings() == b.readings()
    c, _ = make_meter(seed=43, household=HouseholdSettings(pv_kwp=6, ev_charger_kw=7))
    c.advance_to(JAN_15 + 86400)
    assert c.metrology.energy != a.metrology.energy


def test_readings_are_believable() -> None:
    meter, clock = make_meter(JUL_15, household=HouseholdSettings(pv_kwp=6))
    seen: dict[str, list[float]] = {"u": [], "f": [], "p_minus": [], "p_plus": [], "uneven": []}
    for _ in range(24 * 60):
        clock.advance(60)
        meter.update()
        r = meter.readings()
        seen["u"] += [r["u_l1"], r["u_l2"], r["u_l3"]]  # type: ignore[list-item]
        seen["f"].append(r["frequency"])  # type: ignore[arg-type]
        seen["p_minus"].append(r["p_minus"])  # type: ignore[arg-type]
        seen["p_plus"].append(r["p_plus"])  # type: ignore[arg-type]
        seen["uneven"].append(max(r["i_l1"], r["i_l2"], r["i_l3"]) - min(r["i_l1"], r["i_l2"], r["i_l3"]))  # type: ignore[type-var, operator]
    assert min(seen["u"]) > 215 and max(seen["u"]) < 245
    assert min(seen["f"]) > 49.8 and max(seen["f"]) < 50.2
    assert max(seen["p_minus"]) > 1500  # a summer noon exports
    assert max(seen["p_plus"][:180]) > 0 and max(seen["p_minus"][:180]) == 0  # nights import only
    assert max(seen["uneven"]) > 1.0  # the phases are not balanced
    assert len(set(seen["p_plus"])) > 100  # readings move


# --- load control (Z14) ---------------------------------------------------------------------------
def test_load_control_relays_follow_remote_commands_and_survive_a_restart(tmp_path: Path) -> None:
    meter, _ = make_meter()
    assert (meter.readings()["load_control_1"], meter.readings()["load_control_2"]) == ("off", "off")
    change = meter.load_control_command(2, "on")
    assert (change.relay, change.old, change.new, change.time) == (2, "off", "on", JAN_15)
    assert (meter.readings()["load_control_1"], meter.readings()["load_control_2"]) == ("off", "on")
    assert change in meter.drain_events()
    store = MeterStore(tmp_path / "m.json")
    store.save(meter.to_state())
    restored, _ = make_meter(JAN_15 + 60, store.load())
    assert restored.readings()["load_control_2"] == "on"  # latching, like the breaker
    with pytest.raises(LoadControlRefused, match="relay 3 does not exist"):
        meter.load_control_command(3, "on")


def test_load_control_off_by_z14_refuses_commands() -> None:
    meter, _ = make_meter(z14=0)
    with pytest.raises(LoadControlRefused, match="Z14 = 000"):
        meter.load_control_command(1, "on")
    assert meter.readings()["load_control_1"] == "off"


def test_every_refusal_in_the_simulator_is_a_meter_refusal() -> None:
    """Callers (gateway, scenarios, M-Bus) catch MeterRefused alone: a refusal class outside it would escape them."""
    refusals = [obj for module in _meter_sim_modules() for name, obj in vars(module).items()
                if name.endswith("Refused") and isinstance(obj, type)]
    assert {c.__name__ for c in refusals} >= {"BreakerRefused", "LoadControlRefused", "PrepaymentRefused",
                                              "TariffRefused"}
    assert all(issubclass(c, MeterRefused) for c in refusals), refusals
    meter, _ = make_meter(z14=0)
    with pytest.raises(MeterRefused):
        meter.load_control_command(1, "on")


def _meter_sim_modules() -> list[ModuleType]:
    package = importlib.import_module("meter_sim")
    return [importlib.import_module(info.name)
            for info in pkgutil.walk_packages(package.__path__, "meter_sim.") if not info.name.endswith("__main__")]


# --- permanent memory -----------------------------------------------------------------------------
def test_restart_from_saved_state_continues_exactly(tmp_path: Path) -> None:
    store = MeterStore(tmp_path / "m.json")
    settings = {"seed": 5, "household": HouseholdSettings(pv_kwp=4)}
    a, _ = make_meter(**settings)
    a.advance_to(JAN_15 + 3 * 3600 + 17)
    store.save(a.to_state())
    a.advance_to(JAN_15 + 10 * 3600)
    b, _ = make_meter(JAN_15 + 3 * 3600 + 17, store.load(), **settings)
    b.advance_to(JAN_15 + 10 * 3600)
    assert a.metrology.energy == b.metrology.energy and a.demand.peaks == b.demand.peaks
    assert a.readings() == b.readings()


def test_crash_never_lowers_a_published_register(tmp_path: Path) -> None:
    """The gateway saves before it publishes; whatever happens after, a restart starts from at least
    the published values, with the breaker where it was."""
    store = MeterStore(tmp_path / "m.json")
    meter, clock = make_meter(breaker=BreakerSettings(min_reconnect_delay_s=0))
    published = []
    for i in range(30):
        clock.advance(600)
        meter.update()
        if i == 10:
            meter.breaker_command("disconnect")
        store.save(meter.to_state())
        published.append(meter.readings())
    clock.advance(300)
    meter.update()  # unsaved progress, then the process dies
    (tmp_path / "m.json.tmp").write_bytes(b'{"format": 1, "sta')  # a write the crash interrupted
    restored, _ = make_meter(clock.now(), store.load())
    after = restored.readings()
    for key in ("a_plus", "a_minus", "r_plus", "r_minus", "e_plus", "e_minus", "a_plus_t1", "a_plus_t2"):
        assert after[key] >= published[-1][key], key  # type: ignore[operator]
    assert after["breaker"] == "disconnected"  # bi-stable: the position survives


def test_corrupt_state_falls_back_to_the_previous_generation(tmp_path: Path) -> None:
    store = MeterStore(tmp_path / "m.json")
    meter, clock = make_meter()
    store.save(meter.to_state())
    clock.advance(3600)
    meter.update()
    store.save(meter.to_state())
    (tmp_path / "m.json").write_text("{ torn")
    state = store.load()
    assert state is not None and state["t"] == int(JAN_15)  # the backup generation
    (tmp_path / "m.json.bak").write_text("[]")
    with pytest.raises(PersistenceError, match="refusing to start from zero"):
        store.load()


def test_state_is_plain_json(tmp_path: Path) -> None:
    meter, _ = make_meter()
    meter.advance_to(JAN_15 + 100)
    assert json.loads(json.dumps(meter.to_state())) == meter.to_state()


def test_annual_consumption_setting_is_what_the_meter_registers() -> None:
    """Two weeks of a household configured for 4500 and for 9000 kWh a year (no PV), warped (the per-second model
    agrees with the warp, tests/test_warp_reference.py)."""
    daily = {}
    for annual in (4500.0, 9000.0):
        meter, _ = make_meter(JAN_15, seed=3, household=HouseholdSettings(annual_kwh=annual, pv_kwp=0))
        warp_to(meter, JAN_15 + 14 * 86400)
        daily[annual] = meter.register("a_plus") / 14
        assert daily[annual] == pytest.approx(annual / 365.25, rel=0.15)
    assert daily[9000.0] / daily[4500.0] == pytest.approx(2.0, rel=0.2)
