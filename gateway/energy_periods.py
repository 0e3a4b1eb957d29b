"""Hourly, daily and monthly import and export, each attributed to the period it covers. Sans-IO.

The periods published are those holding the ledger's horizon, the instant up to which the meter's totals are known
(its last reading), taken as the end of a period: after HAN's push at 00:00:05 with the totals of 00:00:00, the
day shown is the one that just ended, complete, and the new day starts with the next hour's totals. The periods
are the meter's local clock hour, day and month (`MeterCalendar`).

For Home Assistant each value is `state_class: total` with its period's start as `last_reset`
(docs/capacity-tariffs.md says why not `total_increasing`). A value only grows within its period: the ledger never
attributes a negative energy.
"""

from __future__ import annotations

from gateway.hourly_energy import HourLedger, hour_ending_at_or_after
from gateway.meter_calendar import MeterCalendar

PERIODS = ("hour", "day", "month")
DECIMALS = 3  # kWh, as the meter's energy registers are published


def period_keys(export: bool) -> list[str]:
    """The state keys this feature publishes (see gateway/period_fields.py for their descriptions)."""
    keys = []
    for period in PERIODS:
        keys += [f"energy_import_{period}", *([f"energy_export_{period}"] if export else []), f"energy_{period}_start"]
    return keys


def period_bounds(calendar: MeterCalendar, hour: int) -> dict[str, tuple[int, int]]:
    """The hour, local day and local month holding clock hour `hour`: `[first, end)` hour indices each."""
    local = calendar.hour_start(hour)
    return {"hour": (hour, hour + 1), "day": calendar.day_bounds(local.date()),
            "month": calendar.month_bounds(local.year, local.month)}


def energy_between(ledger: HourLedger, first: int, end: int) -> tuple[float, float]:
    """(import, export) of the hours `[first, end)`, kWh."""
    imported = exported = 0.0
    for hour, (i, e) in ledger.hours.items():
        if first <= hour < end:
            imported += i
            exported += e
    return imported, exported


def period_fields(ledger: HourLedger, calendar: MeterCalendar, export: bool) -> dict[str, float | str | None]:
    """The state fields: each period's import (and export) so far and its start; all null before any reading."""
    out: dict[str, float | str | None] = dict.fromkeys(period_keys(export))
    if ledger.anchor is None:
        return out
    for period, (first, end) in period_bounds(calendar, hour_ending_at_or_after(ledger.anchor.t)).items():
        imported, exported = energy_between(ledger, first, end)
        out[f"energy_import_{period}"] = round(imported, DECIMALS) + 0.0
        if export:
            out[f"energy_export_{period}"] = round(exported, DECIMALS) + 0.0
        out[f"energy_{period}_start"] = calendar.iso(first)
    return out


def oldest_needed(calendar: MeterCalendar, hour: int) -> int:
    """The first hour a ledger must keep while `hour` is current: the start of the previous local month (the
    capacity tariff reports last month's result until the month after)."""
    local = calendar.hour_start(hour)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return calendar.month_bounds(year, month)[0]
