"""IEC 62056-21 (formerly IEC 61107) direct local data exchange, as on the meter's optical port. Sans-IO.

Messages (7-bit characters; the optical port runs at 7E1, see `add_even_parity` / `strip_parity`):

    request          / ? [device address] ! CR LF                       HHU -> meter, 300 Bd
    identification   / XXX Z [\\W] identification CR LF                  meter -> HHU, 300 Bd
    option select    ACK V Z Y CR LF                                     HHU -> meter, 300 Bd (mode C/E)
                     (mode E, binary: ACK 2 Z 2 CR LF; HDLC follows at the rate Z, Annex E)
    data readout     STX data-block ! CR LF ETX BCC                      meter -> HHU, at the new rate
    break            SOH B 0 ETX BCC

* XXX is the 3-letter manufacturer flag (a lower-case third letter announces a 20 ms reaction time),
  Z the baud-rate character, `\\W` an optional enhanced identification (`\\2`: binary mode, HDLC).
* The data block is lines of data sets `address(value*unit)` (a line may hold several sets; a set
  without an address continues the one before, e.g. a maximum's time stamp), each line ending CR LF.
* BCC is the XOR of every byte after STX/SOH up to and including ETX, in 7 bits.

Every `decode` takes exactly one message and raises a `CodecError` subclass from `omnipower.errors`
for anything that is not one: `ChecksumError` (BCC, parity), `LengthError` (a field or message too
long or too short), `TruncatedError` (a message cut off by the start of the next one), and
`UnknownTagError` (an unknown start byte, baud character, protocol control or mode). Malformed
syntax without a more specific class raises `CodecError` itself. Messages validate their fields on
construction and raise `EncodeError` for what they could not encode.

`Iec62056Reader` splits a byte stream (either direction, any chunking) into messages, and the two
sides of a session are state machines that exchange bytes and events but never touch a port or a
clock: `MeterSession` (modes A, B, C and E) and `ClientSession` (the HHU or gateway). Mode D is a
push: `encode_mode_d_push` / `decode_mode_d_push`.

The Kamstrup helpers at the end build the data readout of the simulated meter from register values
(`readout_from_readings`) and turn any readout back into register values (`readings_from_readout`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import Enum, IntEnum
from types import MappingProxyType
from typing import Final

from omnipower.errors import ChecksumError, CodecError, EncodeError, LengthError, TruncatedError, UnknownTagError
from omnipower.registers import REGISTERS_BY_OBIS
from omnipower.stream import StreamBuffer

__all__ = [
    "BAUD_RATES_MODE_B",
    "BAUD_RATES_MODE_C",
    "BAUD_RATES_MODE_E",
    "INITIAL_BAUD_RATE",
    "KAMSTRUP_READOUT_REGISTERS",
    "MODE_D_BAUD_CHAR",
    "MODE_D_BAUD_RATE",
    "AckMode",
    "AckOptionSelect",
    "BinaryModeRequested",
    "Break",
    "ClientSession",
    "ClientState",
    "DataReadout",
    "DataSet",
    "Event",
    "FrameRejected",
    "IdentificationMessage",
    "IdentificationReceived",
    "Iec62056Reader",
    "Message",
    "MeterSession",
    "MeterState",
    "ProtocolControl",
    "ProtocolMode",
    "ReadoutReceived",
    "ReadoutRequested",
    "RegisterSpec",
    "RequestMessage",
    "SessionFailed",
    "SessionStateError",
    "SwitchBaud",
    "Transmit",
    "add_even_parity",
    "baud_char",
    "baud_rate",
    "bcc",
    "decode_message",
    "decode_mode_d_push",
    "encode_mode_d_push",
    "format_value",
    "kamstrup_identification",
    "kamstrup_readout",
    "obis_display_code",
    "protocol_mode",
    "readings_from_readout",
    "readout_from_readings",
    "register_value",
    "strip_parity",
]

# Control characters and delimiters
SOH: Final = 0x01
STX: Final = 0x02
ETX: Final = 0x03
ACK: Final = 0x06
CR: Final = 0x0D
LF: Final = 0x0A
CRLF: Final = b"\r\n"
START_CHAR: Final = ord("/")
END_CHAR: Final = ord("!")
REQUEST_CHAR: Final = ord("?")

# Field limits (IEC 62056-21 6.3.14)
MAX_DEVICE_ADDRESS_LEN: Final = 32
MAX_IDENTIFICATION_LEN: Final = 16
MAX_DATASET_ADDRESS_LEN: Final = 16
MAX_VALUE_LEN: Final = 32
MAX_UNIT_LEN: Final = 16
MAX_READOUT_LEN: Final = 64 * 1024  # not in the standard: a bound for the reader's buffer
_MAX_COMMAND_LEN: Final = 256

# Timing (the sessions count time only through `advance`; these are the standard's bounds in s)
MIN_REACTION_TIME: Final = 0.2  # tr: the meter answers no sooner (0.02 s with a lower-case 3rd letter)
MAX_REACTION_TIME: Final = 1.5  # tr max, and the longest gap between characters (ta)

INITIAL_BAUD_RATE: Final = 300
MODE_D_BAUD_RATE: Final = 2400
MODE_D_BAUD_CHAR: Final = "3"


class ProtocolMode(Enum):
    A = "A"  # 300 Bd throughout; readout right after the identification
    B = "B"  # the meter switches to the announced rate ('A'..'F') by itself
    C = "C"  # the HHU selects rate and mode with ACK V Z Y ('0'..'6')
    D = "D"  # push at 2400 Bd (baud character '3'), no request
    E = "E"  # mode C with the enhanced identification \2: binary (HDLC) selectable


BAUD_RATES_MODE_B: Final[Mapping[str, int]] = MappingProxyType(
    {"A": 600, "B": 1200, "C": 2400, "D": 4800, "E": 9600, "F": 19200}
)
BAUD_RATES_MODE_C: Final[Mapping[str, int]] = MappingProxyType(
    {"0": 300, "1": 600, "2": 1200, "3": 2400, "4": 4800, "5": 9600, "6": 19200}
)
BAUD_RATES_MODE_E: Final[Mapping[str, int]] = BAUD_RATES_MODE_C
_RESERVED_B: Final = frozenset("GHI")
_RESERVED_C: Final = frozenset("789")


class ProtocolControl(IntEnum):
    """V of the option select message (6.3.3)."""

    NORMAL = 0
    SECONDARY = 1
    HDLC = 2  # mode E: the HDLC protocol procedure of Annex E; goes only with Y = 2 (binary)


class AckMode(IntEnum):
    """Y of the option select message."""

    DATA_READOUT = 0
    PROGRAMMING = 1
    BINARY = 2  # HDLC (IEC 62056-46), mode E


class SessionStateError(RuntimeError):
    """A session method called in a state where it makes no sense (a programming error, not bad input)."""


# ---------------------------------------------------------------------------------------------
# Character helpers, BCC, parity, baud characters


def _printable(text: str, exclude: str = "") -> bool:
    return all(" " <= ch <= "~" and ch not in exclude for ch in text)


def bcc(data: bytes | bytearray) -> int:
    """Block check character: XOR of `data` (the bytes after STX/SOH through ETX), 7 bits."""
    result = 0
    for byte in data:
        result ^= byte
    return result & 0x7F


_ODD_PARITY: Final = frozenset(b for b in range(256) if bin(b).count("1") % 2)
_EVEN_PARITY_BYTES: Final = bytes(b for b in range(256) if b not in _ODD_PARITY)
_ADD_PARITY_TABLE: Final = bytes((b | 0x80) if b in _ODD_PARITY else b for b in range(128)) + bytes(128)
_STRIP_TABLE: Final = bytes(b & 0x7F for b in range(256))


def add_even_parity(data: bytes | bytearray) -> bytes:
    """7E1 characters as 8-bit bytes: set bit 7 where needed so every byte has an even number of ones.

    For transports that carry 8N1 bytes to a line that runs at 7E1. Raises `EncodeError` for a
    byte that is not 7-bit.
    """
    for i, byte in enumerate(data):
        if byte > 0x7F:
            raise EncodeError(f"byte {byte:02X} at offset {i} is not a 7-bit character")
    return bytes(data).translate(_ADD_PARITY_TABLE)


def strip_parity(data: bytes | bytearray, check: bool = True) -> bytes:
    """The 7-bit characters of 8-bit bytes received from a 7E1 line (bit 7 = even parity).

    With `check`, a byte with odd parity raises `ChecksumError` naming its offset.
    """
    raw = bytes(data)
    if check and raw.translate(None, _EVEN_PARITY_BYTES):
        for i, byte in enumerate(raw):
            if byte in _ODD_PARITY:
                raise ChecksumError(f"parity error in byte {byte:02X} at offset {i} (7E1 expects even parity)")
    return raw.translate(_STRIP_TABLE)


def baud_rate(char: str, mode: ProtocolMode) -> int:
    """The rate a baud character announces in `mode` (300 for any character in mode A).

    Raises `UnknownTagError` for a character the mode does not define (or reserves).
    """
    if mode is ProtocolMode.A:
        if _mode_of_char(char) is not ProtocolMode.A:
            raise UnknownTagError(f"baud character {char!r} belongs to mode B or C, not mode A")
        return INITIAL_BAUD_RATE
    if mode is ProtocolMode.D:
        if char != MODE_D_BAUD_CHAR:
            raise UnknownTagError(f"mode D announces 2400 Bd with {MODE_D_BAUD_CHAR!r}, not {char!r}")
        return MODE_D_BAUD_RATE
    table = BAUD_RATES_MODE_B if mode is ProtocolMode.B else BAUD_RATES_MODE_C
    try:
        return table[char]
    except KeyError:
        raise UnknownTagError(f"baud character {char!r} is not defined for mode {mode.value}") from None


def baud_char(rate: int, mode: ProtocolMode) -> str:
    """The baud character for `rate` in mode B, C, D or E. Raises `EncodeError` if there is none."""
    if mode is ProtocolMode.D and rate == MODE_D_BAUD_RATE:
        return MODE_D_BAUD_CHAR
    table = BAUD_RATES_MODE_B if mode is ProtocolMode.B else BAUD_RATES_MODE_C
    if mode in (ProtocolMode.B, ProtocolMode.C, ProtocolMode.E):
        for char, table_rate in table.items():
            if table_rate == rate:
                return char
    raise EncodeError(f"mode {mode.value} has no baud character for {rate} Bd")


def _mode_of_char(char: str) -> ProtocolMode:
    if "0" <= char <= "9":
        return ProtocolMode.C
    if "A" <= char <= "I":
        return ProtocolMode.B
    return ProtocolMode.A


def protocol_mode(identification: IdentificationMessage) -> ProtocolMode:
    """The protocol mode an identification announces: digits = C (E with `\\2`), 'A'..'I' = B, else A.

    Mode D cannot be told from mode C by the identification alone (both use '3' for 2400 Bd).
    """
    mode = _mode_of_char(identification.baud_char)
    if mode is ProtocolMode.C and identification.enhanced_id == "2":
        return ProtocolMode.E
    return mode


# ---------------------------------------------------------------------------------------------
# Messages


def _ascii(data: bytes, what: str) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as err:
        raise CodecError(
            f"{what} has a byte with bit 7 set at offset {err.start} (strip the 7E1 parity first)"
        ) from None


_DEVICE_ADDRESS_RE: Final = re.compile(r"[0-9A-Za-z ]*")
_MANUFACTURER_RE: Final = re.compile(r"[A-Z]{2}[A-Za-z]")


@dataclass(frozen=True, slots=True)
class RequestMessage:
    """`/? [device address] ! CR LF`. The address (0-9, A-Z, a-z, space; at most 32) may be empty."""

    device_address: str = ""

    def __post_init__(self) -> None:
        if len(self.device_address) > MAX_DEVICE_ADDRESS_LEN:
            raise EncodeError(f"device address of {len(self.device_address)} characters (at most 32)")
        if not _DEVICE_ADDRESS_RE.fullmatch(self.device_address):
            raise EncodeError(f"device address {self.device_address!r} may hold only 0-9, A-Z, a-z and space")

    def encode(self) -> bytes:
        return b"/?" + self.device_address.encode("ascii") + b"!\r\n"

    @classmethod
    def decode(cls, data: bytes) -> RequestMessage:
        if data[:2] != b"/?":
            raise UnknownTagError(f"a request starts with '/?', not {data[:2]!r}")
        if not data.endswith(b"!\r\n"):
            raise CodecError(f"a request ends with '!' CR LF, not {data[-3:]!r}")
        address = _ascii(data[2:-3], "request")
        if len(address) > MAX_DEVICE_ADDRESS_LEN:
            raise LengthError(f"device address of {len(address)} characters (at most 32)")
        if not _DEVICE_ADDRESS_RE.fullmatch(address):
            raise CodecError(f"device address {address!r} may hold only 0-9, A-Z, a-z and space")
        return cls(address)


@dataclass(frozen=True, slots=True)
class IdentificationMessage:
    """`/ XXX Z [\\W] identification CR LF`.

    `manufacturer`: 3 letters, the first two upper case (a lower-case third announces tr = 20 ms).
    `baud_char`: Z, see `protocol_mode`. `enhanced_id`: W without the backslash, or None.
    `identification`: at most 16 printable characters, no '/', '!' or backslash.
    """

    manufacturer: str
    baud_char: str
    identification: str
    enhanced_id: str | None = None

    def __post_init__(self) -> None:
        if not _MANUFACTURER_RE.fullmatch(self.manufacturer):
            raise EncodeError(f"manufacturer flag {self.manufacturer!r} is not 3 letters (first two upper case)")
        if len(self.baud_char) != 1 or not _printable(self.baud_char, "/!\\"):
            raise EncodeError(f"baud character {self.baud_char!r} is not one printable character")
        if self.enhanced_id is not None and (len(self.enhanced_id) != 1 or not _printable(self.enhanced_id, "/!\\")):
            raise EncodeError(f"enhanced identification {self.enhanced_id!r} is not one printable character")
        if len(self.identification) > MAX_IDENTIFICATION_LEN:
            raise EncodeError(f"identification of {len(self.identification)} characters (at most 16)")
        if not _printable(self.identification, "/!\\"):
            raise EncodeError(f"identification {self.identification!r} may hold printable characters but / ! \\")

    @property
    def fast_reaction(self) -> bool:
        """A lower-case third manufacturer letter: the meter answers after 20 ms rather than 200 ms."""
        return self.manufacturer[2].islower()

    @property
    def protocol_mode(self) -> ProtocolMode:
        return protocol_mode(self)

    def encode(self) -> bytes:
        enhanced = "" if self.enhanced_id is None else "\\" + self.enhanced_id
        return f"/{self.manufacturer}{self.baud_char}{enhanced}{self.identification}\r\n".encode("ascii")

    @classmethod
    def decode(cls, data: bytes) -> IdentificationMessage:
        if data[:1] != b"/" or data[1:2] == b"?":
            raise UnknownTagError(f"an identification starts with '/' and a letter, not {data[:2]!r}")
        if not data.endswith(b"\r\n"):
            raise CodecError(f"an identification ends with CR LF, not {data[-2:]!r}")
        text = _ascii(data[1:-2], "identification")
        if len(text) < 4:
            raise LengthError(f"identification message {data!r} is too short for flag and baud character")
        manufacturer, char, rest = text[:3], text[3], text[4:]
        if not _MANUFACTURER_RE.fullmatch(manufacturer):
            raise CodecError(f"manufacturer flag {manufacturer!r} is not 3 letters (first two upper case)")
        if not _printable(char, "/!\\"):
            raise CodecError(f"baud character {char!r} is not printable")
        enhanced: str | None = None
        if rest.startswith("\\"):
            if len(rest) < 2:
                raise TruncatedError("the enhanced identification '\\' has no character W")
            enhanced, rest = rest[1], rest[2:]
            if not _printable(enhanced, "/!\\"):
                raise CodecError(f"enhanced identification {enhanced!r} is not printable")
        if len(rest) > MAX_IDENTIFICATION_LEN:
            raise LengthError(f"identification of {len(rest)} characters (at most 16)")
        if not _printable(rest, "/!\\"):
            raise CodecError(f"identification {rest!r} may hold printable characters but / ! \\")
        return cls(manufacturer, char, rest, enhanced)


@dataclass(frozen=True, slots=True)
class AckOptionSelect:
    """`ACK V Z Y CR LF`: protocol control V, baud character Z (mode C, '0'..'6'), mode Y.

    Mode E's switch to HDLC is `ACK 2 Z 2` (V = 2, the HDLC procedure, with Y = 2, binary); V = 2 with any
    other Y is meaningless and is refused (`EncodeError` here, `UnknownTagError` from `decode`).
    """

    baud_char: str
    mode: AckMode = AckMode.DATA_READOUT
    protocol_control: ProtocolControl = ProtocolControl.NORMAL

    def __post_init__(self) -> None:
        if self.baud_char not in BAUD_RATES_MODE_C:
            raise EncodeError(f"option select baud character {self.baud_char!r} is not '0'..'6'")
        if not isinstance(self.mode, AckMode):
            raise EncodeError(f"option select mode {self.mode!r} is not an AckMode")
        if not isinstance(self.protocol_control, ProtocolControl):
            raise EncodeError(f"protocol control {self.protocol_control!r} is not a ProtocolControl")
        if self.protocol_control is ProtocolControl.HDLC and self.mode is not AckMode.BINARY:
            raise EncodeError(f"protocol control 2 (HDLC) goes with mode 2 (binary), not {self.mode.value}")

    @property
    def baud_rate(self) -> int:
        return BAUD_RATES_MODE_C[self.baud_char]

    def encode(self) -> bytes:
        return bytes([ACK]) + f"{self.protocol_control.value}{self.baud_char}{self.mode.value}\r\n".encode("ascii")

    @classmethod
    def decode(cls, data: bytes) -> AckOptionSelect:
        if data[:1] != bytes([ACK]):
            raise UnknownTagError(f"an option select starts with ACK, not {data[:1]!r}")
        if len(data) != 6:
            raise LengthError(f"an option select is 6 bytes (ACK V Z Y CR LF), not {len(data)}")
        if data[4:] != CRLF:
            raise CodecError(f"an option select ends with CR LF, not {data[4:]!r}")
        v, z, y = (chr(b) for b in data[1:4])
        if v not in "012":
            raise UnknownTagError(f"protocol control {v!r} (0 normal, 1 secondary, 2 HDLC; others reserved)")
        if z not in BAUD_RATES_MODE_C:
            raise UnknownTagError(f"option select baud character {z!r} is not '0'..'6'")
        if y not in "012":
            raise UnknownTagError(f"option select mode {y!r} (0 readout, 1 programming, 2 binary; others unknown)")
        if v == "2" and y != "2":
            raise UnknownTagError(f"protocol control '2' (HDLC) goes with mode '2' (binary), not {y!r}")
        return cls(z, AckMode(int(y)), ProtocolControl(int(v)))


_ADDRESS_CLASS: Final = r"[ \"-'*-.0-~]"  # printable but ( ) / !
_VALUE_CLASS: Final = r"[ \"-'+-.0-~]"  # printable but ( ) * / !
_DATASET_RE: Final = re.compile(rf"({_ADDRESS_CLASS}*)\(({_VALUE_CLASS}*)(?:\*({_VALUE_CLASS}*))?\)")
_ADDRESS_RE: Final = re.compile(f"{_ADDRESS_CLASS}*")
_VALUE_RE: Final = re.compile(f"{_VALUE_CLASS}*")


@dataclass(frozen=True, slots=True)
class DataSet:
    """`address(value*unit)`, or `address(value)` when `unit` is None.

    address: at most 16 printable characters but ( ) / ! (empty: a value that continues the set
    before it on the same line); value: at most 32 printable characters but ( ) * / !; unit: at
    most 16, same characters as the value ('' is sent as a bare '*').
    """

    address: str
    value: str
    unit: str | None = None

    def __post_init__(self) -> None:
        if len(self.address) > MAX_DATASET_ADDRESS_LEN:
            raise EncodeError(f"data set address {self.address!r} is longer than 16 characters")
        if not _ADDRESS_RE.fullmatch(self.address):
            raise EncodeError(f"data set address {self.address!r} may hold printable characters but ( ) / !")
        if len(self.value) > MAX_VALUE_LEN:
            raise EncodeError(f"value {self.value!r} of {self.address} is longer than 32 characters")
        if not _VALUE_RE.fullmatch(self.value):
            raise EncodeError(f"value {self.value!r} of {self.address} may hold printable characters but ( ) * / !")
        if self.unit is not None:
            if len(self.unit) > MAX_UNIT_LEN:
                raise EncodeError(f"unit {self.unit!r} of {self.address} is longer than 16 characters")
            if not _VALUE_RE.fullmatch(self.unit):
                raise EncodeError(f"unit {self.unit!r} of {self.address} may hold printable characters but ( ) * / !")

    def encode(self) -> bytes:
        unit = "" if self.unit is None else "*" + self.unit
        return f"{self.address}({self.value}{unit})".encode("ascii")


def _decode_line(line: str, number: int) -> tuple[DataSet, ...]:
    if not line:
        raise CodecError(f"data line {number} is empty")
    sets: list[DataSet] = []
    pos = 0
    while pos < len(line):
        match = _DATASET_RE.match(line, pos)
        if match is None:
            raise CodecError(f"data line {number}: no data set 'address(value*unit)' at column {pos}: {line!r}")
        address, value, unit = match.groups()
        if len(address) > MAX_DATASET_ADDRESS_LEN:
            raise LengthError(f"data line {number}: address {address!r} is longer than 16 characters")
        if len(value) > MAX_VALUE_LEN:
            raise LengthError(f"data line {number}: value of {address} is {len(value)} characters (at most 32)")
        if unit is not None and len(unit) > MAX_UNIT_LEN:
            raise LengthError(f"data line {number}: unit of {address} is {len(unit)} characters (at most 16)")
        sets.append(DataSet(address, value, unit))
        pos = match.end()
    return tuple(sets)


@dataclass(frozen=True, slots=True)
class DataReadout:
    """`STX data-block ! CR LF ETX BCC`. `lines` keeps the line structure; see `from_datasets`."""

    lines: tuple[tuple[DataSet, ...], ...]

    def __post_init__(self) -> None:
        for number, line in enumerate(self.lines, 1):
            if not line:
                raise EncodeError(f"data line {number} has no data set")
            for item in line:
                if not isinstance(item, DataSet):
                    raise EncodeError(f"data line {number} holds {item!r}, not a DataSet")

    @classmethod
    def from_datasets(cls, datasets: Iterable[DataSet]) -> DataReadout:
        """One data set per line, as Kamstrup and most meters send them."""
        return cls(tuple((item,) for item in datasets))

    @property
    def datasets(self) -> tuple[DataSet, ...]:
        return tuple(item for line in self.lines for item in line)

    def encode(self) -> bytes:
        block = b"".join(b"".join(item.encode() for item in line) + CRLF for line in self.lines)
        body = block + b"!\r\n" + bytes([ETX])
        return bytes([STX]) + body + bytes([bcc(body)])

    @classmethod
    def decode(cls, data: bytes) -> DataReadout:
        if data[:1] != bytes([STX]):
            raise UnknownTagError(f"a data readout starts with STX, not {data[:1]!r}")
        if len(data) < 3 or data[-2] != ETX:
            raise TruncatedError("a data readout ends with ETX and the BCC")
        body = data[1:-1]
        expected = bcc(body)
        if data[-1] != expected:
            raise ChecksumError(f"BCC {data[-1]:02X} does not match the readout (expected {expected:02X})")
        if bytes([ETX]) in body[:-1]:
            raise CodecError("ETX inside the data block")
        if not body.endswith(b"!\r\n" + bytes([ETX])):
            raise CodecError("the data block must end with '!' CR LF before ETX")
        block = _ascii(body[:-4], "data readout")
        if block and not block.endswith("\r\n"):
            raise CodecError("the last data line does not end with CR LF")
        lines = block.split("\r\n")[:-1] if block else []
        return cls(tuple(_decode_line(line, number) for number, line in enumerate(lines, 1)))


@dataclass(frozen=True, slots=True)
class Break:
    """`SOH B 0 ETX BCC`: end the session (the meter returns to its initial state at 300 Bd)."""

    def encode(self) -> bytes:
        body = b"B0" + bytes([ETX])
        return bytes([SOH]) + body + bytes([bcc(body)])

    @classmethod
    def decode(cls, data: bytes) -> Break:
        if data[:1] != bytes([SOH]):
            raise UnknownTagError(f"a command message starts with SOH, not {data[:1]!r}")
        if len(data) < 3 or data[-2] != ETX:
            raise TruncatedError("a command message ends with ETX and the BCC")
        body = data[1:-1]
        expected = bcc(body)
        if data[-1] != expected:
            raise ChecksumError(f"BCC {data[-1]:02X} does not match the command (expected {expected:02X})")
        if body != b"B0" + bytes([ETX]):
            raise UnknownTagError(f"command {body[:2]!r}: only the break B0 (without data) is supported")
        return cls()


Message = RequestMessage | IdentificationMessage | AckOptionSelect | DataReadout | Break


def decode_message(data: bytes) -> Message:
    """Decode exactly one message of any kind, chosen by its first bytes."""
    if not data:
        raise TruncatedError("empty message")
    first = data[0]
    if first == START_CHAR:
        return RequestMessage.decode(data) if data[1:2] == b"?" else IdentificationMessage.decode(data)
    if first == ACK:
        return AckOptionSelect.decode(data)
    if first == STX:
        return DataReadout.decode(data)
    if first == SOH:
        return Break.decode(data)
    raise UnknownTagError(f"no IEC 62056-21 message starts with byte {first:02X}")


# ---------------------------------------------------------------------------------------------
# Stream reader

_START_BYTES: Final = frozenset((START_CHAR, ACK, STX, SOH))
_START_RE: Final = re.compile(rb"[/\x06\x02\x01]")
_START_NO_STX_RE: Final = re.compile(rb"[/\x06\x01]")
_REQUEST_MAX: Final = 2 + MAX_DEVICE_ADDRESS_LEN + 3
_IDENTIFICATION_MAX: Final = 1 + 3 + 1 + 2 + MAX_IDENTIFICATION_LEN + 2


class Iec62056Reader(StreamBuffer):
    """Streaming message reader for either direction: `feed()` bytes in any chunking, get messages.

    The bytes must be 7-bit characters (`strip_parity` first if the transport carries the parity
    bit). Like `omnipower.hdlc.HdlcReader`, `feed` never raises on bad input: a bad message is
    dropped and its `CodecError` collected; `take_errors()` returns and clears them. Bytes outside
    any message (noise) are dropped up to the next start byte (/ ACK STX SOH) and reported once
    per run as `UnknownTagError`. A message interrupted by the start byte of another (which can
    never occur inside one) is reported as `TruncatedError` and the reader resumes at that byte;
    a message that outgrows its limit is reported as `LengthError`. `discarded` counts the bytes
    that belonged to no returned message.
    """

    def __init__(self, *, max_readout_len: int = MAX_READOUT_LEN, max_errors: int = 64) -> None:
        super().__init__(max_errors=max_errors)
        self._scanned = 0  # bytes of the current candidate already searched for its end
        self._max_readout = max_readout_len


    def clear(self) -> None:
        """Forget buffered bytes (e.g. after a baud-rate switch)."""
        self.discarded += len(self._buf)
        self._buf.clear()
        self._scanned = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        self._buf += data
        messages: list[Message] = []
        while self._buf:
            try:
                end = self._candidate_end()
            except CodecError as err:
                self._errors.append(err)
                continue
            if end is None:
                break
            frame = bytes(self._buf[:end])
            del self._buf[:end]
            self._scanned = 0
            try:
                messages.append(decode_message(frame))
            except CodecError as err:
                self.discarded += len(frame)
                self._errors.append(err)
        return messages

    def _drop(self, count: int) -> None:
        self.discarded += count
        del self._buf[:count]
        self._scanned = 0

    def _resync(self) -> None:
        """Drop the first byte and everything up to the next start byte."""
        match = _START_RE.search(self._buf, 1)
        self._drop(match.start() if match else len(self._buf))

    def _candidate_end(self) -> int | None:
        """The end of the message at buf[0], None if it needs more bytes; raises (after dropping) if bad."""
        buf = self._buf
        first = buf[0]
        if first not in _START_BYTES:
            match = _START_RE.search(buf, 1)
            count = match.start() if match else len(buf)
            noise = bytes(buf[:count])
            self._drop(count)
            hint = " (bit 7 set: strip the 7E1 parity first)" if any(b > 0x7F for b in noise) else ""
            raise UnknownTagError(f"{count} byte(s) outside any message: {noise[:16].hex()}{hint}")
        if first == START_CHAR:
            if len(buf) < 2:
                return None
            limit = _REQUEST_MAX if buf[1] == REQUEST_CHAR else _IDENTIFICATION_MAX
            return self._scan(b"\n", limit, _START_RE, 0, "request" if buf[1] == REQUEST_CHAR else "identification")
        if first == ACK:
            return self._scan(b"\n", 6, _START_RE, 0, "option select")
        if first == STX:
            return self._scan(bytes([ETX]), self._max_readout, _START_RE, 1, "data readout")
        return self._scan(bytes([ETX]), _MAX_COMMAND_LEN, _START_NO_STX_RE, 1, "command")

    def _scan(self, terminator: bytes, limit: int, interrupt: re.Pattern[bytes], extra: int, what: str) -> int | None:
        buf = self._buf
        start = max(1, self._scanned)
        stop = min(len(buf), limit)
        end = buf.find(terminator, start, stop)
        match = interrupt.search(buf, start, end if end >= 0 else stop)
        if match is not None:
            self._drop(match.start())
            raise TruncatedError(f"{what} cut off after {match.start()} bytes by the start of another message")
        if end >= 0:
            if len(buf) < end + 1 + extra:
                self._scanned = end
                return None
            return end + 1 + extra
        self._scanned = stop
        if len(buf) >= limit:
            self._resync()
            raise LengthError(f"{what} longer than {limit} bytes without its end")
        return None


# ---------------------------------------------------------------------------------------------
# Session events


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send these bytes (7-bit characters) at the current rate, after the reaction time tr."""

    data: bytes


