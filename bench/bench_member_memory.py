"""A fleet member's memory as it ages: the Python heap of one simulated meter restored from its saved state at
ages of 0 … 365 days (time-warped there), against the same meter new (the baseline, measured in the same run),
and what 10,000 such members would hold. The loggers fill over the first months (the load profile holds 175
days at 15 minutes with 4 channels), so a fleet's memory grows with its age, not only with its size; the fleet
benchmark (bench_fleet.py) runs new meters.

Each age is measured twice: the loggers kept whole in memory (a single meter), and as a fleet member keeps them
(`FLEET_LOG_ENTRIES_IN_MEMORY` newest entries a logger, the older ones on disk only: meter_sim/log_journal.py).
The member's start-up (reading its saved loggers, building the meter, spilling) is timed too.

Run: .venv/bin/python bench/bench_member_memory.py [days ...]   (default: 1 7 30 365)
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from gateway.config import load_settings
from gateway.service import FLEET_LOG_ENTRIES_IN_MEMORY, fleet_sources
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.log_journal import LogJournal
from meter_sim.meter import Meter
from meter_sim.persistence import MeterStore
from meter_sim.warp import warp_to

T0 = 1_800_000_000  # 2027-01-15 UTC


def restored_bytes(days: float, folder: Path) -> tuple[int, int, float, dict[str, int]]:
    """The heap a meter of that age takes when built from its saved state (as a gateway builds its members): with
    its loggers whole, and as a fleet member (spilled); the member's start-up in seconds; its loggers' entry
    counts."""
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    warp_to(meter, T0 + round(days * 86_400) + 60)
    state, logs = meter.to_state(), meter.logs_state()
    counts = {name: len(part["log"]["entries"] if "log" in part else part.get("entries", ())) for name, part in
              logs.items() if isinstance(part, dict) and name != "events"}
    counts["events"] = sum(len(ring["entries"]) for ring in logs["events"].values())
    journal = LogJournal(MeterStore(folder / f"{days:g}.logs.json"))
    journal.save(journal.take(meter))
    del meter
    sizes = []
    for spill in (False, True):
        for traced in (False, True):  # timed without tracemalloc, which slows every allocation
            gc.collect()
            if traced:
                tracemalloc.start()
            began = time.perf_counter()
            if spill:  # as gateway/sources/simulated.py starts a fleet member
                journal = LogJournal(journal.store)
                logs = journal.load(FLEET_LOG_ENTRIES_IN_MEMORY) or {}
            kept: Any = Meter("m", MeterSimSettings(), SteppedClock(state["t"]), state, logs=logs)
            if spill:
                assert journal.loaded(kept, logs)
                del logs
            if not traced:
                start_up = time.perf_counter() - began
            gc.collect()  # what restoring left in reference cycles (the gateway collects before it freezes the heap)
            if traced:
                size, _ = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                sizes.append(size)
            del kept
    return sizes[0], sizes[1], start_up, counts


def gateway_members(count: int, folder: Path) -> float:
    """The heap of a new fleet member as the gateway builds it (`gateway.service.fleet_sources`: its settings, its
    source with the event queue and save state, its meter), per member of a fleet of `count`, after one state
    each; the modules' own memory is left out (imported before)."""
    config = folder / "gateway.yaml"
    config.write_text(json.dumps({"data_dir": str(folder / "data"), "publish_interval": 1,
                                  "fleet": {"count": count, "seed": 1}}))
    settings = load_settings(config)

    async def build() -> int:
        gc.collect()
        tracemalloc.start()
        sources = fleet_sources(settings)
        for source in sources:
            await source.state()
        del source
        gc.collect()
        size, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del sources
        return size

    asyncio.run(build())  # a first fleet fills the caches and imports what is imported lazily
    return asyncio.run(build()) / count


def main() -> None:
    ages = [float(a) for a in sys.argv[1:]] or [1.0, 7.0, 30.0, 365.0]
    with tempfile.TemporaryDirectory() as folder:
        member = gateway_members(1_000, Path(folder))
        print(f"a new fleet member as the gateway builds it (settings, source, meter; 1,000 members): "
              f"{member / 1e3:,.1f} kB (10,000: {member * 10_000 / 1e9:.2f} GB)")
        base, _, _, _ = restored_bytes(0, Path(folder))
        print(f"a new member: {base / 1e3:,.0f} kB (10,000: {base * 10_000 / 1e9:.2f} GB)")
        for days in ages:
            whole, spilled, start_up, counts = restored_bytes(days, Path(folder))
            entries = ", ".join(f"{k} {v:,}" for k, v in counts.items())
            print(f"{days:g} days old: loggers whole {whole / 1e3:,.0f} kB, {whole / base:.1f}x a new one "
                  f"(10,000: {whole * 10_000 / 1e9:.2f} GB); entries: {entries}")
            print(f"  as a fleet member ({FLEET_LOG_ENTRIES_IN_MEMORY} entries a logger in memory): "
                  f"{spilled / 1e3:,.0f} kB, {spilled / base:.1f}x a new one (10,000: {spilled * 10_000 / 1e9:.2f} GB);"
                  f" start-up {start_up * 1e3:.0f} ms (10,000: {start_up * 10_000 / 60:.1f} min)")


if __name__ == "__main__":
    main()
