"""Scenarios (meter_sim/scenario.py, docs/scenarios.md): the file format and its validation, the expansion into
meter calls, the runner, and what a real Meter does with scripted inputs, checked against the spec's numbers."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from meter_sim.alarms import AlarmEvent
from meter_sim.breaker import BreakerRefused
from meter_sim.cli import load_meters, main
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.loggers import POWER_FAILURE
from meter_sim.meter import Meter
from meter_sim.prepayment import PrepaymentRefused
from meter_sim.scenario import KINDS, Action, Scenario, ScenarioError, parse_duration_ms, run

ROOT = Path(__file__).resolve().parent.parent
T0 = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())  # a Monday, 01:00 local standard time (Z11 = 1)
H = 3600
D = 86400


def parse(events: str, header: str = "") -> Scenario:
    return Scenario.parse(f"{header}\nevents:\n{events}")


def calls(scenario: Scenario, end: float | None = T0 + 3 * D) -> list[tuple[int, str, dict[str, Any]]]:
    return [(a.t - T0, a.call, a.named_args) for a in scenario.timeline(T0, end)]


# --- the file format ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("36h", 36 * H), ("2d 06:30", 2 * D + 6 * H + 1800), ("1h30m", 5400), ("1h 30min", 5400),
    ("06:30:15", 6 * H + 1815), ("1.5h", 5400), ("1w", 7 * D), ("200ms", 0.2), (90, 90), ("2d06:30", 196200),
])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration_ms(text) == round(seconds * 1000)


@pytest.mark.parametrize("text", ["5mo", "130:00", "24:00", "1d 2d", "", "h", "-5s", "1 h 2", "2026"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(text)


def test_unquoted_times_of_day_are_not_base_60_numbers() -> None:
    """YAML 1.1 reads 17:00 as 1020; the scenario reads it as 17 h (and as a shape key)."""
    scenario = parse("""
  - {at: 17:00, kind: outage}
  - {at: 2d 10:30, kind: debiting_stop}
  - {at: 0, kind: load, shape: {00:00: 0.5, 17:00: 1.5}, days: 1}
""")
    assert calls(scenario) == [
        (0, "set_load", {"scale": 0.5, "extra_w": 0.0}),
        (17 * H, "set_outage", {"active": True}),
        (17 * H, "set_load", {"scale": 1.5, "extra_w": 0.0}),
        (D, "set_load", {"scale": 1.0, "extra_w": 0.0}),
        (2 * D + 10 * H + 1800, "debiting_stop", {"reason": "command"}),
    ]


def test_every_problem_is_reported_with_its_place() -> None:
    with pytest.raises(ScenarioError) as info:
        parse("""
  - {at: 1h, kind: voltage, phase: 4, volts: 240}
  - {at: 1h, kind: teleport}
  - {at: 1h, kind: top_up, amount: 5, duration: 1h}
  - {at: 1h, kind: outage, active: false, duration: 1h}
  - {at: 1x, kind: debiting_stop}
  - {at: "2026-01-05T06:30:00", kind: debiting_stop}
  - {at: 1h, kind: load, shape: {"7:00": 1.2}}
  - {at: 1h, kind: sag, phase: 1, depth_v: 80, duration: 1500ms}
  - {at: 1h, kind: pv, scale: 1, repeat: {every: 0s}}
  - {at: 1h, kind: load}
  - {kind: pulses, pulses: 3}
""")
    problems = info.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "events[0].phase", "events[1].kind", "events[2].duration", "events[3].active", "events[4].at",
        "events[5].at", "events[6].shape", "events[7].duration", "events[8].repeat.every", "events[9].scale",
        "events[10].at",
    ]
    assert "'teleport' is not one of load, pv" in problems[1]
    assert problems[2] == "events[2].duration: unknown key for kind top_up"
    assert "needs a UTC offset" in problems[5]
    assert "whole seconds" in problems[7]


def test_the_file_may_carry_the_meters_list_and_bad_yaml_is_one_problem() -> None:
    scenario = Scenario.parse("scenario: {name: both}\nmeters: [{id: a}]\nevents: []\n")
    assert scenario.scenario.name == "both" and scenario.events == []
    with pytest.raises(ScenarioError, match="not valid YAML"):
        Scenario.parse("events: [")
    with pytest.raises(ScenarioError, match=r"^scenario\.colour: unknown key"):
        Scenario.parse("scenario: {name: x, colour: red}\nevents: []\n")


# --- expansion into meter calls ---------------------------------------------------------------------------------------
def test_duration_expands_into_start_and_end_and_repeat_into_occurrences() -> None:
    scenario = parse("""
  - {at: 1h, kind: tamper, detector: magnetic, duration: 10m, repeat: {every: 1d, count: 2}}
  - {at: 2h, kind: button, repeat: {every: 6h}}
