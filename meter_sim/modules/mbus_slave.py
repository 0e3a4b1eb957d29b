"""The M-Bus module as a slave (EN 13757-2/-3), sans-IO: frames in, reply bytes out.

Primary address (1–250) and secondary addressing (SND_UD CI 52 selection, wildcards; address FD
then means "the selected slave"); SND_NKE → E5 and a link reset; REQ_UD2 → RSP_UD with our record
map (omnipower/mbus.py), spread over several telegrams (DIF 1F) when it exceeds one frame; the FCB
rule: a REQ_UD2 with FCV set and the same FCB as the last answered one is a repeat request, so the
last telegram is sent again instead of the next one. SND_UD with CI 51 carries commands (breaker,
load-control relays, tariff; codes in omnipower/mbus.py): acknowledged with E5, carried out once
(a repeat with the same FCB is not carried out again), and a refusal is reported in the status
byte of the next RSP_UD.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from meter_sim.meter import Meter, serial_number
from meter_sim.refusals import MeterRefused
from omnipower import mbus
from omnipower.errors import CodecError

log = logging.getLogger(__name__)
MANUFACTURER = "KAM"
VERSION = 0x1B
MEDIUM_ELECTRICITY = 0x02


class MbusSlave:
    def __init__(self, meter: Meter, primary_address: int = 1, max_data_len: int = mbus.MAX_RECORD_BYTES) -> None:
        if not 0 <= primary_address <= 250:
            raise ValueError(f"M-Bus primary address must be 0–250, got {primary_address}")
        self.meter = meter
        self.address = primary_address
        self.id = serial_number(meter.id)  # 8 BCD digits
        self.max_data_len = max_data_len
        self.selected = False
        self.access_number = 0
        self._last_fcb: bool | None = None
        self._queue: list[bytes] = []  # telegrams still to send in this readout
        self._last: bytes | None = None
        self.application_error: str | None = None  # reported in the next RSP_UD's status byte

    def _mine(self, a: int) -> bool:
        return a == self.address or (a == mbus.ADDR_SECONDARY and self.selected) or a == mbus.ADDR_BROADCAST_REPLY

    def handle(self, frame: mbus.Frame) -> bytes | None:
        """The reply to one master frame (None: this slave stays silent)."""
        if isinstance(frame, mbus.Ack):
            return None
        fn = _function(frame.c)
        if fn == _function(mbus.C_SND_NKE) and (self._mine(frame.a) or frame.a == mbus.ADDR_BROADCAST):
            self._last_fcb, self._queue, self._last = None, [], None
            if frame.a == mbus.ADDR_SECONDARY:
                self.selected = False  # SND_NKE to FD ends the selection
            return None if frame.a == mbus.ADDR_BROADCAST else mbus.encode(mbus.Ack())
        if fn == _function(mbus.C_SND_UD) and isinstance(frame, mbus.LongFrame) and frame.ci == mbus.CI_SELECT:
            mask = mbus.decode_selection(frame)
            self.selected = mbus.matches(mask, self.id, MANUFACTURER, VERSION, MEDIUM_ELECTRICITY)
            return mbus.encode(mbus.Ack()) if self.selected else None
        if fn == _function(mbus.C_SND_UD) and isinstance(frame, mbus.LongFrame) and frame.ci == mbus.CI_DATA_SEND:
            if not (self._mine(frame.a) or frame.a == mbus.ADDR_BROADCAST):
                return None
            fcb = bool(frame.c & mbus.C_FCB)
            if not (frame.c & mbus.C_FCV and fcb == self._last_fcb):  # a repeat is not carried out twice
                self._last_fcb = fcb  # one FCB per slave, toggled by the master after every exchange
                self._carry_out(frame.data)
            return None if frame.a == mbus.ADDR_BROADCAST else mbus.encode(mbus.Ack())
        if fn == _function(mbus.C_REQ_UD2) and self._mine(frame.a):
            fcb = bool(frame.c & mbus.C_FCB)
            fcv = bool(frame.c & mbus.C_FCV)
            if fcv and self._last is not None and fcb == self._last_fcb:
                return self._last  # the master did not get our answer: repeat it
            self._last_fcb = fcb
            if not self._queue:
                self._queue = self._telegrams()
            self._last = self._queue.pop(0)
            return self._last
        return None

    async def converse(self, reader: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
        """Answer master frames on one line until it closes."""
        frames = mbus.MbusReader()
        while data := await reader.read(1024):
            for frame in frames.feed(data):
                reply = self.handle(frame)
                if reply is not None:
                    write(reply)

    def _carry_out(self, data: bytes) -> None:
        meter = self.meter
        meter.update()
        try:
            for name, value in mbus.decode_commands(data):
                if name == "breaker":
                    meter.breaker_command(value)  # type: ignore[arg-type]
                elif name == "tariff":
                    meter.set_tariff(value if isinstance(value, int) else None)
                else:
                    meter.load_control_command(int(name[-1]), value)  # type: ignore[arg-type]
        except (CodecError, MeterRefused) as exc:
            log.info("mbus: command refused: %s", exc)
            self.application_error = str(exc)

    def _telegrams(self) -> list[bytes]:
        meter = self.meter
        meter.update()
        readings = meter.readings()
        relays = {key: str(readings[key]) for key in mbus.OUTPUT_RELAYS}
        when = meter.rtc.wall_time(meter.t).replace(tzinfo=None)
        records = mbus.encode_readings(readings)
        records += mbus.status_records(when, meter.rtc.dst_active(meter.t), meter.breaker.state, relays)
        status = mbus.STATUS_APPLICATION_ERROR if self.application_error else 0
        self.application_error = None
        parts = mbus.split_records(records, self.max_data_len)
        out = []
        for part in parts:
            self.access_number = (self.access_number + 1) % 256
            resp = mbus.VariableDataResponse(
                id=self.id, manufacturer=MANUFACTURER, version=VERSION, medium=MEDIUM_ELECTRICITY,
                access_number=self.access_number, status=status, records=tuple(part),
            )
            out.append(mbus.encode(mbus.rsp_ud(self.address, resp)))
        return out


def _function(c: int) -> int:
    """The link function of a C field, without the FCB/FCV bits."""
    return c & ~(mbus.C_FCB | mbus.C_FCV)
