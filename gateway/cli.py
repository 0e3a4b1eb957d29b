"""`omnipower-gateway`: run the service, or send one command and print the answer."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import uuid
from pathlib import Path

import aiomqtt
import yaml
from pydantic import ValidationError

from gateway import __version__, addon_options, service
from gateway.config import ConfigError, Settings, format_validation_error, load_settings
from gateway.decode import KINDS
from gateway.decode import run as decode_run
from gateway.sources.han import SCALERS
from gateway.topics import Topics
from meter_sim.fleet import parse_shard
from meter_sim.persistence import PersistenceError
from omnipower.dlms import parse_glo_keys
from omnipower.wmbus import parse_key


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnipower-gateway", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the gateway service (the default)")
    run.add_argument("--config", type=Path, help="YAML configuration file")
    run.add_argument("--speed", type=float, help="run every simulated meter this many times faster than real time")
    run.add_argument("--shard", metavar="K/N", help="run the K-th of N parts of the configured fleet (fleet.shard)")
    send = sub.add_parser("send", help="send one command to a meter and print the response")
    send.add_argument("--config", type=Path, help="YAML configuration file (for the broker settings)")
    send.add_argument("meter", help="meter id, e.g. meter1")
    send.add_argument("name", help="command: breaker, tariff, push_button, load_control_1, voltage_l1 …")
    send.add_argument("value", help="e.g. disconnect, connect, release, 2, auto, hold, on")
    send.add_argument("--timeout", type=float, default=10.0)
    dec = sub.add_parser("decode", help="print the frames in a capture as JSON, one object per frame")
    dec.add_argument("kind", choices=KINDS)
    dec.add_argument("data", help="hex string, or a file with hex text or raw bytes")
    dec.add_argument("--scalers", choices=sorted(SCALERS), default="kamstrup", help="HAN units (none are pushed)")
    dec.add_argument("--keys", metavar="EK:AK", help="HAN or DLMS decryption keys, two 32-digit hex keys")
    dec.add_argument("--key", metavar="HEX", help="wireless M-Bus AES-128 key, 32 hex digits")
    addon = sub.add_parser("addon-config", help="print the configuration the Home Assistant add-on's options set")
    addon.add_argument("options", type=Path, help="the Supervisor's options file, /data/options.json")
    addon.add_argument("--extra", type=Path, help="YAML settings the options extend (the add-on's gateway.yaml)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    if command == "decode":
        return _decode(args)
    if command == "addon-config":
        return _addon_config(args.options, args.extra)
    config = getattr(args, "config", None)
    try:
        settings = load_settings(config)
        if getattr(args, "speed", None) is not None:
            settings = with_speed(settings, args.speed)
        if getattr(args, "shard", None) is not None:
            settings = with_shard(settings, args.shard)
    except ConfigError as exc:
        print(f"omnipower-gateway: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr
    )
    if settings.log_level != "DEBUG":  # the embedded broker's libraries narrate every state change
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if command == "send":
        return asyncio.run(_send(settings, args.meter, args.name, args.value, args.timeout))
    try:
        asyncio.run(_run(settings))
    except PersistenceError as exc:
        print(f"omnipower-gateway: {exc}", file=sys.stderr)
        return 3
    return 0


async def _run(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    fleet = settings.fleet
    logging.getLogger(__name__).info(
        "omnipower-gateway %s: %d meter(s)%s, base topic %r, data in %s",
        __version__, len(settings.meters),
        f" and shard {fleet.shard} of a fleet of {fleet.count}" if fleet is not None else "",
        settings.mqtt.base_topic, settings.data_dir,
    )
    await service.run(settings, stop)


async def _send(settings: Settings, meter: str, name: str, value: str, timeout: float) -> int:
    m = settings.mqtt
    topics = Topics(m.base_topic, m.discovery_prefix)
    transaction = uuid.uuid4().hex[:8]
    try:
        async with aiomqtt.Client(
            m.host or "localhost", m.port, username=m.username,
            password=m.password.get_secret_value() if m.password else None, timeout=timeout,
        ) as client:
            await client.subscribe(topics.meter(meter, "response"), qos=1)
            body = json.dumps({name: _value(value), "transaction": transaction})
            await client.publish(topics.meter(meter, "set"), body, qos=1)
            async with asyncio.timeout(timeout):
                async for message in client.messages:
                    answer = json.loads(message.payload)
                    if answer.get("transaction") == transaction:
                        print(json.dumps(answer, indent=2))
                        return 0 if answer.get("status") == "ok" else 1
    except (aiomqtt.MqttError, TimeoutError) as exc:
        print(f"omnipower-gateway: no answer from meter {meter!r}: {str(exc) or 'timeout'}", file=sys.stderr)
    return 1


def _decode(args: argparse.Namespace) -> int:
    keys = None
    if args.keys:
        try:
            keys = parse_glo_keys(args.keys)
        except ValueError as exc:
            print(f"omnipower-gateway: decode: --keys {exc}", file=sys.stderr)
            return 1
    key = None
    if args.key:
        try:
            key = parse_key(args.key)
        except ValueError as exc:
            print(f"omnipower-gateway: decode: --key {exc}", file=sys.stderr)
            return 1
    status, reason = decode_run(args.kind, args.data, scalers=SCALERS[args.scalers], keys=keys, key=key)
    if reason:
        print(f"omnipower-gateway: decode {args.kind}: {reason}", file=sys.stderr)
    return status


def _addon_config(options: Path, extra: Path | None) -> int:
    try:
        doc = addon_options.addon_config(options, extra)
    except ConfigError as exc:
        print(f"omnipower-gateway: {exc}", file=sys.stderr)
        return 2
    print(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), end="")
    return 0


def with_speed(settings: Settings, speed: float) -> Settings:
    """The settings with every simulated meter at `speed` (validated like the file's own value)."""
    try:
        meters = [m.model_validate(m.model_dump() | {"speed": speed}) for m in settings.meters]
        fleet = settings.fleet
        if fleet is not None:
            fleet = fleet.model_validate(fleet.model_dump() | {"speed": speed})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc).replace("  speed", "  --speed")) from None
    return settings.model_copy(update={"meters": meters, "fleet": fleet})


def with_shard(settings: Settings, shard: str) -> Settings:
    """The settings with the fleet's `shard` replaced by --shard K/N."""
    if settings.fleet is None:
        raise ConfigError("--shard needs a fleet: add a `fleet` block (count, id_prefix, seed) to the configuration")
    try:
        part = parse_shard(shard)
    except ValueError as exc:
        raise ConfigError(f"--shard: {exc}") from None
    return settings.model_copy(update={"fleet": settings.fleet.model_copy(update={"shard": str(part)})})


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text