""")
    assert calls(scenario, T0 + D + 2 * H + 1) == [
        (H, "set_tamper", {"detector": "magnetic", "active": True}),
        (H + 600, "set_tamper", {"detector": "magnetic", "active": False}),
        (2 * H, "press_button", {}),
        (8 * H, "press_button", {}),
        (14 * H, "press_button", {}),
        (20 * H, "press_button", {}),
        (D + H, "set_tamper", {"detector": "magnetic", "active": True}),
        (D + H + 600, "set_tamper", {"detector": "magnetic", "active": False}),
        (D + 2 * H, "press_button", {}),  # the end is exclusive: D + 2 h + 1 s
    ]
    with pytest.raises(ScenarioError, match=r"events\[1\]\.repeat\.count: needed"):
        scenario.timeline(T0)  # an open-ended repeat needs the run's end


def test_equal_times_keep_file_order_and_back_to_back_states_do_not_flicker() -> None:
    scenario = parse("""
  - {at: 1h, kind: top_up, amount: 5}
  - {at: 1h, kind: button, press: hold}
  - {at: 1h, kind: outage, duration: 1h}
  - {at: 2h, kind: outage, duration: 1h}
  - {at: 1h, kind: pulses, pulses: 3}
""")
    assert calls(scenario) == [
        (H, "top_up", {"amount": 5.0}),
        (H, "breaker_command", {"action": "push_button"}),
        (H, "set_outage", {"active": True}),
        (H, "pulse_input", {"pulses": 3}),
        (3 * H, "set_outage", {"active": False}),  # one outage 1 h–3 h: nothing at 2 h
    ]


def test_load_layers_multiply_and_add_on_a_daily_shape() -> None:
    """A daily shape, a holiday at 0.4 on day 1 and an EV charging 7.4 kW at 18:00 for 3 h on two days."""
    scenario = parse("""
  - {at: 0, kind: load, shape: {"00:00": 1.0, "18:00": 1.5}, days: 2}
  - {at: 1d, kind: load, scale: 0.4, duration: 1d}
  - {at: 18:00, kind: load, extra_w: 7400, duration: 3h, repeat: {every: 1d, count: 2}}
""")
    assert [(t, a["scale"], a["extra_w"]) for t, _, a in calls(scenario)] == [
        (18 * H, 1.5, 7400.0),
        (21 * H, 1.5, 0.0),
        (D, pytest.approx(0.4), 0.0),
        (D + 18 * H, pytest.approx(0.6), 7400.0),
        (D + 21 * H, pytest.approx(0.6), 0.0),
        (2 * D, 1.0, 0.0),  # shape and holiday end together
    ]


def test_a_shape_is_cyclic_and_the_layer_started_last_wins_elsewhere() -> None:
    scenario = parse("""
  - {at: 0, kind: pv, shape: {"06:00": 0.2, "20:00": 0.0}, days: 1}
  - {at: 0, kind: voltage, phase: 1, volts: 240}
  - {at: 1h, kind: voltage, phase: 1, volts: 200, duration: 2h}
  - {at: 2h, kind: voltage, phase: 1, volts: 260, duration: 30m}
