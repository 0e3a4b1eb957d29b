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
from omnipower.loggers import BILLING, Logger, logger_named

Log = LoadProfile | BillingLog | RingLog[Event] | AnalysisLogger


def query_log(meter: Meter, name: str, start: int | None = None, end: int | None = None, offset: int = 0,
              limit: int | None = 100) -> tuple[list[dict[str, Any]], int]:
    """One page of a log's entries with start ≤ t < end (limit None: the whole log, unfiltered), and how many
    match in all. Raises ValueError for an unknown log (UnknownLogError) or bad paging."""
    log, render = log_of(meter, logger_named(name))
    if limit is None:
        everything = log.entries()
        return [render(e) for e in everything], len(everything)
    page, total = log.query(start, end, offset, limit)
    return [render(e) for e in page], total


def log_of(meter: Meter, logger: Logger) -> tuple[Log, Callable[[Any], dict[str, Any]]]:
    """Where the meter keeps a logger's entries, and how one is rendered (by the kind of its entries)."""
    if logger.kind == "event":
        return meter.logs[logger.name], partial(_event, meter, logger.name)
    if logger.kind == "debiting":
        return meter.billing if logger is BILLING else meter.billing2, partial(_snapshot, meter)
    if logger.kind == "analysis":
        return meter.analysis, partial(_analysis, meter)
    return meter.load_profile, partial(_lp, meter)


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