@dataclass(frozen=True, slots=True)
class SwitchBaud:
    """Switch the line to `rate` Bd once everything transmitted before has left the port."""

    rate: int


@dataclass(frozen=True, slots=True)
class ReadoutRequested:
    """(Meter) Time to send the data readout: call `MeterSession.send_readout` with fresh values."""

    rate: int


@dataclass(frozen=True, slots=True)
class BinaryModeRequested:
    """(Meter) The HHU selected binary mode (mode E): hand the line, at `rate` Bd, to HDLC.

    `early`: bytes that followed the option select in the same chunk (a client that did not wait the
    reaction time, e.g. over TCP): they are the HDLC session's first bytes. Call `MeterSession.reset()`
    when the HDLC session is over (DISC, or the line quiet for the inactivity time).
    """

    rate: int
    early: bytes = b""


@dataclass(frozen=True, slots=True)
class IdentificationReceived:
    """(Client) The meter identified itself."""

    identification: IdentificationMessage


@dataclass(frozen=True, slots=True)
class ReadoutReceived:
    """(Client) The data readout arrived with a valid BCC; the session is done."""

    identification: IdentificationMessage
    readout: DataReadout


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """Bytes that formed no valid message (noise or a corrupt message); `error` says why."""

    error: CodecError


@dataclass(frozen=True, slots=True)
class SessionFailed:
    """The exchange was abandoned; the side is back in its initial state (see the SwitchBaud that follows)."""

    reason: str
    error: CodecError | None = None


