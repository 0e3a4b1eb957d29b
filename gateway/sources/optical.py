"""The master side of the optical port, through an optical head on a serial port, a pty, or TCP:
`optical.mode: readout` runs an IEC 62056-21 mode C readout on every poll (sign-on at 300 Bd 7E1,
option select up to 9600 Bd, readout with BCC); `push` listens to mode D pushes (2400 Bd 7E1) and
keeps the latest. Read-only: the data block carries no breaker state and takes no commands."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from gateway.config import MeterConfig
from gateway.sources.base import MeterInfo, Readings, ReadOnlySource, SourceError, local_now
from gateway.sources.lines import keep_listening, open_line, set_baud
from omnipower.address import parse_address
from omnipower.errors import CodecError
from omnipower.iec62056_21 import (
    KAMSTRUP_READOUT_REGISTERS,
    MAX_REACTION_TIME,
    MODE_D_BAUD_CHAR,
    MODE_D_BAUD_RATE,
    ClientSession,
    DataReadout,
    IdentificationMessage,
    Iec62056Reader,
    ReadoutReceived,
    SessionFailed,
    SwitchBaud,
    Transmit,
    readings_from_readout,
)
from omnipower.registers import REGISTERS_BY_KEY, REGISTERS_BY_OBIS, Kind
from omnipower.rtc import Rtc

log = logging.getLogger(__name__)
SESSION_TIMEOUT_S = 15.0
TICK_S = 0.1
# A meter that never identifies itself gives no reason; these are the usual ones.
NO_SIGN_ON_CAUSES = (
    "a Variant 2 meter (type number X8 = 2) answers no IEC 62056-21 (1107) or DLMS query, nor does a meter with "
    "1107 switched off (Z18 = 000); otherwise check that the optical head sits on the meter's optical port and "
    "that the transport is the right one"
)


class OpticalSource(ReadOnlySource):
    why_no_commands = "the readout is read-only"

    def __init__(self, config: MeterConfig, response_timeout: float = 2 * MAX_REACTION_TIME) -> None:
        super().__init__()
        self.response_timeout = response_timeout  # silence after which a readout is given up (IEC 62056-21)
        if config.transport is None:
            raise ValueError(f"meter {config.id}: an optical source needs a transport")
        self.config = config
        self.address = parse_address(config.transport)
        self.rtc = Rtc(config.z11, config.z15)
        self.info = MeterInfo(
            meter_id=config.id,
            name=config.name or f"OMNIPOWER {config.id}",
            source="optical",
            model="OMNIPOWER (optical port)",
            serial_number="unknown",
            sw_version="unknown",
            registers=tuple(REGISTERS_BY_KEY[key] for _, key, _, _ in KAMSTRUP_READOUT_REGISTERS),
            commands=frozenset(),
        )
        self.options = config.optical
        self._pushed: Readings | None = None
        self._last_push = -1e9

    async def run(self) -> None:
        if self.options.mode == "push":
            await keep_listening(self.address, MODE_D_BAUD_RATE, "7E1", self._pushes, f"meter {self.config.id}",
                                 self._line_lost)
        await asyncio.Event().wait()  # readout mode: the bridge's publish interval is the schedule

    def _line_lost(self) -> None:
        self._last_push = -1e9

    async def _pushes(self, reader: asyncio.StreamReader) -> None:
        """Mode D: an identification with baud character '3', then the data block."""
        messages = Iec62056Reader()
        identified = False
        while data := await reader.read(4096):
            for message in messages.feed(bytes(b & 0x7F for b in data)):  # 7-bit characters
                if isinstance(message, IdentificationMessage):
                    identified = message.baud_char == MODE_D_BAUD_CHAR
                elif isinstance(message, DataReadout) and identified:
                    identified = False
                    try:
                        self._pushed = self._readings(message)
                    except CodecError as exc:
                        log.warning("meter %s: mode D push rejected: %s", self.config.id, exc)
                        continue
                    self._last_push = time.monotonic()
                    self.online = True
            for error in messages.take_errors():
                log.warning("meter %s: mode D bytes rejected: %s", self.config.id, error)

    async def read(self) -> Readings:
        if self.options.mode == "push":
            silent = time.monotonic() - self._last_push
            if self._pushed is None or silent > self.options.silence_s:
                self.online = False
                raise SourceError(f"no mode D push received for {min(silent, 1e6):.0f} s on {self.address}")
            return dict(self._pushed)
        try:
            async with asyncio.timeout(SESSION_TIMEOUT_S):
                readout = await self._session()
        except TimeoutError:
            self.online = False
            raise SourceError(f"no readout from {self.address} within {SESSION_TIMEOUT_S:.0f} s") from None
        except SourceError:
            self.online = False
            raise
        except (OSError, CodecError) as exc:
            self.online = False
            raise SourceError(f"optical readout from {self.address} failed: {exc}") from None
        try:
            readings = self._readings(readout)
        except CodecError as exc:  # a readout with a valid BCC may still say nonsense (a register twice …)
            self.online = False
            raise SourceError(f"optical readout from {self.address} failed: {exc}") from None
        self.online = True
        return readings

    def _readings(self, readout: DataReadout) -> Readings:
        values = readings_from_readout(readout)
        readings: Readings = {"time": self._meter_time(readout)}
        readings.update({REGISTERS_BY_OBIS[code].key: v for code, v in values.items() if code in REGISTERS_BY_OBIS})
        texts = {r.key: item.value for item in readout.datasets  # the text registers it carries: firmware (§8)
                 if (r := REGISTERS_BY_OBIS.get(item.address or "")) is not None and r.kind is Kind.TEXT}
        readings.update(texts)
        known = {r.key for r in self.info.registers}
        if texts.keys() - known:  # first seen: their entities are announced (discovery follows `info`)
            self.info = replace(self.info, registers=self.info.registers + tuple(
                REGISTERS_BY_KEY[key] for key in texts if key not in known))
        version = texts.get("firmware_version")
        if version and version != self.info.sw_version:  # the device's firmware, as Home Assistant shows it
            self.info = replace(self.info, sw_version=version)
        return readings

    def _meter_time(self, readout: DataReadout) -> str:
        """0.9.1 (hhmmss) and 0.9.2 (YYMMDD) are local wall time; the offset follows Z11/Z15."""
        sets = {d.address: d.value for d in readout.datasets}
        try:
            local = datetime.strptime(sets["0.9.2"] + sets["0.9.1"], "%y%m%d%H%M%S")
        except (KeyError, ValueError):
            return local_now()
        standard = local - timedelta(seconds=self.rtc.standard_offset)
        utc = standard.replace(tzinfo=UTC)
        if self.rtc.dst_active((utc - timedelta(hours=1)).timestamp()):
            utc -= timedelta(hours=1)
        return local.replace(tzinfo=timezone(timedelta(seconds=self.rtc.utc_offset(utc.timestamp())))).isoformat()

    async def _session(self) -> DataReadout:
        reader, writer = await open_line(self.address, 300, "7E1")  # sign-on at 300 Bd 7E1
        client = ClientSession(max_baud=9600, response_timeout=self.response_timeout)
        try:
            events = client.start()
            while True:
                for event in events:
                    if isinstance(event, Transmit):
                        writer.write(event.data)
                        await writer.drain()
                    elif isinstance(event, SwitchBaud):
                        set_baud(writer, event.rate)
                    elif isinstance(event, ReadoutReceived):
                        return event.readout
                    elif isinstance(event, SessionFailed):
                        if client.identification is None and event.error is None:  # silence, not garbage
                            raise SourceError(
                                f"the meter on {self.address} did not answer the IEC 62056-21 sign-on within "
                                f"{self.response_timeout:g} s: {NO_SIGN_ON_CAUSES}"
                            )
                        raise CodecError(event.reason)
                try:
                    async with asyncio.timeout(TICK_S):
                        data = await reader.read(4096)
                    if not data:
                        raise ConnectionError("the line closed during the readout")
                    events = client.receive_data(data)
                except TimeoutError:
                    events = client.advance(TICK_S)
        finally:
            writer.close()

