"""The data-sheet functions wired into the meter, driven through simulated time: tamper (§6.1), all-phase
outage and last gasp, broken neutral (§7.9), smart disconnect (§5.3), prepayment (§5.5), S0 (§1) and the
pulse input (§9), the display (§6.2–6.4), the RTC (§3), tariffs (§2.8), the analysis logger (§4.4),
sub-second sags (§7) and remote reconfiguration."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from meter_sim.alarms import AlarmEvent
from meter_sim.breaker import BreakerRefused
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.log_export import query_log
from meter_sim.loggers import ANALYSIS_POOL_VALUES, CLOCK_ADJUSTED, POWER_FAILURE
from meter_sim.meter import Meter, floating_star_voltages
from meter_sim.prepayment import PrepaymentRefused
from meter_sim.tariffs import TariffRefused

T0 = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp())  # a Thursday, 01:00 local (CET)


LAST_GASP_BATTERY = "6841131BN243111040"  # Variant 2 with radio (last gasp), supercap + battery (battery display)


def meter(start: int = T0, **settings: Any) -> Meter:
    return Meter("m", MeterSimSettings(**settings), SteppedClock(start))


def alarms(m: Meter, kind: str) -> list[bool]:
    return [e.active for e in m.drain_events() if isinstance(e, AlarmEvent) and e.type == kind]


def log_types(m: Meter, name: str) -> list[str]:
    return [e.type for e in m.logs[name].entries()]


# --- voltage alarms ------------------------------------------------------------------------------------------------
def test_voltage_alarms_follow_the_configured_power_quality_limits() -> None:
    """The alarms and the voltage-quality log judge a phase by the same single-value limits (§7.2)."""
    m = meter(power_quality={"u_high_sv": 245, "u_low_sv": 215})
    default = meter()
    for each in (m, default):
        each.advance_to(T0 + 10)
        each.drain_events()
        each.set_phase_voltage(1, 248.0)
        each.set_phase_voltage(3, 212.0)
        each.advance_to(T0 + 20)
    events = [e for e in m.drain_events() if isinstance(e, AlarmEvent)]
    assert [(e.type, e.active, e.phase) for e in events] == [("overvoltage", True, 1), ("undervoltage", True, 3)]
    assert {("overvoltage", 1), ("undervoltage", 3)} <= set(m.alarms.active)
    assert alarms(default, "overvoltage") == [] and not default.alarms.active  # 248 V and 212 V: within 207–253 V
    m.set_phase_voltage(1, None)
    m.set_phase_voltage(3, None)
    m.advance_to(T0 + 30)  # the excursions end: the log has them, the alarms end with them
    assert {e.type for e in m.logs["voltage_quality"].entries()} >= {"sv_max_start", "sv_min_start"}
    assert not m.alarms.active and alarms(m, "overvoltage") == [False]
    m.set_phase_voltage(2, 250.0)
    m.advance_to(T0 + 40)
    assert alarms(m, "overvoltage") == [True]
    m.reconfigure({"power_quality": {"u_high_sv": 253}})  # a remote change of the limit moves the alarm with it
    m.advance_to(T0 + 41)
    assert alarms(m, "overvoltage") == [False]


# --- tamper -------------------------------------------------------------------------------------------------------
def test_magnetic_tamper_is_logged_alarmed_and_shown_while_present() -> None:
    m = meter()
    m.advance_to(T0 + 30)
    m.set_tamper("magnetic", True)
    assert alarms(m, "tamper_magnetic") == [True]
    assert ("tamper_magnetic", None) in m.alarms.active
    lcd = m.lcd()
    assert lcd is not None and lcd.tamper and "TAMPER" in lcd.text()
    m.advance_to(T0 + 90)
    m.set_tamper("magnetic", False)  # temporary symbol mode (default): clears with the cause
    assert alarms(m, "tamper_magnetic") == [False]
    assert log_types(m, "meter_status") == ["tamper_magnetic_start", "tamper_magnetic_end"]
    assert [e.t for e in m.logs["meter_status"].entries()] == [T0 + 30, T0 + 90]
    lcd = m.lcd()
    assert lcd is not None and not lcd.tamper


def test_permanent_cover_tamper_stays_until_released_and_survives_a_restart() -> None:
    m = meter(tamper={"symbol_mode": "permanent"})
    m.set_tamper("cover", True)
    m.advance_to(T0 + 10)
    m.set_tamper("cover", False)
    assert alarms(m, "tamper_cover") == [True]  # latched: the cover closed again, the indication stays
    restarted = Meter("m", m.settings, SteppedClock(m.t), state=m.to_state(), logs=m.logs_state())
    assert restarted.tamper.symbol_on and ("tamper_cover", None) in restarted.alarms.active
    assert restarted.tamper_release() == ["cover"]
    assert alarms(restarted, "tamper_cover") == [False]
    assert log_types(restarted, "meter_status")[-1] == "tamper_cover_released"


# --- outage, neutral -----------------------------------------------------------------------------------------------
def test_all_phase_outage_raises_last_gasp_blanks_the_display_and_flags_the_profile() -> None:
    m = meter(type_number=LAST_GASP_BATTERY)
    m.advance_to(T0 + 100)
    m.set_outage(True)
    m.advance_to(T0 + 101)
    assert alarms(m, "power_outage") == []  # the first sample below 160 V is still measured (§1)
    m.advance_to(T0 + 102)
    assert alarms(m, "power_outage") == [True]
    assert m.lcd() is None  # no mains: blank until the button is pressed
    assert m.press_button() == "1.8.0"  # the battery list
    m.advance_to(T0 + 400)
    m.set_outage(False)
    m.advance_to(T0 + 401)
    assert alarms(m, "power_outage") == [False]
    assert m.display.state == "start_rom"  # start-up sequence on power return (§6.4)
    m.advance_to(T0 + 900)
    assert m.load_profile.entries()[-1].status & POWER_FAILURE


def test_floating_star_point_of_a_broken_neutral() -> None:
    balanced = floating_star_voltages([230.0] * 3, [500.0] * 3)
    assert balanced == pytest.approx([230.0] * 3)
    # One heavily loaded phase (10:1:1 admittances): the star point moves 9/12 of the way towards L1.
    u1, u2, u3 = floating_star_voltages([230.0] * 3, [2000.0, 200.0, 200.0])
    assert u1 == pytest.approx(230 * 3 / 12)
    assert u2 == pytest.approx(u3) and u2 == pytest.approx(math.hypot(-115 - 172.5, 230 * math.sqrt(3) / 2))


def test_broken_neutral_with_an_unbalanced_load_trips_the_neutral_fault_disconnect() -> None:
    m = meter(power_quality={"neutral_fault_disconnect": True}, household={"pv_kwp": 0})
    m.advance_to(T0 + 60)
    m.household.extra_w = 0.0
    m.household._load_p[0] += 3000.0  # a 3 kW heater on L1 only (the neutral fault needs an unbalance)
    m.set_neutral_loss(True)
    m.advance_to(T0 + 60 + 61)
    u = m.base_values()
    assert (m.breaker.state, m.breaker.reason) == ("disconnected", "neutral_fault")
    assert log_types(m, "neutral_fault") == ["neutral_fault_start"]
    assert alarms(m, "neutral_fault") == [True]
    assert float(u["u_l1"]) > 0  # type: ignore[arg-type]


# --- smart disconnect ----------------------------------------------------------------------------------------------
def test_smart_disconnect_trips_on_power_after_t1_and_recloses_automatically() -> None:
    sd = {"basis": "power", "limit": 5000, "k1": 1.5, "k2": 1.2, "k3": 1.0, "t1": 10, "t2": 50, "t3": 240,
          "auto_reconnect": True, "reconnect_delay_s": 60}
    m = meter(smart_disconnect=sd, household={"pv_kwp": 0})
    m.advance_to(T0 + 100)
    m.set_load(extra_w=9000.0)  # > 1.5 × 5 kW: band 1, trips after more than t1 = 10 s
    m.advance_to(T0 + 110)
    assert m.breaker.state == "connected"
    m.advance_to(T0 + 111)
    assert (m.breaker.state, m.breaker.reason) == ("disconnected", "smart_disconnect")
    entry = m.logs["disconnect"].entries()[-1]
    assert entry.detail["reason"] == "smart_disconnect" and "band 1" in entry.detail["detail"]
    assert m.base_values()["p_plus"] == 0.0  # no current through the open breaker
    m.set_load(extra_w=0.0)
    m.advance_to(T0 + 111 + 60)
    assert (m.breaker.state, m.breaker.reason) == ("connected", "smart_disconnect_cleared")


def test_smart_disconnect_needs_z9_and_a_breaker() -> None:
    with pytest.raises(ValidationError, match="Z9 = 000"):
        MeterSimSettings(z9=0, smart_disconnect={"basis": "current", "limit": 20})


# --- prepayment ----------------------------------------------------------------------------------------------------
def test_prepayment_runs_out_disconnects_and_a_top_up_reconnects() -> None:
    pp = {"enabled": True, "initial_value": 1.0, "low_credit": 0.5}
    m = meter(z13=0, prepayment=pp, household={"pv_kwp": 0})
    assert {"prepayment_remaining", "prepayment_credit", "prepayment_state"} <= {r.key for r in m.registers}
    m.set_load(extra_w=6000.0)
    m.advance_to(T0 + 3600)
    assert alarms(m, "low_credit") == [True]
    assert (m.breaker.state, m.breaker.reason) == ("disconnected", "prepayment")
    readings = m.readings()
    assert readings["prepayment_remaining"] == 0.0 and readings["prepayment_state"] == "zero_disconnected"
    with pytest.raises(BreakerRefused, match="prepayment"):
        m.breaker_command("connect")
    a_plus, credit = m.register("a_plus"), m.prepayment.credit
    assert credit > 0  # what was used while at 0 (the overrun of the second it ran out, and since)
    m.top_up(5.0)
    m.advance_to(m.t + 6)  # reconnection honours the 5 s minimum after the disconnection
    assert m.breaker.state == "connected" and alarms(m, "low_credit") == [False]
    assert m.prepayment.remaining == pytest.approx(5.0 - credit - (m.register("a_plus") - a_plus), abs=1e-6)
    assert log_types(m, "prepayment")[-2:] == ["top_up", "prepayment_credit_ok"]


def test_prepayment_refused_on_a_tariff_meter_and_top_up_refused_when_off() -> None:
    with pytest.raises(ValidationError, match="mutually exclusive"):
        MeterSimSettings(prepayment={"enabled": True})
    with pytest.raises(PrepaymentRefused):
        meter().top_up(10)


# --- pulses --------------------------------------------------------------------------------------------------------
def test_s0_pulses_follow_a_plus_at_1000_imp_per_kwh() -> None:
    m = meter()
    m.advance_to(T0 + 7200)
    assert m.s0 is not None and m.s0.imp_per_kwh == 1000 and m.s0.width_ms == 30
    fed_wh = m.register("a_plus") * 1000 - m._s0_wh
    assert m.s0.count + m.s0.queued == math.floor(fed_wh + 1e-6)
    assert m.readings()["s0_pulses"] == m.s0.count


def test_pulse_input_counts_at_most_25_per_second_in_the_z12_unit() -> None:
    m = meter(z3=3, z12=2, pulse_input_divisor=40)  # §9's example: 25 l per pulse shown in m³ → divisor 40
    reg = next(r for r in m.registers if r.key == "pulse_input")
    assert reg.unit == "m³"
    assert m.pulse_input(30) == 25  # §9: max 25 Hz
    m.advance_to(T0 + 1)
    assert m.pulse_input(10) == 10
    assert m.readings()["pulse_input"] == pytest.approx(35 / 40)
    with pytest.raises(ValueError, match="no pulse input"):
        meter().pulse_input(1)


# --- display -------------------------------------------------------------------------------------------------------
def test_display_scrolls_every_10_s_and_returns_to_automatic_2_min_after_the_last_press() -> None:
    m = meter()
    auto = m.display.lists.automatic
    m.advance_to(T0 + 14)
    assert m.display.current_item(m.mono) == "phases"  # start-up 10–15 s
    for k in range(len(auto) + 1):
        m.advance_to(T0 + 15 + 10 * k)
        assert m.display.current_item(m.mono) == auto[k % len(auto)]
    assert m.press_button() == m.display.lists.manual[0]
    m.advance_to(m.t + 119)
    assert m.display.state == "manual"
    m.advance_to(m.t + 1)
    assert m.lcd() is not None and m.display.state == "auto"


def test_lcd_renders_the_energy_with_z1_decimals_and_obis_code() -> None:
    m = meter(z1=3)  # 7.2
    m.advance_to(T0 + 15)  # first automatic item: A+
    lcd = m.lcd()
    assert lcd is not None and lcd.item == "1.8.0" and lcd.unit == "kWh"
    kwh = m.register("a_plus")
    assert lcd.value == f"{math.floor(kwh * 100) / 100:010.2f}"  # truncated, 7 integer digits, 2 decimals
    assert lcd.tariff == m.tariffs.active
    assert lcd.breaker == "off"  # §5.1: both breaker symbols are off while smart disconnect is disabled
    sd = meter(smart_disconnect={"basis": "current", "limit": 25})
    sd.advance_to(T0 + 15)
    lcd = sd.lcd()
    assert lcd is not None and lcd.breaker == "connected" and "BRK:ON" in lcd.text()


# --- clock ---------------------------------------------------------------------------------------------------------
def test_time_set_is_logged_and_flags_the_load_profile_period() -> None:
    m = meter()
    m.advance_to(T0 + 100)
    assert m.set_time(T0 + 103) == 3  # under the 7-s filter: not logged, but the period is flagged
    assert log_types(m, "rtc_adjustment") == []
    m.advance_to(m.t + 900)
    assert m.load_profile.entries()[-1].status & CLOCK_ADJUSTED
    before = m.t
    m.set_time(before + 3600)
    (entry,) = m.logs["rtc_adjustment"].entries()
    assert entry.detail["delta_s"] == 3600 and entry.t == before + 3600
    assert m.readings()["time"] == m.rtc.iso(before + 3600)


def test_clock_set_back_over_midnight_does_not_repeat_the_debiting_stop() -> None:
    start = int(datetime(2026, 1, 31, 22, 0, tzinfo=UTC).timestamp())  # 23:00 local, before 1 Feb
    m = meter(start=start)
    m.advance_to(start + 7200)  # past midnight local: the monthly debiting stop of 1 Feb
    assert m.debiting_periods == 1
    m.set_time(start)
    m.advance_to(m.t + 7200)
    assert m.debiting_periods == 1 and len(m.billing.entries()) == 1


# --- tariffs -------------------------------------------------------------------------------------------------------
def test_calendar_holiday_plan_and_tariff_change_log() -> None:
    calendar = {
        "day_plans": {"work": {"00:00": 1, "06:00": 2, "22:00": 1}, "free": {"00:00": 1}},
        "seasons": [{"start": "01-01", "working": "work", "non_working": "free", "holiday": "free"}],
        "exception_days": ["2026-01-15"],
    }
    m = meter(tariff_calendar=calendar, z20=1)
    m.advance_to(T0 + 86400)  # Thursday 15 January is an exception day: T1 all day
    assert "tariff_change" not in log_types(m, "tariff")
    m.advance_to(T0 + 86400 + 6 * 3600)  # Friday 07:00 local
    assert m.tariffs.active == 2
    (entry,) = m.logs["tariff"].entries()
    assert entry.detail == {"old": 1, "new": 2, "source": "calendar"}
    assert entry.t == T0 + 86400 + 5 * 3600  # 06:00 local


def test_module_inputs_select_the_tariff_with_z13_001() -> None:
    m = meter(z13=1, z3=1, tariff_command_overrides_any_source=False)  # 4-tariff module
    m.set_module_inputs(True, True)
    assert m.tariffs.active == 4 and m.tariffs.source == "module"
    with pytest.raises(TariffRefused, match="Z13"):
        m.set_tariff(2)
    m2 = meter(z13=1, z3=2)  # inverted
    m2.set_module_inputs(False, False)
    assert m2.tariffs.active == 4


# --- analysis logger, sags -------------------------------------------------------------------------------------------
def test_analysis_logger_records_its_channels_and_spans_the_pool() -> None:
    m = meter(analysis_logger={"channels": ["u_l1", "i_l1", "frequency"], "interval_s": 900})
    m.advance_to(T0 + 3600)
    entries = m.analysis.entries()
    assert [e.t for e in entries] == [T0 + 900 * k for k in (1, 2, 3, 4)]
    assert set(entries[0].values) == {"u_l1", "i_l1", "frequency"}
    assert 200 < float(entries[-1].values["u_l1"]) < 260  # type: ignore[arg-type]
    assert m.analysis.capacity == ANALYSIS_POOL_VALUES // 3


def test_analysis_logger_averages_current_thd() -> None:
    """Found by the time-warp's reference test: a thd_i channel made the meter fail to start (the channel was set
    up before the value it averages existed)."""
    m = meter(analysis_logger={"channels": ["thd_i_l1", "thd_u_l1"], "interval_s": 900})
    m.advance_to(T0 + 1800)
    entries = m.analysis.entries()
    assert [e.t for e in entries] == [T0 + 900, T0 + 1800]
    assert all(0.0 < float(e.values["thd_i_l1"]) < 100.0 for e in entries)  # type: ignore[arg-type]


def test_sub_second_sag_is_counted_when_deep_enough() -> None:
    m = meter()
    m.advance_to(T0 + 10)
    assert not m.voltage_event("sag", 1, 200, 30)  # residual 200 V: not below 184 V
    assert m.voltage_event("sag", 1, 200, 60)
    assert not m.voltage_event("swell", 2, 150, 40)  # 270 V: not above 276 V (+20 %)
    assert m.voltage_event("swell", 2, 150, 50)
    assert (m.pq.counters()["Sags"], m.pq.counters()["Swells"]) == (1, 1)
    sag, swell = m.logs["voltage_quality"].entries()
    assert (sag.t, sag.type) == (T0 + 10, "sag")
    assert sag.detail == {"phase": 1, "duration_ms": 200, "depth_v": 60, "u": 170.0}
    assert (swell.type, swell.detail["height_v"], swell.detail["u"]) == ("swell", 50, 280.0)


# --- remote reconfiguration ------------------------------------------------------------------------------------------
def test_reconfigure_changes_the_profile_period_and_refuses_bad_values_whole() -> None:
    m = meter()
    m.advance_to(T0 + 1800)
    assert m.reconfigure({"z4": 4}) == {"z4": 4}
    assert m.period_s == 3600 and len(m.load_profile) == 0
    with pytest.raises(ValidationError):
        m.reconfigure({"z6": 30, "power_threshold_w": 100})
    assert m.settings.z6 == 1 and m.settings.power_threshold_w == 0  # nothing of a refused change applied
    m.advance_to(T0 + 7200)
    assert [e.t for e in m.load_profile.entries()] == [T0 + 3600, T0 + 7200]  # the new 60-min grid
    assert log_types(m, "meter_status")[-1] == "reconfigured"


def test_reconfigure_switches_prepayment_on_and_adds_its_registers() -> None:
    m = meter(z13=0)
    assert "prepayment_remaining" not in {r.key for r in m.registers}
    m.reconfigure({"prepayment": {"enabled": True, "initial_value": 10}})
    assert m.readings()["prepayment_remaining"] == 10.0


def test_analysis_logger_is_readable_like_every_log() -> None:
    m = meter(analysis_logger={"channels": ["u_l1", "frequency"], "interval_s": 300})
    m.advance_to(T0 + 3600)
    page, total = query_log(m, "analysis", T0 + 600, None, 1, 2)
    assert total == 11 and [e["time"] for e in page] == ["2026-01-15T01:15:00+01:00", "2026-01-15T01:20:00+01:00"]
    assert set(page[0]) == {"time", "u_l1", "frequency"} and 49 < page[0]["frequency"] < 51


def test_analysis_logger_keeps_interval_means() -> None:
    m = meter(analysis_logger={"channels": ["u_l1", "p_plus_max"], "interval_s": 900})
    m.set_phase_voltage(1, 240.0)
    m.advance_to(T0 + 450)
    m.set_phase_voltage(1, 220.0)
    m.advance_to(T0 + 900)
    (entry,) = m.analysis.entries()
    assert entry.values["u_l1"] == pytest.approx(230.0)  # 450 s at 240 V and 450 s at 220 V
    assert entry.values["p_plus_max"] == m.base_values()["p_plus_max"]  # not instantaneous: as it stands


def test_thd_from_the_feeder_and_the_load_mix() -> None:
    m = meter(household={"pv_kwp": 0})
    m.advance_to(T0 + 3600)
    values = m.readings()
    for n in (1, 2, 3):
        assert 1.5 <= float(values[f"thd_u_l{n}"]) <= 4.0  # type: ignore[arg-type]  # a typical LV feeder
        assert 0.0 < float(values[f"thd_i_l{n}"]) <= 120.0  # type: ignore[arg-type]
    m.set_load(scale=0.0, extra_w=9000.0)  # only resistive heating left: the current is nearly sinusoidal
    m.advance_to(m.t + 60)
    assert all(float(m.readings()[f"thd_i_l{n}"]) < 5.0 for n in (1, 2, 3))  # type: ignore[arg-type]
    m.set_outage(True)
    m.advance_to(m.t + 60)
    assert [m.readings()[f"thd_u_l{n}"] for n in (1, 2, 3)] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(("z3", "inverted"), [(3, False), (4, True), (7, False), (8, False), (9, True), (10, True)])
def test_module_alarm_input_follows_the_z3_table(z3: int, inverted: bool) -> None:
    m = meter(z3=z3)
    assert alarms(m, "module_alarm_input") == ([True] if inverted else [])  # inverted: no voltage is the alarm
    m.set_module_inputs(False, True)  # 230 V on I/O2, the alarm input
    assert alarms(m, "module_alarm_input") == ([False] if inverted else [True])
    m.set_module_inputs(False, False)
    assert alarms(m, "module_alarm_input") == ([True] if inverted else [False])


@pytest.mark.parametrize(("logger", "reason"), [
    ({"interval_s": 600}, "one of 300, 900, 1800, 3600"),
    ({"channels": [f"u_l{n % 3 + 1}" for n in range(17)]}, "1–16"),
    ({"channels": []}, "1–16"),
    ({"channels": ["u_l1", "u_l1"]}, "distinct"),
    ({"channels": ["a_plus"]}, "not an instantaneous register"),
])
def test_analysis_logger_settings_are_checked_with_the_loggers_rules(logger: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        MeterSimSettings(analysis_logger=logger)
