"""The meter's loggers as JSON documents: one renderer for `omnipower-sim simulate` and for the
gateway's `get {"log": …}` requests. Time stamps are local standard time, as the meter's loggers
keep them; load-profile values are the energy registered in each period (kWh / kvarh)."""

from __future__ import annotations

from typing import Any

from meter_sim.loggers import Event, LoadProfileEntry, Snapshot
from meter_sim.meter import Meter

TABLE_LOGS = ("load_profile", "billing", "debiting_logger_2")


def log_names(meter: Meter) -> tuple[str, ...]:
    return TABLE_LOGS + meter.logs.names


def query_log(meter: Meter, name: str, start: int | None = None, end: int | None = None, offset: int = 0,
              limit: int | None = 100) -> tuple[list[dict[str, Any]], int]:
    """One page of a log's entries with start ≤ t < end (limit None: the whole log, unfiltered), and how many
    match in all. Raises ValueError for an unknown log or bad paging."""
    if name == "load_profile":
        lp = list(meter.load_profile.entries()) if limit is None else None
        page, total = (lp, len(lp)) if lp is not None else meter.load_profile.query(start, end, offset, limit or 1)
        return [_lp(meter, e) for e in page], total
    if name in ("billing", "debiting_logger_2"):
        log = meter.billing if name == "billing" else meter.billing2
        snaps = list(log.entries()) if limit is None else None
        spage, total = (snaps, len(snaps)) if snaps is not None else log.query(start, end, offset, limit or 1)
        return [_snapshot(meter, s) for s in spage], total
    if name not in meter.logs.names:
        raise ValueError(f"unknown log {name!r} (known: {', '.join(log_names(meter))})")
    if limit is None:
        events = list(meter.logs[name].entries())
        return [_event(meter, name, e) for e in events], len(events)
    epage, total = meter.logs[name].query(start, end, offset, limit)
    return [_event(meter, name, e) for e in epage], total


def all_events(meter: Meter) -> list[dict[str, Any]]:
    """Every event logger's entries, merged in time order."""
    out = [_event(meter, name, e) for name in meter.logs.names for e in meter.logs[name].entries()]
    return sorted(out, key=lambda e: str(e["time"]))


def _stamp(meter: Meter, t: int) -> str:
    return meter.rtc.standard_time(t).isoformat(timespec="seconds")


def _lp(meter: Meter, e: LoadProfileEntry) -> dict[str, Any]:
    return {"time": _stamp(meter, e.t), **{k: round(v, 9) for k, v in e.values.items()}, "status": e.status}


def _snapshot(meter: Meter, s: Snapshot) -> dict[str, Any]:
    return {"time": _stamp(meter, s.t), "registers": s.registers}


def _event(meter: Meter, name: str, e: Event) -> dict[str, Any]:
    return {"time": _stamp(meter, e.t), "type": e.type, "log": name, **e.detail}
