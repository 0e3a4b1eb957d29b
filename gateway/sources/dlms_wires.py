"""How a DLMS APDU reaches the meter: the IEC 62056-47 wrapper (TCP, the GPRS module's path) or HDLC (IEC 62056-46,
on a serial line, a pty, a TCP serial server, or an optical head after the IEC 62056-21 mode E sign-on).

Each wire has the same three steps: `open` (HDLC: SNRM/UA; after mode E's sign-on when asked), `exchange` (one
APDU out, its answer back), `close` (HDLC: DISC). The protocols themselves are the sans-IO codecs of
omnipower/dlms_wrapper.py and omnipower/hdlc_link.py; here bytes only move.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from gateway.sources.lines import set_baud
from omnipower.dlms_wrapper import WrapperReader, encode_wrapper
from omnipower.hdlc_link import (
    Connected,
    Disconnected,
    HdlcClientLink,
    Refused,
    Response,
    Transmit,
)

SERVER_DEVICE = 1  # the management logical device
MODE_E_REACTION_S = 0.3  # IEC 62056-21: the meter switches 200-1500 ms after the option select is sent
# IEC 62056-21 baud rate characters of mode C/E
MODE_E_RATES = {b"0": 300, b"1": 600, b"2": 1200, b"3": 2400, b"4": 4800, b"5": 9600, b"6": 19200}


class WireRefused(Exception):
    """The meter refused the link (DM, FRMR) or the sign-on."""


class Wire(Protocol):
    async def open(self) -> None: ...

    async def exchange(self, apdu: bytes, timeout: float) -> bytes: ...

    async def close(self) -> None: ...


class WrapperWire:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: int) -> None:
        self.reader, self.writer, self.client = reader, writer, client
        self.frames = WrapperReader()

    async def open(self) -> None:
        return None

    async def exchange(self, apdu: bytes, timeout: float) -> bytes:
        self.writer.write(encode_wrapper(self.client, SERVER_DEVICE, apdu))
        async with asyncio.timeout(timeout):
            while True:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("the meter closed the connection")
                for pdu in self.frames.feed(data):
                    if pdu.source == SERVER_DEVICE and pdu.destination == self.client:
                        return pdu.apdu

    async def close(self) -> None:
        return None


class HdlcWire:
    """HDLC with the meter's logical device 1 and, when given, its physical (lower) address; `mode_e` signs on
    through the optical port first (`/?!`, the identification announcing mode E with `\\2`, `ACK 2 Z 2`) and switches
    the line to the rate the meter offered, 8N1."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: int,
                 physical: int | None, mode_e: bool, timeout: float) -> None:
        self.reader, self.writer, self.mode_e, self.timeout = reader, writer, mode_e, timeout
        self.link = HdlcClientLink(client=client, server=SERVER_DEVICE, physical=physical)

    async def open(self) -> None:
        if self.mode_e:
            await self._sign_on()
        self.writer.write(self.link.connect())
        async with asyncio.timeout(self.timeout):
            while True:
                for event in await self._events():
                    if isinstance(event, Connected):
                        return

    async def exchange(self, apdu: bytes, timeout: float) -> bytes:
        for frame in self.link.send(apdu):
            self.writer.write(frame)
        async with asyncio.timeout(timeout):
            while True:
                for event in await self._events():
                    if isinstance(event, Response):
                        return event.apdu

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError, WireRefused):
            self.writer.write(self.link.disconnect())
            async with asyncio.timeout(self.timeout):
                while not any(isinstance(e, Disconnected) for e in await self._events()):
                    pass

    async def _events(self) -> list[object]:
        """The link's events from the next bytes on the line; the frames it sends by itself are sent; a silence of a
        second makes it poll again (`retry`: a lost frame is asked for once more)."""
        try:
            async with asyncio.timeout(1.0):
                data = await self.reader.read(4096)
        except TimeoutError:
            for frame in self.link.retry():
                self.writer.write(frame)
            return []
        if not data:
            raise ConnectionError("the line closed")
        events: list[object] = []
        for event in self.link.feed(data):
            if isinstance(event, Transmit):
                self.writer.write(event.frame)
            elif isinstance(event, Refused):
                why = f": {event.reasons!r}" if event.reasons else ""
                raise WireRefused(f"the meter refused the HDLC link ({event.kind.name.lower()}{why})")
            else:
                events.append(event)
        return events

    async def _sign_on(self) -> None:
        self.writer.write(b"/?!\r\n")
        async with asyncio.timeout(self.timeout):
            line = await self.reader.readuntil(b"\r\n")
        ident = line.strip()
        if not ident.startswith(b"/") or len(ident) < 7 or ident[5:7] != b"\\2":
            raise WireRefused(f"the meter's identification {ident[:40]!r} offers no mode E (no \\2)")
        rate_char = ident[4:5]
        rate = MODE_E_RATES.get(rate_char)
        if rate is None:
            raise WireRefused(f"the meter's identification names no rate we know ({rate_char!r})")
        self.writer.write(b"\x062" + rate_char + b"2\r\n")
        await self.writer.drain()
        await asyncio.sleep(MODE_E_REACTION_S)
        set_baud(self.writer, rate)
        serial = self.writer.transport.get_extra_info("serial")
        if serial is not None:  # the sign-on runs 7E1; HDLC is binary, 8N1
            serial.bytesize, serial.parity = 8, "N"


