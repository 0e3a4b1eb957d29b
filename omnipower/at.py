"""AT command lines as a modem reads them (ITU-T V.250 §5.2, 3GPP TS 27.007 and 27.005), without I/O.

`CommandLineReader` turns the bytes a terminal sends into complete command lines (prefix `AT`, ended by CR, with
backspace editing; characters before the prefix are ignored, as V.250 §5.2.1 asks) or, after an `AT+CMGS` prompt,
into the message text ended by Ctrl-Z (send) or ESC (cancel) (TS 27.005 §3.5.1). `parse_command_line` splits a line
into commands: basic ones (`E0`, `Z`, `&F`, `I`) and extended ones (`+CMGF=1`, `+CPIN?`, `+CNMI=?`), several per line,
extended ones separated by `;`. The error tables give the numeric and verbose forms of `+CME ERROR` (TS 27.007 §9.2)
and `+CMS ERROR` (TS 27.005 §3.2.5) that `+CMEE` chooses between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from omnipower.errors import CodecError

CR, LF, BACKSPACE, CTRL_Z, ESC = 0x0D, 0x0A, 0x08, 0x1A, 0x1B
MAX_LINE = 2048  # V.250 asks for at least 40; a long +CMGS destination and parameters fit easily
MAX_TEXT = 1024  # PDU mode: a 176-octet PDU is 352 hex digits; text mode: 160 characters, some escaped

# TS 27.007 §9.2.1 (the ones a modem library meets); the verbose text is what +CMEE=2 prints.
CME_ERRORS: dict[int, str] = {
    0: "phone failure", 3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
    11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy", 16: "incorrect password",
    20: "memory full", 21: "invalid index", 22: "not found", 23: "memory failure", 24: "text string too long",
    25: "invalid characters in text string", 30: "no network service", 31: "network timeout",
    50: "incorrect parameters", 100: "unknown",
}
# TS 27.005 §3.2.5 gives the numbers; the texts are the ones modems print with +CMEE=2.
CMS_ERRORS: dict[int, str] = {
    300: "ME failure", 302: "operation not allowed", 303: "operation not supported",
    304: "invalid PDU mode parameter", 305: "invalid text mode parameter", 310: "SIM not inserted",
    311: "SIM PIN required", 313: "SIM failure", 316: "SIM PUK required", 320: "memory failure",
    321: "invalid memory index", 322: "memory full", 330: "SMSC address unknown", 331: "no network service",
    332: "network timeout", 500: "unknown error",
}
ERROR_TABLES = {"CME": CME_ERRORS, "CMS": CMS_ERRORS}

Kind = Literal["action", "read", "test", "set"]
Arg = int | str | None  # a number, a string (quoted or not), or an omitted parameter


class AtSyntaxError(CodecError):
    """A command line that V.250 syntax cannot split into commands."""


@dataclass(frozen=True, slots=True)
class AtCommand:
    """One command of a line: `name` is upper case (`E`, `&F`, `+CMGF`); `args` only for `set` (and a basic
    command's number, as its one argument)."""

    name: str
    kind: Kind
    args: tuple[Arg, ...] = ()


def error_line(kind: Literal["CME", "CMS"], code: int, cmee: int) -> str:
    """The final result for an error: `ERROR` (+CMEE=0), `+CME ERROR: 16` (1) or `+CME ERROR: incorrect password`
    (2)."""
    if cmee == 0:
        return "ERROR"
    return f"+{kind} ERROR: {ERROR_TABLES[kind][code] if cmee == 2 else code}"


# --- the modem's side: bytes to command lines ---------------------------------------------------------------------
class ReaderMode(Enum):
    COMMAND = "command"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class CommandLine:
    text: str  # after the AT prefix, as typed (not yet upper-cased)
    raw: bytes  # every byte this line consumed, for the modem's echo


@dataclass(frozen=True, slots=True)
class TextEntered:
    text: str  # without the Ctrl-Z
    raw: bytes


@dataclass(frozen=True, slots=True)
class TextCancelled:
    raw: bytes


@dataclass(frozen=True, slots=True)
class LineTooLong:
    raw: bytes


ReaderEvent = CommandLine | TextEntered | TextCancelled | LineTooLong


class CommandLineReader:
    """Feed bytes in any chunks; get command lines (COMMAND mode) or one message text (TEXT mode, which the modem
    enters with `expect_text()` when it sends its `> ` prompt and which ends by itself with the text)."""

    def __init__(self) -> None:
        self.mode = ReaderMode.COMMAND
        self._pending = bytearray()  # fed but not read yet: what follows a command line waits for its answer
        self._raw = bytearray()
        self._line: bytearray | None = None  # None until the A T prefix is seen
        self._last = 0  # the previous byte, to find the prefix

    def expect_text(self) -> None:
        self.mode = ReaderMode.TEXT
        self._raw.clear()
        self._line = bytearray()

    def reset(self) -> None:
        """Forget a half-typed line and what was fed after it (a new terminal on the line)."""
        self._pending.clear()
        self._restart()

    def _restart(self) -> None:
        self.mode = ReaderMode.COMMAND
        self._raw.clear()
        self._line = None
        self._last = 0

    def feed(self, data: bytes) -> list[ReaderEvent]:
        """The events of `data` and what was held, up to and including the first command line: its answer may
        change how the bytes after it read (a `> ` prompt), so they wait for the next call (`feed(b"")` reads on)."""
        self._pending += data
        events: list[ReaderEvent] = []
        used = 0
        for byte in self._pending:
            used += 1
            self._raw.append(byte)
            event = self._text_byte(byte) if self.mode is ReaderMode.TEXT else self._command_byte(byte)
            if event is not None:
                events.append(event)
                self._raw.clear()
                if isinstance(event, CommandLine):
                    break
        del self._pending[:used]
        return events

    def _command_byte(self, byte: int) -> ReaderEvent | None:
        line = self._line
        if line is None:
            if byte in b"Tt" and self._last in b"Aa" and (self._last ^ byte) & 0x20 == 0:  # "AT" or "at"
                self._line = bytearray()
            self._last = byte
            return None
        if byte == CR:
            self._line, self._last = None, 0
            return CommandLine(line.decode("latin-1"), bytes(self._raw))
        if byte == BACKSPACE:
            if line:
                line.pop()
            return None
        if byte == LF:
            return None
        line.append(byte)
        if len(line) > MAX_LINE:
            self._line, self._last = None, 0
            return LineTooLong(bytes(self._raw))
        return None

    def _text_byte(self, byte: int) -> ReaderEvent | None:
        line = self._line
        assert line is not None
        if byte in (CTRL_Z, ESC):
            raw = bytes(self._raw)
            self._restart()
            return TextEntered(line.decode("latin-1"), raw) if byte == CTRL_Z else TextCancelled(raw)
        if byte == BACKSPACE:
            if line:
                line.pop()
            return None
        line.append(byte)
        if len(line) > MAX_TEXT:
            raw = bytes(self._raw)
            self._restart()
            return LineTooLong(raw)
        return None


# --- command line syntax ------------------------------------------------------------------------------------------
_EXTENDED_NAME = re.compile(r"[+^$%*#!@][A-Z0-9!%\-./:_]+")
_BASIC = re.compile(r"(&?[A-Z])(\d*)")
_NUMBER = re.compile(r"-?\d+")
_BARE = re.compile(r"[A-Z0-9+\-*#./:_]+")  # an unquoted string (AT+CSCS=GSM)


def _normalise(body: str) -> str:
    """Upper case and no spaces outside quoted strings (V.250 §5.3)."""
    out = []
    quoted = False
    for ch in body:
        if ch == '"':
            quoted = not quoted
        if quoted or ch == '"':
            out.append(ch)
        elif ch != " ":
            out.append(ch.upper())
    if quoted:
        raise AtSyntaxError(f"unterminated string in {body!r}")
    return "".join(out)


def _unescape(text: str) -> str:
    r"""A quoted string's `\HH` escapes (V.250 §5.4.2.2: `\22` is a quote)."""
    return re.sub(r"\\([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def parse_args(text: str) -> tuple[Arg, ...]:
    """Comma-separated values: quoted strings, numbers, empty (omitted) or bare words."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        quoted ^= ch == '"'
        current.append(ch)
    parts.append("".join(current))
    args: list[Arg] = []
    for part in parts:
        if len(part) >= 2 and part[0] == part[-1] == '"' and '"' not in part[1:-1]:
            args.append(_unescape(part[1:-1]))
        elif '"' in part:
            raise AtSyntaxError(f"misplaced quote in parameter {part!r}")
        elif part == "":
            args.append(None)
        elif _NUMBER.fullmatch(part) and not (len(part) > 1 and part.lstrip("-").startswith("0")):
            args.append(int(part))  # "0123" stays text: a PIN keeps its leading zero
        elif _BARE.fullmatch(part):
            args.append(part)
        else:
            raise AtSyntaxError(f"parameter {part!r} is neither a number nor a string")
    return tuple(args)


def _extended(body: str, pos: int) -> tuple[AtCommand, int]:
    match = _EXTENDED_NAME.match(body, pos)
    if match is None:
        raise AtSyntaxError(f"no command name at {body[pos:]!r}")
    name, pos = match.group(), match.end()
    end = _command_end(body, pos)
    rest = body[pos:end]
    if rest == "":
        cmd = AtCommand(name, "action")
    elif rest == "?":
        cmd = AtCommand(name, "read")
    elif rest == "=?":
        cmd = AtCommand(name, "test")
    elif rest.startswith("="):
        cmd = AtCommand(name, "set", parse_args(rest[1:]))
    else:
        raise AtSyntaxError(f"{name}: cannot read {rest!r}")
    return cmd, end + 1 if end < len(body) else end


def _command_end(body: str, pos: int) -> int:
    """Where an extended command ends: at a `;` outside quotes, or the end of the line."""
    quoted = False
    for i in range(pos, len(body)):
        if body[i] == '"':
            quoted = not quoted
        elif body[i] == ";" and not quoted:
            return i
    return len(body)


def parse_command_line(text: str) -> list[AtCommand]:
    """The commands of one line (the text after `AT`). An empty line is `AT` alone: no command, answered OK."""
    body = _normalise(text)
    commands: list[AtCommand] = []
    pos = 0
    while pos < len(body):
        if body[pos] == ";":  # V.250 allows a separator after a basic command too
            pos += 1
            continue
        if _EXTENDED_NAME.match(body, pos):
            cmd, pos = _extended(body, pos)
            commands.append(cmd)
            continue
        match = _BASIC.match(body, pos)
        if match is None:
            raise AtSyntaxError(f"cannot read {body[pos:]!r}")
        name, number = match.groups()
        pos = match.end()
        if body.startswith("?", pos):
            commands.append(AtCommand(name, "read"))
            pos += 1
        else:
            commands.append(AtCommand(name, "set" if number else "action", (int(number),) if number else ()))
    return commands


def quote(text: str) -> str:
    """A string parameter as a command line carries it: quoted, a quote or backslash escaped as `\\HH`."""
    return '"' + text.replace("\\", "\\5C").replace('"', "\\22") + '"'
