"""The master side of the RS-485 module: poll a meter over Modbus TCP or RTU (serial or pty),
map the registers (omnipower/modbus_map.py) into the same readings as the simulated meter, and
carry out breaker and tariff commands as coil/register writes.

Every poll first reads the meter's functions (registers 0x00EA–0x00ED): the readings and commands
of a function the meter lacks (no pulse input, prepayment off, no breaker …) are left out, and
`info` is replaced when they change, so that discovery announces only what the meter has."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.pdu import ExceptionResponse

from gateway.command_table import COMMANDS_BY_NAME, MODBUS_COMMANDS, ModbusWrite
from gateway.commands import Command, CommandError
from gateway.config import MeterConfig
from gateway.sources.base import AlarmNotice, BreakerStatus, MeterInfo, Readings, Source, SourceError, local_now
from omnipower import modbus_map as mm
from omnipower.address import Address, parse_address
from omnipower.errors import CodecError
from omnipower.registers import REGISTERS_BY_KEY, Kind

log = logging.getLogger(__name__)
READING_KEYS = (*mm.INPUT_KEYS, *mm.COIL_LOAD_CONTROL.values())
EXCEPTION_TEXT = {2: "illegal address", 3: "value refused", 4: "refused in the meter's present state"}


class ModbusSource(Source):
    def __init__(self, config: MeterConfig, timeout: float = 3.0) -> None:
        super().__init__()
        if config.transport is None:
            raise ValueError(f"meter {config.id}: a modbus source needs a transport")
        self.config = config
        self.address = parse_address(config.transport)
        self.unit = config.unit_id
        self.client = _client(self.address, timeout)
        self.info = MeterInfo(
            meter_id=config.id,
            name=config.name or f"OMNIPOWER {config.id}",
            source="modbus",
            model="OMNIPOWER three-phase (RS-485 module)",
            serial_number=f"modbus-{self.address}-{self.unit}",
            sw_version="unknown",
            registers=tuple(REGISTERS_BY_KEY[k] for k in READING_KEYS),  # until the meter names its functions
            commands=MODBUS_COMMANDS,
            alarm_types=mm.ALARM_TYPES,
        )
        self.features: mm.Features | None = None
        self._last: Readings = {}
        self._alarms: set[tuple[str, int | None]] = set()

    async def run(self) -> None:
        """The bridge polls through `read`; here only the connection is kept up with back-off."""
        delay = 1.0
        while True:
            if not self.client.connected:
                ok = await self.client.connect()
                self.online = bool(ok)
                delay = 1.0 if ok else min(60.0, delay * 2)
            await asyncio.sleep(delay)

    async def _call(self, name: str, fn: Any, *args: Any, **kw: Any) -> Any:
        if not self.client.connected and not await self.client.connect():
            self.online = False
            raise SourceError(f"no connection to {self.address}")
        try:
            response = await fn(*args, device_id=self.unit, **kw)
        except ModbusException as exc:
            self.online = False
            raise SourceError(f"{name}: {exc}") from None
        if isinstance(response, ExceptionResponse) or response.isError():
            code = getattr(response, "exception_code", 0)
            raise CommandError(name, f"the meter answered Modbus exception {code} "
                                     f"({EXCEPTION_TEXT.get(code, 'error')})")
        count = kw.get("count")
        if count is not None:  # an answer that does not fit the question is no reading (bits come in bytes)
            what = "registers" if "register" in fn.__name__ else "bits"
            got = len(response.registers if what == "registers" else response.bits)
            if got < count or (what == "registers" and got != count):
                self.online = False
                raise SourceError(f"{name}: the meter answered {got} {what} for {count}")
        self.online = True
        return response

    async def _read_features(self) -> mm.Features:
        """The meter's optional functions; `info` follows them."""
        first, last = mm.FEATURES_ADDRESS, mm.FEATURES_ADDRESS + mm.FEATURES_COUNT - 1
        try:
            rr = await self._call("functions", self.client.read_input_registers, first, count=mm.FEATURES_COUNT)
            features = mm.decode_features(rr.registers)
        except CommandError as exc:  # an exception response: a module map without these registers
            raise SourceError(f"the meter does not say which functions it has (input registers 0x{first:04X}–"
                              f"0x{last:04X}): {exc.reason}; its Modbus map is not the one this gateway reads "
                              "(docs/modbus-map.md)") from None
        except CodecError as exc:
            raise SourceError(f"the meter's function registers 0x{first:04X}–0x{last:04X} make no sense: {exc}") \
                from None
        if features != self.features:
            self.features = features
            absent = features.absent_keys()
            self.info = replace(
                self.info,
                registers=tuple(REGISTERS_BY_KEY[k] for k in READING_KEYS if k not in absent),
                commands=frozenset(c for c in MODBUS_COMMANDS if features.has(_write(c).function)),
            )
        return features

    async def read(self) -> Readings:
        values: dict[str, Any] = {}
        features = await self._read_features()
        absent = features.absent_keys()
        try:
            for address, count in mm.read_blocks():
                rr = await self._call("registers", self.client.read_input_registers, address, count=count)
                values.update(mm.decode_inputs(rr.registers, address))
            hr = await self._call("registers", self.client.read_holding_registers, 0, count=mm.HOLDING_COUNT)
            di = await self._call("alarms", self.client.read_discrete_inputs, 0, count=len(mm.ALARM_BITS))
            coils = await self._call("relays", self.client.read_coils, 0, count=mm.COIL_COUNT)
        except CommandError as exc:
            raise SourceError(str(exc)) from None
        except CodecError as exc:  # well framed, but not what the map allows (an unknown state code …)
            self.online = False
            raise SourceError(f"registers: {exc}") from None
        now = str(values.get("time") or local_now())
        offset = datetime.fromisoformat(now).utcoffset()
        for point in mm.INPUT_POINTS:  # time stamps come as Unix seconds: show them in the meter's offset
            stamp = values.get(point.key)
            if point.kind is Kind.TIMESTAMP and isinstance(stamp, int):
                values[point.key] = mm.iso_time(stamp, int(offset.total_seconds()) if offset else 0)
        readings: Readings = {"time": now, **values}
        control = hr.registers[mm.HOLDING_TARIFF_CONTROL]
        readings["tariff_control"] = "auto" if control == 0 else str(control)
        for coil, key in mm.COIL_LOAD_CONTROL.items():
            readings[key] = "on" if coils.bits[coil] else "off"
        for key in absent:
            readings.pop(key, None)
        await self._track_changes(readings, list(di.bits[: len(mm.ALARM_BITS)]), now)
        self._last = readings
        return readings

    async def _track_changes(self, readings: Readings, bits: list[bool], now: str) -> None:
        """Modbus carries no events: derive breaker and alarm events from successive polls."""
        if "breaker" in readings:
            self.note_polled_breaker(str(readings["breaker"]), now)
        active = {bit for bit, on in zip(mm.ALARM_BITS, bits, strict=True) if on}
        for kind, phase in sorted(active ^ self._alarms):
            self.events.put_nowait(AlarmNotice(now, kind, (kind, phase) in active, phase))
        self._alarms = active

    async def breaker(self) -> BreakerStatus | None:
        """None for a meter without breaker (X10 = 0)."""
        if self.polled_breaker is None:
            await self.read()
        return self.polled_breaker

    async def alarms(self) -> tuple[str, list[AlarmNotice]]:
        now = local_now()
        return now, [AlarmNotice(now, kind, True, phase) for kind, phase in sorted(self._alarms)]

    async def execute(self, command: Command) -> dict[str, Any]:
        """One register or coil write (the command table's ModbusWrite), then the readings it changed."""
        if command.name not in MODBUS_COMMANDS:
            raise CommandError(command.name, "not supported over Modbus")
        write = _write(command.name)
        if write.table == "coil":
            await self._call(command.name, self.client.write_coil, write.address, bool(write.encode(command.value)))
        else:
            await self._call(command.name, self.client.write_register, write.address, write.encode(command.value))
        readings = await self.read()
        return {key: readings[key] for key in write.reports}

    async def close(self) -> None:
        self.client.close()


def _write(name: str) -> ModbusWrite:
    write = COMMANDS_BY_NAME[name].modbus
    assert write is not None, name  # MODBUS_COMMANDS are those with a write
    return write


def _client(address: Address, timeout: float) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    if address.kind == "tcp":
        return AsyncModbusTcpClient(address.host, port=address.port, timeout=timeout, retries=1)
    return AsyncModbusSerialClient(
        address.path, framer=FramerType.RTU, baudrate=address.baud or 9600, bytesize=address.bytesize,
        parity="N" if address.kind == "pty" else address.parity, stopbits=address.stopbits,
        timeout=timeout, retries=1,
    )
