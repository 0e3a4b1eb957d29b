"""The wireless M-Bus module (Kamstrup's C1 module for OMNIPOWER), on the meter's own clock, and the receiver that
hears it: each telegram comes out as that receiver puts it out (rtl_wmbus lines or iM871A HCI frames).

Schedule (Kamstrup's C mode, as its other meters' documents state it: "every eighth package is a full string,
whereas the seven intervening packages are compact strings", every 16 s in drive-by use, flowIQ 3100 technical
description 5512-1242 §7.1.1; "only every 8 package (approx. every 2 minutes) contains a complete data package",
Wireless M-Bus C mode modules for MULTICAL 402; the OMNIPOWER module's own document is not public): a telegram at
power-up, then one whenever the meter clock passes a multiple of `interval_s`; telegrams 0, 8, 16, … are full
frames, the rest compact. A late telegram is sent once, not replayed for every missed slot. ACC counts the
telegrams (mod 256); SN holds the minutes since power-up and, in its session bits, the telegram count mod 16, so
that no two telegrams share an AES-CTR counter block while at most 15 fall in one minute (interval_s ≥ 4). Values
are the meter's at the moment of sending.

The receiver is a device of its own (`RECEIVER_DEVICES`, one per format of omnipower/wmbus_receivers.py's
RECEIVERS): rtl_wmbus prints every telegram it hears and reads nothing from its host; the iM871A stick
(meter_sim/modules/im871a_stick.py) answers its host's configuration and hears the meter only in a C1 mode.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from meter_sim.config import WmbusSettings
from meter_sim.meter import Meter
from meter_sim.modules.im871a_stick import Im871aStick
from omnipower import wmbus
from omnipower.registers import REGISTERS_BY_OBIS
from omnipower.wmbus_receivers import RECEIVERS

DATAGRAM_KEYS = tuple(REGISTERS_BY_OBIS[obis].key for obis in wmbus.DATAGRAM)  # A+, A−, P+, P−
RSSI = 42  # what the simulated receiver reports: a steady signal, in the receiver's own scale


class ReceiverDevice(Protocol):
    def hear(self, frame: bytes, now: float, rssi: int) -> bytes:
        """What the receiver puts out for a telegram on the air (b"": nothing)."""

    def host(self, data: bytes, now: float) -> bytes:
        """What it answers to the bytes its host wrote."""


class RtlWmbusProgram:
    """rtl_wmbus: one line per telegram heard; it reads nothing from whoever reads its output."""

    def hear(self, frame: bytes, now: float, rssi: int) -> bytes:
        return RECEIVERS["rtl_wmbus"].emit(frame, datetime.fromtimestamp(now, UTC), rssi)

    def host(self, data: bytes, now: float) -> bytes:
        del data, now
        return b""


RECEIVER_DEVICES: dict[str, Callable[[Meter], ReceiverDevice]] = {
    "rtl_wmbus": lambda meter: RtlWmbusProgram(),
    "im871a": lambda meter: Im871aStick(zlib.crc32(f"im871a {meter.id}".encode())),  # a stick id per meter
}


class WmbusRadio:
    def __init__(self, meter: Meter, settings: WmbusSettings | None = None, receiver: str | None = None) -> None:
        settings = settings or meter.settings.wmbus
        self.meter = meter
        self.settings = settings
        self.receiver = receiver or settings.format
        if self.receiver not in RECEIVER_DEVICES:
            raise ValueError(f"unknown wireless M-Bus receiver {self.receiver!r} (known: {', '.join(RECEIVERS)})")
        self.device = RECEIVER_DEVICES[self.receiver](meter)
        self.id = settings.radio_id(meter.id)
        self.key = settings.key_bytes
        self.count = 0  # telegrams sent
        self._start = meter.t
        self._last_t: int | None = None

    def due(self) -> list[bytes]:
        """What the receiver puts out since the last call: nothing, or one telegram (the module transmits on
        schedule whether or not the receiver hears it)."""
        t, last = self.meter.t, self._last_t
        interval = self.settings.interval_s
        if last is not None and t // interval <= last // interval:
            return []
        self._last_t = t
        out = self._transmit()
        return [out] if out else []

    def host(self, data: bytes) -> bytes:
        """The receiver's answer to what its host wrote, on the meter's clock."""
        return self.device.host(data, float(self.meter.t))

    def telegram(self) -> wmbus.Telegram:
        """The next telegram, at the meter's current values."""
        compact = self.count % wmbus.FULL_FRAME_EVERY != 0
        minutes = max(0, self.meter.t - self._start) // 60
        session = ((minutes << 4) | (self.count & 0x0F)) & wmbus.SESSION_MASK
        return wmbus.omnipower_telegram(self.meter.readings(DATAGRAM_KEYS), id=self.id,
                                        access_number=self.count & 0xFF, session=session, compact=compact)

    def _transmit(self) -> bytes:
        frame = wmbus.encode(self.telegram(), self.key)
        self.count += 1
        return self.device.hear(frame, float(self.meter.t), RSSI)  # the receiver shares the simulated clock

