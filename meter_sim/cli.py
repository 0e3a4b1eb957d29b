"""`omnipower-sim`: run simulated meters without the gateway.

`simulate` is the time-warp: every meter of a configuration file (the gateway's format; only the
`meters` list is read) runs N simulated days from its `start` as fast as possible, then its
registers are written to `DIR/<meter id>/registers.json` (OBIS code → value in the register
table's unit). `--scenario FILE` scripts the meter's inputs over that time (load and PV, voltage
events, outages, tamper, button presses, top-ups…; see docs/scenarios.md) and writes each call's
outcome to `DIR/<meter id>/scenario.json`.

By default the meters run on the time-warp engine (meter_sim/warp.py: the per-second model vectorised
over time with NumPy, stepping exactly second by second only where it must); `--engine exact` runs
the per-second model itself, which writes the same files within 1e-9 relative. `--meters N` runs a
fleet instead: N members derived from the configuration's first meter (meter_sim/fleet.py: own seed,
household and type number each, ids <template id>1 … <template id>N, zero-padded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from meter_sim import firmware_cli
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.fleet import member_id, member_settings, members
from meter_sim.log_export import all_events, query_log
from meter_sim.meter import Meter
from meter_sim.modules.han_push import HanSettings
from meter_sim.scenario import Outcome, Scenario, ScenarioError, run, true_time
from meter_sim.serve import SUPPORTED, serve
from meter_sim.warp import warp_to
from omnipower.address import AddressError, parse_address
from omnipower.dlms import parse_glo_keys


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
    sim.add_argument("--scenario", type=Path, metavar="FILE",
                     help="YAML scenario of inputs over simulated time (docs/scenarios.md)")
    sim.add_argument("--engine", choices=("warp", "exact"), default="warp",
                     help="warp: vectorised time-warp (default); exact: the per-second model, 1 s at a time")
    sim.add_argument("--meters", type=_positive_count, metavar="N",
                     help="run a fleet of N members derived from the first meter of --config (meter_sim/fleet.py)")
    srv = sub.add_parser("serve", help="expose one simulated meter's interfaces until stopped")
    srv.add_argument("--config", type=Path, help="YAML file with a `meters` list (default: one meter)")
    srv.add_argument("--meter", help="which meter of the file (default: the first)")
    srv.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    srv.add_argument("--han-layout", choices=("nve", "dk"), default=None,
                     help="nve: list 1 every 10 s + list 2 hourly; dk: the 65-element DLMS push 1 every 10 s "
                     "(default: by the meter's country, dk for Denmark)")
    srv.add_argument("--han-keys", metavar="EK:AK", help="encrypt HAN pushes (AES-128-GCM): two 32-digit hex keys")
    for name, what in (("dlms", "DLMS/COSEM server, IEC 62056-47 wrapper (tcp:HOST:PORT only)"),
                       ("dlms-hdlc", "DLMS/COSEM server, IEC 62056-46 HDLC (serial default 9600 8N1)"),
                       ("han", "CCC/HAN DLMS push"), ("mbus", "M-Bus slave"), ("modbus", "Modbus TCP slave"),
                       ("modbus-rtu", "Modbus RTU slave"), ("optical", "IEC 62056-21 optical port (mode C)"),
                       ("optical-push", "IEC 62056-21 mode D push (2400 Bd)"),
                       ("wmbus", "wireless M-Bus module (C1) as a receiver hears it"),
                       ("gsm", "the head-end's GSM modem (AT commands, 115200 8N1), joined by a simulated network to "
                        "the meter's GSM8i module (SMS reading; needs the meter's `gsm` settings)"),
                       ("gprs", "the GSM8i module's GPRS: DLMS/COSEM over the IEC 62056-47 wrapper (tcp:HOST:PORT "
                        "only)")):
        srv.add_argument(f"--{name}", metavar="ADDR", help=f"{what}: tcp:HOST:PORT, pty:PATH or a device path")
    srv.add_argument("--wmbus-format", choices=("rtl_wmbus", "im871a"), default=None,
                     help="the receiver --wmbus emulates: rtl_wmbus text lines or iM871A HCI frames (default: the "
                     "meter's wmbus.format, rtl_wmbus)")
    srv.add_argument("--optical-push-every", type=_positive_int, default=10, metavar="SECONDS",
                     help="mode D push interval in meter seconds (default 10)")
    firmware_cli.add_parser(sub)
    return parser


def _positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not ≥ 1")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not 1 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{value} is not 1–86400 seconds")
    return value


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


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    meters = load_meters(args.config)
    chosen = [m for m in meters if args.meter in (None, m.id)]
    if not chosen:
        print(f"omnipower-sim: no meter {args.meter!r} in {args.config}", file=sys.stderr)
        return 2
    try:
        interfaces = {name: parse_address(value) for name in SUPPORTED
                      if (value := getattr(args, name.replace("-", "_"))) is not None}
    except AddressError as exc:
        print(f"omnipower-sim: {exc}", file=sys.stderr)
        return 2
    try:
        han = HanSettings(layout=args.han_layout, keys=parse_glo_keys(args.han_keys) if args.han_keys else None)
    except ValueError as exc:
        print(f"omnipower-sim: --han-keys {exc}", file=sys.stderr)
        return 2
    if not interfaces:
        print("omnipower-sim: give at least one interface (--modbus tcp:127.0.0.1:5020, …)", file=sys.stderr)
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(chosen[0].id, chosen[0], args.speed, interfaces, stop, han, args.optical_push_every,
                    args.wmbus_format)

    try:
        asyncio.run(run())
    except (ValueError, OSError) as exc:
        print(f"omnipower-sim: {exc}", file=sys.stderr)
        return 1
    return 0


def simulate(meter_cfg: SimMeter, days: float, out: Path, progress: bool = True,
             scenario: Scenario | None = None, engine: str = "warp") -> dict[str, Any]:
    """Run one meter for `days` simulated days (with the scenario's inputs, if any) on `engine` ("warp" or
    "exact") and write its files."""
    start = meter_cfg.start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    t0 = start.timestamp()
    clock = SteppedClock(t0)
    meter = Meter(meter_cfg.id, meter_cfg, clock)
    end = t0 + days * 86400
    began = time.monotonic()
    progress = progress and sys.stderr.isatty()

    def show(t: int) -> None:
        done = (t - t0) / (end - t0)
        bar = "#" * int(done * 30)
        print(f"\r{meter_cfg.id:>12} [{bar:<30}] {done:6.1%} {meter.rtc.iso(meter.t)}", end="", file=sys.stderr)

    if engine == "warp":
        # One warp call from action to action, the progress shown after each of its chunks (up to a day): calls a
        # day long would end a chunk at every call, two chunks a day when the start is not a local midnight.
        def step_to(m: Meter, t: float) -> None:
            warp_to(m, t, on_chunk=(lambda mm: show(true_time(mm))) if progress else None)

        outcomes = run(meter, scenario or Scenario(), end, show if progress else None,
                       chunk_s=int(end - t0) + 86400, step_to=step_to)
    else:
        outcomes = run(meter, scenario or Scenario(), end, show if progress else None)
    print(f"{'' if progress else meter_cfg.id + ': '}{days:g} simulated days in {time.monotonic() - began:.1f} s",
          file=sys.stderr)
    folder = out / meter_cfg.id
    folder.mkdir(parents=True, exist_ok=True)
    exports = meter_exports(meter)
    if scenario is not None:
        exports["scenario"] = scenario_export(meter, scenario, outcomes)
        refused = sum(o.status == "error" for o in outcomes)
        print(f"{meter_cfg.id}: scenario {scenario.scenario.name!r}: {len(outcomes)} meter calls, "
              f"{refused} refused by the meter (see scenario.json)", file=sys.stderr)
    for name, doc in exports.items():
        (folder / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    registers: dict[str, Any] = exports["registers"]
    return registers


def scenario_export(meter: Meter, scenario: Scenario, outcomes: list[Outcome]) -> dict[str, Any]:
    """scenario.json: every meter call the scenario made, with its outcome; times in local standard time,
    as the meter's loggers keep them."""

    def stamp(t: int) -> str:
        return meter.rtc.standard_time(t).isoformat(timespec="seconds")

    return {
        "scenario": scenario.scenario.model_dump(),
        "applied": sum(o.status == "ok" for o in outcomes),
        "refused": sum(o.status == "error" for o in outcomes),
        "outcomes": [o.to_json(stamp) for o in outcomes],
    }


