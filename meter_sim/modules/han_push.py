"""The CCC/HAN module: DLMS data-notification pushes in HDLC frames, on the meter's own clock.

`nve` (Norwegian HAN-NVE layout): list 1 every 10 s at seconds x0 and list 2 every hour at
hh:00:05 (5 s off the 10 s grid so the two never collide). `dk`: the Danish 65-element "DLMS push
1" every 10 s. Optionally ciphered (general-glo-ciphering, AES-128-GCM) with a frame counter that
rises with every push.
"""

from __future__ import annotations

from dataclasses import dataclass

from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter, serial_number
from omnipower.dlms import CosemDateTime, GloKeys
from omnipower.han import HAN_PUSHES, HanListKind, encode_han_push

LIST2_OFFSET_S = 5


@dataclass(frozen=True, slots=True)
class HanSettings:
    layout: str | None = None  # nve | dk; None: the meter's country decides (see country_layout)
    keys: GloKeys | None = None


def country_layout(country: str) -> str:
    """The HAN layout a meter of this country (type number X14–X16) is delivered with: the Danish push 1 in
    Denmark (§10.5), the HAN-NVE lists elsewhere (inferred: NVE is the only other documented OMNIPOWER layout)."""
    return "dk" if country == "DK" else "nve"


def han_layout(settings: MeterSimSettings) -> str:
    """The layout the meter pushes (and its Push Setups name): its `han_layout`, else its country's."""
    return settings.han_layout or country_layout(settings.type.country)


class HanPush:
    def __init__(self, meter: Meter, meter_type: str | None = None, settings: HanSettings | None = None):
        self.meter = meter
        self.meter_type = meter_type or meter.settings.type.code
        settings = settings or HanSettings()
        if settings.layout is None:
            settings = HanSettings(han_layout(meter.settings), settings.keys)
        self.settings = settings
        self.meter_id = f"57065670{serial_number(meter.id):08d}"  # GS1-style, stable per id
        self.frame_counter = 0
        self._last_t = meter.t

    def due(self) -> list[bytes]:
        """Frames whose push time passed since the last call (at most one of each kind: a late
        push is sent once, as the meter would, not replayed for every missed slot)."""
        t, last = self.meter.t, self._last_t
        self._last_t = t
        if t <= last:
            return []
        frames: list[bytes] = []
        pushes = HAN_PUSHES[self.settings.layout or "nve"]
        if t // 10 > last // 10:
            frames.append(self._frame(pushes[0]))
        if len(pushes) > 1 and (t - LIST2_OFFSET_S) // 3600 > (last - LIST2_OFFSET_S) // 3600:
            frames.append(self._frame(pushes[1]))
        return frames

    def _frame(self, kind: HanListKind) -> bytes:
        meter = self.meter
        wall = meter.rtc.wall_time(meter.t)
        dst = 0x80 if meter.rtc.dst_active(meter.t) else 0x00  # clock status: DST bit, as Kamstrup sends it
        when = CosemDateTime.from_datetime(wall.replace(tzinfo=None), clock_status=dst)
        self.frame_counter += 1
        return encode_han_push(
            meter.readings(), kind, when, self.meter_id, self.meter_type,
            encryption=self.settings.keys, frame_counter=self.frame_counter,
        )
