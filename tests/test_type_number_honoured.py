"""The type number and the Z codes change how the simulated meter behaves, not only what it accepts: connection
(X4), current range (X5), accuracy class (X6), variant and radio (X8, X11: last gasp, 1107), backup (X12),
country (X14–X16: clock and radio codes) and the analysis-logger setup (Z10)."""

from __future__ import annotations

import cmath
import math
from typing import Any

import pytest
from pydantic import ValidationError

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.log_export import query_log
from meter_sim.meter import SUPERCAP_HOLD_S, Meter
from meter_sim.type_number import parse_type_number
from meter_sim.wiring import MPE_PERCENT, Accuracy, aron, fuse_limit

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC


def tn(x1: str = "4", x4: str = "3", x5: str = "1", x6: str = "B", x8: str = "1", x9: str = "4", x10: str = "3",
       x11: str = "1", x12: str = "0", x13: str = "1", country: str = "040") -> str:
    """A type number "68" X1…X16, the default being our simulated meter 6841131BN143101040."""
    return f"68{x1}11{x4}{x5}{x6}N{x8}{x9}{x10}{x11}{x12}{x13}{country}"


def meter(**settings: Any) -> Meter:
    return Meter("m", MeterSimSettings(**settings), SteppedClock(T0))


def alarm_changes(m: Meter, kind: str) -> list[bool]:
    return [e.active for e in m.drain_events() if getattr(e, "type", None) == kind]


def test_the_helper_builds_the_default_type_number() -> None:
    assert tn() == "6841131BN143101040" == MeterSimSettings().type_number


# --- country, variant: the factory's Z codes ------------------------------------------------------------------------
@pytest.mark.parametrize(("country", "z11", "z15", "z16"), [
    ("040", 1, 1, 339),  # Norway: GMT+1 (§11.2 Z11 01), EU summer time, NO radio code
    ("084", 2, 1, 359),  # Finland: GMT+2 (§11.2 Z11 02)
    ("010", 1, 1, 348),  # Denmark
    ("050", 0, 1, 319),  # UK: GMT, EU summer time dates; no national RF code → EU 319
    ("067", 0, 0, 319),  # Iceland: GMT all year
    ("120", 2, 0, 319),  # South Africa: GMT+2, no summer time
    ("151", 20, 0, 319),  # Chile: GMT−4 is code 20 (13–23 = −11…−1 h); its own summer time is not EU
])
def test_the_country_sets_the_clock_and_radio_codes_left_out(country: str, z11: int, z15: int, z16: int) -> None:
    s = MeterSimSettings(type_number=tn(country=country))
    assert (s.z11, s.z15, s.z16) == (z11, z15, z16)
    assert Meter("m", s, SteppedClock(T0)).rtc.standard_offset == (z11 if z11 <= 12 else z11 - 24) * 3600


def test_codes_given_in_the_configuration_win_over_the_factory_choice() -> None:
    s = MeterSimSettings(type_number=tn(country="084"), z11=1, z15=0, z16=0)
    assert (s.z11, s.z15, s.z16) == (1, 0, 0)


def test_a_meter_without_breaker_or_radio_gets_no_disconnect_setup_and_no_rf_code() -> None:
    s = MeterSimSettings(type_number=tn(x10="0", x11="0"))
    assert (s.z9, s.z19, s.z16) == (0, 0, 0)


def test_variant_2_has_1107_off_by_default_and_refuses_it_on() -> None:
    assert MeterSimSettings().z18 == 1
    assert MeterSimSettings(type_number=tn(x8="2")).z18 == 0
    with pytest.raises(ValidationError, match="Variant 2"):
        MeterSimSettings(type_number=tn(x8="2"), z18=1)


def test_a_single_phase_type_number_is_refused_by_the_three_phase_simulator() -> None:
    single = "68" + "6111" + "1BN" + "11" + "3001" + "040"  # X1 = 6, one measuring system
    assert parse_type_number(single).meter_type == "single_phase"  # decoded (real meters' data) …
    with pytest.raises(ValidationError, match="single-phase meter; the simulator models the three-phase"):
        MeterSimSettings(type_number=single)  # … but not simulated


