"""The time-warp engine against the per-second model, in one run on the same seed: simulated seconds per wall second
of `Meter.advance_to` (over `--exact-days`, default 7) and of `meter_sim.warp.warp_to` (over `--warp-days`, default a
year), their ratio, and the time a year takes on each; with `--meters N`, the warp's throughput over a fleet of N
members (meter_sim/fleet.py) of the same template.

Run: .venv/bin/python bench/bench_warp.py [--exact-days 7] [--warp-days 365] [--meters N] [--pv 6 --ev 11]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from meter_sim.clock import SteppedClock
from meter_sim.config import HouseholdSettings, MeterSimSettings
from meter_sim.fleet import member_settings, members
from meter_sim.meter import Meter
from meter_sim.warp import WarpStats, warp_to

YEAR_S = 365 * 86400


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exact-days", type=float, default=7.0)
    ap.add_argument("--warp-days", type=float, default=365.0)
    ap.add_argument("--meters", type=int, default=0, help="also warp a fleet of N members over --fleet-days")
    ap.add_argument("--fleet-days", type=float, default=30.0)
    ap.add_argument("--pv", type=float, default=6.0, help="PV kWp of the household (default 6)")
    ap.add_argument("--ev", type=float, default=11.0, help="EV charger kW of the household (default 11)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    settings = MeterSimSettings(seed=args.seed, household=HouseholdSettings(pv_kwp=args.pv, ev_charger_kw=args.ev))

    exact_s = int(args.exact_days * 86400)
    meter = Meter("bench", settings, SteppedClock(start))
    began = time.perf_counter()
    meter.advance_to(start + exact_s)
    exact_wall = time.perf_counter() - began
    exact_rate = exact_s / exact_wall

    warp_s = int(args.warp_days * 86400)
    meter = Meter("bench", settings, SteppedClock(start))
    stats = WarpStats()
    began = time.perf_counter()
    warp_to(meter, start + warp_s, stats)
    warp_wall = time.perf_counter() - began
    warp_rate = warp_s / warp_wall

    print(f"household: PV {args.pv:g} kWp, EV {args.ev:g} kW, seed {args.seed}")
    print(f"per-second model: {args.exact_days:g} days in {exact_wall:7.2f} s  {exact_rate:12,.0f} sim s/s  "
          f"(a year: {YEAR_S / exact_rate:6.1f} s, projected)")
    print(f"time-warp engine: {args.warp_days:g} days in {warp_wall:7.2f} s  {warp_rate:12,.0f} sim s/s  "
          f"(a year: {YEAR_S / warp_rate:6.1f} s{'' if args.warp_days >= 365 else ', projected'})")
    print(f"ratio warp/exact: {warp_rate / exact_rate:.1f}x")
    print(f"warp spans: {stats.fast_s:,} s vectorised in {stats.chunks} chunks ({stats.stopped_early} stopped early), "
          f"{stats.exact_s:,} s stepped exactly ({stats.exact_s / max(1, stats.fast_s + stats.exact_s):.2%})")

    if args.meters:
        fleet_s = int(args.fleet_days * 86400)
        began = time.perf_counter()
        for n in members(args.meters):
            m = Meter(f"m{n}", member_settings(settings, settings.seed, n), SteppedClock(start))
            warp_to(m, start + fleet_s)
        wall = time.perf_counter() - began
        total = fleet_s * args.meters
        print(f"fleet: {args.meters} meters × {args.fleet_days:g} days in {wall:.2f} s: {total / wall:,.0f} sim s/s, "
              f"{wall / args.meters * YEAR_S / fleet_s:.1f} s per meter-year")


if __name__ == "__main__":
    main()
