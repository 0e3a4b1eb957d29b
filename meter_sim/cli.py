"""`omnipower-sim`: run simulated meters without the gateway.

`simulate` is the time-warp: every meter of a configuration file (the gateway's format; only the
`meters` list is read) runs N simulated days from its `start` as fast as possible, then its
registers are written to `DIR/<meter id>/registers.json` (OBIS code → value in the register
table's unit).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter


class SimMeter(MeterSimSettings):
    id: str
    # Gateway-only keys of a meter entry, accepted so that one file serves both programs.
    source: str = "simulated"
    name: str | None = None
    speed: float = 1.0


class SimFile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    meters: list[SimMeter]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnipower-sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="run N simulated days as fast as possible and write the registers")
    sim.add_argument("--config", type=Path, help="YAML file with a `meters` list (default: one meter)")
    sim.add_argument("--days", type=float, required=True, help="simulated days to run")
    sim.add_argument("--out", type=Path, required=True, help="output directory")
    return parser


def load_meters(path: Path | None) -> list[SimMeter]:
    if path is None:
        return [SimMeter(id="meter1")]
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return SimFile.model_validate(doc).meters
    except OSError as exc:
        raise SystemExit(f"omnipower-sim: cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SystemExit(f"omnipower-sim: {path} is not valid YAML: {exc}") from None
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])} = {e.get('input')!r}: {e['msg']}" for e in exc.errors()]
        raise SystemExit(f"omnipower-sim: invalid configuration {path}:\n" + "\n".join(lines)) from None


def simulate(meter_cfg: SimMeter, days: float, out: Path, progress: bool = True) -> dict[str, Any]:
    start = meter_cfg.start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    t0 = start.timestamp()
    clock = SteppedClock(t0)
    meter = Meter(meter_cfg.id, meter_cfg, clock)
    end = t0 + days * 86400
    chunk = 3600.0
    began = time.monotonic()
    progress = progress and sys.stderr.isatty()
    while meter.t < end:
        meter.advance_to(min(end, meter.t + chunk))
        if progress:
            done = (meter.t - t0) / (end - t0)
            bar = "#" * int(done * 30)
            print(f"\r{meter_cfg.id:>12} [{bar:<30}] {done:6.1%} {meter.rtc.iso(meter.t)}", end="", file=sys.stderr)
    print(f"{'' if progress else meter_cfg.id + ': '}{days:g} simulated days in {time.monotonic() - began:.1f} s",
          file=sys.stderr)
    readings = meter.readings()
    registers = {reg.obis: readings[reg.key] for reg in meter.registers
                 if isinstance(readings[reg.key], int | float) and reg.obis[0].isdigit() and ".t" not in reg.obis}
    folder = out / meter_cfg.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "registers.json").write_text(json.dumps(registers, indent=1) + "\n")
    return registers


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.days <= 0:
        print("omnipower-sim: --days must be > 0", file=sys.stderr)
        return 2
    for meter_cfg in load_meters(args.config):
        simulate(meter_cfg, args.days, args.out)
    print(f"registers written to {args.out}/<meter id>/registers.json", file=sys.stderr)
    return 0
