"""What the common wireless M-Bus receivers put out, sans-IO: IMST iM871A HCI frames and rtl_wmbus text lines.

Both hand on a telegram without format B's CRCs, L counting the bytes after it (omnipower/wmbus.py's
receiver form). `RECEIVERS` is the one table of both: how the device side (the simulator) writes a received
telegram, and how the master side (the gateway) reads one back.

iM871A HCI frames (omnipower/im871a.py has the framing, the message table and the stick's device management): a
received telegram is RADIOLINK_MSG_WMBUSMSG_IND, whose payload is the telegram from C on (LEN stands in for L).

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

from omnipower.errors import ChecksumError, CodecError, EncodeError, LengthError, UnknownTagError
from omnipower.im871a import (
    HCI_START,
    RADIOLINK,
    RADIOLINK_WMBUSMSG_IND,
    HciMessage,
    Im871aReader,
    StartStep,
    encode_hci,
    start_up,
)
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


def _hci_reception(message: HciMessage) -> Reception | None:
    if (message.endpoint, message.message_id) != (RADIOLINK, RADIOLINK_WMBUSMSG_IND) or not message.payload:
        return None  # the stick's answers to its host, not a telegram
    return Reception(bytes([len(message.payload)]) + message.payload, None, message.rssi)


def _hci_emit(frame: bytes, when: datetime, rssi: int) -> bytes:
    del when  # a stick as the gateway sets it up: RSSI attached, no time stamp (the simulated stick,
    # meter_sim/modules/im871a_stick.py, writes what its configuration says)
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
    """One receiver's output: its reader, how a read item becomes a Reception, how a telegram is written, and
    what a host says to the receiver before listening (nothing, for rtl_wmbus)."""

    reader: Callable[[], Im871aReader | RtlWmbusReader]
    reception: Callable[[HciMessage], Reception | None] | Callable[[RtlWmbusLine], Reception | None]
    emit: Callable[[bytes, datetime, int], bytes]
    baud: int  # serial line defaults (ignored on TCP and pipes)
    framing: str
    start_up: tuple[StartStep, ...] = ()

    def receptions(self, reader: Im871aReader | RtlWmbusReader, data: bytes) -> list[Reception]:
        """The telegrams in the next chunk of the stream `reader` reads."""
        convert: Callable[[object], Reception | None] = self.reception  # type: ignore[assignment]
        return [r for item in reader.feed(data) if (r := convert(item)) is not None]


RECEIVERS: dict[str, ReceiverFormat] = {
    "rtl_wmbus": ReceiverFormat(RtlWmbusReader, _rtl_reception, _rtl_emit, 57600, "8N1"),
    "im871a": ReceiverFormat(Im871aReader, _hci_reception, _hci_emit, 57600, "8N1", start_up()),  # USB serial
}
