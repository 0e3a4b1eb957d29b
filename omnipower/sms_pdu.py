"""SMS transfer-layer PDUs (3GPP TS 23.040 §9.2): SMS-DELIVER (network → phone) and SMS-SUBMIT (phone → network),
encoded and decoded without I/O, and the service-centre address that AT PDU mode puts before them (TS 27.005 §3.1).

Addresses (§9.1.2.5) are semi-octet digits with a type of number (international numbers are written here with a
leading `+`) or GSM 7-bit alphanumeric text. The user data (§9.2.3.24) is GSM 7-bit, 8-bit data or UCS2, chosen by the
data coding scheme (TS 23.038 §4), with an optional user data header of information elements; the concatenation
element (IEI 0x00, 8-bit reference, or 0x08, 16-bit) is read as `UserData.concat`. Time stamps carry their time zone
in quarters of an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum

from omnipower import gsm7
from omnipower.errors import CodecError, EncodeError, LengthError, TruncatedError, UnknownTagError

MAX_SEPTETS = 160  # user data of one message: 160 septets or 140 octets (§9.2.3.16)
MAX_OCTETS = 140
IEI_CONCAT_8 = 0x00  # §9.2.3.24.1
IEI_CONCAT_16 = 0x08  # §9.2.3.24.8
TON_UNKNOWN, TON_INTERNATIONAL, TON_NATIONAL, TON_ALPHANUMERIC = 0, 1, 2, 5
NPI_ISDN = 1
MTI_DELIVER, MTI_SUBMIT = 0, 1
_DIGITS = "0123456789*#abc"  # semi-octet values 0–14 (§9.1.2.3); 15 fills an odd count


class Alphabet(Enum):
    """The character set of the user data (TS 23.038 §4): the DCS alphabet bits' value."""

    GSM7 = 0
    DATA8 = 1
    UCS2 = 2


@dataclass(frozen=True, slots=True)
class Address:
    """A phone number (`+4520000001` international, else as dialled) or, with TON 5, alphanumeric text."""

    number: str
    ton: int = TON_INTERNATIONAL
    npi: int = NPI_ISDN

    @classmethod
    def of(cls, text: str) -> Address:
        """`+…` international (TON 1), other digits unknown type (TON 0), both ISDN numbering."""
        return cls(text, TON_INTERNATIONAL) if text.startswith("+") else cls(text, TON_UNKNOWN)

    @property
    def digits(self) -> str:
        return self.number[1:] if self.ton == TON_INTERNATIONAL else self.number


@dataclass(frozen=True, slots=True)
class InformationElement:
    iei: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Concat:
    """One part of a concatenated message (§9.2.3.24.1): all parts share `reference`; `sequence` counts from 1."""

    reference: int
    total: int
    sequence: int
    wide: bool = False  # a 16-bit reference (IEI 0x08)

    def element(self) -> InformationElement:
        if not (1 <= self.sequence <= self.total <= 255 and 0 <= self.reference < (65536 if self.wide else 256)):
            raise EncodeError(f"concatenation {self} out of range (reference 0–{65535 if self.wide else 255}, "
                              "1 ≤ sequence ≤ total ≤ 255)")
        ref = self.reference.to_bytes(2 if self.wide else 1, "big")
        return InformationElement(IEI_CONCAT_16 if self.wide else IEI_CONCAT_8, ref + bytes((self.total,
                                                                                            self.sequence)))


@dataclass(frozen=True, slots=True)
class UserData:
    text: str = ""  # GSM7 and UCS2
    alphabet: Alphabet = Alphabet.GSM7
    data: bytes = b""  # DATA8
    header: tuple[InformationElement, ...] = ()

    @property
    def concat(self) -> Concat | None:
        for ie in self.header:
            if ie.iei == IEI_CONCAT_8 and len(ie.data) == 3 and 1 <= ie.data[2] <= ie.data[1]:
                return Concat(ie.data[0], ie.data[1], ie.data[2])
            if ie.iei == IEI_CONCAT_16 and len(ie.data) == 4 and 1 <= ie.data[3] <= ie.data[2]:
                return Concat(int.from_bytes(ie.data[:2], "big"), ie.data[2], ie.data[3], wide=True)
        return None


