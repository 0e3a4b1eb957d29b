"""Parsing and validation of commands from the `set` topics. Pure: bytes in, `Command`s or a
`CommandError` naming the field and the reason out.

`<base>/<meter>/set` takes a JSON object `{"breaker": "disconnect", "transaction": "t1"}` (several
commands may be combined; they run in order). `<base>/<meter>/set/<name>` takes a plain value. Which
commands exist and which values each takes: the command table, gateway/command_table.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway import json_payload
from gateway.api import JsonScalar
from gateway.command_table import COMMAND_NAMES, COMMANDS_BY_NAME
from gateway.command_values import CommandError
from gateway.json_payload import PayloadError

__all__ = ["COMMAND_NAMES", "Command", "CommandError", "Request", "parse_set", "transaction_of", "validate"]


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # one of COMMAND_NAMES (gateway/command_table.py)
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
    """One command by the parser of its entry in the command table."""
    spec = COMMANDS_BY_NAME.get(name)
    if spec is None:
        raise CommandError(name, f"unknown command (known: {', '.join(COMMAND_NAMES)})")
    return Command(name, spec.parse(name, value))