Event = (
    Transmit
    | SwitchBaud
    | ReadoutRequested
    | BinaryModeRequested
    | IdentificationReceived
    | ReadoutReceived
    | FrameRejected
    | SessionFailed
)


def _check_timeout(value: float, what: str) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
    return float(value)


class MeterState(Enum):
    IDLE = "idle"  # 300 Bd, waiting for a request
    AWAIT_OPTION_SELECT = "await_option_select"  # identification sent (mode C/E)
    READOUT_DUE = "readout_due"  # waiting for send_readout()
    BINARY = "binary"  # the line belongs to HDLC until reset()


# The meter's answer to an option select, by (V, Y): the state it moves to, or why it refuses (the session ends).
# The rate (at most the announced one) and, for binary mode, the `\2` in the identification are checked after.
_OPTION_SELECT_ANSWERS: Final[Mapping[tuple[ProtocolControl, AckMode], MeterState | str]] = MappingProxyType({
    (ProtocolControl.NORMAL, AckMode.DATA_READOUT): MeterState.READOUT_DUE,
    (ProtocolControl.NORMAL, AckMode.PROGRAMMING): "programming mode is not supported",
    # Annex E selects HDLC with V = 2; V = 0 with Y = 2 stays accepted, as before V = 2 was known (Y alone says binary)
    (ProtocolControl.NORMAL, AckMode.BINARY): MeterState.BINARY,
    (ProtocolControl.SECONDARY, AckMode.DATA_READOUT): "secondary protocol (V = 1) is not supported",
    (ProtocolControl.SECONDARY, AckMode.PROGRAMMING): "secondary protocol (V = 1) is not supported",
    (ProtocolControl.SECONDARY, AckMode.BINARY): "secondary protocol (V = 1) is not supported",
    (ProtocolControl.HDLC, AckMode.BINARY): MeterState.BINARY,  # mode E: ACK 2 Z 2
})


