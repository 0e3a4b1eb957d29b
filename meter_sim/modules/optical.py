"""The optical port: IEC 62056-21 mode C readout of the display registers (identification
`/KAM5\\2…`: up to 9600 Bd, HDLC offered), one `MeterSession` state machine per connection; and
mode D, the same data block pushed unrequested at 2400 Bd (identification `/KAM3…`).

Mode E (IEC 62056-21 Annex E, spec §10.1: the optical port speaks DLMS too): the option select
`ACK 2 Z 2` switches the line to rate Z and hands it to the meter's DLMS HDLC server (`converse_hdlc`)
through a stream reader of its own, fed from the line, until the client's DISC (answered first) or
`hdlc_inactivity_s` of silence; then the port waits for a sign-on at 300 Bd again. The meter switches
as soon as the option select is in: the HHU waits the reaction time (200–1500 ms) before its SNRM.

A Variant 2 meter (type number X8 = 2) answers no 1107 or DLMS query (spec §10.1), and Z18 = 000
switches 1107 off: such a port reads and drops every sign-on, sending nothing back. Mode D is a
push, not a query, so it keeps working (inferred: the spec names only queries)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial

from meter_sim.meter import Meter, serial_number
from meter_sim.modules.dlms_hdlc import converse_hdlc, physical_address
from meter_sim.modules.dlms_server import LOGICAL_DEVICE
from meter_sim.serial_line import set_baud
from omnipower.errors import UnknownTagError
from omnipower.hdlc import HdlcReader, server_address
from omnipower.hdlc_link import FrameKind, decode_control
from omnipower.iec62056_21 import (
    BinaryModeRequested,
    DataReadout,
    MeterSession,
    ReadoutRequested,
    SessionFailed,
    SwitchBaud,
    Transmit,
    encode_mode_d_push,
    kamstrup_identification,
    kamstrup_readout,
)

log = logging.getLogger(__name__)
TICK_S = 0.1
HDLC_INACTIVITY_S = 120.0  # the HDLC setup's (class 23) default inactivity_time_out, IEC 62056-46
_READ_SIZE = 1024


class DiscWatch:
    """Spots, among the client's HDLC frames, a DISC for this meter (upper address the logical device, lower
    absent or the meter's own, as `HdlcServerLink` takes them): the end of a mode E session."""

    def __init__(self, physical: int) -> None:
        self.physical = physical
        self._reader = HdlcReader()

    def feed(self, data: bytes) -> bool:
        seen = False
        for frame in self._reader.feed(data):
            upper, lower = server_address(frame.dst)
            try:
                kind = decode_control(frame.control).kind
            except UnknownTagError:
                continue
            seen |= kind is FrameKind.DISC and upper == LOGICAL_DEVICE and lower in (None, self.physical)
        self._reader.take_errors()  # the link reports bad frames; here they only need not pile up
        return seen


