"""The one way the gateway parses a JSON payload from MQTT: bounded before it is parsed.

Python's `json.loads` recurses once per nesting level, so `[` × 1000 raises RecursionError, which is
not a ValueError and used to end the process. Every payload is therefore checked for size and nesting
depth first, by a flat scan that cannot recurse, and only then handed to `json.loads`. Pure: bytes in,
a value or a `PayloadError` naming the limit out.
"""

from __future__ import annotations

import json
from typing import Any

MAX_PAYLOAD = 4096  # bytes; the largest legitimate command (a configure with a tariff calendar) is far below
MAX_DEPTH = 32  # nesting levels of arrays and objects; a configure needs about 6


class PayloadError(ValueError):
    """A payload the gateway refuses before or while parsing it; `str()` is the reason."""


class NestingError(PayloadError):
    """Nested deeper than MAX_DEPTH (refused even where malformed JSON would pass as plain text)."""


def check_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD:
        raise PayloadError(f"too large ({len(payload)} bytes, at most {MAX_PAYLOAD})")


def nesting_depth(text: str) -> int:
    """The deepest nesting of `[`/`{` outside JSON strings (a flat scan: no recursion, no parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def decode_text(payload: bytes) -> str:
    check_size(payload)
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("not valid UTF-8 text") from None


def loads(text: str) -> Any:
    """Parse bounded JSON text (call `decode_text` first for bytes). NaN and Infinity are refused:
    they are not JSON and no command takes them."""
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise NestingError(f"nested too deeply ({depth} levels, at most {MAX_DEPTH})")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # belt and braces: no input may leave as anything but a PayloadError
        raise NestingError(f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError as exc:
        raise PayloadError(f"malformed JSON ({exc})") from None


def load_bytes(payload: bytes) -> Any:
    return loads(decode_text(payload))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