""")
    assert calls(scenario) == [
        (0, "set_pv", {"scale": 0.0}),  # before the first point the last one (20:00) holds
        (0, "set_phase_voltage", {"phase": 1, "volts": 240.0}),
        (H, "set_phase_voltage", {"phase": 1, "volts": 200.0}),
        (2 * H, "set_phase_voltage", {"phase": 1, "volts": 260.0}),
        (2 * H + 1800, "set_phase_voltage", {"phase": 1, "volts": 200.0}),
        (3 * H, "set_phase_voltage", {"phase": 1, "volts": 240.0}),
        (6 * H, "set_pv", {"scale": 0.2}),
        (20 * H, "set_pv", {"scale": 0.0}),
        (D, "set_pv", {"scale": 1.0}),  # the shape's one day is over
    ]


def test_sags_up_to_1_s_are_counted_events_longer_ones_force_the_voltage() -> None:
    scenario = parse("""
  - {at: 1h, kind: sag, phase: all, depth_v: 80, duration: 200ms}
  - {at: 2h, kind: swell, phase: 3, depth_v: 50, duration: 5s}
  - {at: 3h, kind: set_time, shift: "-2m"}
  - {at: 4h, kind: set_time, to: "2026-01-05T06:00:00+01:00"}
""")
    assert calls(scenario) == [
        (H, "voltage_event", {"kind": "sag", "phase": p, "duration_ms": 200.0, "depth_v": 80.0}) for p in (1, 2, 3)
    ] + [
        (2 * H, "set_phase_voltage", {"phase": 3, "volts": 280.0}),
        (2 * H + 5, "set_phase_voltage", {"phase": 3, "volts": None}),
        (3 * H, "set_time", {"t": float(T0 + 3 * H - 120)}),
        (4 * H, "set_time", {"t": float(T0 + 5 * H)}),
    ]


def test_absolute_times_and_times_before_the_start() -> None:
    scenario = parse('  - {at: "2026-01-05T06:30:00+01:00", kind: debiting_stop}')
    assert calls(scenario) == [(5 * H + 1800, "debiting_stop", {"reason": "command"})]
    with pytest.raises(ScenarioError, match=r"events\[0\]\.at: 2026-01-05T05:30:00\+00:00 is before the start"):
        scenario.timeline(T0 + 6 * H)


# --- the runner, with a recording stand-in for the meter -------------------------------------------------------------
class Recorder:
    """Records each call with the true time; steps whole seconds like the Meter; set_time moves its clock."""

    def __init__(self, t: int) -> None:
        self.t = t
        self.clock_offset = 0
        self.calls: list[tuple[int, str, tuple[Any, ...]]] = []
        self.advances: list[int] = []
        self.refuse: dict[str, Exception] = {}

    def advance_to(self, t: float) -> None:
        self.advances.append(math.floor(t) - self.t)
        self.t = max(self.t, math.floor(t))

    def _call(self, name: str, *args: Any) -> Any:
        self.calls.append((self.t - self.clock_offset - T0, name, args))
        if name in self.refuse:
            raise self.refuse[name]
        return None

    def set_load(self, scale: float, extra_w: float) -> None: self._call("set_load", scale, extra_w)
    def set_pv(self, scale: float) -> None: self._call("set_pv", scale)
    def set_phase_voltage(self, phase: int, volts: float | None) -> None: self._call("set_phase_voltage", phase, volts)
    def set_outage(self, active: bool) -> None: self._call("set_outage", active)
    def set_neutral_loss(self, active: bool) -> None: self._call("set_neutral_loss", active)
    def set_tamper(self, detector: str, active: bool) -> None: self._call("set_tamper", detector, active)
    def press_button(self) -> None: self._call("press_button")
    def breaker_command(self, action: str) -> None: self._call("breaker_command", action)
    def top_up(self, amount: float) -> None: self._call("top_up", amount)
    def set_module_inputs(self, port1: bool, port2: bool) -> None: self._call("set_module_inputs", port1, port2)
    def pulse_input(self, pulses: int) -> None: self._call("pulse_input", pulses)
    def debiting_stop(self, reason: str) -> None: self._call("debiting_stop", reason)
    def set_tariff(self, tariff: int | None) -> None: self._call("set_tariff", tariff)

    def voltage_event(self, kind: str, phase: int, duration_ms: float, depth_v: float) -> bool:
        self._call("voltage_event", kind, phase, duration_ms, depth_v)
        return phase == 1

    def set_time(self, t: float) -> None:
        self._call("set_time", t)
        self.clock_offset += int(t) - self.t
        self.t = int(t)


def test_run_applies_each_call_at_its_true_time_in_bounded_chunks() -> None:
    scenario = parse("""
  - {at: 90m, kind: set_time, shift: "+90s"}
  - {at: 2h, kind: breaker, action: release}
  - {at: 2h, kind: top_up, amount: 5}
  - {at: 2h, kind: tariff, tariff: 2, duration: 1h}
  - {at: 5h, kind: sag, phase: all, depth_v: 90, duration: 300ms}
