"""The register table's faces read the table: the meter's base values are exactly its readings (the demand
registers found by their OBIS codes), the LCD shows a reading in the table's unit, HAN decodes only what the
table declares, and the Modbus resolution is the table's."""

from __future__ import annotations

from datetime import UTC, datetime

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.demand import ACCUMULATED, ENERGY_OF, TARIFF_PEAKS
from meter_sim.display import DISPLAY_ITEMS, Symbols, render
from meter_sim.meter import _DEMAND_REGISTERS, Meter
from omnipower import han
from omnipower import modbus_map as mm
from omnipower.registers import REGISTERS_BY_KEY, REGISTERS_BY_OBIS, Kind

T0 = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp())


def test_base_values_are_exactly_the_register_table_s_readings() -> None:
    m = Meter("m", MeterSimSettings(z3=3, z13=0, prepayment={"enabled": True, "initial_value": 5.0}), SteppedClock(T0))
    m.advance_to(T0 + 3600)
    assert set(m.base_values()) == set(REGISTERS_BY_KEY)


def test_every_demand_register_reads_an_entry_the_demand_keeps() -> None:
    read = {(part, entry) for _, part, entry in _DEMAND_REGISTERS}
    kept_peaks = set(ENERGY_OF) | {f"{q}_t{t}" for q, tariffs in TARIFF_PEAKS.items() for t in tariffs}
    assert {e for part, e in read if part in ("peak", "peak_time")} == kept_peaks
    assert {e for part, e in read if part == "accumulated"} == set(ACCUMULATED)
    assert {e for part, e in read if part == "mean"} <= set(ENERGY_OF)
    keys = {key for key, _, _ in _DEMAND_REGISTERS}
    assert {"p_plus_max_t8", "q_plus_max_time", "p_plus_max_acc_t2", "p_plus_mean"} <= keys


def test_a_peak_follows_its_tariff() -> None:
    m = Meter("m", MeterSimSettings(z13=2, household={"pv_kwp": 0}), SteppedClock(T0))
    m.set_tariff(6)
    m.set_load(extra_w=3000.0)
    m.advance_to(T0 + 1800)
    values = m.base_values()
    assert float(values["p_plus_max_t6"]) > 3000.0  # type: ignore[arg-type]
    assert values["p_plus_max_t6"] == values["p_plus_max"] and values["p_plus_max_t1"] == 0.0


def test_the_lcd_shows_a_reading_in_the_table_s_unit() -> None:
    power = render("1.7.0", {"1.7.0": 1500.0}, 3, Symbols())  # the table publishes W, the LCD shows kW
    assert (power.value.strip(), power.unit, REGISTERS_BY_OBIS["1.7.0"].unit) == ("1.500", "kW", "W")
    energy = render("2.8.1", {"2.8.1": 12.5}, 3, Symbols())
    assert (energy.unit, DISPLAY_ITEMS["2.8.1"].energy_types) == ("kWh", REGISTERS_BY_OBIS["2.8.1"].energy_types)
    for code, item in DISPLAY_ITEMS.items():  # every measured item in the table has the table's unit
        register = REGISTERS_BY_OBIS.get(code)
        if register is not None and item.unit:
            assert item.unit in (register.unit, f"k{register.unit}"), code


def test_han_decodes_the_quantities_of_the_register_table() -> None:
    for register in REGISTERS_BY_OBIS.values():
        if register.obis.count(".") != 2:  # a time stamp "C.D.E.t": no logical name of its own
            continue
        quantity = han.quantity_of(f"1.1.{register.obis}.255")
        if quantity is not None:
            assert quantity.spec.unit == register.unit and quantity.spec.kind is register.kind
    assert han.quantity_of("1.1.32.7.124.255") is None  # voltage THD: a percentage, not a voltage
    assert han.quantity_of("1.1.1.6.0.255") is None  # a peak: not a metered value of a push
    assert han.quantity_of("1.1.1.8.0.255") is han.Quantity.ACTIVE_ENERGY


def test_the_modbus_resolution_is_the_table_s() -> None:
    for point in mm.INPUT_POINTS:
        assert point.decimals == REGISTERS_BY_KEY[point.key].modbus_decimals
    assert mm.INPUT_BY_KEY["a_plus"].decimals == 2 and mm.INPUT_BY_KEY["i_l1"].decimals == 3
    assert mm.INPUT_BY_KEY["pulse_input"].decimals == 3 and REGISTERS_BY_KEY["pulse_input"].kind is Kind.COUNTER