# --- Z10: analysis-logger setup ----------------------------------------------------------------------------------
def test_z10_000_is_the_factory_analysis_logger_setup_following_the_energy_type() -> None:
    four = meter()
    assert four.analysis.channels == ("p_plus", "p_minus", "q_plus", "q_minus",
                                      "u_l1", "i_l1", "u_l2", "i_l2", "u_l3", "i_l3")
    assert four.analysis.interval_s == 900  # §4.4 default 15 min
    import_only = meter(type_number=tn(x9="1"))
    assert import_only.analysis.channels == ("p_plus", "u_l1", "i_l1", "u_l2", "i_l2", "u_l3", "i_l3")
    two = meter(type_number=tn(x9="2"))
    assert two.analysis.channels[:2] == ("p_plus", "p_minus")


def test_a_z10_order_form_needs_its_channels_and_a_configured_setup_is_used() -> None:
    with pytest.raises(ValidationError, match="Z10 = 007 names an analysis-logger order form"):
        MeterSimSettings(z10=7)
    m = meter(z10=7, analysis_logger={"channels": ["frequency", "thd_u_l1"], "interval_s": 300})
    assert (m.analysis.channels, m.analysis.interval_s) == (("frequency", "thd_u_l1"), 300)


# --- variant and radio: last gasp ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("x8", "x11", "gasps"), [("2", "1", True), ("1", "1", False), ("2", "0", False)])
def test_only_variant_2_with_a_radio_sends_a_last_gasp(x8: str, x11: str, gasps: bool) -> None:
    m = meter(type_number=tn(x8=x8, x11=x11), z18=0)
    m.advance_to(T0 + 60)
    m.drain_events()
    m.set_outage(True)
    m.advance_to(T0 + 120)
    m.set_outage(False)
    m.advance_to(T0 + 180)
    assert alarm_changes(m, "power_outage") == ([True, False] if gasps else [])


# --- backup: supercap or supercap + battery -------------------------------------------------------------------------
def test_without_a_battery_the_display_stays_blank_without_mains() -> None:
    m = meter()  # X12 = 0: supercap only
    assert m.display.lists.battery == ()
    m.set_outage(True)
    m.advance_to(T0 + 10)
    m.press_button()
    assert m.lcd() is None
    battery = meter(type_number=tn(x12="1"))
    battery.set_outage(True)
    battery.advance_to(T0 + 10)
    assert battery.press_button() == "1.8.0" and battery.lcd() is not None


def test_a_battery_list_is_refused_on_a_meter_without_a_battery() -> None:
    with pytest.raises(ValidationError, match="no battery"):
        MeterSimSettings(display={"battery": ["1.8.0"]})
    MeterSimSettings(type_number=tn(x12="1"), display={"battery": ["1.8.0"]})


@pytest.mark.parametrize("battery", [False, True])
def test_the_supercap_keeps_the_clock_for_7_days_only(battery: bool) -> None:
    m = meter(type_number=tn(x12="1" if battery else "0"))
    m.advance_to(T0 + 100)
    m.set_outage(True)
    m.advance_to(T0 + 100 + SUPERCAP_HOLD_S + 3600)  # one hour longer than the supercap lasts
    m.set_outage(False)
    m.advance_to(T0 + 200 + SUPERCAP_HOLD_S + 3600)
    behind = m.t - (T0 + 200 + SUPERCAP_HOLD_S + 3600)
    if battery:
        assert behind == 0 and m.clock_offset == 0
        assert query_log(m, "rtc_adjustment")[1] == 0
        return
    # Power-down is detected after 1 s below 160 V, so the meter was down 1 s less than the outage.
    assert behind == -3599 == m.clock_offset
    entries, _ = query_log(m, "rtc_adjustment")
    assert entries[-1]["delta_s"] == -3599 and entries[-1]["source"] == "supercap_empty"
    assert query_log(m, "meter_status")[0][-1]["type"] == "clock_stopped"
    # The clock stays behind across a restart, and the meter keeps stepping at the true rate.
    restarted = Meter("m", m.settings, SteppedClock(T0 + 200 + SUPERCAP_HOLD_S + 3600), state=m.to_state())
    assert restarted.clock_offset == -3599


def test_an_outage_within_7_days_leaves_the_clock_alone() -> None:
    m = meter()
    m.set_outage(True)
    m.advance_to(T0 + SUPERCAP_HOLD_S)
    m.set_outage(False)
    m.advance_to(T0 + SUPERCAP_HOLD_S + 60)
    assert m.clock_offset == 0