class MeterSession:
    """The meter (tariff device) side: request -> identification -> [option select] -> readout.

    * Mode C/E: after the identification the meter waits for `ACK V Z Y`, answered as
      `_OPTION_SELECT_ANSWERS` says. `ACK 0 Z 0` switches to the selected rate (at most the announced
      one) and asks for the readout; `ACK 2 Z 2` (mode E; also `ACK 0 Z 2`; only if the identification
      carries `\\2`) switches to the rate and hands the line to HDLC (`BinaryModeRequested`, which
      carries any bytes that came after the option select). If no option select arrives within
      `ack_timeout` seconds (time passes only through `advance`/`timeout`), the readout is sent at
      300 Bd, so an HHU that only speaks mode A can still read a mode C meter; with
      `readout_on_timeout=False` the meter returns to idle instead. An invalid or unsupported option
      select (programming mode, a rate above the announced one, secondary protocol) ends the session
      with `SessionFailed`.
    * Mode B: the identification is followed by a switch to the announced rate and the readout.
    * Mode A: the readout follows the identification at 300 Bd.

    A request with a device address is answered only if it equals `device_address` (leading zeros
    ignored); an empty one is always answered. A break returns to idle. Other messages a meter does
    not expect in its state are ignored, as the standard's devices do.
    """

    def __init__(
        self,
        identification: IdentificationMessage,
        *,
        mode: ProtocolMode = ProtocolMode.C,
        device_address: str = "",
        ack_timeout: float = MAX_REACTION_TIME,
        readout_on_timeout: bool = True,
    ) -> None:
        if mode is ProtocolMode.E:
            mode = ProtocolMode.C
        if mode is ProtocolMode.D:
            raise ValueError("mode D is a push without a session: use encode_mode_d_push")
        announced = _mode_of_char(identification.baud_char)
        if announced is not mode:
            raise ValueError(
                f"identification baud character {identification.baud_char!r} announces mode {announced.value}, "
                f"not {mode.value}"
            )
        self._max_rate = baud_rate(identification.baud_char, mode)
        RequestMessage(device_address)  # validates
        self.identification = identification
        self.mode = mode
        self.device_address = device_address
        self.ack_timeout = _check_timeout(ack_timeout, "ack_timeout")
        self.readout_on_timeout = readout_on_timeout
        self._reader = Iec62056Reader()
        self._state = MeterState.IDLE
        self._rate = INITIAL_BAUD_RATE
        self._elapsed = 0.0

    @property
    def state(self) -> MeterState:
        return self._state

    @property
    def baud_rate(self) -> int:
        """The rate the line should run at now."""
        return self._rate

    def _switch(self, rate: int) -> list[Event]:
        if rate == self._rate:
            return []
        self._rate = rate
        return [SwitchBaud(rate)]

    def _to_idle(self) -> list[Event]:
        self._state = MeterState.IDLE
        self._elapsed = 0.0
        self._reader.clear()
        return self._switch(INITIAL_BAUD_RATE)

    def _addressed(self, request: RequestMessage) -> bool:
        if not request.device_address:
            return True
        return request.device_address.lstrip("0") == self.device_address.lstrip("0")

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Bytes from the HHU (7-bit). Returns what to do, in order."""
        if self._state is MeterState.BINARY:
            raise SessionStateError("the line is in binary (HDLC) mode: call reset() when that session ends")
        if data:
            self._elapsed = 0.0
        rest = bytes(data)
        events: list[Event] = []
        while True:
            cut = rest.find(b"\n") + 1 or len(rest)  # line by line: what follows an option select may be HDLC's
            events.extend(self._receive(rest[:cut]))
            rest = rest[cut:]
            if self.state is MeterState.BINARY:  # self.state: mypy still holds _state narrowed by the raise above
                return [replace(e, early=rest) if isinstance(e, BinaryModeRequested) else e for e in events]
            if not rest:
                return events

    def _receive(self, data: bytes) -> list[Event]:
        messages = self._reader.feed(data)
        errors = self._reader.take_errors()
        events: list[Event] = [FrameRejected(err) for err in errors]
        for message in messages:
            events.extend(self._handle(message))
            if self.state is MeterState.BINARY:  # the rest of the bytes belong to HDLC
                return events
        if errors and self._state is MeterState.AWAIT_OPTION_SELECT:
            events.append(SessionFailed("invalid option select message", errors[0]))
            events.extend(self._to_idle())
        return events

    def _handle(self, message: Message) -> list[Event]:
        if isinstance(message, Break):
            return [] if self._state is MeterState.IDLE else self._to_idle()
        if isinstance(message, RequestMessage) and self._state in (MeterState.IDLE, MeterState.AWAIT_OPTION_SELECT):
            if not self._addressed(message):
                return []
            events: list[Event] = [Transmit(self.identification.encode())]
            self._elapsed = 0.0
            if self.mode is ProtocolMode.C:
                self._state = MeterState.AWAIT_OPTION_SELECT
            else:  # A and B: the readout follows at once (B at the announced rate)
                events.extend(self._switch(self._max_rate))
                self._state = MeterState.READOUT_DUE
                events.append(ReadoutRequested(self._rate))
            return events
        if isinstance(message, AckOptionSelect) and self._state is MeterState.AWAIT_OPTION_SELECT:
            return self._option_select(message)
        return []

    def _option_select(self, ack: AckOptionSelect) -> list[Event]:
        answer = _OPTION_SELECT_ANSWERS[ack.protocol_control, ack.mode]
        if isinstance(answer, str):
            reason: str | None = answer
        elif ack.baud_rate > self._max_rate:
            reason = f"option select asks for {ack.baud_rate} Bd, above the announced {self._max_rate} Bd"
        elif answer is MeterState.BINARY and self.identification.enhanced_id != "2":
            reason = "binary mode was not offered (no \\2 in the identification)"
        else:
            reason = None
        if reason is not None:
            return [SessionFailed(reason), *self._to_idle()]
        events = self._switch(ack.baud_rate)
        if answer is MeterState.BINARY:
            self._state = MeterState.BINARY
            self._reader.clear()
            return [*events, BinaryModeRequested(self._rate)]
        self._state = MeterState.READOUT_DUE
        return [*events, ReadoutRequested(self._rate)]

    def send_readout(self, readout: DataReadout | Iterable[DataSet]) -> list[Event]:
        """Answer a `ReadoutRequested`: transmit the readout, then return to idle at 300 Bd."""
        if self._state is not MeterState.READOUT_DUE:
            raise SessionStateError(f"no readout is due (state {self._state.value})")
        if not isinstance(readout, DataReadout):
            readout = DataReadout.from_datasets(readout)
        return [Transmit(readout.encode()), *self._to_idle()]

    def advance(self, elapsed: float) -> list[Event]:
        """Let `elapsed` seconds of silence pass (count from the end of the last transmission)."""
        if not (math.isfinite(elapsed) and elapsed >= 0):
            raise ValueError(f"elapsed time must be a finite number >= 0, not {elapsed!r}")
        if self._state is not MeterState.AWAIT_OPTION_SELECT:
            return []
        self._elapsed += elapsed
        return self.timeout() if self._elapsed >= self.ack_timeout else []

    def timeout(self) -> list[Event]:
        """The option select did not come in time (no effect in other states)."""
        if self._state is not MeterState.AWAIT_OPTION_SELECT:
            return []
        self._elapsed = 0.0
        if not self.readout_on_timeout:
            return [SessionFailed("no option select message"), *self._to_idle()]
        self._reader.clear()
        self._state = MeterState.READOUT_DUE
        return [ReadoutRequested(self._rate)]

    def reset(self) -> list[Event]:
        """Back to idle at 300 Bd (after a binary-mode session, or to abandon anything)."""
        return self._to_idle()


class ClientState(Enum):
    IDLE = "idle"
    AWAIT_IDENTIFICATION = "await_identification"
    AWAIT_READOUT = "await_readout"
    DONE = "done"
    FAILED = "failed"


class ClientSession:
    """The HHU / gateway side of a data readout: request -> identification -> ACK -> readout.

    The rate follows the identification: mode C/E = the lower of the announced rate and `max_baud`
    (selected with `ACK 0 Z 0`), mode B = the announced rate, mode A = 300 Bd. With
    `option_select=False` the client behaves like a mode A HHU (no ACK; waits for the readout at
    300 Bd). Silence longer than `response_timeout` (counted through `advance`) while waiting, a
    corrupt message (e.g. a BCC error) or an identification the client cannot follow ends the
    session with `SessionFailed`. Echoes of the client's own request and option select are ignored.
    """

    def __init__(
        self,
        *,
        device_address: str = "",
        max_baud: int = 19200,
        option_select: bool = True,
        response_timeout: float = 2 * MAX_REACTION_TIME,
    ) -> None:
        if max_baud not in BAUD_RATES_MODE_C.values():
            raise ValueError(f"max_baud {max_baud} is not a mode C rate ({sorted(BAUD_RATES_MODE_C.values())})")
        self.request = RequestMessage(device_address)
        self.max_baud = max_baud
        self.option_select = option_select
        self.response_timeout = _check_timeout(response_timeout, "response_timeout")
        self._reader = Iec62056Reader()
        self._state = ClientState.IDLE
        self._rate = INITIAL_BAUD_RATE
        self._elapsed = 0.0
        self.identification: IdentificationMessage | None = None
        self.readout: DataReadout | None = None

    @property
    def state(self) -> ClientState:
        return self._state

    @property
    def baud_rate(self) -> int:
        return self._rate

    def _switch(self, rate: int) -> list[Event]:
        if rate == self._rate:
            return []
        self._rate = rate
        return [SwitchBaud(rate)]

    def _fail(self, reason: str, error: CodecError | None = None) -> list[Event]:
        self._state = ClientState.FAILED
        self._reader.clear()
        return [SessionFailed(reason, error), *self._switch(INITIAL_BAUD_RATE)]

    def start(self) -> list[Event]:
        """Begin a session (also after DONE or FAILED): transmit the request at 300 Bd."""
        if self._state in (ClientState.AWAIT_IDENTIFICATION, ClientState.AWAIT_READOUT):
            raise SessionStateError(f"a session is already running (state {self._state.value})")
        self._reader = Iec62056Reader()
        self.identification = None
        self.readout = None
        self._elapsed = 0.0
        self._state = ClientState.AWAIT_IDENTIFICATION
        return [*self._switch(INITIAL_BAUD_RATE), Transmit(self.request.encode())]

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Bytes from the meter (7-bit). Returns what to do, in order."""
        if self._state not in (ClientState.AWAIT_IDENTIFICATION, ClientState.AWAIT_READOUT):
            return []  # not in a session: nothing is expected
        if data:
            self._elapsed = 0.0
        events: list[Event] = []
        messages = self._reader.feed(data)
        errors = self._reader.take_errors()
        if errors:
            events.extend(FrameRejected(err) for err in errors)
            events.extend(self._fail(f"corrupt message from the meter: {errors[0]}", errors[0]))
            return events
        for message in messages:
            events.extend(self._handle(message))
            if self._state not in (ClientState.AWAIT_IDENTIFICATION, ClientState.AWAIT_READOUT):
                break
        return events

    def _handle(self, message: Message) -> list[Event]:
        if isinstance(message, IdentificationMessage) and self._state is ClientState.AWAIT_IDENTIFICATION:
            return self._identified(message)
        if isinstance(message, DataReadout) and self._state is ClientState.AWAIT_READOUT:
            assert self.identification is not None
            self.readout = message
            self._state = ClientState.DONE
            return [ReadoutReceived(self.identification, message), *self._switch(INITIAL_BAUD_RATE)]
        return []  # echoes of our own messages, or nothing this state expects

    def _identified(self, ident: IdentificationMessage) -> list[Event]:
        self.identification = ident
        events: list[Event] = [IdentificationReceived(ident)]
        mode = protocol_mode(ident)
        try:
            rate = baud_rate(ident.baud_char, mode)
        except UnknownTagError as err:
            return [*events, *self._fail(str(err), err)]
        self._state = ClientState.AWAIT_READOUT
        self._elapsed = 0.0
        if mode is ProtocolMode.B:
            if rate > self.max_baud:
                return [*events, *self._fail(f"mode B meter switches to {rate} Bd, above max_baud {self.max_baud}")]
            return [*events, *self._switch(rate)]
        if mode in (ProtocolMode.C, ProtocolMode.E) and self.option_select:
            rate = min(rate, self.max_baud)
            ack = AckOptionSelect(baud_char(rate, ProtocolMode.C), AckMode.DATA_READOUT)
            return [*events, Transmit(ack.encode()), *self._switch(rate)]
        return events  # mode A, or a mode A HHU: the readout follows at 300 Bd

    def advance(self, elapsed: float) -> list[Event]:
        """Let `elapsed` seconds of silence pass; fails the session after `response_timeout`."""
        if not (math.isfinite(elapsed) and elapsed >= 0):
            raise ValueError(f"elapsed time must be a finite number >= 0, not {elapsed!r}")
        if self._state not in (ClientState.AWAIT_IDENTIFICATION, ClientState.AWAIT_READOUT):
            return []
        self._elapsed += elapsed
        return self.timeout() if self._elapsed >= self.response_timeout else []

    def timeout(self) -> list[Event]:
        """The meter stayed silent too long (no effect outside a session)."""
        if self._state is ClientState.AWAIT_IDENTIFICATION:
            return self._fail("no identification from the meter")
        if self._state is ClientState.AWAIT_READOUT:
            return self._fail("no data readout from the meter")
        return []