""")
    target = Recorder(T0)
    target.refuse["top_up"] = PrepaymentRefused("prepayment is off")
    seen: list[int] = []
    outcomes = run(target, scenario, T0 + 6 * H + 0.5, seen.append)
    assert [(t, name) for t, name, _ in target.calls] == [
        (5400, "set_time"), (2 * H, "breaker_command"), (2 * H, "top_up"), (2 * H, "set_tariff"),
        (3 * H, "set_tariff"), (5 * H, "voltage_event"), (5 * H, "voltage_event"), (5 * H, "voltage_event"),
    ]
    assert target.t - target.clock_offset == T0 + 6 * H  # a fractional end stops at the last whole second
    assert max(target.advances) <= 3600 and seen == sorted(seen) and seen[-1] == T0 + 6 * H
    assert [o.status for o in outcomes] == ["ok", "ok", "error", "ok", "ok", "ok", "ok", "ok"]
    assert outcomes[2].error == "PrepaymentRefused: prepayment is off"
    assert [o.result for o in outcomes[5:]] == [True, False, False]
    after = outcomes[1].to_json()
    assert after["time"] == "2026-01-05T02:00:00+00:00" and after["meter_time"] == "2026-01-05T02:01:30+00:00"


def test_refusals_are_outcomes_but_other_errors_are_bugs() -> None:
    target = Recorder(T0)
    target.refuse["breaker_command"] = BreakerRefused("connect", "connected", "it is already connected")
    target.refuse["press_button"] = TypeError("a bug")
    outcomes = run(target, parse("  - {at: 1h, kind: breaker, action: connect}"), T0 + 2 * H)
    assert outcomes[0].status == "error" and "already connected" in str(outcomes[0].error)
    target = Recorder(T0)
    target.refuse["press_button"] = TypeError("a bug")
    with pytest.raises(TypeError, match="a bug"):
        run(target, [Action(T0 + 10, 0, "button", "press_button")], T0 + 20)


# --- a real meter ---------------------------------------------------------------------------------------------------
def meter(start: int = T0, **settings: Any) -> Meter:
    return Meter("m", MeterSimSettings(start=datetime.fromtimestamp(start, UTC), **settings), SteppedClock(start))


def log(m: Meter, name: str) -> list[tuple[int, str, dict[str, Any]]]:
    return [(e.t, e.type, e.detail) for e in m.logs[name].entries()]


def alarms(m: Meter, kind: str) -> list[tuple[float, bool]]:
    return [(e.time, e.active) for e in m.events if isinstance(e, AlarmEvent) and e.type == kind]


def test_an_outage_is_logged_per_phase_counted_and_flags_the_load_profile() -> None:
    """§7.6: two entries per phase for an outage longer than U_outage,timethreshold (10 s), counted long
    (> 3 min); a 5-s outage is not logged but counted short; §1: the meter goes down (the last-gasp alarm of a
    Variant 2 meter with radio, §8)."""
    m = meter(type_number="6841131BN243101040", z18=0)
    outcomes = run(m, parse("""
  - {at: 1h, kind: outage, duration: 20m}
  - {at: 2h, kind: outage, duration: 5s}
"""), T0 + 3 * H)
    assert all(o.status == "ok" for o in outcomes)
    outages = sorted((t - T0, kind, d["phase"], d.get("duration_s")) for t, kind, d in log(m, "voltage_quality")
                     if kind.startswith("outage"))  # an all-phase outage is written at power-up
    assert outages == [(H + 1, "outage_start", p, None) for p in (1, 2, 3)] + [
        (H + 1201, "outage_end", p, 1200) for p in (1, 2, 3)]
    counters = m.pq.counters()
    assert (counters["Interupts_Long"], counters["Interupts_Short"]) == (1, 1)
    assert [(t - T0, active) for t, active in alarms(m, "power_outage")] == [
        (H + 2, True), (H + 1201, False), (2 * H + 2, True), (2 * H + 6, False)]
    inside = [e for e in m.load_profile.entries() if T0 + H < e.t <= T0 + H + 1200]
    assert [(e.t - T0, e.values["1.8.0"], bool(e.status & POWER_FAILURE)) for e in inside] == [(H + 900, 0.0, True)]


def test_tamper_is_logged_in_meter_status_and_raises_an_alarm() -> None:
    m = meter()
    run(m, parse("""
  - {at: 1h, kind: tamper, detector: magnetic, duration: 10m}
  - {at: 2h, kind: tamper, detector: cover}
