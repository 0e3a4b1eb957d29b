"""SMS reading of the GSM8i module (68 50 053): the requests a head-end sends and the text of the answers.

The data sheet says only that the module "supports SMS reading"; no OMNIPOWER document publishes its SMS protocol,
so this one is ours, kept small and readable on a phone. A request is one line, case-insensitive, words separated by
spaces, the module's PIN first when it has one (`1234 READ 1.8.0`):

| request | answer |
|---|---|
| `READ` | the main registers (`READ_KEYS`, those this meter has), one line each: `<OBIS> <value> [unit]` |
| `READ <OBIS>` | that one register of the register table (`READ 1.8.0`, `READ 32.7.0`) |
| `BREAKER` | the breaker's state (`128.0.11 <state>`) and `SINCE <time> <reason>` |
| `ALARMS` | `ALARMS <count>` and one line per active alarm: `<type> [L<phase>] <since>` |
| `HELP` | the command list |

Every answer to a request starts with the header `KAM <serial number> <meter time, ISO 8601>`; values are in the
register table's units and resolution. A request the module cannot serve gets one line starting `ERROR` (wrong or
missing PIN, unknown request, unknown register); a sender not on the whitelist gets no answer at all (the module
must not cost its owner an SMS for every stranger, nor tell one that a meter answers at this number).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from omnipower.errors import CodecError
from omnipower.registers import REGISTERS_BY_OBIS, Kind, Register

HEADER = "KAM"
READ_KEYS = ("a_plus", "a_minus", "r_plus", "r_minus", "a_plus_t1", "a_plus_t2", "a_plus_t3", "a_plus_t4",
             "p_plus", "p_minus", "breaker")
PIN_PATTERN = r"^[0-9]{4,8}$"


@dataclass(frozen=True, slots=True)
class SmsCommand:
    word: str
    argument: str | None  # the argument's name in HELP, None when it takes none
    help: str


COMMANDS: tuple[SmsCommand, ...] = (
    SmsCommand("READ", None, "main registers"),
    SmsCommand("READ", "OBIS", "one register, e.g. READ 1.8.0"),
    SmsCommand("BREAKER", None, "breaker state"),
    SmsCommand("ALARMS", None, "active alarms"),
    SmsCommand("HELP", None, "this list"),
)


class SmsRequestError(CodecError):
    """A request the module refuses; `answer` is the text it sends back."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.answer = answer


@dataclass(frozen=True, slots=True)
class Request:
    word: str
    argument: str | None = None


def help_text(pin: bool) -> str:
    items = "; ".join(f"{c.word}{' <' + c.argument + '>' if c.argument else ''}: {c.help}" for c in COMMANDS)
    return items + (". PIN first: <PIN> READ" if pin else "")


def parse_request(text: str, pin: str | None) -> Request:
    """The request in an SMS; SmsRequestError with the answer for a wrong PIN or an unknown request."""
    words = text.split()
    if pin is not None:
        if not words or words[0] != pin:
            raise SmsRequestError("ERROR PIN")
        words = words[1:]
    if not words:
        raise SmsRequestError(f"ERROR empty request; send {'<PIN> ' if pin else ''}HELP")
    word, args = words[0].upper(), words[1:]
    shapes = {(c.word, c.argument is not None) for c in COMMANDS}
    if (word, bool(args)) not in shapes or len(args) > 1:
        raise SmsRequestError(f"ERROR unknown request {' '.join(words)[:40]!r}; send {'<PIN> ' if pin else ''}HELP")
    return Request(word, args[0] if args else None)


def format_value(register: Register, value: float | int | str | None) -> str:
    """`<value> [unit]` at the register's resolution; `-` for no value."""
    if value is None:
        return "-"
    if isinstance(value, float) and register.kind is not Kind.TIMESTAMP:
        text = f"{value:.{register.decimals}f}"
    else:
        text = str(value)
    return f"{text} {register.unit}" if register.unit else text


def header(serial: str, time: str) -> str:
    return f"{HEADER} {serial} {time}"


def register_lines(registers: Sequence[Register], readings: Mapping[str, float | int | str | None]) -> list[str]:
    return [f"{r.obis} {format_value(r, readings.get(r.key))}" for r in registers]


def alarm_lines(alarms: Sequence[tuple[str, int | None, str]]) -> list[str]:
    """(type, phase, since) of each active alarm."""
    return [f"ALARMS {len(alarms)}"] + [
        f"{kind}{f' L{phase}' if phase else ''} {since}" for kind, phase, since in alarms]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the gateway reads from an answer: the header's serial and time, and `<OBIS> <value>` lines by OBIS code
    (lines of other shapes, `SINCE` or `ALARMS`, are kept by their first word)."""

    serial: str
    time: str
    values: dict[str, str] = field(default_factory=dict)
    other: dict[str, str] = field(default_factory=dict)


def parse_answer(text: str) -> Answer:
    """An answer's text; SmsRequestError for an `ERROR` answer, CodecError for text that is no answer of ours."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise CodecError("empty answer")
    if lines[0].startswith("ERROR"):
        raise SmsRequestError(lines[0])
    head = lines[0].split()
    if len(head) != 3 or head[0] != HEADER:
        raise CodecError(f"answer does not start with '{HEADER} <serial> <time>': {lines[0][:60]!r}")
    answer = Answer(head[1], head[2])
    for line in lines[1:]:
        first, _, rest = line.partition(" ")
        target = answer.values if first in REGISTERS_BY_OBIS else answer.other
        target[first] = rest
    return answer


def value_of(register: Register, text: str) -> float | int | str | None:
    """A value from an answer line, in the register table's unit; CodecError when it is not one."""
    if text == "-":
        return None
    if register.kind in (Kind.ENUM, Kind.TIMESTAMP):
        if register.options and text not in register.options:
            raise CodecError(f"{register.obis}: {text!r} is not one of {', '.join(register.options)}")
        return text
    number, _, unit = text.partition(" ")
    if (unit or None) != register.unit:
        raise CodecError(f"{register.obis}: unit {unit!r}, expected {register.unit!r}")
    try:
        value = float(number)
    except ValueError:
        raise CodecError(f"{register.obis}: {number!r} is not a number") from None
    return int(value) if register.decimals == 0 and value.is_integer() else value