# ---------------------------------------------------------------------------------------------
# Mode D


def encode_mode_d_push(identification: IdentificationMessage, datasets: DataReadout | Iterable[DataSet]) -> bytes:
    """Mode D: identification and data readout sent unrequested at 2400 Bd (baud character '3')."""
    if identification.baud_char != MODE_D_BAUD_CHAR:
        raise EncodeError(f"a mode D identification announces 2400 Bd with '3', not {identification.baud_char!r}")
    readout = datasets if isinstance(datasets, DataReadout) else DataReadout.from_datasets(datasets)
    return identification.encode() + readout.encode()


def decode_mode_d_push(data: bytes) -> tuple[IdentificationMessage, DataReadout]:
    """Decode exactly one mode D push (identification + data readout)."""
    end = data.find(b"\n") + 1
    if end == 0:
        raise TruncatedError("a mode D push starts with an identification ending CR LF")
    ident = IdentificationMessage.decode(data[:end])
    if ident.baud_char != MODE_D_BAUD_CHAR:
        raise UnknownTagError(f"a mode D identification announces 2400 Bd with '3', not {ident.baud_char!r}")
    return ident, DataReadout.decode(data[end:])


# ---------------------------------------------------------------------------------------------
# Register values <-> data sets (Kamstrup)

# Wire unit (lower case) -> (register-table unit, register units per wire unit)
_UNITS: Final[Mapping[str, tuple[str, Decimal]]] = MappingProxyType(
    {
        "wh": ("kWh", Decimal("0.001")),
        "kwh": ("kWh", Decimal(1)),
        "varh": ("kvarh", Decimal("0.001")),
        "kvarh": ("kvarh", Decimal(1)),
        "vah": ("kVAh", Decimal("0.001")),
        "kvah": ("kVAh", Decimal(1)),
        "w": ("W", Decimal(1)),
        "kw": ("W", Decimal(1000)),
        "var": ("var", Decimal(1)),
        "kvar": ("var", Decimal(1000)),
        "va": ("VA", Decimal(1)),
        "kva": ("VA", Decimal(1000)),
        "v": ("V", Decimal(1)),
        "a": ("A", Decimal(1)),
        "hz": ("Hz", Decimal(1)),
        "h": ("h", Decimal(1)),
    }
)
# Integer digits of the fixed-width values, by wire unit (as in the reference readout)
_INTEGER_DIGITS: Final[Mapping[str | None, int]] = MappingProxyType(
    {"kWh": 7, "kvarh": 7, "kVAh": 7, "kW": 2, "kvar": 2, "kVA": 2, "W": 5, "var": 5, "VA": 5, "V": 3, "A": 3,
     "Hz": 2, "h": 6, None: 1}
)
_NUMBER_RE: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def _unit_info(unit: str) -> tuple[str, Decimal]:
    try:
        return _UNITS[unit.lower()]
    except KeyError:
        raise UnknownTagError(f"unit {unit!r} is not one the register table can hold") from None


