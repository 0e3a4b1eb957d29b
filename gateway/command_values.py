"""The values commands take: one parser per kind of value. Pure.

A parser is called with the command's name and the value as it came (JSON, or a plain `set/<name>` payload) and
returns the canonical value, or raises `CommandError` naming the command (or a key within it) and what is allowed.
The command table (gateway/command_table.py) gives each command its parser.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnipower.registers import MAX_TARIFF, MAX_TARIFF_PLANS

Value = str | int | float | None  # a parsed command value
Parser = Callable[[str, Any], Value]

MAX_TOP_UP = 1_000_000.0
# Settings a head-end may change remotely (spec: load profile period, debiting, tariff and load-control setup,
# thresholds, disconnect and prepayment setup, display lists, analysis logger); everything else is refused.
REMOTE_SETTINGS = (
    "z4", "z6", "z7", "z13", "z14", "z25", "power_threshold_w", "tariff_schedule", "tariff_calendar",
    "smart_disconnect", "prepayment", "power_quality", "display", "analysis_logger", "tamper",
)
LEGAL_SETTINGS = ("type_number", "z1", "z2", "z11", "z15", "z19", "z21", "z22", "z23", "z24")


class CommandError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        field = field or '""'  # an empty key or topic level is still named
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Choice:
    """One of a few words (case and blanks around it ignored); `switch`: JSON true/false also mean on/off."""

    options: tuple[str, ...]
    switch: bool = False

    def __call__(self, name: str, value: Any) -> str:
        if self.switch and isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str) and value.strip().lower() in self.options:
            return value.strip().lower()
        raise CommandError(name, f"invalid value {value!r} (allowed: {', '.join(self.options)})")


ON_OFF = Choice(("on", "off"), switch=True)


def tariff(name: str, value: Any) -> int | None:
    """1–8 (§2.8; the meter refuses a tariff it has no registers for), or 'auto' (None): follow the calendar."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    number = _number(name, value, f"1–{MAX_TARIFF} or 'auto'")
    if number != int(number) or not 1 <= number <= MAX_TARIFF:
        raise CommandError(name, f"value {value!r} out of range (allowed: 1–{MAX_TARIFF} or 'auto')")
    return int(number)


def tariff_plan(name: str, value: Any) -> int:
    """The internal plan 1–3 (§2.8); the meter refuses a plan it does not hold."""
    number = _number(name, value, f"a plan 1–{MAX_TARIFF_PLANS}")
    if number != int(number) or not 1 <= number <= MAX_TARIFF_PLANS:
        raise CommandError(name, f"value {value!r} out of range (allowed: 1–{MAX_TARIFF_PLANS})")
    return int(number)


def volts(name: str, value: Any) -> float | None:
    """A forced phase voltage 0–400 V, or 'auto' / null (None): back to the grid model."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    number = _number(name, value, "volts 0–400 or 'auto'")
    if not 0 <= number <= 400:
        raise CommandError(name, f"value {value!r} out of range (allowed: 0–400 V or 'auto')")
    return float(number)


def amount(name: str, value: Any) -> float:
    """A top-up: > 0 and at most MAX_TOP_UP (kWh or currency)."""
    number = _number(name, value, f"an amount > 0 and ≤ {MAX_TOP_UP:g}")
    if not 0 < number <= MAX_TOP_UP:
        raise CommandError(name, f"value {value!r} out of range (allowed: > 0 and ≤ {MAX_TOP_UP:g})")
    return number


def clock_time(name: str, value: Any) -> float:
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


def settings(name: str, value: Any) -> str:
    """A JSON object of settings to change; checked here for the names, by the meter for the values.
    Carried on as canonical JSON text, so the command stays a plain, hashable value."""
    if not isinstance(value, dict) or not value:
        raise CommandError(name, 'expected a non-empty JSON object of settings, e.g. {"z4": 3}')
    for key in value:
        if key in LEGAL_SETTINGS:
            raise CommandError(f"{name}.{key}", "legal (metrological) data: cannot be changed remotely")
        if key not in REMOTE_SETTINGS:
            raise CommandError(f"{name}.{key}", f"not remotely configurable (allowed: {', '.join(REMOTE_SETTINGS)})")
    return json.dumps(value, sort_keys=True)


MAX_IMAGE_PATH = 4096
LATEST_IMAGE = "latest"


def firmware_image(name: str, value: Any) -> str:
    """`{"image": PATH}` (a plain PATH too): a firmware image file, or "latest", the newest signed image in the
    gateway's `firmware.folder` for the meter's firmware line. The file itself is read when the command runs."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"image"})
        if unknown:
            raise CommandError(f"{name}.{unknown[0]}", 'unknown key (allowed: image), e.g. {"image": "fw.img"}')
        if "image" not in value:
            raise CommandError(f"{name}.image", 'required: the image file, e.g. {"image": "fw.img"}')
        value = value["image"]
        name = f"{name}.image"
    if not isinstance(value, str) or not value.strip():
        raise CommandError(name, f'invalid value {value!r} (allowed: a file path, or "{LATEST_IMAGE}")')
    path = value.strip()
    if len(path) > MAX_IMAGE_PATH or "\0" in path:
        raise CommandError(name, f"not a usable file path (at most {MAX_IMAGE_PATH} characters, no NUL)")
    return path


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
