"""Debiting (billing) periods (spec §4.2, §4.3; Z6, Z7, Z25).

A debiting stop runs at 00:00 local standard time (inferred: the spec gives the day, not the
hour; loggers keep standard time) on day Z6 (1–28) of each month Z7 selects. At each stop the
meter counts the period, adds the peaks to the accumulated registers, writes a snapshot to the
monthly debiting logger and resets the peaks (`meter.Meter._debiting_stop`). Debiting logger 2
(Z25) snapshots the energy registers daily, weekly (Mondays) or monthly (the 1st) at 00:00.
"""

from __future__ import annotations

from datetime import datetime

Z25_INTERVALS = {1: "daily", 2: "weekly", 3: "monthly"}


def is_debiting_stop(local_standard: datetime, z6: int, months: frozenset[int] | None) -> bool:
    """Whether a debiting stop falls on this minute (`months` None: external stops only)."""
    return (
        months is not None
        and local_standard.hour == 0
        and local_standard.minute == 0
        and local_standard.day == z6
        and local_standard.month in months
    )


def is_logger2_due(local_standard: datetime, z25: int) -> bool:
    if local_standard.hour != 0 or local_standard.minute != 0:
        return False
    if z25 == 1:
        return True
    if z25 == 2:
        return local_standard.weekday() == 0
    if z25 == 3:
        return local_standard.day == 1
    raise ValueError(f"z25 must be 1 (daily), 2 (weekly) or 3 (monthly), got {z25}")
