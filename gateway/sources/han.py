"""The master side of the CCC/HAN module: listen to the meter's DLMS pushes (TCP, pty or a serial
port such as a Raspberry Pi's UART with an M-Bus level converter at 2400 8N1), decrypt them when
keys are given, and keep the latest values as the meter's readings.

HAN is push-only: no commands, and no breaker state or alarms (the lists do not carry them).
Energy registers arrive with list 2, once an hour; until then the state has only list-1 values.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone

from gateway.config import MeterConfig
from gateway.sources.base import (
    MeterInfo,
    RawFrame,
    Readings,
    ReadOnlySource,
    SourceError,
)
from gateway.sources.lines import keep_listening
from omnipower.address import parse_address
from omnipower.dlms import CosemDateTime
from omnipower.errors import CodecError
from omnipower.han import (
    CT_MILLIAMP_SCALERS,
    HAN_LISTS,
    KAMSTRUP_SCALERS,
    SWEDISH_WH_SCALERS,
    HanListKind,
    HanMessage,
    decode_han,
)
from omnipower.hdlc import HdlcFrame, HdlcReader, encode_ui_frame
from omnipower.registers import REGISTERS_BY_KEY
from omnipower.rtc import Rtc

log = logging.getLogger(__name__)
SCALERS = {"kamstrup": KAMSTRUP_SCALERS, "swedish_wh": SWEDISH_WH_SCALERS, "ct_milliamp": CT_MILLIAMP_SCALERS}
SILENCE_S = 30.0  # three missed 10 s pushes: the meter is offline
# List 2 is pushed within the first minute of its hour (§10.4); a clock later than this into the hour is taken as
# the instant of its totals as it is (a meter configured otherwise).
LIST2_CAPTURE_SLACK_MIN = 10
ENERGY_KEYS = frozenset({"a_plus", "a_minus"})
LAYOUT_LISTS = {"nve": (HanListKind.LIST_1, HanListKind.LIST_2), "dk": (HanListKind.DK_PUSH_1,)}


class HanSource(ReadOnlySource):
    why_no_commands = "the HAN interface is push-only"

    def __init__(self, config: MeterConfig) -> None:
        super().__init__()
        if config.transport is None:
            raise ValueError(f"meter {config.id}: a han source needs a transport")
        self.config = config
        self.options = config.han
        self.address = parse_address(config.transport)
        self.scalers = SCALERS[self.options.scalers]
        self.keys = self.options.glo_keys()
        self.rtc = Rtc(config.z11, config.z15)
        keys = {o.register_key for kind in LAYOUT_LISTS[self.options.layout] for o in HAN_LISTS[kind]}
        self.info = MeterInfo(
            meter_id=config.id,
            name=config.name or f"OMNIPOWER {config.id}",
            source="han",
            model="OMNIPOWER (CCC/HAN module)",
            serial_number="unknown",
            sw_version="unknown",
            registers=tuple(r for k, r in REGISTERS_BY_KEY.items() if k in keys),
            commands=frozenset(),
        )
        self._values: dict[str, float] = {}
        self._time: str | None = None
        self._last_frame = -1e9
        self.frames = 0

    async def run(self) -> None:
        await keep_listening(self.address, 2400, "8N1", self._frames, f"meter {self.config.id}",  # HAN-NVE: 8N1
                             self._line_lost)

    def _line_lost(self) -> None:
        self._last_frame = -1e9

    async def _frames(self, reader: asyncio.StreamReader) -> None:
        hdlc = HdlcReader()
        while data := await reader.read(4096):
            for frame in hdlc.feed(data):
                try:
                    message = decode_han(frame, self.scalers, keys=self.keys)
                except CodecError as exc:
                    log.warning("meter %s: HAN frame rejected: %s", self.config.id, exc)
                    continue
                self._accept(message, frame)
            for skipped in hdlc.take_errors():
                log.debug("meter %s: bytes skipped: %s", self.config.id, skipped)

    def _accept(self, message: HanMessage, frame: HdlcFrame) -> None:
        self._values.update(message.registers)
        when = self._meter_time(message.date_time)
        if when is not None:
            self._time = when.isoformat(timespec="seconds")
        if ENERGY_KEYS.intersection(message.registers):
            self.totals_time = self._totals_time(message)
        self._last_frame = time.monotonic()
        self.frames += 1
        self.online = True
        if self.options.raw_topic:  # the frame as on the wire (its CRCs are a function of its content)
            dst = frame.dst[0] if len(frame.dst) == 1 else frame.dst
            src = frame.src[0] if len(frame.src) == 1 else frame.src
            wire = encode_ui_frame(frame.information, dst=dst, src=src, control=frame.control,
                                   segmented=frame.segmented)
            self.events.put_nowait(RawFrame(wire))

    def _meter_time(self, stamp: CosemDateTime | None) -> datetime | None:
        """A pushed date-time with the meter's offset (the DST flag of its status byte says summer time)."""
        when = stamp.to_datetime() if stamp is not None else None
        if when is None or stamp is None:
            return None
        offset = timedelta(seconds=self.rtc.standard_offset + (3600 if stamp.dst else 0))
        return when.replace(tzinfo=timezone(offset))

    def _totals_time(self, message: HanMessage) -> str | None:
        """The instant a push's energy totals stand for. List 2's are captured at hh:00:00 and pushed seconds later
        (§10.4: :05, :10 or later; its clock says when it was pushed): they are the totals of the hour boundary, so
        the energy up to them belongs to the hour that ended. Other pushes' totals are those of their clock."""
        when = self._meter_time(message.clock or message.date_time)
        if when is None:
            return None
        if message.list_kind is HanListKind.LIST_2 and when.minute < LIST2_CAPTURE_SLACK_MIN:
            when = when.replace(minute=0, second=0, microsecond=0)
        return when.isoformat(timespec="seconds")

    async def read(self) -> Readings:
        silent = time.monotonic() - self._last_frame
        if silent > SILENCE_S or self._time is None:
            self.online = False
            raise SourceError(f"no HAN push received for {min(silent, 1e6):.0f} s on {self.address}")
        readings: Readings = {"time": self._time}
        readings.update(self._values)
        return readings

