"""Capacity tariffs: the month's highest hours, the step they put the customer on, and how much this hour may still
take. Sans-IO: computed from the hourly ledger (A+ only, so every source serves, HAN's hourly list 2 included).

The rules (`gateway.capacity_settings`) share one shape: of the month's clock hours inside the rule's window, take
the N highest (with `distinct_days`, at most one per local day: each day's highest hour, "døgnmaks"), and average
them. Norway maps that mean (kWh in an hour = kW) to the grid company's steps; Sweden prices it per kW (or by
steps, when given); the Danish time-of-use rule has no capacity charge, and names the load period of the hour.

Headroom: how many kWh the current hour can still import before the month's value puts the customer on a higher
step (rules with steps) or before the value rises at all (rules priced per kW); null when nothing this hour can
raise it (outside the window, on the top step, a time-of-use rule). The derivation is in
docs/capacity-tariffs.md: the value is flat until this hour's entry beats the entry it would displace, then rises
by 1/k per kWh.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.capacity_settings import CapacityRule, DenmarkTouRule, Step, step_labels
from gateway.hourly_energy import HOUR_S, HourLedger, hour_of
from gateway.meter_calendar import MeterCalendar

DECIMALS = 3
MIN_ELAPSED_S = 60  # before this much of the hour has passed, the hour's mean rate is no basis for a projection


@dataclass(frozen=True, slots=True)
class Peak:
    """One counted clock hour: its index, its import (kWh) and its local day."""

    hour: int
    kwh: float
    day: date


def counted_hours(rule: CapacityRule, ledger: HourLedger, calendar: MeterCalendar, first: int,
                  end: int) -> list[Peak]:
    """The hours `[first, end)` the ledger has energy for and the rule's window takes."""
    out = []
    window = rule.window
    for hour, (imported, _) in ledger.hours.items():
        if first <= hour < end:
            local = calendar.hour_start(hour)
            if window is None or window.contains(local):
                out.append(Peak(hour, imported, local.date()))
    return out


def top_peaks(hours: Iterable[Peak], n: int, distinct_days: bool) -> list[Peak]:
    """The n highest hours, highest first (of equal ones the earlier); with `distinct_days` each day's highest
    hour only. The result depends on the set of hours, not on their order."""
    ranked = sorted(hours, key=lambda p: (-p.kwh, p.hour))
    if distinct_days:
        best_of_day: dict[date, Peak] = {}
        for peak in ranked:
            best_of_day.setdefault(peak.day, peak)  # ranked: the first seen of a day is its highest
        ranked = list(best_of_day.values())
    return ranked[:n]


def mean_of(peaks: Sequence[Peak]) -> float | None:
    """The month's value: the mean of the counted peaks (of those there are, early in a month); None with none."""
    return sum(p.kwh for p in peaks) / len(peaks) if peaks else None


def step_index(value: float, steps: Sequence[Step]) -> int:
    """The step a value falls on: the last whose `from_kw` it reaches (float noise of a mean rounded away)."""
    value = round(value, 9)
    return max(i for i, s in enumerate(steps) if value >= s.from_kw)


def headroom(fixed: Sequence[float], base: float, so_far: float, n: int,
             steps: Sequence[Step] | None) -> float | None:
    """kWh the current hour may still take before the month's value rises (no steps) or reaches the next step.

    `fixed`: the entries the current hour cannot change (the other days' maxima, or the other hours);
    `base`: what the current hour's entry is at least (today's highest other hour with distinct days, else 0);
    `so_far`: the current hour's import so far. The value with this hour at x kWh is the mean of the k highest
    of `fixed` and max(base, x), k = min(n, len(fixed) + 1)."""
    k = min(n, len(fixed) + 1)
    top = sorted(fixed, reverse=True)
    beat = top[k - 1] if len(top) >= k else -math.inf  # the entry the current hour must displace to count
    if steps is None:
        return max(0.0, max(base, beat) - so_far)
    entry = max(base, so_far)
    value = (sum(top[: k - 1]) + max(entry, beat)) / k
    current = step_index(value, steps)
    if current + 1 >= len(steps):
        return None  # the top step: no step above to reach
    needed = k * steps[current + 1].from_kw - sum(top[: k - 1])  # this hour's kWh that lifts the mean to it
    return max(0.0, needed - so_far)


def projection(so_far: float, now: float, power_kw: float | None) -> float:
    """The hour's import at its end: so far plus the present import power (P+) for the rest of the hour; without a
    power reading, the hour's mean rate so far."""
    hour_start = hour_of(now) * HOUR_S
    elapsed, remaining = now - hour_start, hour_start + HOUR_S - now
    if power_kw is not None and math.isfinite(power_kw):
        rate = max(0.0, power_kw)
    else:
        rate = so_far / (elapsed / HOUR_S) if elapsed >= MIN_ELAPSED_S else 0.0
    return so_far + rate * remaining / HOUR_S