def meter_exports(meter: Meter) -> dict[str, Any]:
    """What `simulate` writes per meter: registers by OBIS code (register-table units), the load
    profile, the debiting snapshots and the event log entries, time-stamped in standard time as the
    meter's loggers are."""
    readings = meter.readings()
    registers = {reg.obis: readings[reg.key] for reg in meter.registers
                 if isinstance(readings[reg.key], int | float) and reg.obis[0].isdigit() and ".t" not in reg.obis}

    return {
        "registers": registers,
        "load_profile": query_log(meter, "load_profile", limit=None)[0],
        "billing": query_log(meter, "billing", limit=None)[0],
        "debiting_logger_2": query_log(meter, "debiting_logger_2", limit=None)[0],
        "events": all_events(meter),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "firmware":
        return firmware_cli.run(args)
    if args.days <= 0:
        print("omnipower-sim: --days must be > 0", file=sys.stderr)
        return 2
    scenario = load_scenario(args.scenario) if args.scenario is not None else None
    meters = load_meters(args.config)
    if args.meters is not None:
        meters = fleet_meters(meters[0], args.meters)
    for meter_cfg in meters:
        try:
            simulate(meter_cfg, args.days, args.out, scenario=scenario, engine=args.engine)
        except ScenarioError as exc:  # e.g. an event before this meter's start
            print(f"omnipower-sim: scenario {args.scenario} for meter {meter_cfg.id}: {exc}", file=sys.stderr)
            return 2
    print(f"written to {args.out}/<meter id>/: registers.json, load_profile.json, billing.json, "
          f"debiting_logger_2.json, events.json{', scenario.json' if scenario is not None else ''}", file=sys.stderr)
    return 0


def fleet_meters(template: SimMeter, count: int) -> list[SimMeter]:
    """A fleet of `count` members derived from `template` (its seed is the fleet seed, its id the prefix)."""
    return [member_settings(template, template.seed, n, id=member_id(template.id, n, count))
            for n in members(count)]


def load_scenario(path: Path) -> Scenario:
    try:
        return Scenario.load(path)
    except OSError as exc:
        raise SystemExit(f"omnipower-sim: cannot read {path}: {exc}") from None
    except ScenarioError as exc:
        raise SystemExit(f"omnipower-sim: invalid scenario {path}:\n" + "\n".join(f"  {p}" for p in exc.problems)
                         ) from None