class OpticalPort:
    def __init__(self, meter: Meter, hdlc_inactivity_s: float = HDLC_INACTIVITY_S) -> None:
        if hdlc_inactivity_s <= 0:
            raise ValueError(f"the HDLC inactivity time must be positive, got {hdlc_inactivity_s}")
        self.meter = meter
        self.hdlc_inactivity_s = hdlc_inactivity_s
        self.meter_number = serial_number(meter.id)
        self.identification = kamstrup_identification("OMNIPOWER")
        self._told_silent = False

    def silent_reason(self) -> str | None:
        """Why this meter does not answer 1107 queries now, or None when it does (read on every
        request: Z18 may be reconfigured while the port is open)."""
        settings = self.meter.settings
        kind = settings.type
        if not kind.supports_dlms_query:
            return f"type number {kind.code} is Variant 2 (X8 = 2), which answers no IEC 62056-21 or DLMS query"
        if settings.z18 == 0:
            return "Z18 = 000 switches IEC 62056-21 (1107) off"
        return None

    def readout(self) -> DataReadout:
        meter = self.meter
        meter.update()
        readings = {k: v for k, v in meter.readings().items() if isinstance(v, int | float)}
        when = meter.rtc.wall_time(meter.t).replace(tzinfo=None)  # the readout carries local time
        active = meter.firmware.active
        return kamstrup_readout(readings, meter_number=self.meter_number, when=when,
                                firmware=(active.version, active.checksum))

    def mode_d_push(self) -> bytes:
        """One mode D datagram: identification with baud character '3', then the readout block."""
        identification = kamstrup_identification("OMNIPOWER", baud_char="3", binary_mode=False)
        return encode_mode_d_push(identification, self.readout())

    async def converse(self, reader: asyncio.StreamReader, write: Callable[[bytes], None],
                       set_baud: Callable[[int], None] | None = None) -> None:
        """Answer sign-ons on one line until it closes."""
        session = MeterSession(self.identification)
        while True:
            try:
                async with asyncio.timeout(TICK_S):
                    data = await reader.read(1024)
                if not data:
                    return
                if (why := self.silent_reason()) is not None:
                    self._ignore(why)
                    events = session.reset()  # idle at 300 Bd: at most a SwitchBaud, never a reply
                else:
                    events = session.receive_data(data)
            except TimeoutError:
                events = session.advance(TICK_S)
            while events:
                event = events.pop(0)
                if isinstance(event, Transmit):
                    write(event.data)
                elif isinstance(event, SwitchBaud) and set_baud is not None:
                    set_baud(event.rate)
                elif isinstance(event, ReadoutRequested):
                    events += session.send_readout(self.readout())
                elif isinstance(event, BinaryModeRequested):
                    if not await self.converse_binary(reader, write, event.early):
                        return
                    events += session.reset()  # back to 300 Bd, waiting for a sign-on
                elif isinstance(event, SessionFailed):
                    log.info("optical: session abandoned: %s", event.reason)

    async def converse_binary(self, reader: asyncio.StreamReader, write: Callable[[bytes], None],
                              early: bytes = b"") -> bool:
        """Mode E: the line's bytes go to the DLMS HDLC server until the client's DISC has been answered or the
        line has been quiet for `hdlc_inactivity_s`. False if the line closed meanwhile."""
        log.info("optical: meter %s hands the line to HDLC (mode E)", self.meter.id)
        line = asyncio.StreamReader()  # the server's own reader: its EOF ends the HDLC session, not the line
        server = asyncio.create_task(converse_hdlc(self.meter, line, write))
        watch = DiscWatch(physical_address(self.meter.id))
        data, open_ = early, True
        try:
            while True:
                if data:
                    line.feed_data(data)
                    if watch.feed(data):
                        break
                try:
                    async with asyncio.timeout(self.hdlc_inactivity_s):
                        data = await reader.read(_READ_SIZE)
                except TimeoutError:
                    log.info("optical: HDLC quiet for %g s: back to 300 Bd", self.hdlc_inactivity_s)
                    break
                if not data:
                    open_ = False
                    break
            line.feed_eof()
            await server  # it answers what it was fed (the DISC's UA) before it sees the EOF
        finally:
            server.cancel()
        return open_

    def _ignore(self, why: str) -> None:
        if not self._told_silent:  # once per port: a client retrying every poll would flood the log
            self._told_silent = True
            log.info("optical: meter %s does not answer the sign-on (%s)", self.meter.id, why)


class ModeDPush:
    """Mode D pushes every `every_s` seconds of meter time (the meter's push-button trigger, made periodic)."""

    def __init__(self, port: OpticalPort, every_s: int = 10) -> None:
        if every_s < 1:
            raise ValueError(f"the mode D push interval must be at least 1 s, got {every_s}")
        self.port = port
        self.every_s = every_s
        self._last_t = port.meter.t

    def due(self) -> list[bytes]:
        t, last = self.port.meter.t, self._last_t
        self._last_t = t
        if t // self.every_s > last // self.every_s:
            return [self.port.mode_d_push()]  # a late push is sent once, not replayed
        return []


async def serve_tcp(port: OpticalPort, host: str, tcp_port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await port.converse(reader, writer.write)
        writer.close()

    return await asyncio.start_server(handle, host, tcp_port)


async def serve_serial(port: OpticalPort, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An open serial line (or the inner end of a pty relay) at 300 Bd; follows SwitchBaud."""
    try:
        await port.converse(reader, writer.write, partial(set_baud, writer))
    finally:
        writer.close()
