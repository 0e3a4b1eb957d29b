"""The meter's optional functions in the Modbus map (input registers 0x00EA–0x00ED): the slave serves
them from the meter, and the gateway's Modbus source leaves out the readings, commands and Home
Assistant entities of the functions the meter lacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from conftest import free_port
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from gateway import discovery
from gateway.config import MeterConfig
from gateway.sources.base import SourceError
from gateway.sources.modbus import ModbusSource
from gateway.topics import Topics
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.modbus_slave import ModbusSlave
from omnipower import modbus_map as mm

START = 1_768_478_400  # 2026-01-15 12:00 UTC
CT = "6851131BD140011040"  # CT, A+/A−/R+/R−, no breaker, no radio, battery, S0
# A+ only, no breaker, no radio, supercap, no S0; load control off and tariffs not taken by command
BARE = {"type_number": "6841131BN110000040", "z14": 0, "z13": 0, "tariff_command_overrides_any_source": False}
PREPAID_PULSES = {"z3": 3, "z13": 0, "prepayment": {"enabled": True, "initial_value": 3.5}}


def meter(**settings: Any) -> Meter:
    return Meter("m", MeterSimSettings.model_validate({"seed": 1} | settings), SteppedClock(START))


async def served_words(device: SimDevice, address: int, count: int) -> list[int]:
    async with serving(device) as port:
        client = AsyncModbusTcpClient("127.0.0.1", port=port)
        await client.connect()
        try:
            rr = await client.read_input_registers(address, count=count, device_id=1)
        finally:
            client.close()
    assert not rr.isError(), rr
    return list(rr.registers)


@asynccontextmanager
async def serving(device: SimDevice) -> AsyncIterator[int]:
    port = free_port()
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    try:
        yield port
    finally:
        await server.shutdown()


@pytest.mark.parametrize(("settings", "functions", "energy_type"), [
    ({}, {"breaker", "load_control", "tariff_command", "s0_output", "current_thd"}, 4),
    (PREPAID_PULSES, {"breaker", "load_control", "tariff_command", "s0_output", "current_thd", "pulse_input",
                      "prepayment"}, 4),
    (BARE, {"current_thd"}, 1),
    ({"type_number": CT}, {"load_control", "tariff_command", "s0_output"}, 4),
])
async def test_the_slave_serves_the_meters_functions(settings: dict[str, Any], functions: set[str],
                                                      energy_type: int) -> None:
    words = await served_words(ModbusSlave(meter(**settings)).device(), mm.FEATURES_ADDRESS, mm.FEATURES_COUNT)
    mask = sum(1 << mm.FEATURE_BITS.index(name) for name in functions)
    assert words == [0, mask, 0, energy_type]
    assert mm.decode_features(words) == mm.Features(frozenset(functions), energy_type)


async def test_the_mask_follows_a_reconfiguration() -> None:
    m = meter(z13=0)
    slave = ModbusSlave(m)
    registers = [0] * mm.INPUT_COUNT
    await slave.action(4, 0, mm.FEATURES_ADDRESS, mm.FEATURES_COUNT, registers, None)
    assert not mm.decode_features(registers[mm.FEATURES_ADDRESS:]).has("prepayment")
    m.reconfigure({"prepayment": {"enabled": True, "initial_value": 10.0}})
    await slave.action(4, 0, mm.FEATURES_ADDRESS, mm.FEATURES_COUNT, registers, None)
    assert mm.decode_features(registers[mm.FEATURES_ADDRESS:]).has("prepayment")


def source_for(port: int) -> ModbusSource:
    return ModbusSource(MeterConfig(id="wire", source="modbus", transport=f"tcp:127.0.0.1:{port}"), timeout=2.0)


def discovered(source: ModbusSource) -> set[str]:
    """The object ids Home Assistant would be told about."""
    return {topic.split("/")[-2] for topic, _ in discovery.messages(source.info, Topics("omnipower"), "test")}


async def test_the_source_leaves_out_what_a_bare_meter_lacks() -> None:
    m = meter(**BARE)
    async with serving(ModbusSlave(m).device()) as port:
        source = source_for(port)
        try:
            assert "pulse_input" in discovered(source)  # before the first poll nothing is known
            readings = await source.read()
            breaker = await source.breaker()
        finally:
            await source.close()
    expected = m.readings()
    absent = ("breaker", "load_control_1", "load_control_2", "s0_pulses", "s0_rate", "pulse_input",
              "prepayment_remaining", "prepayment_state", "a_minus", "r_plus", "q_minus", "e_plus")
    for key in absent:
        assert key not in readings, key
    assert readings["a_plus"] == pytest.approx(expected["a_plus"], abs=0.005)
    assert readings["u_l1"] == pytest.approx(expected["u_l1"], abs=0.05)
    assert readings["tariff_control"] == "auto" and readings["tariff"] == expected["tariff"]
    assert breaker is None and source.events.empty()  # no breaker: no breaker state, no breaker event
    assert source.info.commands == frozenset()
    keys = {r.key for r in source.info.registers}
    assert not keys & set(absent) and {"a_plus", "u_l1", "thd_i_l1", "tariff"} <= keys
    ids = discovered(source)
    assert not ids & {"pulse_input", "prepayment_state", "breaker", "breaker_switch", "load_control_1_switch",
                      "tariff_control", "s0_rate", "a_minus"}, ids
    assert {"a_plus", "u_l1", "p_plus"} <= ids


async def test_the_source_keeps_pulse_input_and_prepayment_of_a_meter_with_them() -> None:
    m = meter(**PREPAID_PULSES)
    async with serving(ModbusSlave(m).device()) as port:
        source = source_for(port)
        try:
            readings = await source.read()
            breaker = await source.breaker()
        finally:
            await source.close()
    assert (readings["pulse_input"], readings["prepayment_remaining"], readings["prepayment_state"]) == (
        0, 3.5, "credit_ok")
    assert readings["breaker"] == "connected" and breaker is not None and breaker.state == "connected"
    assert readings["load_control_1"] == "off" and readings["s0_pulses"] == m.readings()["s0_pulses"]
    assert source.info.commands == frozenset({"breaker", "tariff", "load_control_1", "load_control_2"})
    ids = discovered(source)
    assert {"pulse_input", "prepayment_remaining", "prepayment_state", "breaker_switch", "tariff_control",
            "load_control_2_switch", "thd_i_l1"} <= ids


async def test_a_meter_without_the_function_registers_gives_a_clear_error() -> None:
    # A slave whose input registers end with the readings (0 … 0x00E9): exception 2 for 0x00EA.
    old = SimDevice(id=1, simdata=(
        [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
        [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
        [SimData(0, count=mm.HOLDING_COUNT, values=0, datatype=DataType.REGISTERS)],
        [SimData(0, count=mm.READINGS_COUNT, values=0, datatype=DataType.REGISTERS, readonly=True)],
    ))
    async with serving(old) as port:
        source = source_for(port)
        try:
            with pytest.raises(SourceError) as failed:
                await source.read()
        finally:
            await source.close()
    assert str(failed.value) == (
        "the meter does not say which functions it has (input registers 0x00EA–0x00ED): the meter answered "
        "Modbus exception 2 (illegal address); its Modbus map is not the one this gateway reads "
        "(docs/modbus-map.md)"
    )
    assert source.features is None and "pulse_input" in discovered(source)  # nothing was learnt


async def test_nonsense_in_the_function_registers_gives_a_clear_error() -> None:
    device = SimDevice(id=1, simdata=(
        [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
        [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
        [SimData(0, count=mm.HOLDING_COUNT, values=0, datatype=DataType.REGISTERS)],
        [SimData(0, count=mm.INPUT_COUNT, values=0, datatype=DataType.REGISTERS, readonly=True)],  # X9 = 0
    ))
    async with serving(device) as port:
        source = source_for(port)
        try:
            with pytest.raises(SourceError, match=r"function registers 0x00EA–0x00ED make no sense: energy type "
                                                  r"\(X9\) 0 in input register 0x00EC is not 1–4"):
                await source.read()
        finally:
            await source.close()
