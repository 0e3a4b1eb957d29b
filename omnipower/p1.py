"""Kamstrup P1 telegrams (Swedish HAN-P1, DSMR-like), 115200 Bd 8N1, about one every 10 s. Sans-IO.

    /KAM5 CR LF
    CR LF
    0-0:1.0.0(240407122854S) CR LF                 local time, S = summer (UTC+2), W = winter (UTC+1)
    1-0:1.8.0(00009621.983*kWh) CR LF              one register per line
    ...
    !1D66 CR LF                                    CRC-16/ARC over '/' .. '!' inclusive, 4 hex digits

The telegram carries no meter id or model. Units on the wire are kWh, kVArh, kW, kVAr, V and A
(the Swedish recommendation writes kvar); `P1Telegram.values` holds the register table's units:
kWh, kvarh, W (kW x 1000), var (kvar x 1000), V, A, keyed by OBIS display code "C.D.E". Unlike
dsmr_parser's SWEDEN specification, 1-0:3.7.0 and 1-0:4.7.0 (total reactive power) are kept.

`parse_p1` takes exactly one telegram and raises a `CodecError` subclass from `omnipower.errors`
for anything wrong (`ChecksumError` for the CRC). `encode_p1` is its inverse, with Kamstrup's
fixed widths. `P1Reader` finds telegrams in a byte stream in any chunking and never raises, like
`omnipower.hdlc.HdlcReader`: bytes before a '/' are skipped silently (a reader usually starts in
the middle of a telegram), and bad telegrams are dropped with their error kept for `take_errors()`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Final

from omnipower.crc import crc16_arc
from omnipower.errors import ChecksumError, CodecError, EncodeError, LengthError, TruncatedError
from omnipower.iec62056_21 import format_value, register_value
from omnipower.registers import REGISTERS_BY_OBIS, Kind
from omnipower.stream import StreamBuffer

__all__ = [
    "MAX_TELEGRAM_LEN",
    "TIMESTAMP_OBIS",
    "P1Reader",
    "P1Telegram",
    "encode_p1",
    "p1_timestamp",
    "parse_p1",
    "parse_p1_timestamp",
]

MAX_TELEGRAM_LEN: Final = 8192  # not in a standard: a bound for the reader's buffer (Kamstrup's is ~700)
MAX_HEADER_LEN: Final = 128
TIMESTAMP_OBIS: Final = "0-0:1.0.0"
SUMMER: Final = timezone(timedelta(hours=2))  # S
WINTER: Final = timezone(timedelta(hours=1))  # W

_LINE_RE: Final = re.compile(r"(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})((?:\([ -'*-~]*\))+)")
_ITEM_RE: Final = re.compile(r"\(([ -'*-~]*)\)")
_NUMERIC_ITEM_RE: Final = re.compile(r"\(([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:\*([ -'+-~]*))?\)")
_TIMESTAMP_RE: Final = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([SW])")
_HEX4_RE: Final = re.compile(rb"[0-9A-Fa-f]{4}")

# Kind of register -> (wire unit, integer digits, decimals), as Kamstrup writes them. Registers of
# other kinds (counters, states, time stamps) are no P1 values.
_P1_FORMATS: Final[Mapping[Kind, tuple[str | None, int, int]]] = MappingProxyType(
    {
        Kind.ENERGY: ("kWh", 8, 3),
        Kind.REACTIVE_ENERGY: ("kVArh", 8, 3),
        Kind.APPARENT_ENERGY: ("kVAh", 8, 3),
        Kind.POWER: ("kW", 4, 3),
        Kind.REACTIVE_POWER: ("kVAr", 4, 3),
        Kind.APPARENT_POWER: ("kVA", 4, 3),
        Kind.VOLTAGE: ("V", 3, 1),
        Kind.CURRENT: ("A", 3, 1),
        Kind.FREQUENCY: ("Hz", 2, 2),
        Kind.POWER_FACTOR: (None, 1, 3),
    }
)


@dataclass(frozen=True, slots=True)
class P1Telegram:
    """One telegram. `values`: register values by OBIS display code ("1.8.0") in register-table units.

    `timestamp` is the meter's local time with its offset (+02:00 for S, +01:00 for W), as sent.
    `values` holds the numeric `1-0:` lines of registers in the register table; `other` keeps every
    other line (e.g. "0-0:96.1.0", or a 1-0 register the table does not know) by OBIS reference,
    with its parenthesised value(s) as sent, so `encode()` can write them back.
    """

    header: str  # the identification line, "/KAM5"
    timestamp_as_sent: str  # "240407122854S"
    timestamp: datetime
    values: dict[str, float] = field(hash=False)
    other: dict[str, str] = field(default_factory=dict, hash=False)

    def encode(self) -> bytes:
        return encode_p1(self.header, self.timestamp, self.values, other=self.other)


def parse_p1_timestamp(text: str) -> datetime:
    """`YYMMDDhhmmssX` (X = S summer / W winter) as an aware local datetime (UTC+2 / UTC+1)."""
    match = _TIMESTAMP_RE.fullmatch(text)
    if match is None:
        raise CodecError(f"time stamp {text!r} is not YYMMDDhhmmss followed by S or W")
    yy, mo, dd, hh, mi, ss, dst = match.groups()
    try:
        return datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss),
                        tzinfo=SUMMER if dst == "S" else WINTER)
    except ValueError as err:
        raise CodecError(f"time stamp {text!r} is no valid date and time: {err}") from None


def p1_timestamp(when: datetime) -> str:
    """The `YYMMDDhhmmssX` form of an aware datetime at UTC+2 (S) or UTC+1 (W). Seconds resolution."""
    offset = when.utcoffset()
    if offset == timedelta(hours=2):
        flag = "S"
    elif offset == timedelta(hours=1):
        flag = "W"
    else:
        raise EncodeError(f"P1 time stamps are local time at UTC+1 (W) or UTC+2 (S), not offset {offset}")
    if not 2000 <= when.year <= 2099:
        raise EncodeError(f"year {when.year} does not fit the two-digit P1 year")
    return when.strftime("%y%m%d%H%M%S") + flag


def _p1_register(code: str) -> bool:
    """A register of the register table that P1 carries as a number (energy, power, U, I, f, PF)."""
    register = REGISTERS_BY_OBIS.get(code)
    return register is not None and register.kind in _P1_FORMATS


def _crc_text(data: bytes | bytearray) -> bytes:
    return f"{crc16_arc(data):04X}".encode("ascii")


def parse_p1(data: bytes, *, require_crc: bool = True) -> P1Telegram:
    """Parse exactly one telegram, from '/' through the CR LF after the CRC.

    With `require_crc=False` a telegram ending `!` CR LF (no CRC, as DSMR 2/3 meters send) is also
    accepted; a CRC that is present is always checked.
    """
    if not data:
        raise TruncatedError("empty P1 telegram")
    if data[:1] != b"/":
        raise CodecError(f"a P1 telegram starts with '/', not {data[:1]!r}")
    end = data.find(b"!")
    if end < 0:
        raise TruncatedError("P1 telegram without its end '!'")
    trailer = data[end + 1 :]
    if trailer == b"\r\n":
        if require_crc:
            raise ChecksumError("P1 telegram without a CRC after '!'")
    elif len(trailer) < 6:
        raise TruncatedError(f"P1 telegram ends {len(trailer)} bytes after '!', before CRC and CR LF")
    elif len(trailer) > 6:
        raise LengthError(f"{len(trailer) - 6} bytes after the telegram's CRC and CR LF")
    elif trailer[4:] != b"\r\n":
        raise CodecError(f"the CRC must be followed by CR LF, not {trailer[4:]!r}")
    elif not _HEX4_RE.fullmatch(trailer[:4]):
        raise CodecError(f"CRC {trailer[:4]!r} is not 4 hex digits")
    else:
        sent = int(trailer[:4], 16)
        expected = crc16_arc(data[: end + 1])
        if sent != expected:
            raise ChecksumError(f"CRC {sent:04X} does not match the telegram (expected {expected:04X})")
    try:
        text = data[:end].decode("ascii")
    except UnicodeDecodeError as err:
        raise CodecError(f"P1 telegram has a non-ASCII byte at offset {err.start}") from None
    if not text.endswith("\r\n"):
        raise CodecError("the line before '!' does not end with CR LF")
    lines = text[:-2].split("\r\n")
    header = lines[0]
    if len(header) > MAX_HEADER_LEN or not all(" " <= ch <= "~" for ch in header) or len(header) < 2:
        raise CodecError(f"header line {header[:MAX_HEADER_LEN]!r} is not '/' and up to 127 printable characters")
    if len(lines) < 2 or lines[1] != "":
        raise CodecError("the header line must be followed by an empty line")
    timestamp_text: str | None = None
    values: dict[str, float] = {}
    other: dict[str, str] = {}
    for number, line in enumerate(lines[2:], 3):
        if not line:
            continue
        match = _LINE_RE.fullmatch(line)
        if match is None:
            raise CodecError(f"line {number} is not 'A-B:C.D.E(value)': {line[:80]!r}")
        a, b, c, d, e, items = match.groups()
        reference = f"{a}-{b}:{c}.{d}.{e}"
        if reference in other or (reference == TIMESTAMP_OBIS and timestamp_text is not None):
            raise CodecError(f"line {number}: {reference} appears twice")
        if reference == TIMESTAMP_OBIS:
            stamp = _ITEM_RE.fullmatch(items)
            if stamp is None:
                raise CodecError(f"line {number}: the time stamp must be one value")
            timestamp_text = stamp.group(1)
            continue
        numeric = _NUMERIC_ITEM_RE.fullmatch(items)
        code = f"{int(c)}.{int(d)}.{int(e)}"
        if int(a) == 1 and int(b) == 0 and numeric is not None and _p1_register(code):
            if code in values:
                raise CodecError(f"line {number}: register {code} appears twice")
            value, unit = numeric.groups()
            if len(value) > 32:
                raise LengthError(f"line {number}: value of {code} is {len(value)} characters (at most 32)")
            values[code] = register_value(code, value, unit)
        else:
            other[reference] = items
    if timestamp_text is None:
        raise CodecError(f"P1 telegram without a time stamp line {TIMESTAMP_OBIS}")
    return P1Telegram(header, timestamp_text, parse_p1_timestamp(timestamp_text), values, other)


def encode_p1(
    header: str,
    timestamp: datetime,
    values: Mapping[str, float],
    *,
    other: Mapping[str, str] | None = None,
) -> bytes:
    """A telegram with a correct CRC: header, empty line, time stamp, `other` lines, then `values`.

    `values` are keyed by OBIS display code in register-table units and written as `1-0:C.D.E` with
    Kamstrup's units and widths: kWh/kVArh 8.3 digits, kW/kVAr 4.3 (W and var / 1000), V and A 3.1.
    Values are rounded (half to even) to those decimals. `header` may be given with or without its
    '/'. `other` lines ("0-0:96.1.0" -> "(...)") are written as given. Raises `EncodeError`.
    """
    header = header if header.startswith("/") else "/" + header
    if not 2 <= len(header) <= MAX_HEADER_LEN or not all(" " <= ch <= "~" and ch not in "!/" for ch in header[1:]):
        raise EncodeError(f"header {header!r} is not '/' and up to 127 printable characters but '!' and '/'")
    lines = [header, "", f"{TIMESTAMP_OBIS}({p1_timestamp(timestamp)})"]
    for reference, items in (other or {}).items():
        if not re.fullmatch(r"\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}", reference) or reference == TIMESTAMP_OBIS:
            raise EncodeError(f"other line reference {reference!r} is not A-B:C.D.E (or is the time stamp)")
        a_b, _, code = reference.partition(":")
        if a_b == "1-0" and _NUMERIC_ITEM_RE.fullmatch(items) and _p1_register(code):
            raise EncodeError(f"{reference}{items} is a register of the register table: pass it in values")
        if not re.fullmatch(r"(?:\([ \"-'*-.0-~]*\))+", items):
            raise EncodeError(f"other line value {items!r} is not '(value)' groups of printable characters but /!")
        lines.append(f"{reference}{items}")
    for code, reading in values.items():
        register = REGISTERS_BY_OBIS.get(code)
        if register is None or not re.fullmatch(r"\d{1,3}\.\d{1,3}\.\d{1,3}", code):
            raise EncodeError(f"{code!r} is not a register of the register table that P1 can carry")
        try:
            unit, digits, decimals = _P1_FORMATS[register.kind]
        except KeyError:
            raise EncodeError(f"register {code} ({register.kind.name.lower()}) has no P1 form") from None
        text = format_value(reading, unit, decimals, digits, register.unit)
        if len(text) > 32:
            raise EncodeError(f"value {text} of {code} is longer than 32 characters")
        lines.append(f"1-0:{code}({text}*{unit})" if unit else f"1-0:{code}({text})")
    body = ("\r\n".join(lines) + "\r\n!").encode("ascii")
    return body + _crc_text(body) + b"\r\n"


class P1Reader(StreamBuffer):
    """Streaming telegram reader: `feed()` bytes in any chunking, get back the valid telegrams.

    Resynchronises on '/': bytes outside a telegram are skipped and counted in `discarded`; a
    telegram cut off by the next '/' is reported as `TruncatedError`, one longer than
    `max_telegram_len` as `LengthError`, and one that does not parse (CRC!) with its CodecError.
    `feed` never raises; `take_errors()` returns and clears the errors (the newest `max_errors`).
    """

    def __init__(
        self, *, require_crc: bool = True, max_telegram_len: int = MAX_TELEGRAM_LEN, max_errors: int = 64
    ) -> None:
        super().__init__(max_errors=max_errors)
        self.require_crc = require_crc
        self.max_telegram_len = max_telegram_len


    def _drop(self, count: int) -> None:
        self.discarded += count
        del self._buf[:count]

    def feed(self, data: bytes | bytearray | memoryview) -> list[P1Telegram]:
        self._buf += data
        telegrams: list[P1Telegram] = []
        while True:
            buf = self._buf
            start = buf.find(b"/")
            if start < 0:
                self._drop(len(buf))
                return telegrams
            self._drop(start)
            end = buf.find(b"!", 1)
            limit = end if end >= 0 else len(buf)
            restart = buf.rfind(b"/", 1, limit)
            if restart > 0:
                self._drop(restart)
                self._errors.append(TruncatedError("P1 telegram cut off by the start of the next one"))
                continue
            if end < 0:
                if len(buf) > self.max_telegram_len:
                    self._drop(len(buf))
                    self._errors.append(LengthError(f"P1 telegram longer than {self.max_telegram_len} bytes"))
                return telegrams
            if len(buf) < end + 3:
                return telegrams
            if buf[end + 1 : end + 3] == b"\r\n":
                stop = end + 3
            else:
                slash = buf.find(b"/", end + 1, end + 7)
                if slash > 0:  # the next telegram starts inside this one's trailer
                    stop = slash
                elif len(buf) < end + 7:
                    return telegrams
                else:
                    stop = end + 7
            frame = bytes(buf[:stop])
            del buf[:stop]
            try:
                if len(frame) > self.max_telegram_len:
                    raise LengthError(f"P1 telegram of {len(frame)} bytes (at most {self.max_telegram_len})")
                telegrams.append(parse_p1(frame, require_crc=self.require_crc))
            except CodecError as err:
                self.discarded += len(frame)
                self._errors.append(err)