# --- X4: the Aron connection ---------------------------------------------------------------------------------------
ARON = tn(x4="2", x11="0", x13="0")


def test_aron_two_wattmeter_powers_add_up_to_the_installation() -> None:
    rot = [cmath.rect(1, -2 * math.pi / 3 * k) for k in range(3)]
    u = [231.0, 228.0, 233.5]
    p, q = [1200.0, 3100.0, -400.0], [300.0, -150.0, 80.0]
    lines, ps, qs, i2 = aron(u, p, q)
    assert sum(ps) == pytest.approx(sum(p)) and sum(qs) == pytest.approx(sum(q))
    assert ps[1] == qs[1] == 0.0  # the middle channel has no measuring system
    # Independent: line voltages from the phasors, the line currents from the delta branch currents.
    v = [u[k] / math.sqrt(3) * rot[k] for k in range(3)]
    u12, u23, u31 = v[0] - v[1], v[1] - v[2], v[2] - v[0]
    assert lines == pytest.approx([abs(u12), abs(u31), abs(u23)])
    assert lines == pytest.approx([230.0] * 3, abs=4.0)  # 3x230 V between lines (§1)
    b12, b23, b31 = ((complex(p[k], q[k]) / x).conjugate() for k, x in enumerate((u12, u23, u31)))
    i1, i3 = b12 - b31, b31 - b23
    assert i2 == pytest.approx(abs(b23 - b12)) == pytest.approx(abs(i1 + i3))  # no neutral: I1 + I2 + I3 = 0
    assert math.hypot(ps[0], qs[0]) / lines[0] == pytest.approx(abs(i1))
    assert math.hypot(ps[2], qs[2]) / lines[2] == pytest.approx(abs(i3))


def test_an_aron_meter_registers_the_installation_energy_with_line_quantities() -> None:
    four_wire, three_wire = meter(), meter(type_number=ARON)
    for m in (four_wire, three_wire):
        m.advance_to(T0 + 3 * 3600)
    # The same household (same seed): the same energy, however it is connected.
    assert three_wire.register("a_plus") == pytest.approx(four_wire.register("a_plus"), rel=1e-9)
    r = three_wire.readings()
    assert all(225.0 < float(r[f"u_l{n}"]) < 236.0 for n in (1, 2, 3))  # line voltages of a 3x230 V supply
    assert r["p_plus_l2"] == 0.0 and float(r["i_l2"]) > 0.0  # I2 is calculated; no system measures L2
    assert float(r["p_plus"]) == pytest.approx(float(r["p_plus_l1"]) + float(r["p_plus_l3"]), abs=1.0)


def test_an_aron_meter_has_no_neutral_to_lose() -> None:
    with pytest.raises(ValueError, match="no neutral"):
        meter(type_number=ARON).set_neutral_loss(True)


# --- X5: current range ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("x5", "imax"), [("1", 100.0), ("4", 65.0), ("6", 60.0), ("8", 80.0)])
def test_no_phase_draws_more_than_the_meters_imax(x5: str, imax: float) -> None:
    m = meter(type_number=tn(x5=x5))
    m.set_load(extra_w=100_000.0)  # 33 kW per phase: 145 A at 230 V
    m.advance_to(T0 + 60)
    r = m.readings()
    assert [r[f"i_l{n}"] for n in (1, 2, 3)] == [pytest.approx(imax, abs=0.01)] * 3


def test_fuse_limit_cuts_back_only_the_phase_beyond_imax() -> None:
    u, p, q = [230.0] * 3, [30_000.0, 1000.0, -20_000.0], [10_000.0, 100.0, 0.0]
    p2, q2 = fuse_limit(u, p, q, 100.0)
    assert math.hypot(p2[0], q2[0]) == pytest.approx(23_000.0) and p2[0] / q2[0] == pytest.approx(3.0)
    assert (p2[1], q2[1]) == (1000.0, 100.0)
    assert p2[2] == pytest.approx(-20_000.0)  # 87 A of export: within 100 A
    assert fuse_limit(u, [1.0] * 3, [0.0] * 3, 100.0)[0] == [1.0] * 3