def register_value(obis: str, value: str, unit: str | None) -> float:
    """A value as sent (`value`, `unit`) in the unit of the register table: kWh, kvarh, W, var, V, A, Hz.

    kW and kvar (any case, e.g. Kamstrup's kVAr) are multiplied by 1000, Wh/varh divided. A value
    without a unit is taken as already in the register's unit. Raises `CodecError` for a value that is
    not a decimal number, `UnknownTagError` for an unknown unit, and `CodecError` if the unit does not
    fit the register `obis` (display code, e.g. "1.8.0") of the register table.
    """
    if not _NUMBER_RE.fullmatch(value):
        raise CodecError(f"{obis}: value {value!r} is not a decimal number")
    number = Decimal(value)
    register = REGISTERS_BY_OBIS.get(obis)
    if unit is None:
        return float(number) + 0.0
    canonical, factor = _unit_info(unit)
    if register is not None and register.unit != canonical:
        raise CodecError(f"{obis}: unit {unit!r} does not fit the register's unit {register.unit!r}")
    return float(number * factor) + 0.0


def format_value(
    reading: float, unit: str | None, decimals: int, integer_digits: int, register_unit: str | None
) -> str:
    """`reading` (in `register_unit`) as a fixed-width string in the wire `unit`, e.g. 1453 W -> '01.453' kW.

    Rounds half to even to `decimals`; pads the integer part with zeros to `integer_digits`.
    Raises `EncodeError` for a value that is not finite or a unit that does not fit.
    """
    if isinstance(reading, bool) or not isinstance(reading, int | float) or not math.isfinite(reading):
        raise EncodeError(f"reading {reading!r} is not a finite number")
    if not 0 <= decimals <= 9:
        raise EncodeError(f"decimals {decimals!r} not in 0..9")
    number = Decimal(repr(float(reading)))
    if unit is not None:
        canonical, factor = _unit_info_encode(unit)
        if register_unit is not None and register_unit != canonical:
            raise EncodeError(f"wire unit {unit!r} does not fit register unit {register_unit!r}")
        number = number / factor
    try:
        number = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        raise EncodeError(f"reading {reading!r} is too large") from None
    if number == 0:
        number = abs(number)  # no "-0.000"
    width = integer_digits + (decimals + 1 if decimals else 0) + (1 if number < 0 else 0)
    return f"{number:0{width}.{decimals}f}"


