"""Parsing and validation of commands from the `set` topics. Pure: bytes in, `Command`s or a
`CommandError` naming the field and the reason out.

`<base>/<meter>/set` takes a JSON object `{"breaker": "disconnect", "transaction": "t1"}` (several
commands may be combined; they run in order). `<base>/<meter>/set/<name>` takes a plain value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway import json_payload
from gateway.api import JsonScalar
from gateway.json_payload import PayloadError
from omnipower.registers import MAX_TARIFF, MAX_TARIFF_PLANS

BREAKER_ACTIONS = ("connect", "disconnect", "release")
PUSH_BUTTON_ACTIONS = ("press", "hold")  # a short press steps the display; the 6-s hold works the breaker
VOLTAGE_COMMANDS = ("voltage_l1", "voltage_l2", "voltage_l3")
LOAD_CONTROL_COMMANDS = ("load_control_1", "load_control_2")
RELAY_ACTIONS = ("on", "off")
TAMPER_RELEASE = ("magnetic", "cover", "all")
# Simulation inputs of a simulated meter (the physical world, not head-end commands): on/off
SIM_SWITCHES = ("outage", "neutral_loss", "magnet", "cover_open")
MAX_TOP_UP = 1_000_000.0
# Settings a head-end may change remotely (spec: load profile period, debiting, tariff and load-control setup,
# thresholds, disconnect and prepayment setup, display lists, analysis logger); everything else is refused.
REMOTE_SETTINGS = (
    "z4", "z6", "z7", "z13", "z14", "z25", "power_threshold_w", "tariff_schedule", "tariff_calendar",
    "smart_disconnect", "prepayment", "power_quality", "display", "analysis_logger", "tamper",
)
LEGAL_SETTINGS = ("type_number", "z1", "z2", "z11", "z15", "z19", "z21", "z22", "z23", "z24")
COMMAND_NAMES = (
    "breaker", "tariff", "tariff_plan", "push_button", *LOAD_CONTROL_COMMANDS, *VOLTAGE_COMMANDS, "top_up",
    "emergency_credit", "tamper_release", "debiting_stop", "time", "configure", *SIM_SWITCHES,
)


class CommandError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        field = field or '""'  # an empty key or topic level is still named
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # one of COMMAND_NAMES
    value: str | int | float | None


@dataclass(frozen=True, slots=True)
class Request:
    transaction: JsonScalar
    commands: tuple[Command, ...]


def transaction_of(payload: bytes) -> JsonScalar:
    """Best-effort: the `transaction` of a JSON object payload, so that even a rejected request is
    answered with it."""
    try:
        doc = json_payload.load_bytes(payload)
    except PayloadError:
        return None
    if isinstance(doc, dict):
        value = doc.get("transaction")
        if value is None or isinstance(value, str | int | float | bool):
            return value
    return None


def parse_set(payload: bytes, name: str | None = None) -> Request:
    """Parse a `set` message; `name` is the last topic level of `set/<name>`, if any."""
    try:
        text = json_payload.decode_text(payload)
    except PayloadError as exc:
        raise CommandError("payload", str(exc)) from None
    if name is not None:
        if name not in COMMAND_NAMES:
            raise CommandError(name, f"unknown command (known: {', '.join(COMMAND_NAMES)})")
        return Request(None, (validate(name, _plain_value(text)),))
    try:
        doc = json_payload.loads(text)
    except PayloadError as exc:
        raise CommandError("payload", str(exc)) from None
    if not isinstance(doc, dict):
        raise CommandError("payload", 'expected a JSON object of commands, e.g. {"breaker": "disconnect"}')
    transaction = doc.pop("transaction", None)
    if transaction is not None and not isinstance(transaction, str | int | float | bool):
        raise CommandError("transaction", "must be a string or a number")
    if not doc:
        raise CommandError("payload", f"no command given (known: {', '.join(COMMAND_NAMES)})")
    commands = []
    for key, value in doc.items():
        if key not in COMMAND_NAMES:
            raise CommandError(str(key), f"unknown command (known: {', '.join(COMMAND_NAMES)})")
        commands.append(validate(key, value))
    return Request(transaction, tuple(commands))


def _plain_value(text: str) -> Any:
    """A plain payload may still be JSON (`2`, `"auto"`, `null`); otherwise it is the text itself."""
    stripped = text.strip()
    try:
        return json_payload.loads(stripped)
    except json_payload.NestingError as exc:
        raise CommandError("payload", str(exc)) from None
    except PayloadError:
        return stripped


def validate(name: str, value: Any) -> Command:
    if name == "breaker":
        return Command(name, _choice(name, value, BREAKER_ACTIONS))
    if name == "push_button":
        return Command(name, _choice(name, value, PUSH_BUTTON_ACTIONS))
    if name in LOAD_CONTROL_COMMANDS:
        if isinstance(value, bool):  # JSON true/false
            return Command(name, "on" if value else "off")
        return Command(name, _choice(name, value, RELAY_ACTIONS))
    if name == "tariff":
        if isinstance(value, str) and value.strip().lower() == "auto":
            return Command(name, None)
        # 1–8 (§2.8); the meter refuses a tariff it has no registers for
        number = _number(name, value, f"1–{MAX_TARIFF} or 'auto'")
        if number != int(number) or not 1 <= number <= MAX_TARIFF:
            raise CommandError(name, f"value {value!r} out of range (allowed: 1–{MAX_TARIFF} or 'auto')")
        return Command(name, int(number))
    if name == "tariff_plan":  # the internal plan 1–3 (§2.8); the meter refuses a plan it does not hold
        number = _number(name, value, f"a plan 1–{MAX_TARIFF_PLANS}")
        if number != int(number) or not 1 <= number <= MAX_TARIFF_PLANS:
            raise CommandError(name, f"value {value!r} out of range (allowed: 1–{MAX_TARIFF_PLANS})")
        return Command(name, int(number))
    if name in VOLTAGE_COMMANDS:
        if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
            return Command(name, None)
        volts = _number(name, value, "volts 0–400 or 'auto'")
        if not 0 <= volts <= 400:
            raise CommandError(name, f"value {value!r} out of range (allowed: 0–400 V or 'auto')")
        return Command(name, float(volts))
    if name == "top_up":
        amount = _number(name, value, f"an amount > 0 and ≤ {MAX_TOP_UP:g}")
        if not 0 < amount <= MAX_TOP_UP:
            raise CommandError(name, f"value {value!r} out of range (allowed: > 0 and ≤ {MAX_TOP_UP:g})")
        return Command(name, amount)
    if name == "emergency_credit":
        return Command(name, _choice(name, value, ("request",)))
    if name == "debiting_stop":
        return Command(name, _choice(name, value, ("now",)))
    if name == "tamper_release":
        return Command(name, _choice(name, value, TAMPER_RELEASE))
    if name in SIM_SWITCHES:
        if isinstance(value, bool):
            return Command(name, "on" if value else "off")
        return Command(name, _choice(name, value, RELAY_ACTIONS))
    if name == "time":
        return Command(name, _time(name, value))
    if name == "configure":
        return Command(name, _configure(value))
    raise CommandError(name, f"unknown command (known: {', '.join(COMMAND_NAMES)})")


def _time(name: str, value: Any) -> float:
    """An ISO 8601 date-time with a UTC offset ("2026-03-29T02:30:00+01:00"), or POSIX seconds."""
    if isinstance(value, str):
        text = value.strip()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise CommandError(name, f"invalid value {value!r} (allowed: ISO 8601 date-time with offset)") from None
        if when.tzinfo is None:
            raise CommandError(name, f"{value!r} has no UTC offset (e.g. +01:00 or Z): the meter cannot tell which")
        return when.timestamp()
    seconds = _number(name, value, "ISO 8601 date-time with offset, or POSIX seconds")
    if not 0 <= seconds < 4_102_444_800:  # before 2100
        raise CommandError(name, f"value {value!r} out of range (allowed: 1970–2099)")
    return seconds


def _configure(value: Any) -> str:
    """A JSON object of settings to change; checked here for the names, by the meter for the values.
    Carried on as canonical JSON text, so the command stays a plain, hashable value."""
    if not isinstance(value, dict) or not value:
        raise CommandError("configure", 'expected a non-empty JSON object of settings, e.g. {"z4": 3}')
    for key in value:
        if key in LEGAL_SETTINGS:
            raise CommandError(f"configure.{key}", "legal (metrological) data: cannot be changed remotely")
        if key not in REMOTE_SETTINGS:
            raise CommandError(f"configure.{key}",
                               f"not remotely configurable (allowed: {', '.join(REMOTE_SETTINGS)})")
    return json.dumps(value, sort_keys=True)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    raise CommandError(name, f"invalid value {value!r} (allowed: {', '.join(allowed)})")


def _number(name: str, value: Any, allowed: str) -> float:
    if isinstance(value, bool):
        raise CommandError(name, f"invalid value {value!r} (allowed: {allowed})")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise CommandError(name, f"value out of range (allowed: {allowed})") from None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise CommandError(name, f"invalid value {value!r} (allowed: {allowed})") from None
    else:
        raise CommandError(name, f"invalid value {value!r} (allowed: {allowed})")
    if not math.isfinite(number):
        raise CommandError(name, f"invalid value {value!r} (allowed: {allowed})")
    return number