# --- X6: accuracy class --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["A", "B", "2", "1"])  # the direct meter's classes (C and 0.5 are CT only)
def test_the_registration_error_stays_within_the_class(cls: str) -> None:
    ideal = meter(type_number=tn(x6=cls))
    real = meter(type_number=tn(x6=cls), accuracy={"error_fraction": 1.0})
    for m in (ideal, real):
        m.advance_to(T0 + 6 * 3600)
    error = real.register("a_plus") / ideal.register("a_plus") - 1.0
    high, low = MPE_PERCENT[cls]
    assert 0.0 < abs(error) <= max(high, low) / 100.0
    assert abs(real.accuracy.gain_high - 1.0) <= high / 100.0 and abs(real.accuracy.gain_low - 1.0) <= low / 100.0


def test_the_error_depends_on_the_current_range_and_the_seed() -> None:
    cr = parse_type_number(tn()).current  # Itr 0.25 A
    acc = Accuracy("B", cr, 1.0, seed=7)
    assert acc.gain_high != acc.gain_low
    p, _ = acc.apply([230.0] * 3, [1000.0, 10.0, 0.0], [0.0] * 3)  # 4.3 A (≥ Itr), 0.04 A (< Itr)
    assert p == pytest.approx([1000.0 * acc.gain_high, 10.0 * acc.gain_low, 0.0])
    again = Accuracy("B", cr, 1.0, seed=7)
    assert (again.gain_high, again.gain_low) == (acc.gain_high, acc.gain_low)
    assert (Accuracy("B", cr, 1.0, seed=8).gain_high) != acc.gain_high
    assert Accuracy("B", cr, 0.0, seed=7).ideal


def test_an_ideal_meter_is_unchanged_by_the_accuracy_settings() -> None:
    a, b = meter(), meter(accuracy={"error_fraction": 0.0}, type_number=tn(x6="A"))
    for m in (a, b):
        m.advance_to(T0 + 3600)
    assert a.register("a_plus") == b.register("a_plus")


def test_the_han_module_pushes_the_layout_of_the_meters_country() -> None:
    from meter_sim.modules.han_push import HanPush, HanSettings

    assert HanPush(meter(type_number=tn(country="010"))).settings.layout == "dk"  # Danish push 1 (§10.5)
    assert HanPush(meter()).settings.layout == "nve"  # Norway: the HAN-NVE lists
    chosen = HanPush(meter(type_number=tn(country="010")), settings=HanSettings(layout="nve"))
    assert chosen.settings.layout == "nve" and chosen.meter_type == tn(country="010")


def test_a_ct_meter_is_not_fused_at_its_secondary_imax() -> None:
    ct = meter(type_number="68" + "5113" + "1CD" + "14" + "0011" + "040")  # CT, 1(6) A secondary
    assert ct.settings.type.current.imax == 6.0
    ct.set_load(extra_w=30_000.0)
    ct.advance_to(T0 + 60)
    assert float(ct.readings()["i_l1"]) > 40.0  # type: ignore[arg-type]


@pytest.mark.parametrize(("type_number", "registers"), [
    (tn(), False),  # direct: starting threshold 2.3 W per phase (§1)
    ("68" + "5113" + "1CD" + "14" + "0011" + "040", True),  # CT: 0.6 W per phase
])
def test_the_starting_threshold_follows_the_meter_type(type_number: str, registers: bool) -> None:
    m = meter(type_number=type_number, household={"pv_kwp": 0.0})
    m.set_load(scale=0.0, extra_w=4.5)  # 1.5 W per phase, resistive
    m.advance_to(T0 + 3600)
    assert (m.register("a_plus") > 0.0) is registers
    if registers:
        assert m.register("a_plus") == pytest.approx(4.5 / 1000, rel=0.01)


def test_an_aron_meter_supervises_its_line_voltages() -> None:
    m = meter(type_number=ARON)
    m.set_phase_voltage(1, 0.0)  # L1 lost upstream: U12 and U13 drop to about 133 V, U23 stays at 230 V
    m.advance_to(T0 + 60)
    r = m.readings()
    assert float(r["u_l1"]) == pytest.approx(float(r["u_l2"]), abs=3.0) and 125.0 < float(r["u_l1"]) < 140.0
    assert 225.0 < float(r["u_l3"]) < 236.0
    assert {phase for _, phase in m.alarms.active} == {1, 2}  # the voltage alarms follow the line voltages
