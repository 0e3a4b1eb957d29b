"""The meter's local calendar: clock hours, days and months of its wall time (Z11 zone, Z15 summer time).

Days and months begin at local midnight, so a day is 23 or 25 hours long on the days summer time starts or ends
(§3: the EU table switches at 01:00 UTC, never at midnight). Hours are indexed as in `gateway.hourly_energy`.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime

from gateway.hourly_energy import HOUR_S
from omnipower.rtc import Rtc


class MeterCalendar:
    def __init__(self, rtc: Rtc) -> None:
        self.rtc = rtc
        self._hours: dict[int, datetime] = {}

    def local(self, t: float) -> datetime:
        """The meter's wall time at instant t (aware, with its offset)."""
        return self.rtc.wall_time(t)

    def hour_start(self, hour: int) -> datetime:
        """The wall time at which clock hour `hour` starts (kept: asked for every hour of a month, often)."""
        known = self._hours.get(hour)
        if known is None:
            if len(self._hours) > 4096:
                self._hours.clear()
            known = self._hours[hour] = self.rtc.wall_time(hour * HOUR_S)
        return known

    def midnight(self, day: date) -> float:
        """The instant the local day `day` begins."""
        return self.rtc.from_wall(calendar.timegm((day.year, day.month, day.day, 0, 0, 0)))

    def day_bounds(self, day: date) -> tuple[int, int]:
        """The hours of a local day: `[first, end)` indices."""
        nxt = date.fromordinal(day.toordinal() + 1)
        return int(self.midnight(day)) // HOUR_S, int(self.midnight(nxt)) // HOUR_S

    def month_bounds(self, year: int, month: int) -> tuple[int, int]:
        """The hours of a local month: `[first, end)` indices."""
        nxt = date(year + month // 12, month % 12 + 1, 1)
        return int(self.midnight(date(year, month, 1))) // HOUR_S, int(self.midnight(nxt)) // HOUR_S

    def iso(self, hour: int) -> str:
        """The start of clock hour `hour` as the state topic spells times (ISO 8601 with the offset)."""
        return self.hour_start(hour).isoformat(timespec="seconds")
