"""The terminal's side of an AT dialogue (ITU-T V.250 §5.7, 3GPP TS 27.005/27.007), without I/O.

One command is outstanding at a time: `command()` gives the bytes to send, and `feed()` turns the modem's bytes into
events: the `Response` to that command (its information lines and final result), the `Prompt` of `AT+CMGS` (after
which `text()` sends the PDU or message and Ctrl-Z), and `Unsolicited` result codes (`+CMTI` …) whenever they come,
even in the middle of a response. The echo of a command is dropped, so the dialogue works with `E1` as with `E0`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from omnipower.at import CTRL_Z, ESC
from omnipower.errors import OmnipowerError

MAX_LINE = 4096

# Final result codes (V.250 §5.7.1, TS 27.007 §9.2) other than OK: the line's start → the error kind.
FINAL_ERRORS = {"ERROR": "ERROR", "+CME ERROR:": "CME", "+CMS ERROR:": "CMS", "NO CARRIER": "NO CARRIER",
                "BUSY": "BUSY", "NO ANSWER": "NO ANSWER", "NO DIALTONE": "NO DIALTONE",
                "COMMAND NOT SUPPORT": "ERROR"}
# Unsolicited result codes: the line's start → lines the code takes (TS 27.005 §3.4.1, TS 27.007 §7–8). A code whose
# name is the outstanding command's (`+CREG:` after `AT+CREG?`) is that command's answer instead.
UNSOLICITED = {"+CMTI:": 1, "+CDSI:": 1, "+CBMI:": 1, "+CMT:": 2, "+CDS:": 2, "+CBM:": 2, "RING": 1, "+CRING:": 1,
               "+CLIP:": 1, "+CREG:": 1, "+CGREG:": 1, "+CIEV:": 1, "+CUSD:": 1}


class AtStateError(OmnipowerError):
    """A command given while another is outstanding, or text without a prompt."""


@dataclass(frozen=True, slots=True)
class AtError:
    kind: str  # ERROR, CME, CMS, NO CARRIER …
    code: int | None  # the number of a +CME/+CMS ERROR (None for a verbose one)
    text: str  # the line as the modem sent it

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Response:
    command: str
    lines: tuple[str, ...]
    error: AtError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self, prefix: str) -> str | None:
        """The value after `prefix` (`+CPIN:` → `READY`) of the first information line that has it."""
        for line in self.lines:
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        return None


@dataclass(frozen=True, slots=True)
class Prompt:
    command: str


@dataclass(frozen=True, slots=True)
class Unsolicited:
    lines: tuple[str, ...]


ClientEvent = Response | Prompt | Unsolicited


class _State(Enum):
    IDLE = "idle"
    AWAITING = "awaiting a final result"
    PROMPT = "awaiting the > prompt"
    TEXT = "awaiting the result of the text"


OK = AtError("OK", None, "OK")  # stands for the one final result that is no error


def parse_final(line: str) -> AtError | None:
    """`OK`, an AtError for an error result, None for a line that ends nothing."""
    if line == "OK":
        return OK
    for start, kind in FINAL_ERRORS.items():
        if line.startswith(start):
            value = line[len(start):].strip()
            return AtError(kind, int(value) if value.isdigit() else None, line)
    return None


def _name(command: str) -> str:
    """The extended name of a command line (`AT+CREG?` → `+CREG`), or '' for a basic one."""
    body = command[2:].lstrip().upper()
    end = next((i for i, ch in enumerate(body) if ch in "=?;"), len(body))
    return body[:end] if body[:1] in "+^" else ""


class AtClient:
    def __init__(self) -> None:
        self._state = _State.IDLE
        self._command = ""
        self._echo = ""  # the text just sent, dropped when the modem echoes it
        self._lines: list[str] = []
        self._buf = bytearray()
        self._urc: list[str] = []
        self._urc_left = 0
        self.discarded = 0  # bytes dropped from over-long lines

    @property
    def busy(self) -> bool:
        return self._state is not _State.IDLE

    def command(self, command: str, prompt: bool = False) -> bytes:
        """The bytes of `command` (with its `AT`); `prompt` True when it answers `> ` first (`AT+CMGS`)."""
        if self.busy:
            raise AtStateError(f"{command!r} while {self._command!r} is {self._state.value}")
        self._state = _State.PROMPT if prompt else _State.AWAITING
        self._command, self._echo, self._lines = command, command, []
        return command.encode("latin-1") + b"\r"

    def text(self, text: str) -> bytes:
        """After a Prompt: the message (PDU hex digits, or text) and Ctrl-Z."""
        if self._state is not _State.TEXT:
            raise AtStateError(f"message text while {self._command!r} is {self._state.value}")
        self._state = _State.AWAITING
        self._echo = text
        return text.encode("latin-1") + bytes((CTRL_Z,))

    def abandon(self) -> bytes:
        """Give up the outstanding command (no answer in time): the bytes that cancel a pending text entry."""
        cancel = bytes((ESC,)) if self._state is _State.TEXT else b""
        self._state, self._lines = _State.IDLE, []
        return cancel

    def feed(self, data: bytes) -> list[ClientEvent]:
        self._buf += data
        events: list[ClientEvent] = []
        while True:
            if self._state is _State.PROMPT and self._prompt_arrived():
                self._state = _State.TEXT
                events.append(Prompt(self._command))
                continue
            end = next((i for i, b in enumerate(self._buf) if b in b"\r\n"), -1)
            if end < 0:
                break
            raw = bytes(self._buf[:end])
            del self._buf[:end + 1]
            line = raw.decode("latin-1").strip()
            if line:
                events += self._line(line)
        if len(self._buf) > MAX_LINE:
            self.discarded += len(self._buf)
            self._buf.clear()
        return events

    def _prompt_arrived(self) -> bool:
        text = bytes(self._buf).lstrip(b"\r\n")
        if not text.startswith(b"> "):
            return False
        del self._buf[:len(self._buf) - len(text) + 2]
        return True

    def _line(self, line: str) -> list[ClientEvent]:
        if self._urc_left:
            self._urc.append(line)
            self._urc_left -= 1
            return [] if self._urc_left else [self._take_urc()]
        if self.busy and line == self._echo.strip():
            self._echo = ""
            return []
        count = next((n for start, n in UNSOLICITED.items() if line.startswith(start)), 0)
        if count and not (self.busy and _name(self._command) and line.startswith(_name(self._command) + ":")):
            self._urc, self._urc_left = [line], count - 1
            return [] if self._urc_left else [self._take_urc()]
        final = parse_final(line)
        if not self.busy:
            return [Unsolicited((line,))]  # nothing asked: a code we do not know, passed on as it came
        if final is None:
            self._lines.append(line)
            return []
        response = Response(self._command, tuple(self._lines), None if final is OK else final)
        self._state, self._lines = _State.IDLE, []
        return [response]

    def _take_urc(self) -> Unsolicited:
        urc = Unsolicited(tuple(self._urc))
        self._urc = []
        return urc
