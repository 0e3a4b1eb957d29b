"""Eight tariffs and three tariff plans (spec §2.3, §2.6, §2.8): the registers of T1–T8 and of E± per tariff,
which of them a meter publishes (and the single-phase rule), the tariff and tariff-plan commands, their
persistence and log, the LCD tariff symbol and the Home Assistant selects."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from ha_rules import validate_discovery

from gateway.discovery import build
from gateway.sources.base import MeterInfo
from gateway.topics import Topics
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.display import Symbols, render
from meter_sim.meter import Meter
from meter_sim.metrology import ENERGY_KEYS, Metrology
from meter_sim.tariffs import TariffCalendar, TariffRefused, Tariffs, plan_count, tariff_count
from omnipower.registers import (
    ALL_REGISTERS,
    EXTENSION,
    REGISTERS,
    REGISTERS_BY_KEY,
    REGISTERS_BY_OBIS,
    meter_registers,
)

T0 = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp())  # Thursday 15 January, 01:00 local (CET)
H = 3600
TABLE = 3  # Z13 = 003: a tariff table


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def meter(start: int = T0, **settings: Any) -> Meter:
    return Meter("m", MeterSimSettings(**settings), SteppedClock(start))


def keys(registers: tuple[Any, ...]) -> set[str]:
    return {r.key for r in registers}


def season(plan: str, weekend: str = "weekend", start: str = "01-01") -> dict[str, str]:
    return {"start": start, "working": plan, "non_working": weekend, "holiday": "flat"}


# Plan 1: day/night T1/T2 on working days; plan 2: T1 all the time; plan 3: T5 with an evening peak T8 in winter,
# day/night from June. Weekends T3 in plans 1 and 3.
THREE_PLANS: dict[str, Any] = {
    "day_plans": {
        "flat": {"00:00": 1},
        "day_night": {"00:00": 1, "07:00": 2, "22:00": 1},
        "peak": {"00:00": 5, "17:00": 8, "20:00": 5},
        "weekend": {"00:00": 3},
    },
    "plans": [
        {"seasons": [season("day_night")]},
        {"seasons": [season("flat", "flat")]},
        {"seasons": [season("peak"), season("day_night", start="06-01")]},
    ],
}
TWO_PLANS: dict[str, Any] = {
    "day_plans": {"flat": {"00:00": 1}, "day_night": {"00:00": 1, "07:00": 2, "22:00": 1}},
    "plans": [{"seasons": [season("day_night", "flat")]}, {"seasons": [season("flat", "flat")]}],
}


# --- the register table -------------------------------------------------------------------------------------------
def test_the_extension_is_looked_up_like_every_register_but_stays_out_of_the_modbus_set() -> None:
    assert {r.key for r in EXTENSION}.isdisjoint(r.key for r in REGISTERS)
    assert all(REGISTERS_BY_KEY[r.key] is r for r in EXTENSION)
    assert len(ALL_REGISTERS) == len(REGISTERS) + len(EXTENSION) == len(REGISTERS_BY_OBIS)
    expected = {
        "1.8.5": "a_plus_t5", "2.8.7": "a_minus_t7", "3.8.6": "r_plus_t6", "4.8.8": "r_minus_t8",
        "9.8.1": "e_plus_t1", "9.8.8": "e_plus_t8", "10.8.3": "e_minus_t3", "1.6.7": "p_plus_max_t7",
        "96.14.128": "tariff_plan",
    }
    assert {code: REGISTERS_BY_OBIS[code].key for code in expected} == expected
    assert REGISTERS_BY_KEY["e_minus_t2"].logical_name == "1.1.10.8.2.255"
    assert REGISTERS_BY_KEY["e_plus_t4"].unit == "kVAh" and REGISTERS_BY_KEY["a_minus_t8"].unit == "kWh"
    order = [r.key for r in ALL_REGISTERS]  # T5–T8 follow T4 in the published order
    assert order[order.index("a_plus_t4") + 1:order.index("a_plus_t4") + 6] == [
        "a_plus_t5", "a_plus_t6", "a_plus_t7", "a_plus_t8", "a_minus_t1"]


# Per-tariff energy registers an energy type has (X9: 1 A+, 2 A+/A−, 3 A+/R+, 4 A+/A−/R+/R−, E± with 4 only)
QUANTITIES = {1: ("a_plus",), 2: ("a_plus", "a_minus"), 3: ("a_plus", "r_plus"),
              4: ("a_plus", "a_minus", "r_plus", "r_minus", "e_plus", "e_minus")}


@pytest.mark.parametrize("energy_type", [1, 2, 3, 4])
def test_t5_to_t8_are_published_only_when_asked_for(energy_type: int) -> None:
    four = keys(meter_registers(energy_type))
    eight = keys(meter_registers(energy_type, tariffs=8))
    upper = {f"{q}_t{t}" for q in QUANTITIES[energy_type] for t in (5, 6, 7, 8)}
    assert eight - four == upper | {f"p_plus_max_t{t}" for t in (5, 6, 7, 8)}
    assert four <= eight
    e_tariffs = {f"{q}_t{t}" for q in ("e_plus", "e_minus") for t in (1, 2, 3, 4)}
    assert (e_tariffs <= four) is (energy_type == 4) and not (e_tariffs & four and energy_type != 4)
    assert "tariff_plan" not in eight


def test_single_phase_meters_have_no_l2_and_l3_readings() -> None:
    groups = ("a_plus", "a_minus", "p_plus", "p_minus", "q_plus", "q_minus", "s_plus", "s_minus", "u", "i", "pf",
              "thd_u", "thd_i")
    three, one = keys(meter_registers(4)), keys(meter_registers(4, phases=1))
    assert three - one == {f"{g}_l{n}" for g in groups for n in (2, 3)}
    assert {f"{g}_l1" for g in groups} <= one and one <= three
    ct = keys(meter_registers(4, ct=True, phases=1))  # THD I is a direct-meter reading
    assert not any(k.startswith("thd_i") for k in ct) and "u_l1" in ct and "u_l2" not in ct


def test_the_tariff_plan_register_lists_the_plans_held() -> None:
    assert "tariff_plan" not in keys(meter_registers(4, tariff_plans=1))
    (two,) = [r for r in meter_registers(1, tariff_plans=2) if r.key == "tariff_plan"]
    (three,) = [r for r in meter_registers(1, tariff_plans=3) if r.key == "tariff_plan"]
    assert two.options == ("1", "2") and three.options == ("1", "2", "3")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"tariffs": 5}, "tariffs must be 4 (T1–T4) or 8 (T1–T8), got 5"),
        ({"tariff_plans": 0}, "tariff_plans must be 1–3, got 0"),
        ({"tariff_plans": 4}, "tariff_plans must be 1–3, got 4"),
        ({"tariff_plans": True}, "tariff_plans must be 1–3, got True"),
        ({"phases": 2}, "phases must be 1 (single-phase) or 3, got 2"),
    ],
)
def test_meter_registers_refuses_bad_parameters(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        meter_registers(4, **args)


# --- which configurations select T5–T8 ----------------------------------------------------------------------------
def test_tariff_count_follows_what_the_configuration_can_select() -> None:
    low = TariffCalendar.from_schedule({"00:00": 1, "06:00": 4})
    high = TariffCalendar.model_validate(THREE_PLANS)  # only plan 3 names T5 and T8
    assert high.max_tariff == 8 and low.max_tariff == 4
    assert tariff_count(2, low) == 8  # the command register may name any tariff
    assert tariff_count(TABLE, low) == 4 and tariff_count(TABLE, high) == 8
    assert tariff_count(1, high) == 4  # module inputs: T4 at most, whatever the calendar holds
    assert tariff_count(0, high) == 4  # off: T1
    assert plan_count(TABLE, high) == 3 and plan_count(2, high) == 1 and plan_count(TABLE, low) == 1


def test_commands_for_a_tariff_without_registers_are_refused() -> None:
    low = TariffCalendar.from_schedule({"00:00": 1, "06:00": 2})
    register = Tariffs(2, 0, low)
    register.set_override(8)
    assert register.active == 8 and register.take_change() == (1, 8)
    table = Tariffs(TABLE, 0, low, command_overrides_any_source=True)
    with pytest.raises(ValueError, match="tariff 5 is out of range for this meter: it has registers for T1–T4 only"):
        table.set_override(5)
    table.set_override(4)
    assert table.active == 4
    module = Tariffs(1, 1, low, command_overrides_any_source=True)
    with pytest.raises(ValueError, match="T5–T8 exist when Z13 = 002"):
        module.set_override(6)
    restored = Tariffs(TABLE, 0, low, command_overrides_any_source=True)
    restored.restore(register.to_state())  # saved T8 under Z13 = 002: this configuration has no T8 register
    assert restored.override is None


# --- the plans ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("local", "tariffs"),
    [
        ("2026-01-15T06:59", (1, 1, 5)),
        ("2026-01-15T18:00", (2, 1, 8)),  # Thursday evening: plan 3's peak
        ("2026-01-15T20:00", (2, 1, 5)),
        ("2026-01-17T18:00", (3, 1, 3)),  # Saturday
        ("2026-05-29T18:00", (2, 1, 8)),  # the last Friday of plan 3's winter
        ("2026-06-01T18:00", (2, 1, 2)),  # plan 3's summer season (from 06-01) runs day/night
    ],
)
def test_each_plan_runs_its_own_seasons(local: str, tariffs: tuple[int, int, int]) -> None:
    cal = TariffCalendar.model_validate(THREE_PLANS)
    assert cal.plan_count == 3
    assert tuple(cal.tariff_at(at(local), plan) for plan in (1, 2, 3)) == tariffs


def test_plan_look_ups_refuse_a_plan_not_held() -> None:
    cal = TariffCalendar.model_validate(TWO_PLANS)
    with pytest.raises(ValueError, match=r"tariff plan 3 is not held: the calendar holds plan\(s\) 1–2"):
        cal.tariff_at(at("2026-01-15T12:00"), 3)
    one = TariffCalendar.from_schedule({"00:00": 1})
    assert one.plan_count == 1 and one.plan_seasons(1) == one.seasons


def test_choosing_a_plan_switches_the_tariff_at_once() -> None:
    selector = Tariffs(TABLE, 0, TariffCalendar.model_validate(THREE_PLANS))
    selector.update(at("2026-01-15T18:00"))
    assert (selector.plan, selector.active, selector.take_change()) == (1, 2, None)
    selector.set_plan(3)
    assert (selector.plan, selector.active, selector.take_change()) == (3, 8, (2, 8))
    selector.update(at("2026-01-15T20:00"))
    assert selector.take_change() == (8, 5)
    selector.set_plan(2)
    assert (selector.active, selector.source) == (1, "calendar")


def test_plan_commands_are_refused_with_the_reason() -> None:
    two = Tariffs(TABLE, 0, TariffCalendar.model_validate(TWO_PLANS))
    with pytest.raises(TariffRefused, match="tariff plan 3 refused: the calendar holds plans 1–2"):
        two.set_plan(3)
    one = Tariffs(TABLE, 0, TariffCalendar.from_schedule({"00:00": 1}))
    with pytest.raises(TariffRefused, match="the calendar holds only plan 1"):
        one.set_plan(2)
    one.set_plan(1)  # the plan it holds: accepted
    register = Tariffs(2, 0, TariffCalendar.model_validate(TWO_PLANS))
    with pytest.raises(TariffRefused, match=r"Z13 \(tariff control\) = 002, the tariff follows the tariff register"):
        register.set_plan(2)
    for bad in (0, 4, True, 2.0):
        with pytest.raises(ValueError, match="tariff plan must be 1–3"):
            two.set_plan(bad)  # type: ignore[arg-type]
    assert two.plan == 1 and register.plan == 1


def test_the_plan_survives_a_restart_and_falls_back_when_no_longer_held() -> None:
    cal = TariffCalendar.model_validate(THREE_PLANS)
    before = Tariffs(TABLE, 0, cal)
    before.update(at("2026-01-15T18:00"))
    before.set_plan(3)
    assert before.take_change() == (2, 8)  # taken (logged) before saving: not reported again
    saved = before.to_state()
    assert saved["plan"] == 3
    after = Tariffs(TABLE, 0, cal)
    after.restore(saved)
    after.update(at("2026-01-15T18:30"))
    assert (after.plan, after.active, after.take_change()) == (3, 8, None)
    fewer = Tariffs(TABLE, 0, TariffCalendar.model_validate(TWO_PLANS))
    fewer.restore(saved)
    assert fewer.plan == 1  # (inferred) the configuration dropped plan 3: back to plan 1
    with pytest.raises(ValueError, match="saved tariff plan '2' is not 1–3"):
        after.restore({"plan": "2"})


# --- metrology ------------------------------------------------------------------------------------------------------
def test_every_energy_register_counts_into_the_active_tariff_of_eight() -> None:
    m = Metrology()
    u = [230.0, 230.0, 230.0]
    m.step(3600.0, u, [600.0, 0.0, 0.0], [-200.0, 0.0, 0.0], True, 50.0, 6)  # Q4 for an hour in T6
    m.step(3600.0, u, [-500.0, 0.0, 0.0], [100.0, 0.0, 0.0], True, 50.0, 7)  # Q2 for an hour in T7
    m.step(1800.0, u, [0.0, 400.0, 0.0], [0.0, 300.0, 0.0], True, 50.0, 8)  # Q1 for half an hour in T8
    e = dict(zip(ENERGY_KEYS, m.energy, strict=True))
    assert e["a_plus_t6"] == pytest.approx(600.0) and e["a_plus_t8"] == pytest.approx(200.0)
    assert e["e_plus_t6"] == pytest.approx(math.hypot(600.0, 200.0))
    assert e["e_plus_t8"] == pytest.approx(250.0)  # 500 VA for half an hour
    assert e["r_minus_t6"] == pytest.approx(200.0) and e["r_plus_t8"] == pytest.approx(150.0)
    assert e["a_minus_t7"] == pytest.approx(500.0) and e["r_plus_t7"] == pytest.approx(100.0)
    assert e["e_minus_t7"] == pytest.approx(math.hypot(500.0, 100.0))
    for q in ("a_plus", "a_minus", "r_plus", "r_minus", "e_plus", "e_minus"):
        assert sum(e[f"{q}_t{t}"] for t in range(1, 9)) == pytest.approx(e[q]), q
    nonzero = {k for k, v in e.items() if v and "_t" in k}
    assert nonzero == {"a_plus_t6", "e_plus_t6", "r_minus_t6", "a_minus_t7", "e_minus_t7", "r_plus_t7",
                       "a_plus_t8", "e_plus_t8", "r_plus_t8"}


# --- the meter ------------------------------------------------------------------------------------------------------
def test_a_register_meter_publishes_and_counts_t5_to_t8_and_shows_them_on_the_lcd() -> None:
    m = meter(z13=2, tariff_command_overrides_any_source=False)
    assert {"a_plus_t8", "r_minus_t5", "e_minus_t8", "p_plus_max_t8"} <= keys(m.registers)
    m.advance_to(T0 + H)
    before = {k: m.register(k) for k in ("a_plus", "e_plus", "a_plus_t6", "e_plus_t6")}
    m.set_tariff(6)
    m.advance_to(T0 + 3 * H)
    gained = {k: m.register(k) - before[k] for k in before}
    assert gained["a_plus"] > 0 and gained["a_plus_t6"] == pytest.approx(gained["a_plus"])
    assert gained["e_plus_t6"] == pytest.approx(gained["e_plus"])
    readings = m.readings()
    assert readings["tariff"] == 6 and readings["a_plus_t6"] == round(m.register("a_plus_t6"), 3)
    lcd = m.lcd(readings)
    assert lcd is not None and lcd.tariff == 6 and lcd.text().splitlines()[1].startswith("T6 ")
    (entry,) = [e for e in m.logs["tariff"].entries() if e.type == "tariff_change"]
    assert entry.detail == {"old": 1, "new": 6, "source": "command"}


def test_a_default_meter_has_t1_to_t4_only_and_refuses_t5() -> None:
    m = meter()
    readings = m.readings()
    assert "a_plus_t4" in readings and "e_minus_t4" in readings and "a_plus_t5" not in readings
    assert "tariff_plan" not in readings
    with pytest.raises(ValueError, match="tariff 5 is out of range for this meter"):
        m.set_tariff(5)
    assert m.tariffs.override is None


def test_a_calendar_naming_t5_to_t8_brings_their_registers_and_reconfiguration_follows() -> None:
    m = meter()
    assert "a_plus_t7" not in keys(m.registers)
    m.reconfigure({"tariff_calendar": THREE_PLANS})
    assert {"a_plus_t7", "e_plus_t5", "tariff_plan"} <= keys(m.registers)
    (plan,) = [r for r in m.registers if r.key == "tariff_plan"]
    assert plan.options == ("1", "2", "3")
    m.reconfigure({"tariff_calendar": None})  # back to the daily schedule (T1/T2): one plan, four tariffs
    assert not {"a_plus_t5", "p_plus_max_t5", "tariff_plan"} & keys(m.registers)


def test_the_tariff_plan_command_switches_logs_and_persists() -> None:
    settings = {"tariff_calendar": THREE_PLANS}
    m = meter(**settings)
    m.advance_to(T0 + 17 * H)  # Thursday 18:00 local
    assert (m.tariffs.active, m.readings()["tariff_plan"]) == (2, "1")
    m.set_tariff_plan(3)
    readings = m.readings()
    assert (readings["tariff"], readings["tariff_plan"]) == (8, "3")
    entries = [(e.t, e.type, e.detail) for e in m.logs["tariff"].entries()][-2:]
    assert entries == [(T0 + 17 * H, "tariff_plan_change", {"old": 1, "new": 3}),
                       (T0 + 17 * H, "tariff_change", {"old": 2, "new": 8, "source": "calendar"})]
    t8 = m.register("a_plus_t8")
    a = m.register("a_plus")
    m.advance_to(T0 + 19 * H)  # 20:00 local: plan 3 leaves the peak
    assert m.register("a_plus_t8") - t8 == pytest.approx(m.register("a_plus") - a)
    assert m.tariffs.active == 5
    m.set_tariff_plan(3)  # already active: nothing to log
    assert [e.type for e in m.logs["tariff"].entries()].count("tariff_plan_change") == 1
    state = json.loads(json.dumps(m.to_state()))  # as the gateway saves it
    again = Meter("m", MeterSimSettings(**settings), SteppedClock(m.t), state=state)
    assert (again.tariffs.plan, again.tariffs.active, again.readings()["tariff_plan"]) == (3, 5, "3")


def test_plan_commands_for_plans_not_configured_are_refused() -> None:
    m = meter(tariff_calendar=TWO_PLANS)
    with pytest.raises(TariffRefused, match="tariff plan 3 refused: the calendar holds plans 1–2"):
        m.set_tariff_plan(3)
    with pytest.raises(TariffRefused, match="Z13"):
        meter(z13=2).set_tariff_plan(2)
    assert m.tariffs.plan == 1 and "tariff_plan_change" not in [e.type for e in m.logs["tariff"].entries()]


def test_debiting_logger_2_and_the_monthly_logger_capture_t1_to_t4_only() -> None:
    m = meter(z13=2)
    m.set_tariff(5)
    m.advance_to(T0 + 24 * H)  # past 00:00 local standard time: debiting logger 2 (Z25 = 1, daily)
    m.debiting_stop()
    (daily,) = m.billing2.entries()
    (monthly,) = m.billing.entries()
    assert {"1.8.1", "1.8.4", "2.8.4", "4.8.4"} <= daily.registers.keys()
    assert not {"1.8.5", "2.8.5", "9.8.1"} & daily.registers.keys()
    assert {"1.8.4", "3.8.4"} <= monthly.registers.keys() and "1.8.5" not in monthly.registers
    assert m.readings()["a_plus_t5"] > 0  # counted, only not captured


# --- LCD and Home Assistant -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("tariff", [5, 6, 7, 8])
def test_the_lcd_tariff_symbol_shows_t5_to_t8(tariff: int) -> None:
    lcd = render("1.8.0", {"1.8.0": 12.5}, 3, Symbols.from_values({"96.14.0": tariff}))
    assert lcd.tariff == tariff and lcd.text().splitlines()[1].split()[0] == f"T{tariff}"
    energy = render(f"1.8.{tariff}", {f"1.8.{tariff}": 3.25}, 3, Symbols())
    assert (energy.value, energy.unit, energy.ident) == ("0000003.25", "kWh", f"1.8.{tariff}")
    apparent = render(f"9.8.{tariff}", {f"9.8.{tariff}": 7.5}, 3, Symbols())
    assert (apparent.value, apparent.unit) == ("0000007.50", "kVAh")


def _info(registers: tuple[Any, ...], commands: frozenset[str]) -> MeterInfo:
    return MeterInfo(meter_id="m1", name="Meter", source="simulated", model="OMNIPOWER", serial_number="12345678",
                     sw_version="1", registers=registers, commands=commands)


def _selects(info: MeterInfo) -> dict[str, dict[str, Any]]:
    out = {}
    for component, object_id, cfg in build(info, Topics("omnipower"), "0.1"):
        if component == "select":
            config = json.loads(cfg.model_dump_json(exclude_none=True))
            assert validate_discovery("select", config) == [], object_id
            out[object_id] = config
    return out


def test_home_assistant_selects_offer_the_tariffs_and_plans_the_meter_has() -> None:
    commands = frozenset({"tariff", "tariff_plan"})
    rich = _selects(_info(meter_registers(4, tariffs=8, tariff_plans=3), commands))
    assert rich["tariff_control"]["options"] == ["auto", "1", "2", "3", "4", "5", "6", "7", "8"]
    plan = rich["tariff_plan_control"]
    assert plan["options"] == ["1", "2", "3"]
    assert plan["command_topic"] == "omnipower/m1/set/tariff_plan"
    assert plan["value_template"] == "{{ value_json.tariff_plan }}"
    plain = _selects(_info(meter_registers(4), commands))
    assert set(plain) == {"tariff_control"} and plain["tariff_control"]["options"] == ["auto", "1", "2", "3", "4"]
    # a source that cannot carry the plan command gets no plan select, even with the register
    assert set(_selects(_info(meter_registers(4, tariff_plans=2), frozenset({"tariff"})))) == {"tariff_control"}
    (sensor,) = [cfg for component, key, cfg in build(_info(meter_registers(4, tariff_plans=2), commands),
                                                          Topics("omnipower"), "0.1") if key == "tariff_plan"]
    payload = json.loads(sensor.model_dump_json(exclude_none=True))
    assert payload["options"] == ["1", "2"] and validate_discovery("sensor", payload) == []
