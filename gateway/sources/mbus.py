"""The master side of the M-Bus module: poll the meter with REQ_UD2 (FCB toggling, several
telegrams when the meter says more records follow), by primary address or by secondary address
(selection first), over TCP, a pty, or a serial M-Bus level converter (2400 8E1 by default).

The telegram carries the meter clock and the breaker and relay positions besides the registers
(omnipower/mbus.py). Commands (breaker, load-control relays, tariff) go as SND_UD; the next
readout's status byte tells whether the meter carried them out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta, timezone
from typing import Any

from gateway.command_table import MBUS_COMMANDS
from gateway.commands import Command, CommandError
from gateway.config import MeterConfig
from gateway.sources.base import AlarmNotice, BreakerStatus, MeterInfo, Readings, Source, SourceError, local_now
from gateway.sources.lines import open_line
from omnipower import mbus
from omnipower.address import parse_address
from omnipower.errors import CodecError
from omnipower.registers import REGISTERS_BY_KEY, REGISTERS_BY_OBIS
from omnipower.rtc import Rtc

log = logging.getLogger(__name__)
REPLY_TIMEOUT_S = 3.0
MAX_TELEGRAMS = 16
Exchange = Callable[[mbus.Frame], Awaitable[mbus.Frame]]


class MbusSource(Source):
    def __init__(self, config: MeterConfig) -> None:
        super().__init__()
        if config.transport is None:
            raise ValueError(f"meter {config.id}: an mbus source needs a transport")
        self.config = config
        self.address = parse_address(config.transport)
        self.primary = config.mbus_address
        self.secondary = config.mbus_secondary
        self.rtc = Rtc(config.z11, config.z15)
        keys = {REGISTERS_BY_OBIS[e.obis].key for e in mbus.RECORD_MAP if e.obis in REGISTERS_BY_OBIS}
        keys |= {"breaker", *mbus.OUTPUT_RELAYS}
        self.info = MeterInfo(
            meter_id=config.id,
            name=config.name or f"OMNIPOWER {config.id}",
            source="mbus",
            model="OMNIPOWER (M-Bus module)",
            serial_number=self.secondary or f"mbus-{self.primary}",
            sw_version="unknown",
            registers=tuple(r for k, r in REGISTERS_BY_KEY.items() if k in keys),
            commands=MBUS_COMMANDS,
        )
        self._fcb = False
        self._lock = asyncio.Lock()  # one exchange on the line at a time

    async def run(self) -> None:
        await asyncio.Event().wait()  # the bridge's publish interval is the polling schedule

    async def read(self) -> Readings:
        readings, _ = await self._session(None)
        return readings

    async def breaker(self) -> BreakerStatus | None:
        return self.polled_breaker

    async def alarms(self) -> tuple[str, list[AlarmNotice]]:
        return local_now(), []  # the M-Bus telegram carries no alarms

    async def execute(self, command: Command) -> dict[str, Any]:
        value = command.value
        if isinstance(value, float) or (command.name, value) not in mbus.COMMAND_CODES:
            raise CommandError(command.name, f"{value!r} has no M-Bus command code")
        try:
            readings, status = await self._session((command.name, value))
        except SourceError as exc:
            raise CommandError(command.name, str(exc)) from None
        if status & mbus.STATUS_APPLICATION_MASK == mbus.STATUS_APPLICATION_ERROR:
            now = ", ".join(f"{k} is {readings[k]}" for k in ("breaker", *mbus.OUTPUT_RELAYS) if k in readings)
            raise CommandError(command.name, f"the meter refused it (M-Bus status: application error); {now}")
        if command.name == "tariff":
            return {"tariff_control": "auto" if value is None else str(value)}
        return {command.name: readings.get(command.name)}

    async def close(self) -> None:
        return None

    # --- the line ------------------------------------------------------------------------------
    async def _session(self, command: tuple[str, mbus.CommandValue] | None) -> tuple[Readings, int]:
        """Open the line, send `command` if any, read the meter; (readings, status byte)."""
        try:
            async with self._lock, asyncio.timeout(REPLY_TIMEOUT_S * (MAX_TELEGRAMS + 4)):
                reader, writer = await open_line(self.address, 2400, "8E1")  # M-Bus: 2400 8E1
                try:
                    exchange = _exchanger(reader, writer)
                    target = await self._address(exchange)
                    if command is not None:
                        data = mbus.encode_commands([command])
                        reply = await exchange(mbus.snd_ud(target, mbus.CI_DATA_SEND, data, fcb=self._toggle()))
                        if not isinstance(reply, mbus.Ack):
                            raise CodecError(f"the meter answered the command with {type(reply).__name__}, not E5")
                    responses = await self._readout(exchange, target)
                finally:
                    writer.close()
        except (OSError, CodecError, TimeoutError) as exc:
            self.online = False
            reason = str(exc) or ("no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__)
            raise SourceError(f"M-Bus exchange with {self.address} failed: {reason}") from None
        try:
            response = mbus.reassemble(responses)
        except CodecError as exc:  # telegrams that make no one readout (another meter's, more announced …)
            self.online = False
            raise SourceError(f"M-Bus exchange with {self.address} failed: {exc}") from None
        self.online = True
        return self._readings(response), response.status

    def _toggle(self) -> bool:
        self._fcb = not self._fcb
        return self._fcb

    async def _address(self, exchange: Exchange) -> int:
        if self.secondary is None:
            return self.primary
        reply = await exchange(mbus.select(mbus.SelectionMask(self.secondary)))
        if not isinstance(reply, mbus.Ack):
            raise CodecError(f"no meter answered the selection of {self.secondary}")
        return mbus.ADDR_SECONDARY

    async def _readout(self, exchange: Exchange, target: int) -> list[mbus.VariableDataResponse]:
        responses: list[mbus.VariableDataResponse] = []
        while len(responses) < MAX_TELEGRAMS:
            resp = mbus.decode_rsp_ud(await exchange(mbus.req_ud2(target, fcb=self._toggle())))
            responses.append(resp)
            if not resp.more_records_follow:
                return responses
        raise CodecError(f"more than {MAX_TELEGRAMS} telegrams in one readout")

    def _readings(self, response: mbus.VariableDataResponse) -> Readings:
        status = mbus.decode_status(response)
        if status.time is not None:  # local time; the SU bit says whether summer time is in force
            offset = timedelta(seconds=self.rtc.standard_offset + (3600 if status.summer else 0))
            now = status.time.replace(tzinfo=timezone(offset)).isoformat(timespec="seconds")
        else:
            now = local_now()  # another maker's telegram without a clock record
        readings: Readings = {"time": now}
        values = mbus.decode_to_readings(response)
        readings.update({REGISTERS_BY_OBIS[code].key: v for code, v in values.items() if code in REGISTERS_BY_OBIS})
        if status.breaker is not None:
            readings["breaker"] = status.breaker
            self.note_polled_breaker(status.breaker, now)
        readings.update(status.relays or {})
        return readings


def _exchanger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Exchange:
    frames = mbus.MbusReader()

    async def exchange(frame: mbus.Frame) -> mbus.Frame:
        writer.write(mbus.encode(frame))
        await writer.drain()
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            while True:
                data = await reader.read(1024)
                if not data:
                    raise ConnectionError("the line closed")
                got = frames.feed(data)
                if got:
                    return got[0]

    return exchange
