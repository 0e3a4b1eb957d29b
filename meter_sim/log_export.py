"""The meter's loggers as JSON documents: one renderer for `omnipower-sim simulate` and for the
gateway's `get {"log": …}` requests. Time stamps are local standard time, as the meter's loggers
keep them; load-profile values are the energy registered in each period (kWh / kvarh)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from meter_sim.loggers import (
    AnalysisEntry,
    AnalysisLogger,
    BillingLog,
    Event,
    LoadProfile,
    LoadProfileEntry,
    RingLog,
    Snapshot,
)
from meter_sim.meter import Meter

TABLE_LOGS = ("load_profile", "billing", "debiting_logger_2", "analysis")


def log_names(meter: Meter) -> tuple[str, ...]:
    return TABLE_LOGS + meter.logs.names


def query_log(meter: Meter, name: str, start: int | None = None, end: int | None = None, offset: int = 0,
              limit: int | None = 100) -> tuple[list[dict[str, Any]], int]:
    """One page of a log's entries with start ≤ t < end (limit None: the whole log, unfiltered), and how many
    match in all. Raises ValueError for an unknown log or bad paging."""
    log: LoadProfile | BillingLog | RingLog[Event] | AnalysisLogger
    render: Callable[[Any], dict[str, Any]]
    if name == "load_profile":
        log, render = meter.load_profile, partial(_lp, meter)
    elif name in ("billing", "debiting_logger_2"):
        log, render = meter.billing if name == "billing" else meter.billing2, partial(_snapshot, meter)
    elif name == "analysis":
        log, render = meter.analysis, partial(_analysis, meter)
    elif name in meter.logs.names:
        log, render = meter.logs[name], partial(_event, meter, name)
    else:
        raise ValueError(f"unknown log {name!r} (known: {', '.join(log_names(meter))})")
    if limit is None:
        everything = log.entries()
        return [render(e) for e in everything], len(everything)
    page, total = log.query(start, end, offset, limit)
    return [render(e) for e in page], total


def all_events(meter: Meter) -> list[dict[str, Any]]:
    """Every event logger's entries, merged in time order."""
    out = [_event(meter, name, e) for name in meter.logs.names for e in meter.logs[name].entries()]
    return sorted(out, key=lambda e: str(e["time"]))


def _stamp(meter: Meter, t: int) -> str:
    return meter.rtc.standard_time(t).isoformat(timespec="seconds")


def _lp(meter: Meter, e: LoadProfileEntry) -> dict[str, Any]:
    return {"time": _stamp(meter, e.t), **{k: round(v, 9) for k, v in e.values.items()}, "status": e.status}


def _analysis(meter: Meter, e: AnalysisEntry) -> dict[str, Any]:
    values = {k: round(v, 6) if isinstance(v, float) else v for k, v in e.values.items()}
    return {"time": _stamp(meter, e.t), **values}


def _snapshot(meter: Meter, s: Snapshot) -> dict[str, Any]:
    return {"time": _stamp(meter, s.t), "registers": s.registers}


def _event(meter: Meter, name: str, e: Event) -> dict[str, Any]:
    return {"time": _stamp(meter, e.t), "type": e.type, "log": name, **e.detail}
