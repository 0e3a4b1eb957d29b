"""What a year-old fleet member's second costs against a new one's, in-process: µs a member-second to step
(`advance_to` one second, then `base_vector`) N members built as the gateway builds them (`fleet_sources`),
with no broker. The baseline is a new fleet in the same run; the year-old fleet is built twice, its loggers read
by worker processes (gateway/fleet_logs.py, as the gateway does for large loggers) and read in the process
itself (as before 2026-12-06), and each figure is printed with its ratio to the new fleet's. Each fleet is built
in a process of its own: what is measured is how the members lie in memory.

Run: .venv/bin/python bench/bench_aged_members.py [--members 1000] [--age-days 365] [--rounds 50]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_fleet import ENGINE, age_fleet, gateway_config

from gateway import fleet_logs
from gateway.config import load_settings
from gateway.service import fleet_sources
from gateway.sources.simulated import SimulatedSource
from meter_sim.clock import SteppedClock


def measure(config: Path, workers: bool, rounds: int) -> dict[str, float]:
    """Build the fleet of `config` and step it: the best of five runs of `rounds // 5` seconds, µs a member-second."""
    fleet_logs.WORKERS_FROM_BYTES = 0 if workers else 1 << 62
    began = time.perf_counter()
    sources = fleet_sources(load_settings(config))
    built = time.perf_counter() - began
    meters = [s.meter for s in sources if isinstance(s, SimulatedSource)]
    gc.collect()
    gc.freeze()  # as the gateway does after building its sources
    for m in meters:
        m.clock = SteppedClock(m.t)  # each pass steps exactly one second
    runs, seconds = [], max(1, rounds // 5)
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(seconds):
            for m in meters:
                m.clock.advance(1)
                m.update()
                m.base_vector()
        runs.append((time.perf_counter() - t0) / (seconds * len(meters)) * 1e6)
    return {"us": min(runs), "built_s": built}


def in_child(config: Path, workers: bool, rounds: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", str(config), "--rounds", str(rounds)]
                         + (["--workers"] if workers else []), check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--age-days", type=float, default=365.0)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--child", type=Path)
    parser.add_argument("--workers", action="store_true")
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.workers, args.rounds)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        new_dir, old_dir = Path(tmp) / "new", Path(tmp) / "aged"
        new_dir.mkdir()
        old_dir.mkdir()
        new = gateway_config(new_dir, 1, args.members, 1, 1.0, ENGINE)
        aged = gateway_config(old_dir, 1, args.members, 1, 1.0, ENGINE)
        print(f"{args.members:,} members, {age_fleet(aged, args.age_days) / 1e6:.2f} MB of loggers on disk each "
              f"when {args.age_days:g} days old")
        base = in_child(new, False, args.rounds)
        print(f"{'new members':44s} {base['us']:6.1f} µs a member-second (built in "
              f"{base['built_s']:.1f} s)")
        for workers, how in ((True, "loggers read by worker processes"), (False, "loggers read in-process")):
            r = in_child(aged, workers, args.rounds)
            label = f"{args.age_days:g} days old, {how}"
            print(f"{label:44s} {r['us']:6.1f} µs a member-second (built in {r['built_s']:.1f} s): "
                  f"ratio {r['us'] / base['us']:.2f} to new")


if __name__ == "__main__":  # worker processes import this module
    main()
