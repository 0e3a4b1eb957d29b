"""The RS-485 module as a Modbus slave: pymodbus 3.16's SimDevice whose registers are computed
live from the meter on every request (map: omnipower/modbus_map.py), including the words that say
which optional functions the meter has. Modbus is neither DLMS nor 1107, so a Variant 2 meter (which
answers no such query, spec §10.1) still answers here (inferred)."""

from __future__ import annotations

import logging

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from meter_sim.breaker import BreakerRefused
from meter_sim.load_control import LoadControlRefused
from meter_sim.meter import Meter
from meter_sim.tariffs import TariffRefused
from omnipower import modbus_map as mm

log = logging.getLogger(__name__)

READ_COILS, READ_DISCRETE, READ_HOLDING, READ_INPUT = 1, 2, 3, 4
COIL_FUNCTIONS = {1, 5, 15}
DISCRETE_FUNCTIONS = {2}
HOLDING_FUNCTIONS = {3, 6, 16, 22, 23}


class ModbusSlave:
    def __init__(self, meter: Meter, device_id: int = 1) -> None:
        self.meter = meter
        self.device_id = device_id

    def device(self) -> SimDevice:
        return SimDevice(
            id=self.device_id,
            simdata=(
                [SimData(0, values=[False] * 16, datatype=DataType.BITS)],  # coils
                [SimData(0, values=[False] * 16, datatype=DataType.BITS)],  # discrete inputs
                [SimData(0, count=mm.HOLDING_COUNT, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=mm.INPUT_COUNT, values=0, datatype=DataType.REGISTERS, readonly=True)],
            ),
            action=self.action,
        )

    async def action(
        self, function: int, start: int, address: int, count: int, registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Called by pymodbus before every access: refresh the block from the meter, or apply a write."""
        meter = self.meter
        meter.update()
        # For bit blocks pymodbus passes the bit address but a register count, so a read can only be
        # checked by its start; a write by its values.
        if function in COIL_FUNCTIONS:
            if address >= mm.COIL_COUNT or (values is not None and address + len(values) > mm.COIL_COUNT):
                return ExcCodes.ILLEGAL_ADDRESS
            if values is not None:
                return self._write_coils(address, [bool(v) for v in values])
            relays = [state == "on" for state in meter.load_control.relays]
            registers[0] = _bits([meter.breaker.state == "connected", *relays])
        elif function in DISCRETE_FUNCTIONS:
            if address >= len(mm.ALARM_BITS):
                return ExcCodes.ILLEGAL_ADDRESS
            registers[0] = _bits(mm.alarm_bits(list(meter.alarms.active)))
        elif function in HOLDING_FUNCTIONS:
            if values is not None:
                return self._write_holding(address, [int(v) for v in values])
            override = meter.tariffs.override
            registers[mm.HOLDING_TARIFF_CONTROL] = 0 if override is None else override
            registers[mm.HOLDING_BREAKER_COMMAND] = 0
        else:  # input registers
            registers[:] = mm.input_image(meter.readings(), features(meter))
        return None

    def _write_coils(self, address: int, values: list[bool]) -> ExcCodes | None:
        for offset, on in enumerate(values):
            coil = address + offset
            if coil == mm.COIL_BREAKER:
                result = self._breaker("connect" if on else "disconnect")
            else:
                result = self._relay(coil, on)
            if result is not None:
                return result
        return None

    def _relay(self, relay: int, on: bool) -> ExcCodes | None:
        try:
            self.meter.load_control_command(relay, "on" if on else "off")
        except LoadControlRefused as exc:
            log.info("modbus: %s", exc)
            return ExcCodes.DEVICE_FAILURE
        return None

    def _write_holding(self, address: int, values: list[int]) -> ExcCodes | None:
        for offset, value in enumerate(values):
            reg = address + offset
            if reg == mm.HOLDING_TARIFF_CONTROL:
                if not 0 <= value <= 4:
                    return ExcCodes.ILLEGAL_VALUE
                try:
                    self.meter.set_tariff(value or None)
                except TariffRefused:
                    return ExcCodes.DEVICE_FAILURE  # exception 4, as for the other refusals: Z13 takes no commands
            elif reg == mm.HOLDING_BREAKER_COMMAND:
                action = mm.BREAKER_COMMANDS.get(value)
                if action is None:
                    return ExcCodes.ILLEGAL_VALUE
                if (result := self._breaker(action)) is not None:
                    return result
        return None

    def _breaker(self, action: str) -> ExcCodes | None:
        try:
            self.meter.breaker_command(action)  # type: ignore[arg-type]
        except BreakerRefused as exc:
            log.info("modbus: %s", exc)
            return ExcCodes.DEVICE_FAILURE  # refused in the present state (Modbus carries no reason)
        return None


def features(meter: Meter) -> mm.Features:
    """The meter's optional functions, as the map describes them (read live: prepayment, Z3, Z13 and
    Z14 can be reconfigured)."""
    kind = meter.settings.type
    present = {
        "breaker": kind.has_breaker,
        "load_control": meter.load_control.enabled,
        "tariff_command": meter.tariffs.accepts_commands,
        "s0_output": meter.s0 is not None,
        "pulse_input": meter.has_pulse_input,
        "prepayment": meter.prepayment.enabled,
        "current_thd": not kind.is_ct,  # §7.7: THD I on direct meters only
    }
    return mm.Features(frozenset(name for name, on in present.items() if on), meter.energy_type)


def _bits(flags: list[bool]) -> int:
    bits = (flags + [False] * 16)[:16]
    return SimUtils.bitsToRegisters(bits)[0]