def capacity_keys(rule: CapacityRule) -> list[str]:
    """The state keys a rule publishes (see gateway/period_fields.py): the step only where there is one."""
    has_step = rule.steps is not None or isinstance(rule, DenmarkTouRule)
    return ["capacity_hour_import", "capacity_hour_projection", "capacity_month_peaks", "capacity_month_value",
            *(["capacity_step"] if has_step else []), "capacity_headroom", "capacity_previous_month"]


def step_options(rule: CapacityRule) -> list[str]:
    """What `capacity_step` can be: the step labels, or the time-of-use period labels."""
    if isinstance(rule, DenmarkTouRule):
        return rule.labels()
    return step_labels(rule.steps) if rule.steps is not None else []


@dataclass(frozen=True, slots=True)
class MonthResult:
    peaks: list[Peak]
    value: float | None
    step: str | None


def month_result(rule: CapacityRule, ledger: HourLedger, calendar: MeterCalendar, year: int, month: int,
                 exclude: int | None = None) -> MonthResult:
    """A month's counted peaks, value and step (by the hours the ledger has; `exclude`: an hour left out)."""
    first, end = calendar.month_bounds(year, month)
    hours = [p for p in counted_hours(rule, ledger, calendar, first, end) if p.hour != exclude]
    peaks = top_peaks(hours, rule.hours, rule.distinct_days)
    value = mean_of(peaks)
    step = None
    if rule.steps is not None and value is not None:
        step = step_labels(rule.steps)[step_index(value, rule.steps)]
    return MonthResult(peaks, value, step)


def capacity_fields(rule: CapacityRule, ledger: HourLedger, calendar: MeterCalendar, now: float, so_far: float,
                    power_kw: float | None) -> dict[str, Any]:
    """The state fields at instant `now` (the meter's time), the current hour having imported `so_far` kWh."""
    hour = hour_of(now)
    local = calendar.hour_start(hour)
    result = month_result(rule, ledger, calendar, local.year, local.month)
    fields: dict[str, Any] = {
        "capacity_hour_import": _kwh(so_far),
        "capacity_hour_projection": _kwh(projection(so_far, now, power_kw)),
        "capacity_month_peaks": [_peak(calendar, p) for p in sorted(result.peaks, key=lambda p: p.hour)],
        "capacity_month_value": None if result.value is None else _kwh(result.value),
        "capacity_headroom": None,
    }
    if isinstance(rule, DenmarkTouRule):
        fields["capacity_step"] = rule.period_at(local).label
    elif rule.steps is not None:  # never null (Home Assistant refuses an enum state outside its options)
        fields["capacity_step"] = result.step or step_labels(rule.steps)[0]
    if not isinstance(rule, DenmarkTouRule) and (rule.window is None or rule.window.contains(local)):
        fields["capacity_headroom"] = _headroom_now(rule, ledger, calendar, hour, so_far)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    previous = month_result(rule, ledger, calendar, year, month)
    fields["capacity_previous_month"] = {
        "month": f"{year:04d}-{month:02d}",
        "value": None if previous.value is None else _kwh(previous.value),
        "step": previous.step,
        "peaks": [_peak(calendar, p) for p in sorted(previous.peaks, key=lambda p: p.hour)],
    }
    return fields


def _headroom_now(rule: CapacityRule, ledger: HourLedger, calendar: MeterCalendar, hour: int,
                  so_far: float) -> float | None:
    local = calendar.hour_start(hour)
    first, end = calendar.month_bounds(local.year, local.month)
    others = [p for p in counted_hours(rule, ledger, calendar, first, end) if p.hour != hour]
    if rule.distinct_days:
        today = local.date()
        best: dict[date, float] = {}
        for p in others:
            best[p.day] = max(best.get(p.day, 0.0), p.kwh)
        base = best.pop(today, 0.0)
        fixed = list(best.values())
    else:
        base, fixed = 0.0, [p.kwh for p in others]
    room = headroom(fixed, base, so_far, rule.hours, rule.steps)
    return None if room is None else _kwh(room)


def _peak(calendar: MeterCalendar, peak: Peak) -> dict[str, Any]:
    return {"time": calendar.iso(peak.hour), "kwh": _kwh(peak.kwh)}


def _kwh(value: float) -> float:
    return round(value, DECIMALS) + 0.0
