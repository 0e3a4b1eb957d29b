"""DLMS/COSEM pieces of a HAN push: A-XDR data, COSEM date-time, DATA-NOTIFICATION, LLC and
general-glo-ciphering (security suite 0, AES-128-GCM). Sans-IO: bytes in, values out.

Ciphering uses cryptography's GCM mode through `Cipher` rather than `AESGCM`: DLMS truncates the
tag to 12 bytes, and `AESGCM` can only verify full 16-byte tags.

A-XDR data is modelled by one small class, `Data(type, value)`, whose Python value depends on the
type (see `Data`). Only the types a meter push needs are supported; any other tag is rejected
with UnknownTagError rather than skipped, because its length would be unknown.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import TypeAlias

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from omnipower.errors import CodecError, DecryptionError, EncodeError, LengthError, TruncatedError, UnknownTagError

__all__ = [
    "DATA_NOTIFICATION",
    "GENERAL_GLO_CIPHERING",
    "INTEGER_TYPES",
    "LLC_CLIENT",
    "LLC_SERVER",
    "SC_AUTHENTICATED",
    "SC_ENCRYPTED",
    "CosemDateTime",
    "Data",
    "DataNotification",
    "DataType",
    "GloEnvelope",
    "GloKeys",
    "GloMessage",
    "add_llc",
    "decode_data",
    "decode_data_notification",
    "decode_data_prefix",
    "decrypt_glo",
    "encode_data",
    "encode_data_notification",
    "encode_length",
    "encrypt_glo",
    "parse_glo",
    "strip_llc",
]

MAX_DEPTH = 32  # nesting limit for arrays/structures: bounds recursion on hostile input


class DataType(IntEnum):
    """A-XDR data tags (IEC 62056-6-2 `Data` CHOICE) supported here."""

    NULL_DATA = 0x00
    ARRAY = 0x01
    STRUCTURE = 0x02
    BOOLEAN = 0x03
    BIT_STRING = 0x04
    DOUBLE_LONG = 0x05  # int32
    DOUBLE_LONG_UNSIGNED = 0x06  # uint32
    OCTET_STRING = 0x09
    VISIBLE_STRING = 0x0A
    UTF8_STRING = 0x0C
    INTEGER = 0x0F  # int8
    LONG = 0x10  # int16
    UNSIGNED = 0x11  # uint8
    LONG_UNSIGNED = 0x12  # uint16
    LONG64 = 0x14
    LONG64_UNSIGNED = 0x15
    ENUM = 0x16
    FLOAT32 = 0x17
    FLOAT64 = 0x18


# (size in bytes, signed) of the fixed-size integer types
_INTS: dict[DataType, tuple[int, bool]] = {
    DataType.DOUBLE_LONG: (4, True),
    DataType.DOUBLE_LONG_UNSIGNED: (4, False),
    DataType.INTEGER: (1, True),
    DataType.LONG: (2, True),
    DataType.UNSIGNED: (1, False),
    DataType.LONG_UNSIGNED: (2, False),
    DataType.LONG64: (8, True),
    DataType.LONG64_UNSIGNED: (8, False),
    DataType.ENUM: (1, False),
}
INTEGER_TYPES = frozenset(_INTS)

DataValue: TypeAlias = "bool | int | float | bytes | str | tuple[Data, ...] | tuple[bool, ...] | None"


@dataclass(frozen=True, slots=True)
class Data:
    """One A-XDR value. `value` by type:

    NULL_DATA None · ARRAY/STRUCTURE tuple[Data, ...] · BOOLEAN bool · BIT_STRING tuple[bool, ...]
    (first bit first) · integer types int · OCTET_STRING bytes · VISIBLE_STRING/UTF8_STRING str ·
    FLOAT32/FLOAT64 float. A COSEM date-time travels as a 12-byte OCTET_STRING (`Data.date_time`).
    """

    type: DataType
    value: DataValue = None

    @classmethod
    def structure(cls, *items: Data) -> Data:
        return cls(DataType.STRUCTURE, tuple(items))

    @classmethod
    def array(cls, *items: Data) -> Data:
        return cls(DataType.ARRAY, tuple(items))

    @classmethod
    def date_time(cls, value: CosemDateTime) -> Data:
        return cls(DataType.OCTET_STRING, value.to_bytes())

    def to_python(self) -> object:
        """Plain Python value (lists for arrays and structures), e.g. for logging and comparisons."""
        if self.type in (DataType.ARRAY, DataType.STRUCTURE):
            assert isinstance(self.value, tuple)
            return [item.to_python() for item in self.value if isinstance(item, Data)]
        if self.type is DataType.BIT_STRING:
            assert isinstance(self.value, tuple)
            return list(self.value)
        return self.value


# --- A-XDR length ----------------------------------------------------------------------------


def encode_length(length: int) -> bytes:
    """An A-XDR length: one byte below 128, else 8x and x big-endian bytes (x at most 4)."""
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    if size > 4:
        raise EncodeError(f"length {length} does not fit an A-XDR length")
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


_encode_length = encode_length  # the old private name, which omnipower.dlms_security still imports


def _decode_length(buf: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise TruncatedError(f"data ends at offset {pos}, before a length")
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if not 1 <= size <= 4:
        raise LengthError(f"length form {first:02X} at offset {pos} (1 to 4 length bytes allowed)")
    if pos + 1 + size > len(buf):
        raise TruncatedError(f"data ends inside the length at offset {pos}")
    return int.from_bytes(buf[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


def _take(buf: bytes, pos: int, count: int, what: str) -> bytes:
    if pos + count > len(buf):
        raise TruncatedError(f"{what} at offset {pos} needs {count} bytes, {len(buf) - pos} left")
    return buf[pos : pos + count]


# --- A-XDR data ----------------------------------------------------------------------------


def encode_data(data: Data) -> bytes:
    """Encode one value with its tag. Raises EncodeError for a value that does not fit its type."""
    out = bytearray()
    _encode_into(data, out, 0)
    return bytes(out)


def _encode_into(data: Data, out: bytearray, depth: int) -> None:
    kind, value = data.type, data.value
    if not isinstance(kind, DataType):
        raise EncodeError(f"unknown A-XDR type {kind!r}")
    out.append(kind)
    if kind is DataType.NULL_DATA:
        if value is not None:
            raise EncodeError("null-data carries no value")
    elif kind in (DataType.ARRAY, DataType.STRUCTURE):
        if depth >= MAX_DEPTH:
            raise EncodeError(f"nesting deeper than {MAX_DEPTH}")
        if not isinstance(value, tuple) or not all(isinstance(item, Data) for item in value):
            raise EncodeError(f"{kind.name} needs a tuple of Data")
        out += encode_length(len(value))
        for item in value:
            assert isinstance(item, Data)
            _encode_into(item, out, depth + 1)
    elif kind is DataType.BOOLEAN:
        if not isinstance(value, bool):
            raise EncodeError(f"boolean needs a bool, not {value!r}")
        out.append(1 if value else 0)
    elif kind is DataType.BIT_STRING:
        if not isinstance(value, tuple) or not all(isinstance(bit, bool) for bit in value):
            raise EncodeError("bit-string needs a tuple of bools")
        packed = bytearray((len(value) + 7) // 8)
        for i, bit in enumerate(value):
            if bit:
                packed[i // 8] |= 0x80 >> (i % 8)
        out += encode_length(len(value)) + packed
    elif kind in _INTS:
        size, signed = _INTS[kind]
        if not isinstance(value, int) or isinstance(value, bool):
            raise EncodeError(f"{kind.name} needs an int, not {value!r}")
        try:
            out += value.to_bytes(size, "big", signed=signed)
        except OverflowError:
            raise EncodeError(f"{value} does not fit {kind.name}") from None
    elif kind is DataType.OCTET_STRING:
        if not isinstance(value, bytes):
            raise EncodeError(f"octet-string needs bytes, not {value!r}")
        out += encode_length(len(value)) + value
    elif kind in (DataType.VISIBLE_STRING, DataType.UTF8_STRING):
        if not isinstance(value, str):
            raise EncodeError(f"{kind.name} needs a str, not {value!r}")
        try:
            raw = value.encode("latin-1" if kind is DataType.VISIBLE_STRING else "utf-8")
        except UnicodeEncodeError:
            raise EncodeError(f"{value!r} cannot be sent as {kind.name}") from None
        out += encode_length(len(raw)) + raw
    else:  # FLOAT32 / FLOAT64
        if not isinstance(value, float | int) or isinstance(value, bool):
            raise EncodeError(f"{kind.name} needs a float, not {value!r}")
        try:
            out += struct.pack(">f" if kind is DataType.FLOAT32 else ">d", value)
        except (OverflowError, struct.error):
            raise EncodeError(f"{value} does not fit {kind.name}") from None


def decode_data_prefix(buf: bytes, pos: int = 0) -> tuple[Data, int]:
    """Decode the value starting at `pos`; return it and the offset after it."""
    return _decode_at(bytes(buf), pos, 0)


def decode_data(buf: bytes) -> Data:
    """Decode exactly one value; bytes left over raise LengthError."""
    value, end = decode_data_prefix(buf)
    if end != len(buf):
        raise LengthError(f"{len(buf) - end} bytes after the A-XDR value")
    return value


def _decode_at(buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    if pos >= len(buf):
        raise TruncatedError(f"data ends at offset {pos}, before a type tag")
    tag = buf[pos]
    try:
        kind = DataType(tag)
    except ValueError:
        raise UnknownTagError(f"A-XDR type tag {tag:02X} at offset {pos}") from None
    pos += 1
    if kind is DataType.NULL_DATA:
        return Data(kind), pos
    if kind in (DataType.ARRAY, DataType.STRUCTURE):
        if depth >= MAX_DEPTH:
            raise LengthError(f"{kind.name} at offset {pos - 1} nested deeper than {MAX_DEPTH}")
        count, pos = _decode_length(buf, pos)
        if count > len(buf) - pos:  # every element takes at least one byte
            raise TruncatedError(f"{kind.name} of {count} elements in {len(buf) - pos} bytes")
        items = []
        for _ in range(count):
            item, pos = _decode_at(buf, pos, depth + 1)
            items.append(item)
        return Data(kind, tuple(items)), pos
    if kind is DataType.BOOLEAN:
        return Data(kind, _take(buf, pos, 1, "boolean")[0] != 0), pos + 1
    if kind is DataType.BIT_STRING:
        bits, pos = _decode_length(buf, pos)
        packed = _take(buf, pos, (bits + 7) // 8, "bit-string")
        return Data(kind, tuple(bool(packed[i // 8] & (0x80 >> (i % 8))) for i in range(bits))), pos + len(packed)
    if kind in _INTS:
        size, signed = _INTS[kind]
        raw = _take(buf, pos, size, kind.name)
        return Data(kind, int.from_bytes(raw, "big", signed=signed)), pos + size
    if kind in (DataType.FLOAT32, DataType.FLOAT64):
        size = 4 if kind is DataType.FLOAT32 else 8
        raw = _take(buf, pos, size, kind.name)
        return Data(kind, struct.unpack(">f" if size == 4 else ">d", raw)[0]), pos + size
    length, pos = _decode_length(buf, pos)
    raw = _take(buf, pos, length, kind.name)
    if kind is DataType.OCTET_STRING:
        return Data(kind, raw), pos + length
    if kind is DataType.VISIBLE_STRING:
        # latin-1 maps every byte, so an odd meter string is kept as sent instead of rejected
        return Data(kind, raw.decode("latin-1")), pos + length
    try:
        return Data(kind, raw.decode("utf-8")), pos + length
    except UnicodeDecodeError:
        raise CodecError(f"utf8-string at offset {pos} is not valid UTF-8") from None


# --- COSEM date-time ----------------------------------------------------------------------------

_UNSET_DEVIATION = 0x8000
_DST_ACTIVE = 0x80


@dataclass(frozen=True, slots=True)
class CosemDateTime:
    """COSEM date-time (12 bytes), fields as sent: None = "not specified" (0xFF, 0xFFFF, 0x8000).

    month may also be 0xFD/0xFE (DST end/begin) and day 0xFD/0xFE (second last/last day of the
    month). No time zone is invented: `deviation` (signed minutes, None = unset) and `clock_status`
    (0x80 = daylight saving active) are kept as sent; `to_datetime()` returns naive local time.
    """

    year: int | None
    month: int | None
    day: int | None
    weekday: int | None  # 1 = Monday
    hour: int | None
    minute: int | None
    second: int | None
    hundredths: int | None = None
    deviation: int | None = None
    clock_status: int = 0x00

    @property
    def dst(self) -> bool:
        return bool(self.clock_status & _DST_ACTIVE)

    def _problem(self) -> str | None:
        checks: tuple[tuple[str, int | None, range, tuple[int, ...]], ...] = (
            ("year", self.year, range(0, 0xFFFF), ()),
            ("month", self.month, range(1, 13), (0xFD, 0xFE)),
            ("day", self.day, range(1, 32), (0xFD, 0xFE)),
            ("weekday", self.weekday, range(1, 8), ()),
            ("hour", self.hour, range(24), ()),
            ("minute", self.minute, range(60), ()),
            ("second", self.second, range(60), ()),
            ("hundredths", self.hundredths, range(100), ()),
            ("deviation", self.deviation, range(-720, 721), ()),
            ("clock_status", self.clock_status, range(256), ()),
        )
        for name, value, allowed, special in checks:
            if value is None and name != "clock_status":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or (value not in allowed and value not in special):
                return f"date-time {name} {value!r} is out of range"
        return None

    def to_bytes(self) -> bytes:
        problem = self._problem()
        if problem:
            raise EncodeError(problem)

        def byte(value: int | None) -> int:
            return 0xFF if value is None else value

        return (
            (0xFFFF if self.year is None else self.year).to_bytes(2, "big")
            + bytes(byte(v) for v in (self.month, self.day, self.weekday, self.hour, self.minute, self.second))
            + bytes([byte(self.hundredths)])
            + (_UNSET_DEVIATION if self.deviation is None else self.deviation & 0xFFFF).to_bytes(2, "big")
            + bytes([self.clock_status])
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> CosemDateTime:
        if len(raw) != 12:
            raise LengthError(f"a COSEM date-time has 12 bytes, not {len(raw)}")

        def field(value: int) -> int | None:
            return None if value == 0xFF else value

        year = int.from_bytes(raw[0:2], "big")
        deviation = int.from_bytes(raw[9:11], "big", signed=True)
        value = cls(
            year=None if year == 0xFFFF else year,
            month=field(raw[2]),
            day=field(raw[3]),
            weekday=field(raw[4]),
            hour=field(raw[5]),
            minute=field(raw[6]),
            second=field(raw[7]),
            hundredths=field(raw[8]),
            deviation=None if deviation == -0x8000 else deviation,
            clock_status=raw[11],
        )
        problem = value._problem()
        if problem:
            raise CodecError(f"{problem} in {raw.hex()}")
        return value

    @classmethod
    def from_datetime(
        cls, when: datetime, *, clock_status: int = 0x00, hundredths: int | None = None, deviation: int | None = None
    ) -> CosemDateTime:
        """From a naive local time (tzinfo is ignored: the wire carries local time as it is)."""
        return cls(
            when.year, when.month, when.day, when.isoweekday(), when.hour, when.minute, when.second,
            hundredths, deviation, clock_status,
        )  # fmt: skip

    def to_datetime(self) -> datetime | None:
        """Naive local time, or None when a date or time field is unspecified or special."""
        parts = (self.year, self.month, self.day, self.hour, self.minute, self.second)
        if any(p is None for p in parts) or self.month not in range(1, 13) or self.day not in range(1, 32):
            return None
        assert self.year is not None and self.month is not None and self.day is not None
        assert self.hour is not None and self.minute is not None and self.second is not None
        try:
            return datetime(
                self.year, self.month, self.day, self.hour, self.minute, self.second, (self.hundredths or 0) * 10_000
            )
        except ValueError:  # 31 February and the like
            return None

    def isoformat(self) -> str | None:
        """ISO 8601 local time as sent, e.g. "2022-01-24T18:58:50" (no offset is invented)."""
        when = self.to_datetime()
        return None if when is None else when.isoformat()


# --- LLC and DATA-NOTIFICATION -----------------------------------------------------------------------

LLC_SERVER = b"\xe6\xe7\x00"  # from the meter (server) to the client
LLC_CLIENT = b"\xe6\xe6\x00"  # from a client
DATA_NOTIFICATION = 0x0F
GENERAL_GLO_CIPHERING = 0xDB


def strip_llc(information: bytes) -> bytes:
    """The APDU after the 3-byte LLC header of an HDLC information field."""
    if len(information) < 3:
        raise TruncatedError(f"information field of {len(information)} bytes has no LLC header")
    if information[:3] not in (LLC_SERVER, LLC_CLIENT):
        raise UnknownTagError(f"LLC header {information[:3].hex()} (expected e6e700 or e6e600)")
    return bytes(information[3:])


def add_llc(apdu: bytes, *, from_server: bool = True) -> bytes:
    return (LLC_SERVER if from_server else LLC_CLIENT) + apdu


@dataclass(frozen=True, slots=True)
class DataNotification:
    """DATA-NOTIFICATION APDU (tag 0x0F). `invoke_id_and_priority` is the 32-bit
    long-invoke-id-and-priority field as sent (Kamstrup: 0 = unconfirmed, low priority)."""

    invoke_id_and_priority: int
    date_time: CosemDateTime | None
    body: Data

    @property
    def invoke_id(self) -> int:
        return self.invoke_id_and_priority & 0x00FFFFFF


def encode_data_notification(notification: DataNotification, *, legacy_date_time: bool = False) -> bytes:
    """Encode the APDU. `legacy_date_time` writes the old-firmware form with `09` before `0C`."""
    if not 0 <= notification.invoke_id_and_priority <= 0xFFFFFFFF:
        raise EncodeError(f"long-invoke-id-and-priority {notification.invoke_id_and_priority} is not 32 bits")
    out = bytearray([DATA_NOTIFICATION]) + notification.invoke_id_and_priority.to_bytes(4, "big")
    if notification.date_time is None:
        out.append(0x00)
    else:
        out += (b"\x09\x0c" if legacy_date_time else b"\x0c") + notification.date_time.to_bytes()
    return bytes(out + encode_data(notification.body))


def decode_data_notification(apdu: bytes) -> DataNotification:
    """Decode a DATA-NOTIFICATION. The date-time may be absent (`00`), `0C` + 12 bytes, or the
    old-firmware `09 0C` + 12 bytes. The body must fill the rest of the APDU."""
    apdu = bytes(apdu)
    if not apdu:
        raise TruncatedError("empty APDU")
    if apdu[0] != DATA_NOTIFICATION:
        raise UnknownTagError(f"APDU tag {apdu[0]:02X} is not data-notification (0F)")
    invoke = int.from_bytes(_take(apdu, 1, 4, "long-invoke-id-and-priority"), "big")
    pos = 5
    marker = _take(apdu, pos, 1, "date-time")[0]
    if marker == 0x09:  # old firmware: an octet-string tag in front of the length
        pos += 1
        marker = _take(apdu, pos, 1, "date-time")[0]
    if marker == 0x00:
        date_time = None
        pos += 1
    elif marker == 0x0C:
        date_time = CosemDateTime.from_bytes(_take(apdu, pos + 1, 12, "date-time"))
        pos += 13
    else:
        raise LengthError(f"date-time length {marker} at offset {pos} (expected 0 or 12)")
    body, end = decode_data_prefix(apdu, pos)
    if end != len(apdu):
        raise LengthError(f"{len(apdu) - end} bytes after the notification body")
    return DataNotification(invoke, date_time, body)


# --- general-glo-ciphering (security suite 0) ----------------------------------------------------------------

SC_AUTHENTICATED = 0x10
SC_ENCRYPTED = 0x20
# Bit 0x40 (broadcast key) only changes which key the caller passes, so it is accepted as is.
TAG_LENGTH = 12


@dataclass(frozen=True, slots=True)
class GloKeys:
    """Suite-0 keys: encryption key (GUEK, Kamstrup GPK60) and authentication key (GAK, GPK61)."""

    encryption_key: bytes
    authentication_key: bytes


def parse_glo_keys(text: str) -> GloKeys:
    """`EK:AK`, two 16-byte keys as 32 hex digits each; ValueError with the reason otherwise."""
    parts = text.split(":")
    try:
        keys = [bytes.fromhex(p) for p in parts]
    except ValueError:
        keys = []
    if len(parts) != 2 or len(keys) != 2 or any(len(k) != 16 for k in keys):
        raise ValueError("must be EK:AK, two 16-byte keys as 32 hex digits each")
    return GloKeys(keys[0], keys[1])


@dataclass(frozen=True, slots=True)
class GloEnvelope:
    """A general-glo-ciphering APDU as sent: `content` is the ciphertext (plus tag when authenticated)."""

    system_title: bytes
    security_control: int
    frame_counter: int
    content: bytes


@dataclass(frozen=True, slots=True)
class GloMessage:
    """A deciphered general-glo-ciphering APDU: `apdu` is the plaintext APDU."""

    system_title: bytes
    security_control: int
    frame_counter: int
    apdu: bytes


def _check_security_control(sc: int, error: type[CodecError] | type[EncodeError]) -> None:
    if sc & 0x0F:
        raise error(f"security suite {sc & 0x0F} (only suite 0, AES-128-GCM, is supported)")
    if sc & 0x80:
        raise error("compressed ciphered APDUs are not supported")
    if not sc & (SC_AUTHENTICATED | SC_ENCRYPTED):
        raise error(f"security control {sc:02X} applies neither authentication nor encryption")


def _gcm(key: bytes, iv: bytes, tag: bytes | None = None) -> Cipher[modes.GCM]:
    return Cipher(algorithms.AES(key), modes.GCM(iv, tag, min_tag_length=TAG_LENGTH))


def _ctr(key: bytes, iv: bytes) -> Cipher[modes.CTR]:
    # GCM without its tag is CTR mode starting at counter 2 (counter 1 masks the tag).
    return Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02"))


def encrypt_glo(
    apdu: bytes,
    system_title: bytes,
    frame_counter: int,
    ek: bytes,
    ak: bytes,
    *,
    security_control: int = SC_AUTHENTICATED | SC_ENCRYPTED,
) -> bytes:
    """Wrap `apdu` in general-glo-ciphering:
    `DB 08 <system title> <len> <SC> <frame counter> <ciphertext> <12-byte tag>`.

    IV = system title + frame counter; with authentication the AAD is SC + AK (+ the plaintext
    when only authenticated). The caller owns the frame counter and must never reuse one with a key.
    """
    _check_security_control(security_control, EncodeError)
    if len(system_title) != 8:
        raise EncodeError(f"system title must be 8 bytes, not {len(system_title)}")
    if not 0 <= frame_counter <= 0xFFFFFFFF:
        raise EncodeError(f"frame counter {frame_counter} is not 32 bits")
    if len(ek) != 16 or len(ak) != 16:
        raise EncodeError("suite 0 keys are 16 bytes")
    iv = system_title + frame_counter.to_bytes(4, "big")
    sc = bytes([security_control])
    if security_control & SC_AUTHENTICATED:
        encryptor = _gcm(ek, iv).encryptor()
        aad = sc + ak if security_control & SC_ENCRYPTED else sc + ak + apdu
        encryptor.authenticate_additional_data(aad)
        body = encryptor.update(apdu) if security_control & SC_ENCRYPTED else b""
        body += encryptor.finalize()
        content = (body if security_control & SC_ENCRYPTED else apdu) + encryptor.tag[:TAG_LENGTH]
    else:
        ctr = _ctr(ek, iv).encryptor()
        content = ctr.update(apdu) + ctr.finalize()
    payload = sc + frame_counter.to_bytes(4, "big") + content
    return bytes([GENERAL_GLO_CIPHERING, 8]) + system_title + encode_length(len(payload)) + payload


def parse_glo(apdu: bytes) -> GloEnvelope:
    """Split a general-glo-ciphering APDU into its parts without deciphering it."""
    apdu = bytes(apdu)
    if not apdu:
        raise TruncatedError("empty APDU")
    if apdu[0] != GENERAL_GLO_CIPHERING:
        raise UnknownTagError(f"APDU tag {apdu[0]:02X} is not general-glo-ciphering (DB)")
    title_len = _take(apdu, 1, 1, "system title length")[0]
    if title_len != 8:
        raise LengthError(f"system title of {title_len} bytes (8 expected)")
    system_title = _take(apdu, 2, 8, "system title")
    length, pos = _decode_length(apdu, 10)
    if pos + length > len(apdu):
        raise TruncatedError(f"ciphered content announces {length} bytes, {len(apdu) - pos} present")
    if pos + length < len(apdu):
        raise LengthError(f"{len(apdu) - pos - length} bytes after the ciphered content")
    if length < 5:
        raise LengthError(f"ciphered content of {length} bytes has no security header")
    sc = apdu[pos]
    _check_security_control(sc, UnknownTagError)
    content = apdu[pos + 5 : pos + length]
    if sc & SC_AUTHENTICATED and len(content) < TAG_LENGTH:
        raise LengthError(f"authenticated content of {len(content)} bytes has no {TAG_LENGTH}-byte tag")
    return GloEnvelope(system_title, sc, int.from_bytes(apdu[pos + 1 : pos + 5], "big"), content)


def decrypt_glo(apdu: bytes, ek: bytes, ak: bytes) -> GloMessage:
    """Decipher and authenticate a general-glo-ciphering APDU. A wrong key or tag raises DecryptionError."""
    envelope = parse_glo(apdu)
    if len(ek) != 16 or len(ak) != 16:
        raise DecryptionError("suite 0 keys are 16 bytes")
    sc = envelope.security_control
    iv = envelope.system_title + envelope.frame_counter.to_bytes(4, "big")
    if sc & SC_AUTHENTICATED:
        body, tag = envelope.content[:-TAG_LENGTH], envelope.content[-TAG_LENGTH:]
        decryptor = _gcm(ek, iv, tag).decryptor()
        prefix = bytes([sc]) + ak
        decryptor.authenticate_additional_data(prefix if sc & SC_ENCRYPTED else prefix + body)
        try:
            plain = (decryptor.update(body) if sc & SC_ENCRYPTED else b"") + decryptor.finalize()
        except InvalidTag:
            raise DecryptionError(
                f"authentication tag does not verify (wrong key, or a tampered frame; frame counter "
                f"{envelope.frame_counter})"
            ) from None
        if not sc & SC_ENCRYPTED:
            plain = body
    else:
        decryptor_ctr = _ctr(ek, iv).decryptor()
        plain = decryptor_ctr.update(envelope.content) + decryptor_ctr.finalize()
    return GloMessage(envelope.system_title, sc, envelope.frame_counter, plain)