@dataclass(frozen=True, slots=True)
class SmsDeliver:
    """SMS-DELIVER (§9.2.2.1). `timestamp` is the service centre's, aware, in whole seconds."""

    originator: Address
    timestamp: datetime
    user_data: UserData
    pid: int = 0
    message_class: int | None = None
    more_messages: bool = False
    status_report_indication: bool = False
    reply_path: bool = False


@dataclass(frozen=True, slots=True)
class SmsSubmit:
    """SMS-SUBMIT (§9.2.2.2). `validity`: relative (the TP-VP octet), absolute, enhanced (7 raw octets) or None."""

    destination: Address
    user_data: UserData
    reference: int = 0
    pid: int = 0
    message_class: int | None = None
    validity: int | datetime | bytes | None = None
    reject_duplicates: bool = False
    status_report_request: bool = False
    reply_path: bool = False


class _Cursor:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int, field: str) -> bytes:
        if self.pos + n > len(self.data):
            raise TruncatedError(f"{self.what} ends inside {field} (needs {n} octets at {self.pos}, "
                                 f"has {len(self.data) - self.pos})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def byte(self, field: str) -> int:
        return self.take(1, field)[0]


# --- addresses ------------------------------------------------------------------------------------------------------
def _semi_octets(digits: str) -> bytes:
    try:
        values = [_DIGITS.index(d) for d in digits.lower()]
    except ValueError:
        raise EncodeError(f"number {digits!r} may hold only 0–9, *, #, a, b, c") from None
    if len(values) % 2:
        values.append(15)
    return bytes(values[i] | values[i + 1] << 4 for i in range(0, len(values), 2))


def _digits_of(data: bytes, count: int, field: str) -> str:
    out = []
    for i in range(count):
        value = data[i // 2] >> (4 * (i % 2)) & 0x0F
        if value == 15:
            raise CodecError(f"{field}: filler semi-octet inside the number (digit {i + 1} of {count})")
        out.append(_DIGITS[value])
    return "".join(out)


def _toa(address: Address) -> int:
    if not (0 <= address.ton <= 7 and 0 <= address.npi <= 15):
        raise EncodeError(f"type of number {address.ton} (0–7) or numbering plan {address.npi} (0–15) out of range")
    return 0x80 | address.ton << 4 | address.npi


def _address_body(address: Address) -> tuple[int, bytes]:
    """(semi-octets of the value, octets) of an address, for both length conventions."""
    if address.ton == TON_ALPHANUMERIC:
        codes = gsm7.septets(address.number)
        body = gsm7.pack(codes)
        return (len(codes) * 7 + 3) // 4, body
    digits = address.digits
    if address.ton == TON_INTERNATIONAL and not address.number.startswith("+"):
        raise EncodeError(f"international number {address.number!r} must start with '+'")
    if len(digits) > 20:
        raise EncodeError(f"number {address.number!r} has more than 20 digits")
    return len(digits), _semi_octets(digits)


def encode_address(address: Address) -> bytes:
    """TP-OA / TP-DA (§9.1.2.5): the length counts the value's semi-octets."""
    count, body = _address_body(address)
    if len(body) > 10:
        raise EncodeError(f"address {address.number!r} is longer than 10 octets")
    return bytes((count, _toa(address))) + body


def _address_from(toa: int, body: bytes, count: int, field: str) -> Address:
    ton, npi = toa >> 4 & 0x07, toa & 0x0F
    if ton == TON_ALPHANUMERIC:
        return Address(gsm7.text_of(gsm7.unpack(body, count * 4 // 7)), ton, npi)
    digits = _digits_of(body, count, field)
    return Address("+" + digits if ton == TON_INTERNATIONAL else digits, ton, npi)


def _read_address(cur: _Cursor, field: str) -> Address:
    count = cur.byte(f"{field} length")
    if count > 20:
        raise LengthError(f"{field} length {count} semi-octets exceeds 20")
    toa = cur.byte(f"{field} type")
    return _address_from(toa, cur.take((count + 1) // 2, field), count, field)


def encode_smsc(address: Address | None) -> bytes:
    """The service-centre address before a TPDU in AT PDU mode (TS 27.005 §3.1): its length counts octets including
    the type; 00 = the modem's default centre."""
    if address is None:
        return b"\x00"
    if address.ton == TON_ALPHANUMERIC:
        raise EncodeError("a service centre address is a number, not alphanumeric text")
    _, body = _address_body(address)
    return bytes((len(body) + 1, _toa(address))) + body


def split_smsc(pdu: bytes) -> tuple[Address | None, bytes]:
    """(service centre or None, TPDU) of an AT PDU-mode message."""
    cur = _Cursor(pdu, "PDU")
    length = cur.byte("SMSC length")
    if length == 0:
        return None, pdu[1:]
    if length > 11:
        raise LengthError(f"SMSC length {length} octets exceeds 11")
    toa = cur.byte("SMSC type")
    body = cur.take(length - 1, "SMSC address")
    count = len(body) * 2 - (1 if body and body[-1] >> 4 == 0x0F else 0)  # an odd count ends in a filler
    return _address_from(toa, body, count, "SMSC"), pdu[1 + length:]


# --- time stamps ----------------------------------------------------------------------------------------------------
def _bcd(value: int) -> int:
    return (value % 10) << 4 | value // 10  # swapped: units in the high nibble


def _from_bcd(octet: int, field: str) -> int:
    low, high = octet & 0x0F, octet >> 4
    if low > 9 or high > 9:
        raise CodecError(f"{field}: octet {octet:02X} is not two decimal semi-octets")
    return low * 10 + high


def encode_timestamp(when: datetime) -> bytes:
    """§9.2.3.11: year (2000–2099) … second, and the zone in quarters of an hour (sign in bit 3)."""
    offset = when.utcoffset()
    if offset is None:
        raise EncodeError("a time stamp needs a time zone")
    quarters, rest = divmod(int(offset.total_seconds()), 900)
    if rest or not -79 <= quarters <= 79 or not 2000 <= when.year <= 2099:
        raise EncodeError(f"time stamp {when.isoformat()}: year 2000–2099 and a zone of whole quarters, ±79")
    zone = _bcd(abs(quarters)) | (0x08 if quarters < 0 else 0)
    fields = (when.year - 2000, when.month, when.day, when.hour, when.minute, when.second)
    return bytes(_bcd(v) for v in fields) + bytes((zone,))


def decode_timestamp(data: bytes) -> datetime:
    if len(data) != 7:
        raise LengthError(f"a time stamp has 7 octets, got {len(data)}")
    fields = [_from_bcd(b, "time stamp") for b in data[:6]]
    zone = data[6]
    quarters = _from_bcd(zone & 0xF7, "time stamp zone") * (-1 if zone & 0x08 else 1)
    try:
        year, month, day, hour, minute, second = fields
        return datetime(2000 + year, month, day, hour, minute, second,
                        tzinfo=timezone(timedelta(minutes=15 * quarters)))
    except ValueError as exc:
        raise CodecError(f"time stamp {data.hex().upper()}: {exc}") from None


# --- data coding scheme and user data -------------------------------------------------------------------------------
def encode_dcs(alphabet: Alphabet, message_class: int | None) -> int:
    """General data coding group (TS 23.038 §4: 00xx xxxx), uncompressed."""
    if message_class is not None and not 0 <= message_class <= 3:
        raise EncodeError(f"message class must be 0–3, got {message_class}")
    return alphabet.value << 2 | (0x10 | message_class if message_class is not None else 0)


def decode_dcs(dcs: int) -> tuple[Alphabet, int | None]:
    """(alphabet, message class) of the coding groups for text and data; compressed or reserved ones are refused."""
    group = dcs >> 4
    if group <= 0x07:  # general (00xx) and automatic deletion (01xx) groups
        if dcs & 0x20:
            raise UnknownTagError(f"data coding scheme {dcs:02X}: compressed user data is not supported")
        if dcs >> 2 & 0x03 == 3:
            raise UnknownTagError(f"data coding scheme {dcs:02X}: reserved alphabet")
        return Alphabet(dcs >> 2 & 0x03), dcs & 0x03 if dcs & 0x10 else None
    if group in (0x0C, 0x0D):  # message waiting indication, GSM 7-bit
        return Alphabet.GSM7, None
    if group == 0x0E:  # message waiting indication, UCS2
        return Alphabet.UCS2, None
    if group == 0x0F:
        return (Alphabet.DATA8 if dcs & 0x04 else Alphabet.GSM7), dcs & 0x03
    raise UnknownTagError(f"data coding scheme {dcs:02X}: reserved coding group")


def _header_octets(header: tuple[InformationElement, ...]) -> bytes:
    if not header:
        return b""
    body = b"".join(bytes((ie.iei, len(ie.data))) + ie.data for ie in header)
    if any(not 0 <= ie.iei <= 255 or len(ie.data) > 255 for ie in header):
        raise EncodeError("an information element's identifier must be 0–255 and its data at most 255 octets")
    return bytes((len(body),)) + body


def encode_user_data(ud: UserData) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD) of `ud`: the length in septets for GSM 7-bit, else in octets (§9.2.3.16)."""
    udh = _header_octets(ud.header)
    if ud.alphabet is Alphabet.GSM7:
        header_septets = (len(udh) * 8 + 6) // 7
        codes = gsm7.septets(ud.text)
        udl = header_septets + len(codes)
        if udl > MAX_SEPTETS:
            raise EncodeError(f"{len(codes)} septets of text and {header_septets} of header exceed {MAX_SEPTETS}")
        return udl, udh + gsm7.pack(codes, header_septets * 7 - len(udh) * 8)
    payload = ud.data if ud.alphabet is Alphabet.DATA8 else gsm7.encode_ucs2(ud.text)
    if len(udh) + len(payload) > MAX_OCTETS:
        raise EncodeError(f"{len(payload)} octets of user data and {len(udh)} of header exceed {MAX_OCTETS}")
    return len(udh) + len(payload), udh + payload


def _read_header(ud: bytes) -> tuple[tuple[InformationElement, ...], int]:
    """The information elements and the header's length in octets (with its length octet)."""
    if not ud:
        raise TruncatedError("user data header indicated but the user data is empty")
    end = 1 + ud[0]
    if end > len(ud):
        raise LengthError(f"user data header length {ud[0]} exceeds the user data ({len(ud) - 1} octets)")
    elements = []
    i = 1
    while i < end:
        if i + 2 > end or i + 2 + ud[i + 1] > end:
            raise LengthError(f"information element at octet {i} overruns the user data header")
        elements.append(InformationElement(ud[i], bytes(ud[i + 2:i + 2 + ud[i + 1]])))
        i += 2 + ud[i + 1]
    return tuple(elements), end


def decode_user_data(alphabet: Alphabet, udhi: bool, udl: int, ud: bytes) -> UserData:
    header: tuple[InformationElement, ...] = ()
    if alphabet is Alphabet.GSM7:
        if udl > MAX_SEPTETS:
            raise LengthError(f"user data length {udl} septets exceeds {MAX_SEPTETS}")
        if len(ud) != (udl * 7 + 7) // 8:
            raise LengthError(f"user data of {udl} septets needs {(udl * 7 + 7) // 8} octets, got {len(ud)}")
        skip = 0
        if udhi:
            header, hlen = _read_header(ud)
            skip = (hlen * 8 + 6) // 7
            if skip > udl:
                raise LengthError(f"user data header ({hlen} octets) is longer than the user data ({udl} septets)")
        codes = gsm7.unpack(ud, udl)[skip:]
        return UserData(gsm7.text_of(codes), alphabet, header=header)
    if udl > MAX_OCTETS or len(ud) != udl:
        raise LengthError(f"user data length {udl} octets: got {len(ud)}, at most {MAX_OCTETS}")
    start = 0
    if udhi:
        header, start = _read_header(ud)
    payload = bytes(ud[start:])
    if alphabet is Alphabet.DATA8:
        return UserData("", alphabet, payload, header)
    return UserData(gsm7.decode_ucs2(payload), alphabet, header=header)


def _read_user_data(cur: _Cursor, dcs: int, udhi: bool, what: str) -> UserData:
    alphabet, _ = decode_dcs(dcs)
    udl = cur.byte("user data length")
    size = (udl * 7 + 7) // 8 if alphabet is Alphabet.GSM7 else udl
    ud = cur.take(size, "user data")
    if cur.pos != len(cur.data):
        raise LengthError(f"{what} has {len(cur.data) - cur.pos} octets after its user data")
    return decode_user_data(alphabet, udhi, udl, ud)


# --- the two TPDUs --------------------------------------------------------------------------------------------------
def encode_deliver(msg: SmsDeliver) -> bytes:
    ud = msg.user_data
    first = (MTI_DELIVER | (0 if msg.more_messages else 0x04) | (0x20 if msg.status_report_indication else 0)
             | (0x40 if ud.header else 0) | (0x80 if msg.reply_path else 0))
    udl, octets = encode_user_data(ud)
    return (bytes((first,)) + encode_address(msg.originator) + bytes((msg.pid, encode_dcs(ud.alphabet,
            msg.message_class))) + encode_timestamp(msg.timestamp) + bytes((udl,)) + octets)


def decode_deliver(tpdu: bytes) -> SmsDeliver:
    cur = _Cursor(tpdu, "SMS-DELIVER")
    first = cur.byte("first octet")
    if first & 0x03 != MTI_DELIVER:
        raise UnknownTagError(f"message type indicator {first & 3} is not SMS-DELIVER (0)")
    originator = _read_address(cur, "originating address")
    pid = cur.byte("protocol identifier")
    dcs = cur.byte("data coding scheme")
    stamp = decode_timestamp(cur.take(7, "service centre time stamp"))
    ud = _read_user_data(cur, dcs, bool(first & 0x40), "SMS-DELIVER")
    return SmsDeliver(originator, stamp, ud, pid, decode_dcs(dcs)[1], more_messages=not first & 0x04,
                      status_report_indication=bool(first & 0x20), reply_path=bool(first & 0x80))


def _validity(validity: int | datetime | bytes | None) -> tuple[int, bytes]:
    """(TP-VPF, TP-VP) (§9.2.3.12)."""
    if validity is None:
        return 0, b""
    if isinstance(validity, datetime):
        return 3, encode_timestamp(validity)
    if isinstance(validity, bytes):
        if len(validity) != 7:
            raise EncodeError(f"an enhanced validity period has 7 octets, got {len(validity)}")
        return 1, validity
    if not 0 <= validity <= 255:
        raise EncodeError(f"a relative validity period is one octet (0–255), got {validity}")
    return 2, bytes((validity,))


def encode_submit(msg: SmsSubmit) -> bytes:
    ud = msg.user_data
    if not 0 <= msg.reference <= 255:
        raise EncodeError(f"message reference must be 0–255, got {msg.reference}")
    vpf, vp = _validity(msg.validity)
    first = (MTI_SUBMIT | (0x04 if msg.reject_duplicates else 0) | vpf << 3 | (0x20 if msg.status_report_request
             else 0) | (0x40 if ud.header else 0) | (0x80 if msg.reply_path else 0))
    udl, octets = encode_user_data(ud)
    return (bytes((first, msg.reference)) + encode_address(msg.destination)
            + bytes((msg.pid, encode_dcs(ud.alphabet, msg.message_class))) + vp + bytes((udl,)) + octets)


def decode_submit(tpdu: bytes) -> SmsSubmit:
    cur = _Cursor(tpdu, "SMS-SUBMIT")
    first = cur.byte("first octet")
    if first & 0x03 != MTI_SUBMIT:
        raise UnknownTagError(f"message type indicator {first & 3} is not SMS-SUBMIT (1)")
    reference = cur.byte("message reference")
    destination = _read_address(cur, "destination address")
    pid = cur.byte("protocol identifier")
    dcs = cur.byte("data coding scheme")
    vpf = first >> 3 & 0x03
    validity: int | datetime | bytes | None = None
    if vpf == 2:
        validity = cur.byte("validity period")
    elif vpf == 3:
        validity = decode_timestamp(cur.take(7, "validity period"))
    elif vpf == 1:
        validity = cur.take(7, "validity period")
    ud = _read_user_data(cur, dcs, bool(first & 0x40), "SMS-SUBMIT")
    return SmsSubmit(destination, ud, reference, pid, decode_dcs(dcs)[1], validity,
                     reject_duplicates=bool(first & 0x04), status_report_request=bool(first & 0x20),
                     reply_path=bool(first & 0x80))
