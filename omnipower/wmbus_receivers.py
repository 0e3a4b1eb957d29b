"""What the common wireless M-Bus receivers put out, sans-IO: IMST iM871A HCI frames and rtl_wmbus text lines.

Both hand on a telegram without format B's CRCs, L counting the bytes after it (omnipower/wmbus.py's
receiver form). `RECEIVERS` is the one table of both: how the device side (the simulator) writes a received
telegram, and how the master side (the gateway) reads one back.

iM871A HCI (IMST's Host Controller Interface, as wmbusmeters' src/wmbus_im871a.cc reads it), 57600 Bd 8N1:

    A5 | CF<<4 | EID | MID | LEN | payload (LEN bytes) | [time stamp, 4 bytes LE] | [RSSI] | [CRC16, LE]

CF flags: 0x2 time stamp attached, 0x4 RSSI attached, 0x8 CRC16 attached (bit 0x1 reserved). EID, the endpoint:
1 device management, 2 radio link, 3 radio link test, 4 hardware test; message ids 1–0x27, 1–5, 1–7 and 1–2
respectively. A received telegram is RADIOLINK_MSG_WMBUSMSG_IND (EID 2, MID 3) whose payload is the telegram
from C on: the stick drops L, and LEN stands in for it. CRC16 is CRC-16/X-25 over CF|EID through the RSSI.

rtl_wmbus (xaelsouth/rtl-wmbus, t1_c1_packet_decoder.h) prints one line per telegram:

    MODE;CRC_OK;3OUTOF6OK;TIMESTAMP;PACKET_RSSI;CURRENT_RSSI;LINK_LAYER_IDENT_NO;0x<hex>
    C1;1;1;2026-01-15 11:00:16.000;42;42;41234567;0x2d442d2c…

MODE is C1, T1 or S1; the two flags are 1 or 0 (3OUTOF6OK is always 1 in C1); TIMESTAMP is the receiver's UTC
time to the second ("%Y-%m-%d %H:%M:%S.000"); the ident is the four id bytes read as a little-endian number,
printed "%08X" (so a BCD id reads as its digits); the hex, lower case after "0x", is the telegram in the
receiver form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from omnipower.crc import crc16_x25
from omnipower.errors import ChecksumError, CodecError, EncodeError, LengthError, TruncatedError, UnknownTagError
from omnipower.stream import StreamBuffer

__all__ = [
    "HCI_START",
    "RADIOLINK",
    "RADIOLINK_WMBUSMSG_IND",
    "RECEIVERS",
    "HciMessage",
    "Im871aReader",
    "ReceiverFormat",
    "Reception",
    "RtlWmbusLine",
    "RtlWmbusReader",
    "decode_rtl_wmbus_line",
    "encode_hci",
    "encode_rtl_wmbus_line",
]

HCI_START = 0xA5
_CF_TIMESTAMP, _CF_RSSI, _CF_CRC, _CF_RESERVED = 0x2, 0x4, 0x8, 0x1
DEVMGMT, RADIOLINK, RADIOLINKTEST, HWTEST = 1, 2, 3, 4
RADIOLINK_WMBUSMSG_IND = 0x03
_MESSAGE_IDS = {DEVMGMT: range(1, 0x28), RADIOLINK: range(1, 6), RADIOLINKTEST: range(1, 8), HWTEST: range(1, 3)}
MAX_LINE = 1024  # an rtl_wmbus line holds at most 290 telegram bytes in hex and ~60 characters more
_RTL_TIME = "%Y-%m-%d %H:%M:%S"
_RTL_MODES = frozenset({"C1", "T1", "S1"})


@dataclass(frozen=True, slots=True)
class Reception:
    """A telegram as a receiver delivered it (omnipower/wmbus.py's receiver form), with what it adds."""

    frame: bytes
    time: datetime | None = None  # the receiver's UTC clock, where it says
    rssi: int | None = None  # the receiver's own scale


# --- IMST iM871A ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HciMessage:
    endpoint: int
    message_id: int
    payload: bytes = b""
    timestamp: int | None = None  # the stick's 32-bit time stamp
    rssi: int | None = None  # raw RSSI byte
    crc: bool = True  # the CRC16 field is attached


def encode_hci(message: HciMessage) -> bytes:
    m = message
    if m.endpoint not in _MESSAGE_IDS or m.message_id not in _MESSAGE_IDS[m.endpoint]:
        raise EncodeError(f"HCI endpoint {m.endpoint!r} with message id {m.message_id!r} does not exist")
    if not isinstance(m.payload, bytes | bytearray) or len(m.payload) > 0xFF:
        raise EncodeError(f"HCI payload must be at most 255 bytes, got {m.payload!r:.40}")
    flags = (_CF_TIMESTAMP if m.timestamp is not None else 0) | (_CF_RSSI if m.rssi is not None else 0)
    flags |= _CF_CRC if m.crc else 0
    body = bytearray([flags << 4 | m.endpoint, m.message_id, len(m.payload)]) + m.payload
    if m.timestamp is not None:
        if isinstance(m.timestamp, bool) or not isinstance(m.timestamp, int) or not 0 <= m.timestamp <= 0xFFFFFFFF:
            raise EncodeError(f"HCI time stamp must be 32-bit, got {m.timestamp!r}")
        body += m.timestamp.to_bytes(4, "little")
    if m.rssi is not None:
        if isinstance(m.rssi, bool) or not isinstance(m.rssi, int) or not 0 <= m.rssi <= 0xFF:
            raise EncodeError(f"HCI RSSI must be a byte, got {m.rssi!r}")
        body.append(m.rssi)
    crc = crc16_x25(body).to_bytes(2, "little") if m.crc else b""
    return bytes([HCI_START]) + bytes(body) + crc


def _parse_hci(buf: bytearray) -> tuple[HciMessage, int]:
    """The message at the start of `buf` (which starts with A5) and its length; TruncatedError to wait."""
    if len(buf) < 4:
        raise TruncatedError(f"HCI header: {len(buf)} of 4 bytes")
    flags, endpoint, message_id, length = buf[1] >> 4, buf[1] & 0x0F, buf[2], buf[3]
    if flags & _CF_RESERVED:
        raise UnknownTagError(f"HCI control field 0x{flags:X} has the reserved bit set")
    if endpoint not in _MESSAGE_IDS:
        raise UnknownTagError(f"HCI endpoint {endpoint} does not exist (1–4)")
    if message_id not in _MESSAGE_IDS[endpoint]:
        raise UnknownTagError(f"HCI message id 0x{message_id:02X} does not exist on endpoint {endpoint}")
    total = 4 + length + (4 if flags & _CF_TIMESTAMP else 0) + (1 if flags & _CF_RSSI else 0)
    total += 2 if flags & _CF_CRC else 0
    if len(buf) < total:
        raise TruncatedError(f"HCI message: {len(buf)} of {total} bytes")
    i = 4 + length
    timestamp = rssi = None
    if flags & _CF_TIMESTAMP:
        timestamp, i = int.from_bytes(buf[i : i + 4], "little"), i + 4
    if flags & _CF_RSSI:
        rssi, i = buf[i], i + 1
    if flags & _CF_CRC:
        sent, computed = int.from_bytes(buf[i : i + 2], "little"), crc16_x25(buf[1:i])
        if sent != computed:
            raise ChecksumError(f"HCI CRC16 0x{sent:04X}, the message gives 0x{computed:04X}")
    return HciMessage(endpoint, message_id, bytes(buf[4 : 4 + length]), timestamp, rssi, bool(flags & _CF_CRC)), total


class Im871aReader(StreamBuffer):
    """HCI messages from a byte stream in any chunking. A bad message (reserved bit, unknown endpoint or
    message, CRC) costs its start byte only, so that a good one behind it is still found; `feed` never raises
    (`take_errors()` has what was rejected)."""

    def feed(self, data: bytes | bytearray) -> list[HciMessage]:
        self._buf += data
        out: list[HciMessage] = []
        buf = self._buf
        while buf:
            start = buf.find(HCI_START)
            if start < 0:
                self.discarded += len(buf)
                buf.clear()
                break
            if start:
                self.discarded += start
                del buf[:start]
            try:
                message, used = _parse_hci(buf)
            except TruncatedError:
                break
            except CodecError as exc:
                self._errors.append(exc)
                self.discarded += 1
                del buf[:1]
                continue
            out.append(message)
            del buf[:used]
        return out


def _hci_reception(message: HciMessage) -> Reception | None:
    if (message.endpoint, message.message_id) != (RADIOLINK, RADIOLINK_WMBUSMSG_IND) or not message.payload:
        return None  # the stick's answers to its host, not a telegram
    return Reception(bytes([len(message.payload)]) + message.payload, None, message.rssi)


def _hci_emit(frame: bytes, when: datetime, rssi: int) -> bytes:
    del when  # the stick's time stamp counts from its own power-up, and is off by default (wmbusmeters)
    return encode_hci(HciMessage(RADIOLINK, RADIOLINK_WMBUSMSG_IND, frame[1:], rssi=rssi))


# --- rtl_wmbus -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RtlWmbusLine:
    mode: str
    crc_ok: bool
    three_of_six_ok: bool
    time: datetime  # UTC
    packet_rssi: int
    current_rssi: int
    ident: str  # the 8 hex digits rtl_wmbus prints
    frame: bytes


def encode_rtl_wmbus_line(frame: bytes, when: datetime, *, mode: str = "C1", packet_rssi: int = 42,
                          current_rssi: int = 42) -> bytes:
    """The line rtl_wmbus prints for a telegram it received at `when` with a good CRC."""
    if len(frame) < 8 or frame[0] != len(frame) - 1:
        raise EncodeError("not a wireless M-Bus frame in the receiver form (L = len - 1)")
    if mode not in _RTL_MODES:
        raise EncodeError(f"rtl_wmbus mode must be one of {sorted(_RTL_MODES)}, got {mode!r}")
    stamp = when.astimezone(UTC).strftime(_RTL_TIME)
    ident = int.from_bytes(frame[4:8], "little")
    return (f"{mode};1;1;{stamp}.000;{int(packet_rssi)};{int(current_rssi)};{ident:08X};0x{frame.hex()}\n"
            .encode("ascii"))


def _flag(text: str, what: str) -> bool:
    if text not in ("0", "1"):
        raise UnknownTagError(f"rtl_wmbus {what} must be 0 or 1, got {text!r:.20}")
    return text == "1"


def _number(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise UnknownTagError(f"rtl_wmbus {what} must be a whole number, got {text!r:.20}")
    return int(text)


def decode_rtl_wmbus_line(line: bytes | str) -> RtlWmbusLine:
    """One line (without its newline). Raises a CodecError naming the bad column; a line whose CRC_OK is 0
    raises ChecksumError (rtl_wmbus prints it all the same)."""
    try:
        text = line.decode("ascii") if isinstance(line, bytes | bytearray) else line
    except UnicodeDecodeError:
        raise UnknownTagError("rtl_wmbus line is not ASCII") from None
    columns = text.strip().split(";")
    if len(columns) != 8:
        raise LengthError(f"rtl_wmbus line has {len(columns)} columns, not 8: {text.strip()!r:.60}")
    mode, crc_ok, ok_3of6, stamp, packet_rssi, current_rssi, ident, data = columns
    if mode not in _RTL_MODES:
        raise UnknownTagError(f"rtl_wmbus mode {mode!r:.10} is not C1, T1 or S1")
    try:
        when = datetime.strptime(stamp.removesuffix(".000"), _RTL_TIME).replace(tzinfo=UTC)
    except ValueError:
        raise UnknownTagError(f"rtl_wmbus time stamp {stamp!r:.30} is not YYYY-MM-DD HH:MM:SS.000") from None
    if not data.startswith("0x"):
        raise UnknownTagError(f"rtl_wmbus telegram {data!r:.20} does not start with 0x")
    try:
        frame = bytes.fromhex(data[2:])
    except ValueError:
        raise UnknownTagError(f"rtl_wmbus telegram {data!r:.20} is not hex") from None
    if len(frame) < 8 or frame[0] != len(frame) - 1:
        raise LengthError(f"rtl_wmbus telegram of {len(frame)} bytes does not match its L field")
    result = RtlWmbusLine(mode, _flag(crc_ok, "CRC_OK"), _flag(ok_3of6, "3OUTOF6OK"), when,
                          _number(packet_rssi, "packet RSSI"), _number(current_rssi, "current RSSI"), ident, frame)
    if ident.upper() != f"{int.from_bytes(frame[4:8], 'little'):08X}":
        raise UnknownTagError(f"rtl_wmbus ident {ident!r:.12} is not the telegram's id bytes")
    if not result.crc_ok:
        raise ChecksumError(f"rtl_wmbus reports a CRC error in the telegram from {ident}")
    return result


class RtlWmbusReader(StreamBuffer):
    """rtl_wmbus lines from a text stream in any chunking; blank lines are skipped, a bad line is reported in
    `take_errors()` and skipped, and a line that grows past `MAX_LINE` without a newline is dropped."""

    def feed(self, data: bytes | bytearray) -> list[RtlWmbusLine]:
        self._buf += data
        out: list[RtlWmbusLine] = []
        buf = self._buf
        while True:
            end = buf.find(b"\n")
            if end < 0:
                if len(buf) > MAX_LINE:
                    self._errors.append(LengthError(f"rtl_wmbus line longer than {MAX_LINE} bytes"))
                    self.discarded += len(buf)
                    buf.clear()
                return out
            line = bytes(buf[:end])
            del buf[: end + 1]
            if not line.strip():
                continue
            try:
                out.append(decode_rtl_wmbus_line(line))
            except CodecError as exc:
                self._errors.append(exc)
                self.discarded += len(line) + 1


def _rtl_reception(line: RtlWmbusLine) -> Reception | None:
    return Reception(line.frame, line.time, line.packet_rssi)


def _rtl_emit(frame: bytes, when: datetime, rssi: int) -> bytes:
    return encode_rtl_wmbus_line(frame, when, packet_rssi=rssi, current_rssi=rssi)


# --- the table ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiverFormat:
    """One receiver's output: its reader, how a read item becomes a Reception, how a telegram is written."""

    reader: Callable[[], Im871aReader | RtlWmbusReader]
    reception: Callable[[HciMessage], Reception | None] | Callable[[RtlWmbusLine], Reception | None]
    emit: Callable[[bytes, datetime, int], bytes]
    baud: int  # serial line defaults (ignored on TCP and pipes)
    framing: str

    def receptions(self, reader: Im871aReader | RtlWmbusReader, data: bytes) -> list[Reception]:
        """The telegrams in the next chunk of the stream `reader` reads."""
        convert: Callable[[object], Reception | None] = self.reception  # type: ignore[assignment]
        return [r for item in reader.feed(data) if (r := convert(item)) is not None]


RECEIVERS: dict[str, ReceiverFormat] = {
    "rtl_wmbus": ReceiverFormat(RtlWmbusReader, _rtl_reception, _rtl_emit, 57600, "8N1"),
    "im871a": ReceiverFormat(Im871aReader, _hci_reception, _hci_emit, 57600, "8N1"),  # the stick's USB serial
}