def _unit_info_encode(unit: str) -> tuple[str, Decimal]:
    try:
        return _unit_info(unit)
    except UnknownTagError as err:
        raise EncodeError(str(err)) from None


RegisterSpec = tuple[str, str, str | None, int]  # (OBIS display code, reading key, wire unit, decimals)

KAMSTRUP_READOUT_REGISTERS: Final[tuple[RegisterSpec, ...]] = (
    ("1.8.0", "a_plus", "kWh", 3),
    ("2.8.0", "a_minus", "kWh", 3),
    ("3.8.0", "r_plus", "kvarh", 3),
    ("4.8.0", "r_minus", "kvarh", 3),
    ("1.7.0", "p_plus", "kW", 3),
    ("2.7.0", "p_minus", "kW", 3),
    ("32.7.0", "u_l1", "V", 1),
    ("52.7.0", "u_l2", "V", 1),
    ("72.7.0", "u_l3", "V", 1),
    ("31.7.0", "i_l1", "A", 2),
    ("51.7.0", "i_l2", "A", 2),
    ("71.7.0", "i_l3", "A", 2),
)


def readout_from_readings(readings: Mapping[str, float], registers: Sequence[RegisterSpec]) -> tuple[DataSet, ...]:
    """Data sets `obis(value*unit)` for the registers whose key is in `readings`, in `registers` order.

    `readings` are keyed by register key (e.g. "a_plus") in the register table's units (kWh, kvarh,
    W, var, V, A, Hz); a wire unit kW/kvar divides by 1000. Widths follow the reference readout:
    kWh/kvarh 7 integer digits, kW 2, V and A 3 (`1.8.0(0009621.983*kWh)`, `1.7.0(01.453*kW)`).
    Registers missing from `readings` are left out (a one-phase meter has no L2/L3).
    """
    out: list[DataSet] = []
    for obis, key, unit, decimals in registers:
        if key not in readings:
            continue
        register = REGISTERS_BY_OBIS.get(obis)
        register_unit = register.unit if register is not None else None
        digits = _INTEGER_DIGITS.get(unit, 1)
        value = format_value(readings[key], unit, decimals, digits, register_unit)
        out.append(DataSet(obis, value, unit))
    return tuple(out)


