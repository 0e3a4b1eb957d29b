"""The master side of the M-Bus module: poll the meter with REQ_UD2 (FCB toggling, several
telegrams when the meter says more records follow), by primary address or by secondary address
(selection first), over TCP, a pty, or a serial M-Bus level converter (2400 8E1 by default).

Read-only here: our M-Bus record map carries no breaker state, and no SND_UD command set for the
breaker is defined, so commands are answered with an error."""

from __future__ import annotations

import asyncio
import logging

from gateway.config import MeterConfig
from gateway.sources.base import MeterInfo, Readings, ReadOnlySource, SourceError, local_now
from gateway.sources.lines import open_line
from omnipower import mbus
from omnipower.address import parse_address
from omnipower.errors import CodecError
from omnipower.registers import REGISTERS_BY_KEY, REGISTERS_BY_OBIS

log = logging.getLogger(__name__)
REPLY_TIMEOUT_S = 3.0
MAX_TELEGRAMS = 16


class MbusSource(ReadOnlySource):
    def __init__(self, config: MeterConfig) -> None:
        super().__init__()
        if config.transport is None:
            raise ValueError(f"meter {config.id}: an mbus source needs a transport")
        self.config = config
        self.address = parse_address(config.transport)
        self.primary = config.mbus_address
        self.secondary = config.mbus_secondary
        keys = {REGISTERS_BY_OBIS[e.obis].key for e in mbus.RECORD_MAP if e.obis in REGISTERS_BY_OBIS}
        self.info = MeterInfo(
            meter_id=config.id,
            name=config.name or f"OMNIPOWER {config.id}",
            source="mbus",
            model="OMNIPOWER (M-Bus module)",
            serial_number=self.secondary or f"mbus-{self.primary}",
            sw_version="unknown",
            registers=tuple(r for k, r in REGISTERS_BY_KEY.items() if k in keys),
            commands=frozenset(),
        )
        self._fcb = False

    async def run(self) -> None:
        await asyncio.Event().wait()  # the bridge's publish interval is the polling schedule

    async def read(self) -> Readings:
        try:
            async with asyncio.timeout(REPLY_TIMEOUT_S * (MAX_TELEGRAMS + 2)):
                responses = await self._poll()
        except (OSError, CodecError, TimeoutError) as exc:
            self.online = False
            raise SourceError(f"M-Bus readout from {self.address} failed: {exc or 'timeout'}") from None
        self.online = True
        values = mbus.decode_to_readings(mbus.reassemble(responses))
        readings: Readings = {"time": local_now()}
        readings.update({REGISTERS_BY_OBIS[code].key: v for code, v in values.items() if code in REGISTERS_BY_OBIS})
        return readings

    async def _poll(self) -> list[mbus.VariableDataResponse]:
        reader, writer = await open_line(self.address, 2400, "8E1")  # M-Bus: 2400 8E1
        frames = mbus.MbusReader()
        try:
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

            target = self.primary
            if self.secondary is not None:
                reply = await exchange(mbus.select(mbus.SelectionMask(self.secondary)))
                if not isinstance(reply, mbus.Ack):
                    raise CodecError(f"no meter answered the selection of {self.secondary}")
                target = mbus.ADDR_SECONDARY
            responses: list[mbus.VariableDataResponse] = []
            while len(responses) < MAX_TELEGRAMS:
                self._fcb = not self._fcb
                reply = await exchange(mbus.req_ud2(target, fcb=self._fcb))
                resp = mbus.decode_rsp_ud(reply)
                responses.append(resp)
                if not resp.more_records_follow:
                    return responses
            raise CodecError(f"more than {MAX_TELEGRAMS} telegrams in one readout")
        finally:
            writer.close()

