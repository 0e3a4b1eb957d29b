"""The meter's real-time clock: GMT offset (Z11) and the EU daylight-saving table (Z15).

Loggers use standard time; the display, tariff switch points and published timestamps use
local wall time (standard time plus DST when Z15 = 001).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache


def z11_offset_hours(z11: int) -> int:
    """Z11 code → offset from GMT in whole hours (00 = 0, 01–12 = +1…+12, 13–23 = −11…−1)."""
    if not 0 <= z11 <= 23:
        raise ValueError(f"z11 must be 0–23, got {z11}")
    return z11 if z11 <= 12 else z11 - 24


def _last_sunday(year: int, month: int) -> int:
    last_day = calendar.monthrange(year, month)[1]
    weekday = calendar.weekday(year, month, last_day)  # Monday = 0
    return last_day - (weekday + 1) % 7


@lru_cache(maxsize=64)
def eu_dst_bounds(year: int) -> tuple[int, int]:
    """UTC epoch seconds of the EU summer-time start and end (last Sundays of March/October, 01:00 UTC)."""
    start = calendar.timegm((year, 3, _last_sunday(year, 3), 1, 0, 0))
    end = calendar.timegm((year, 10, _last_sunday(year, 10), 1, 0, 0))
    return start, end


_SHARED_ISO: dict[tuple[int, bool, float], str] = {}


class Rtc:
    def __init__(self, z11: int = 1, z15: int = 1) -> None:
        self.standard_offset = z11_offset_hours(z11) * 3600
        self.eu_dst = z15 == 1
        self._iso_memo: dict[float, str] = {}

    def dst_active(self, t: float) -> bool:
        if not self.eu_dst:
            return False
        year = datetime.fromtimestamp(t, UTC).year
        start, end = eu_dst_bounds(year)
        return start <= t < end

    def utc_offset(self, t: float) -> int:
        """Seconds east of UTC of the wall clock at instant t."""
        return self.standard_offset + (3600 if self.dst_active(t) else 0)

    def from_wall(self, wall_s: float) -> float:
        """The instant a reading of the wall clock names (its naive date and time as seconds since the epoch): the
        offset in force at that reading taken as standard time. An hour skipped or repeated at a summer-time switch
        thereby resolves one way, the same for every caller."""
        return wall_s - self.utc_offset(wall_s - self.standard_offset)

    def wall_time(self, t: float) -> datetime:
        """Local wall time at t, as an aware datetime."""
        return datetime.fromtimestamp(t, timezone(timedelta(seconds=self.utc_offset(t))))

    def standard_time(self, t: float) -> datetime:
        """Local standard time (no DST), as loggers use it."""
        return datetime.fromtimestamp(t, timezone(timedelta(seconds=self.standard_offset)))

    def iso(self, t: float) -> str:
        # Every reading carries several times (now, peaks, daily max/min) that mostly repeat from one
        # publication to the next: a small memo of this pure function saves most of their formatting. The
        # meters of a fleet all ask for the same new second: the memo shared by the Rtcs of the same settings
        # formats it once for all of them.
        text = self._iso_memo.get(t)
        if text is None:
            if len(self._iso_memo) >= 64:
                self._iso_memo.clear()
            key = (self.standard_offset, self.eu_dst, t)
            text = _SHARED_ISO.get(key)
            if text is None:
                if len(_SHARED_ISO) >= 64:
                    _SHARED_ISO.clear()
                text = _SHARED_ISO[key] = self.wall_time(t).isoformat(timespec="seconds")
            self._iso_memo[t] = text
        return text