"""), T0 + 3 * H)
    assert [(t - T0, kind) for t, kind, _ in log(m, "meter_status") if kind.startswith("tamper")] == [
        (H, "tamper_magnetic_start"), (H + 600, "tamper_magnetic_end"), (2 * H, "tamper_cover_start")]
    assert [(t - T0, a) for t, a in alarms(m, "tamper_magnetic")] == [(H, True), (H + 600, False)]
    assert ("tamper_cover", None) in m.alarms.active and m.tamper.symbol_on  # the cover is still open


def test_a_neutral_loss_longer_than_60_s_is_a_neutral_fault() -> None:
    """§7.9: two phases > 253 V and one < 190 V for longer than 60 s. The household's uneven evening loads shift
    the floating star point; each fault is logged at the 61st second of the condition, with an alarm."""
    start = int(datetime(2026, 1, 5, 16, tzinfo=UTC).timestamp())  # 17:00 local
    calm = meter(start)
    run(calm, Scenario(), start + 3 * H)
    assert log(calm, "neutral_fault") == []
    m = meter(start)
    run(m, parse("  - {at: 0, kind: neutral_loss, duration: 2h}"), start + 3 * H)
    entries = log(m, "neutral_fault")
    starts = [(t, d) for t, kind, d in entries if kind == "neutral_fault_start"]
    assert starts
    for t, detail in starts:
        assert t - detail["since"] == 60
        u = detail["u"]
        low = [i + 1 for i in range(3) if u[i] < 190.0]
        assert len(low) == 1 and sum(v > 253.0 for v in u) == 2
    assert [kind for _, kind, _ in entries] == ["neutral_fault_start", "neutral_fault_end"] * len(starts)
    assert entries[-1][0] <= start + 2 * H + 1  # nothing after the neutral is back
    raised = alarms(m, "neutral_fault")
    assert [t for t, active in raised if active] == [float(t) for t, _ in starts] and not raised[-1][1]


def test_a_top_up_restores_the_supply_cut_at_zero_credit() -> None:
    """§5.5: at 0 kWh the breaker opens (cause prepayment); a top-up reconnects automatically, new value =
    added − credit."""
    m = meter(prepayment={"enabled": True, "initial_value": 1.0, "low_credit": 0.5}, z13=0)
    run(m, Scenario(), T0 + 4 * H)
    assert (m.breaker.state, m.breaker.reason) == ("disconnected", "prepayment")
    credit = m.prepayment.credit
    (outcome,) = run(m, parse("  - {at: 4h, kind: top_up, amount: 10}"), T0 + 5 * H, start=T0)
    assert outcome.status == "ok" and outcome.result == pytest.approx(10.0 - credit)
    disconnect = [(t - T0, kind, d["reason"]) for t, kind, d in log(m, "disconnect")]
    assert disconnect[-1] == (4 * H, "connected", "prepayment_cleared")
    assert m.breaker.state == "connected" and m.register("a_plus") > 1.0


def test_a_top_up_without_prepayment_is_refused_and_the_run_goes_on() -> None:
    m = meter()
    outcomes = run(m, parse("""
  - {at: 1h, kind: top_up, amount: 10}
  - {at: 2h, kind: breaker, action: disconnect}