_OBIS_RE: Final = re.compile(r"(?:(\d{1,3})-(\d{1,3}):)?(\d{1,3}(?:\.\d{1,3}){2,5})(?:[*&](\d{1,3}))?")


def obis_display_code(address: str) -> str | None:
    """The register display code C.D.E of a data set address, or None if it names no measurement.

    Strips `1-0:` (any A-B: prefix with A = 1) and the `1.1.` of a five/six-group code, and a
    current-value F of 255; a billing-period F stays as `*F` ("1.8.0*101"). Abstract objects (A = 0,
    C = 0) and letter codes (F.F, C.1.0) give None.
    """
    match = _OBIS_RE.fullmatch(address)
    if match is None:
        return None
    a, _b, dotted, f = match.groups()
    groups = dotted.split(".")
    if len(groups) == 4:
        return None
    if len(groups) >= 5:
        if a is not None:
            return None
        a = groups[0]
        if len(groups) == 6:
            if f is not None:
                return None
            f = groups[5]
        groups = groups[2:5]
    if a is not None and int(a) != 1:
        return None
    if int(groups[0]) == 0:
        return None
    code = ".".join(str(int(g)) for g in groups)
    if f is not None and int(f) != 255:
        code += f"*{int(f)}"
    return code


def readings_from_readout(readout: DataReadout | Iterable[DataSet]) -> dict[str, float]:
    """Register values keyed by OBIS display code ("1.8.0"), in register-table units (see `register_value`).

    Data sets that name no measurement (see `obis_display_code`), continuation values without an
    address, and unit-less values that are not numbers are skipped. A code sent twice raises
    `CodecError`; a bad value or unit raises as `register_value` does.
    """
    datasets = readout.datasets if isinstance(readout, DataReadout) else tuple(readout)
    out: dict[str, float] = {}
    for item in datasets:
        code = obis_display_code(item.address) if item.address else None
        if code is None:
            continue
        if item.unit is None and not _NUMBER_RE.fullmatch(item.value):
            continue
        if code in out:
            raise CodecError(f"register {code} appears twice in the readout")
        out[code] = register_value(code.split("*")[0], item.value, item.unit)
    return out


def kamstrup_identification(
    identification: str = "SIMOMNIPOWER", *, baud_char: str = "5", binary_mode: bool = True
) -> IdentificationMessage:
    """`/KAM5\\2SIMOMNIPOWER`: Kamstrup flag, mode C up to 9600 Bd, HDLC offered (`\\2`)."""
    return IdentificationMessage("KAM", baud_char, identification, "2" if binary_mode else None)


def kamstrup_readout(
    readings: Mapping[str, float],
    *,
    meter_number: str | int,
    when: datetime,
    error_code: int = 0,
    registers: Sequence[RegisterSpec] = KAMSTRUP_READOUT_REGISTERS,
    firmware: tuple[str, str] | None = None,
) -> DataReadout:
    """The simulated meter's readout: F.F (error code, 8 digits), 0.0.0 (meter number), 0.9.1
    (time hhmmss) and 0.9.2 (date YYMMDD) of `when` as given (local time), the firmware's version (0.2.0) and
    checksum (0.2.8) when given, then the registers."""
    if not 0 <= error_code <= 99_999_999:
        raise EncodeError(f"error code {error_code!r} does not fit 8 digits")
    header: tuple[DataSet, ...] = (
        DataSet("F.F", f"{error_code:08d}"),
        DataSet("0.0.0", str(meter_number)),
        DataSet("0.9.1", when.strftime("%H%M%S")),
        DataSet("0.9.2", when.strftime("%y%m%d")),
    )
    if firmware is not None:
        header += (DataSet("0.2.0", firmware[0]), DataSet("0.2.8", firmware[1]))
    return DataReadout.from_datasets(header + readout_from_readings(readings, registers))
