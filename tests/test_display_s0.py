"""Display lists, the display state machine, LCD rendering and the S0 pulse output.

Numbers come from the facts digest: lists 16/30/8 and 10 s scroll (§6.3), 2 min manual timeout (§6.2),
5 + 5 + 5 s start-up (§6.4), phase present at 160 V, arrows above 2.3 W (CT 0.6 W), quadrant arrows blank below
10 mA (§1, §6.3), Z1 formats (§11.2), S0 1000/5000 imp/kWh, Z8 30/80 ms, module table 86 A / 32 A (§9).
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_sim.display import (
    DISPLAY_ITEMS,
    Display,
    DisplayLists,
    DisplayState,
    Symbols,
    legal_items,
    render,
)
from meter_sim.s0 import S0Output, add_pulses, add_pulses_reference, z8_width_ms

T0 = 1_714_564_800  # 2024-05-01 12:00:00 UTC

# Distinct list items every energy type-4 meter has (no pseudo items), for filling lists up to their limits.
PLAIN_ITEMS = [code for code, spec in DISPLAY_ITEMS.items()
               if spec.list_item and 4 in spec.energy_types and code not in ("disconnect",)
               and code not in legal_items(4)]


def lists(**kw: object) -> DisplayLists:
    return DisplayLists.model_validate(kw)


# --- DisplayLists ---------------------------------------------------------------------------------------------------
def test_automatic_list_holds_16_but_not_17() -> None:
    assert len(lists(automatic=PLAIN_ITEMS[:16]).automatic) == 16
    with pytest.raises(ValueError, match=r"automatic display list has 17 items; at most 16"):
        lists(automatic=PLAIN_ITEMS[:17])


def test_battery_list_holds_8_but_not_9() -> None:
    assert len(lists(battery=PLAIN_ITEMS[:8]).battery) == 8
    with pytest.raises(ValueError, match=r"battery display list has 9 items; at most 8"):
        lists(battery=PLAIN_ITEMS[:9])


def test_manual_list_holds_30_counting_the_legal_items() -> None:
    # energy type 4: the 4 legal registers are prepended, so 26 own items make exactly 30
    assert len(lists(manual=PLAIN_ITEMS[:26]).manual) == 30
    with pytest.raises(ValueError, match=r"manual display list has 31 items.*at most 30"):
        lists(manual=PLAIN_ITEMS[:27])
    # legal items given by the user count once
    assert len(lists(manual=[*legal_items(4), *PLAIN_ITEMS[:26]]).manual) == 30


@pytest.mark.parametrize(
    ("energy_type", "legal"),
    [(1, ("1.8.0",)), (2, ("1.8.0", "2.8.0")), (3, ("1.8.0", "3.8.0")), (4, ("1.8.0", "2.8.0", "3.8.0", "4.8.0"))],
)
def test_legal_items_cannot_be_removed_from_manual_list(energy_type: int, legal: tuple[str, ...]) -> None:
    assert legal_items(energy_type) == legal
    got = lists(energy_type=energy_type, manual=["1.7.0", "32.7.0"]).manual
    assert got == (*legal, "1.7.0", "32.7.0")
    # order chosen by the user is kept when the legal items are present
    reordered = ["1.7.0", *reversed(legal)]
    assert lists(energy_type=energy_type, manual=reordered).manual == tuple(reordered)


def test_default_lists_fit_each_energy_type() -> None:
    for et in (1, 2, 3, 4):
        dl = lists(energy_type=et)
        assert set(legal_items(et)) <= set(dl.manual)
        for code in (*dl.automatic, *dl.manual, *dl.battery):
            assert et in DISPLAY_ITEMS[code].energy_types
    assert "2.8.0" not in lists(energy_type=1).automatic
    assert lists().automatic == ("1.8.0", "2.8.0", "1.7.0", "2.7.0", "32.7.0", "52.7.0", "72.7.0", "1.0.0")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"automatic": ["1.8.0", "9.9.9"]}, r"automatic display list: unknown display item '9\.9\.9'"),
        ({"battery": ["phases"]}, r"battery display list: unknown display item 'phases'"),
        ({"energy_type": 1, "automatic": ["2.8.0"]}, r"'2\.8\.0' does not exist on energy type 1"),
        ({"energy_type": 2, "manual": ["3.8.0"]}, r"'3\.8\.0' does not exist on energy type 2"),
        ({"automatic": ["1.8.0", "1.8.0"]}, r"'1\.8\.0' appears twice"),
        ({"automatic": ["disconnect"]}, r"'disconnect' is allowed only in the manual list"),
        ({"automatic": []}, r"automatic display list needs at least 1 item"),
        ({"energy_type": 5}, r"energy_type"),
        ({"utility": ["1.8.0"]}, r"utility"),
    ],
)
def test_invalid_lists_raise(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lists(**kw)


def test_pseudo_items_are_allowed() -> None:
    dl = lists(automatic=["1.0.0", "display_test"], manual=["disconnect", "1.0.0"], battery=["display_test"])
    assert dl.manual == ("1.8.0", "2.8.0", "3.8.0", "4.8.0", "disconnect", "1.0.0")


def test_lists_are_frozen() -> None:
    dl = lists()
    with pytest.raises(ValueError):
        dl.automatic = ("1.8.0",)  # type: ignore[misc]


# --- Display state machine ------------------------------------------------------------------------------------------
def changes(display: Display, start: int, stop: int) -> list[tuple[int, str | None]]:
    """(second, item) wherever the shown item changes, calling the display every second."""
    out: list[tuple[int, str | None]] = []
    last: object = object()
    for t in range(start, stop):
        item = display.current_item(t)
        if item != last:
            out.append((t, item))
            last = item
    return out


def test_start_up_then_auto_scroll_every_10_s() -> None:
    auto = ("1.8.0", "2.8.0", "1.7.0")
    d = Display(lists(automatic=auto))
    assert d.current_item(T0 - 1) is None and d.state is DisplayState.OFF
    d.power_on(T0)
    got = changes(d, T0, T0 + 15 + 10 * 7)
    expected = [(T0, "96.54.1"), (T0 + 5, "0.2.0"), (T0 + 10, "phases")]
    expected += [(T0 + 15 + 10 * k, auto[k % 3]) for k in range(7)]
    assert got == expected


def test_start_up_states_and_late_tick() -> None:
    d = Display()
    d.power_on(T0)
    assert [d.tick(T0 + s) for s in (4, 5, 9, 10, 14, 15)] == [
        DisplayState.START_ROM, DisplayState.START_SW, DisplayState.START_SW,
        DisplayState.START_PHASES, DisplayState.START_PHASES, DisplayState.AUTO]
    # a display asked only rarely still shows the exact item: the 99th slot (index 98) ends 9 s later
    late = Display(lists(automatic=["1.8.0", "2.8.0", "1.7.0"]))
    late.power_on(T0)
    assert late.current_item(T0 + 15 + 10 * 98 + 9) == "1.7.0"  # index 98 % 3 = 2
    assert late.current_item(T0 + 15 + 10 * 99) == "1.8.0"  # index 99 % 3 = 0


def test_manual_stepping_and_return_to_auto_exactly_120_s_after_last_press() -> None:
    auto = ("1.8.0", "2.8.0")
    manual = ("1.8.0", "2.8.0", "3.8.0", "4.8.0", "32.7.0")
    d = Display(lists(automatic=auto, manual=manual))
    d.power_on(T0)
    assert d.press(T0 + 3) == "96.54.1"  # ignored during start-up
    p0 = T0 + 40
    assert d.press(p0) == "1.8.0" and d.state is DisplayState.MANUAL
    assert [d.press(p0 + k) for k in range(1, 6)] == ["2.8.0", "3.8.0", "4.8.0", "32.7.0", "1.8.0"]
    last = p0 + 5
    assert d.current_item(last + 119) == "1.8.0" and d.tick(last + 119) is DisplayState.MANUAL
    assert d.current_item(last + 120) == "1.8.0" and d.tick(last + 120) is DisplayState.AUTO  # auto restarts
    assert d.current_item(last + 129) == "1.8.0"
    assert d.current_item(last + 130) == "2.8.0"
    # a press at the very second of the timeout starts manual mode anew at its first item
    d2 = Display(lists(automatic=auto, manual=manual))
    d2.power_on(T0)
    d2.press(T0 + 20)
    d2.press(T0 + 21)
    assert d2.press(T0 + 141) == "1.8.0" and d2.state is DisplayState.MANUAL


def test_each_press_extends_the_manual_timeout() -> None:
    d = Display(lists(manual=["1.7.0"]))
    d.power_on(T0)
    for k in range(5):
        d.press(T0 + 20 + 100 * k)
    assert d.tick(T0 + 420 + 119) is DisplayState.MANUAL
    assert d.tick(T0 + 420 + 120) is DisplayState.AUTO


def test_battery_list_when_powered_off() -> None:
    d = Display(lists(battery=["1.8.0", "2.8.0", "1.0.0"]))
    d.power_on(T0)
    d.power_off(T0 + 100)
    assert d.state is DisplayState.BACKUP and d.current_item(T0 + 100) is None  # blank until pressed
    assert d.press(T0 + 110) == "1.8.0"
    assert d.press(T0 + 111) == "2.8.0"
    assert d.press(T0 + 112) == "1.0.0"
    assert d.press(T0 + 113) == "1.8.0"
    assert d.current_item(T0 + 113 + 119) == "1.8.0"
    assert d.current_item(T0 + 113 + 120) is None
    d.power_on(T0 + 300)
    assert d.current_item(T0 + 300) == "96.54.1"
    assert d.current_item(T0 + 315) == lists().automatic[0]


def test_power_off_during_manual_and_empty_battery_list() -> None:
    d = Display(lists(battery=[]))
    d.power_on(T0)
    d.press(T0 + 30)
    d.power_off(T0 + 31)
    assert d.press(T0 + 32) is None and d.state is DisplayState.BACKUP
    d.power_on(T0 + 40)
    d.power_on(T0 + 41)  # already powered: the start-up is not restarted
    assert d.current_item(T0 + 55) == lists().automatic[0]


def test_time_must_not_go_backwards() -> None:
    d = Display()
    d.power_on(T0)
    with pytest.raises(ValueError, match="backwards"):
        d.tick(T0 - 1)


def test_display_state_round_trip() -> None:
    dl = lists(manual=["1.7.0", "32.7.0"])
    d = Display(dl)
    d.power_on(T0)
    d.press(T0 + 50)
    d.press(T0 + 51)
    saved = json.loads(json.dumps(d.to_state()))
    e = Display(dl)
    e.restore(saved)
    for t in (T0 + 52, T0 + 170, T0 + 171, T0 + 181):
        assert e.current_item(t) == d.current_item(t)
    with pytest.raises(ValueError, match="display state"):
        e.restore({**saved, "state": "nonsense"})


# --- rendering ------------------------------------------------------------------------------------------------------
NONE = Symbols()


@pytest.mark.parametrize(
    ("z1", "shown"),
    [(1, "0012345"), (2, "012345.6"), (3, "0012345.67"), (4, "012345.678")],
)
def test_energy_formats_by_z1(z1: int, shown: str) -> None:
    lcd = render("1.8.0", {"1.8.0": 12345.678}, z1, NONE)
    assert (lcd.value, lcd.unit, lcd.ident) == (shown, "kWh", "1.8.0")


@pytest.mark.parametrize(
    ("kwh", "z1", "shown"),
    [
        (12345.6789, 3, "0012345.67"),  # not rounded up to .68
        (99999.9999, 3, "0099999.99"),  # never 100000.00
        (0.999, 1, "0000000"),
        (2.29, 3, "0000002.29"),  # 2.29 * 100 is 228.999… in binary floating point
        (1234.5678, 4, "001234.567"),
        (12345678.9, 1, "2345678"),  # counter-wheel rollover beyond 7 integer digits
    ],
)
def test_energy_is_truncated(kwh: float, z1: int, shown: str) -> None:
    assert render("1.8.0", {"1.8.0": kwh}, z1, NONE).value == shown


def test_energy_ct_formats_and_options() -> None:
    assert render("3.8.0", {"3.8.0": 12345.678}, 2, NONE, ct=True).value == "0012345.6"  # CT 7.1
    assert render("3.8.0", {"3.8.0": 12345.678}, 2, NONE).unit == "kvarh"
    assert render("1.8.0", {"1.8.0": 12345.678}, 3, NONE, leading_zeros=False).value == "12345.67"
    assert render("16.8.0", {"16.8.0": -12.345}, 3, NONE).value == "-000012.34"
    with pytest.raises(ValueError, match="z1"):
        render("1.8.0", {"1.8.0": 1.0}, 4, NONE, ct=True)
    for bad in (0, 5):
        with pytest.raises(ValueError, match="z1"):
            render("1.8.0", {"1.8.0": 1.0}, bad, NONE)


def test_instantaneous_formats() -> None:
    v = {"1.7.0": 1234.5, "3.7.0": 56.0, "32.7.0": 230.04, "31.7.0": 12.345, "14.7.0": 49.996, "13.7.0": 0.9876,
         "96.8.0": 1234.9}
    assert (render("1.7.0", v, 3, NONE).value, render("1.7.0", v, 3, NONE).unit) == ("1.235", "kW")  # 2.3
    assert (render("3.7.0", v, 3, NONE).value, render("3.7.0", v, 3, NONE).unit) == ("0.056", "kvar")
    assert (render("32.7.0", v, 3, NONE).value, render("32.7.0", v, 3, NONE).unit) == ("230.0", "V")
    assert (render("31.7.0", v, 3, NONE).value, render("31.7.0", v, 3, NONE).unit) == ("12.35", "A")
    assert render("14.7.0", v, 3, NONE).value == "50.00"
    assert render("13.7.0", v, 3, NONE).value == "0.988"
    assert (render("96.8.0", v, 3, NONE).value, render("96.8.0", v, 3, NONE).text_field) == ("1234", "HRS")


def test_date_time_and_identification() -> None:
    wall = T0 + 7200 + 5  # local wall clock (UTC+2 in summer), read as if UTC
    lcd = render("1.0.0", {"1.0.0": wall}, 3, NONE)
    assert (lcd.value, lcd.text_field) == ("2024:05:01", "14:00:05")
    lcd = render("1.0.0", {"1.0.0": "2024-12-31T23:59:58+01:00"}, 3, NONE)
    assert (lcd.value, lcd.text_field) == ("2024:12:31", "23:59:58")
    lcd = render("0.2.0", {"0.2.0": "5098736", "sw_revision": "U1"}, 3, NONE)
    assert (lcd.value, lcd.text_field, lcd.unit) == ("5098736", "U1", "")


def test_missing_and_unknown() -> None:
    assert render("2.8.0", {}, 3, NONE).value == "---------"
    assert render("2.8.0", {"2.8.0": None}, 3, NONE).value == "---------"
    with pytest.raises(ValueError, match="unknown display item"):
        render("9.9.9", {}, 3, NONE)


def test_phase_present_at_160_v_not_159_9() -> None:
    lcd = render("1.8.0", {}, 3, Symbols(phase_voltages=(159.9, 160.0, 230.0), phase_sequence="L1L2L3"))
    assert lcd.phases == (False, True, True)
    assert lcd.sequence is None  # a phase missing: both sequence indicators off
    lcd = render("1.8.0", {}, 3, Symbols(phase_voltages=(160.0, 160.0, 160.0), phase_sequence="L1L3L2"))
    assert lcd.phases == (True, True, True) and lcd.sequence == "L1L3L2"
    assert render("1.8.0", {}, 3, Symbols(phase_voltages=(230, 230, 230), phase_sequence=None)).sequence is None


def test_current_arrows_above_2_3_w() -> None:
    lcd = render("1.8.0", {}, 3, Symbols(phase_powers=(2.3, 2.31, -2.31)))
    assert lcd.arrows == ("", "+", "-")
    assert render("1.8.0", {}, 3, Symbols(phase_powers=(-2.3, 0.0, 2.2999))).arrows == ("", "", "")
    ct = render("1.8.0", {}, 3, Symbols(phase_powers=(0.6, 0.61, -0.61), ct_meter=True))
    assert ct.arrows == ("", "+", "-")


def test_quadrant_arrows_blank_below_10_ma() -> None:
    def quad(p: float, q: float, i: float, shown: bool = True) -> int | None:
        s = Symbols(phase_currents=(i, 0.0, 0.0), p_total=p, q_total=q, quadrant_arrows=shown)
        return render("1.8.0", {}, 3, s).quadrant

    assert quad(100, 10, 0.0099) is None
    assert [quad(100, 10, 0.010), quad(-100, 10, 0.5), quad(-100, -10, 0.5), quad(100, -10, 0.5)] == [1, 2, 3, 4]
    assert quad(100, 10, 1.0, shown=False) is None


def test_status_symbols_and_text() -> None:
    s = Symbols(phase_voltages=(230, 230, 230), phase_powers=(500, -40, 0), phase_currents=(2, 0.2, 0),
                p_total=460, q_total=30, tariff=2, breaker="connected", smart_disconnect=True, tamper=True,
                rf="joined")
    lcd = render("1.8.0", {"1.8.0": 12345.678}, 3, s)
    assert lcd.text() == " 0012345.67 kWh      1.8.0\nT2 L1 L2 L3 +-. L1L2L3 Q1 BRK:ON TAMPER RF"
    assert lcd.text().isascii()
    assert json.loads(json.dumps(lcd.as_dict()))["arrows"] == ["+", "-", ""]
    # breaker symbol only with smart disconnect; a released breaker is still open
    assert render("1.8.0", {}, 3, Symbols(breaker="connected")).breaker == "off"
    released = Symbols(breaker="ready_for_reconnection", smart_disconnect=True)
    assert render("1.8.0", {}, 3, released).breaker == "disconnected"
    assert render("disconnect", {}, 3, released).value == "rEAdY"
    with pytest.raises(ValueError, match="tariff"):
        Symbols(tariff=9)


def test_symbols_from_values() -> None:
    v: dict[str, float | int | str | None] = {
        "32.7.0": 231.0, "52.7.0": 159.0, "72.7.0": 229.0, "21.7.0": 0.0, "22.7.0": 50.0, "41.7.0": 0.0,
        "61.7.0": 3.0, "31.7.0": 0.3, "1.7.0": 0.0, "2.7.0": 47.0, "3.7.0": 0.0, "4.7.0": 5.0, "96.14.0": 2}
    lcd = render("1.8.0", v, 3, Symbols.from_values(v, rf="searching"))
    assert lcd.phases == (True, False, True)
    assert lcd.arrows == ("-", "", "+")
    assert lcd.quadrant == 3 and lcd.tariff == 2 and lcd.rf == "searching"


# --- S0 -------------------------------------------------------------------------------------------------------------
def test_s0_settings() -> None:
    assert (S0Output.from_z8(1).imp_per_kwh, S0Output.from_z8(1).width_ms) == (1000, 30)
    assert (S0Output.from_z8(4, ct_meter=True).imp_per_kwh, S0Output.from_z8(4).width_ms) == (5000, 80)
    assert [z8_width_ms(z) for z in (1, 2, 3, 4)] == [30, 30, 80, 80]
    assert S0Output(width_ms=30).f_max_hz == pytest.approx(1 / 0.060)
    assert S0Output(width_ms=80).f_max_hz == pytest.approx(1 / 0.160)
    for kw in ({"imp_per_kwh": 0}, {"imp_per_kwh": 10_001}, {"width_ms": 50}):
        with pytest.raises(ValueError):
            S0Output(**kw)
    with pytest.raises(ValueError, match="z8"):
        z8_width_ms(5)


def test_s0_one_pulse_per_wh_and_remainder_kept() -> None:
    s0 = S0Output()
    assert s0.feed(0, 0.4) == 0
    assert s0.feed(1, 0.4) == 0
    assert s0.feed(2, 0.4) == 1  # 1.2 Wh registered → first pulse, 0.2 carried
    assert s0.feed(3, 0.8) == 1  # exactly 2.0 Wh
    assert s0.count == 2 and s0.remainder == Fraction(0.4) * 3 + Fraction(0.8) - 2
    assert s0.rate_hz == 1.0


def test_s0_refuses_double_feed_and_bad_energy() -> None:
    s0 = S0Output()
    s0.feed(10, 1.0)
    with pytest.raises(ValueError, match="twice or backwards"):
        s0.feed(10, 1.0)
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="Wh"):
            s0.feed(11, bad)


@settings(max_examples=60, deadline=None)
@given(
    energies=st.lists(st.floats(min_value=0.0, max_value=30.0, allow_nan=False), min_size=1, max_size=400),
    imp=st.sampled_from([1, 10, 100, 1000, 5000]),
    width=st.sampled_from([30, 80]),
)
def test_s0_count_is_floor_of_energy_over_a_long_run(energies: list[float], imp: int, width: int) -> None:
    s0 = S0Output(imp, width)
    f_max = 1000 / (2 * width)
    exact_wh = Fraction(0)
    emitted = 0
    t = T0
    for t, wh in enumerate(energies, start=T0):
        n = s0.feed(t, wh)
        exact_wh += Fraction(wh)
        emitted += n
        assert n <= math.ceil(f_max)
        assert s0.count + s0.queued == math.floor(exact_wh / 1000 * imp)  # due pulses: emitted or queued
        assert emitted == s0.count
    while s0.queued:  # no more energy: the queue drains, nothing is lost
        t += 1
        emitted += s0.feed(t, 0.0)
    assert s0.count == emitted == math.floor(exact_wh / 1000 * imp)  # floor(kWh × imp/kWh)
    # the line never beat f_max over the whole run
    assert s0.count <= math.ceil((t - T0 + 1) * f_max)


@pytest.mark.parametrize(("width", "i_ok", "i_over"), [(30, 86, 87), (80, 32, 33)])
def test_s0_keeps_up_to_the_module_table_current(width: int, i_ok: int, i_over: int) -> None:
    """§9 table: at 1000 imp/kWh the pulses keep up to 86 A (30 ms) / 32 A (80 ms) on 3 × 230 V."""
    for amps, keeps_up in ((i_ok, True), (i_over, False)):
        s0 = S0Output(1000, width)
        wh_per_s = amps * 3 * 230 / 3600
        worst = 0
        for t in range(T0, T0 + 3600):
            s0.feed(t, wh_per_s)
            worst = max(worst, s0.queued)
        assert (worst <= 1) is keeps_up, (amps, worst)
    # above the limit the backlog grows by (demand − f_max) per second
    demand = i_over * 3 * 230 / 3600
    assert s0.queued == pytest.approx((demand - 1000 / (2 * width)) * 3600, abs=2)


def test_s0_queue_drains_through_skipped_seconds() -> None:
    s0 = S0Output(1000, 80)  # 6.25 Hz
    assert s0.feed(0, 40.0) == 7  # 40 pulses due, 7 start within the first second (0, 160, …, 960 ms)
    assert s0.queued == 33
    got = s0.feed(10, 0.0)  # 9 skipped seconds + this one
    assert got == 33 and s0.count == 40
    assert s0.rate_hz == pytest.approx(33 / 10)


def test_s0_state_round_trip_and_constant_change() -> None:
    a = S0Output(1000, 30)
    b = S0Output(1000, 30)
    energies = [25.0, 0.3, 19.7, 0.0, 0.05] * 20
    for t, wh in enumerate(energies[:50]):
        a.feed(t, wh)
        b.feed(t, wh)
    c = S0Output(1000, 30)
    c.restore(json.loads(json.dumps(b.to_state())))
    for t, wh in enumerate(energies[50:], start=50):
        assert c.feed(t, wh) == a.feed(t, wh)
    assert (c.count, c.queued, c.remainder) == (a.count, a.queued, a.remainder)
    # restored into an output with 10× fewer pulses per kWh: pending energy converted exactly
    d = S0Output(100, 30)
    d.restore(a.to_state())
    assert d.queued + d.remainder == (a.queued + a.remainder) / 10
    assert d.count == a.count


@settings(max_examples=300, deadline=None)
@given(wh=st.floats(0.0, 5000.0), numerator=st.integers(0, 2**70), extra=st.integers(1, 2**70),
       imp=st.sampled_from([1, 10, 100, 1000, 5000, 10000]))
def test_add_pulses_is_the_fraction_arithmetic(wh: float, numerator: int, extra: int, imp: int) -> None:
    remainder = Fraction(numerator, numerator + extra)  # 0 ≤ r < 1
    fast, plain = add_pulses(remainder, wh, imp), add_pulses_reference(remainder, wh, imp)
    assert fast == plain
    assert (fast[1].numerator, fast[1].denominator) == (plain[1].numerator, plain[1].denominator)