"""), T0 + 3 * H)
    assert [(o.status, o.action.call) for o in outcomes] == [("error", "top_up"), ("ok", "breaker_command")]
    assert outcomes[0].error is not None and outcomes[0].error.startswith("PrepaymentRefused")
    assert m.breaker.state == "disconnected"


def test_load_and_pv_factors_change_the_energy() -> None:
    """At night (no PV) a 3 kW extra load for 2 h registers 6 kWh more and a load scale of 2 doubles A+; at noon
    PV scaled to 0 (snow) stops the export."""
    night = meter()
    run(night, Scenario(), T0 + 5 * H)
    extra = meter()
    run(extra, parse("  - {at: 1h, kind: load, extra_w: 3000, duration: 2h}"), T0 + 5 * H)
    assert extra.register("a_plus") - night.register("a_plus") == pytest.approx(6.0, abs=1e-6)
    double = meter()
    run(double, parse("  - {at: 0, kind: load, scale: 2}"), T0 + 5 * H)
    assert double.register("a_plus") == pytest.approx(2 * night.register("a_plus"), rel=1e-9)
    noon = T0 + 11 * H
    sunny, snow = meter(noon), meter(noon)
    run(sunny, Scenario(), noon + 2 * H)
    run(snow, parse("  - {at: 0, kind: pv, scale: 0}"), noon + 2 * H)
    assert sunny.register("a_minus") > 0.01 and snow.register("a_minus") == 0.0


def test_pulses_beyond_25_hz_are_lost() -> None:
    """§9: the module pulse input follows at most 25 Hz."""
    m = meter(z3=3, z12=3)
    outcomes = run(m, parse("  - {at: 1h, kind: pulses, pulses: 40}"), T0 + 2 * H)
    assert outcomes[0].result == 25 and m.pulse_count == 25


# --- the command line ------------------------------------------------------------------------------------------------
def test_simulate_with_a_scenario_writes_its_outcomes_deterministically(tmp_path: Path) -> None:
    config = tmp_path / "meters.yaml"
    config.write_text(yaml.safe_dump({"meters": [{"id": "a", "seed": 7, "start": "2026-01-05T00:00:00+00:00"}]}))
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("""
scenario: {name: cli, description: a short check}
events:
  - {at: 1h, kind: tamper, detector: cover, duration: 5m}
  - {at: 2h, kind: top_up, amount: 10, note: prepayment is off}
  - {at: 3h, kind: button, press: hold}
""")
    runs = []
    for name in ("one", "two"):
        out = tmp_path / name
        assert main(["simulate", "--config", str(config), "--days", "0.25", "--out", str(out),
                     "--scenario", str(scenario)]) == 0
        runs.append({p.name: p.read_bytes() for p in sorted((out / "a").iterdir())})
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"registers.json", "load_profile.json", "billing.json", "debiting_logger_2.json",
                            "events.json", "scenario.json"}
    doc = json.loads(runs[0]["scenario.json"])
    assert doc["scenario"] == {"name": "cli", "description": "a short check"}
    assert (doc["applied"], doc["refused"]) == (3, 1)
    assert [(o["time"], o["call"], o["status"]) for o in doc["outcomes"]] == [
        ("2026-01-05T02:00:00+01:00", "set_tamper", "ok"),
        ("2026-01-05T02:05:00+01:00", "set_tamper", "ok"),
        ("2026-01-05T03:00:00+01:00", "top_up", "error"),
        ("2026-01-05T04:00:00+01:00", "breaker_command", "ok"),
    ]
    assert doc["outcomes"][2]["note"] == "prepayment is off"
    events = json.loads(runs[0]["events.json"])
    assert [(e["time"], e["type"]) for e in events if e["log"] in ("meter_status", "disconnect")] == [
        ("2026-01-05T02:00:00+01:00", "tamper_cover_start"), ("2026-01-05T02:05:00+01:00", "tamper_cover_end"),
        ("2026-01-05T04:00:00+01:00", "disconnected")]


def test_simulate_refuses_an_invalid_scenario_naming_the_field(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("events:\n  - {at: 1h, kind: voltage, phase: 4, volts: 240}\n")
    with pytest.raises(SystemExit, match=r"invalid scenario .*\n  events\[0\]\.phase: "):
        main(["simulate", "--days", "1", "--out", str(tmp_path / "out"), "--scenario", str(scenario)])


def test_the_demo_scenario_uses_every_kind_and_carries_its_meters() -> None:
    path = ROOT / "examples" / "scenario-demo.yaml"
    scenario = Scenario.load(path)
    assert {e.kind for e in scenario.events} == set(KINDS)
    meters = load_meters(path)
    assert meters
    for m in meters:
        assert m.start is not None
        actions = scenario.timeline(m.start.timestamp(), m.start.timestamp() + 30 * D)
        assert {a.kind for a in actions} == set(KINDS)
