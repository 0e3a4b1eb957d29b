"""HDLC frame format type 3 (IEC 62056-46) as the Kamstrup HAN port pushes it. Sans-IO.

    7E | format (2) | dst addr | src addr | control | HCS (2) | information | FCS (2) | 7E

* The format field is big-endian: top nibble 0xA (type 3), bit 0x0800 = segmentation, low 11 bits
  = the number of bytes between the two flags.
* There is **no byte stuffing**: the length field delimits the frame and 0x7E may occur inside it,
  so readers must never scan for the closing flag.
* Addresses are 1, 2 or 4 bytes of 7 bits each; the last byte has its LSB set. Kamstrup uses one
  byte each: 0x2B (client 21) <- 0x21 (server 16); encrypted DK/CH pushes 0x41 (client 32) <- 0x03.
* HCS covers format..control, FCS covers format..information (HCS included). Both are CRC-16/X-25
  sent low byte first. A frame without information carries only the FCS, right after the control.

`decode_frame` takes exactly one frame. `HdlcReader` takes a byte stream in any chunking and
returns the valid frames; invalid candidates are skipped and collected (see `HdlcReader`).
Segmented frames are returned as they are; reassembly is not done because Kamstrup never
segments a push (at most 1010 information bytes, which always fits one frame).
"""

from __future__ import annotations

from dataclasses import dataclass

from omnipower.crc import crc16_x25
from omnipower.errors import ChecksumError, CodecError, EncodeError, LengthError, TruncatedError, UnknownTagError
from omnipower.stream import StreamBuffer

__all__ = [
    "CONTROL_UI",
    "FLAG",
    "HdlcFrame",
    "HdlcReader",
    "address_value",
    "decode_frame",
    "encode_frame",
    "encode_server_address",
    "encode_ui_frame",
    "hdlc_address",
    "server_address",
]

FLAG = 0x7E
FORMAT_TYPE_3 = 0xA
SEGMENTATION_BIT = 0x0800
MAX_LENGTH = 0x7FF  # 11-bit length field
CONTROL_UI = 0x13  # UI frame (0x03) with the poll/final bit (0x10)
_ADDRESS_SIZES = (1, 2, 4)


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    """One valid frame. Addresses are kept as on the wire; `dst_address`/`src_address` decode them."""

    format_type: int  # 0xA = type 3
    segmented: bool
    length: int  # the length field: bytes between the flags
    dst: bytes  # destination address bytes, e.g. b"\x2b" = client 21
    src: bytes  # source address bytes, e.g. b"\x21" = server logical address 16
    control: int
    information: bytes

    @property
    def dst_address(self) -> int:
        return address_value(self.dst)

    @property
    def src_address(self) -> int:
        return address_value(self.src)

    @property
    def is_ui(self) -> bool:
        """An unnumbered-information frame (control 0x03, poll/final bit ignored)."""
        return self.control & ~0x10 == 0x03


def hdlc_address(value: int, size: int = 1) -> bytes:
    """Encode an HDLC address in `size` bytes (1, 2 or 4): 7 bits per byte, LSB set on the last.

    `hdlc_address(21)` == b"\\x2b", `hdlc_address(16)` == b"\\x21".
    """
    if size not in _ADDRESS_SIZES:
        raise EncodeError(f"HDLC address size must be 1, 2 or 4 bytes, not {size}")
    if not 0 <= value < 1 << (7 * size):
        raise EncodeError(f"HDLC address {value} does not fit in {size} byte(s)")
    out = bytearray((value >> (7 * (size - 1 - i)) & 0x7F) << 1 for i in range(size))
    out[-1] |= 1
    return bytes(out)


def address_value(raw: bytes) -> int:
    """The address number of wire address bytes (their 7-bit groups, most significant first)."""
    value = 0
    for byte in raw:
        value = (value << 7) | (byte >> 1)
    return value


def _address_bytes(address: int | bytes, what: str) -> bytes:
    raw = bytes([address]) if isinstance(address, int) and 0 <= address <= 0xFF else address
    if not isinstance(raw, bytes):
        raise EncodeError(f"{what} address byte {address!r} is not in 0..255")
    # Every byte but the last must have LSB 0, the last LSB 1, or the receiver mis-splits the header.
    if len(raw) not in _ADDRESS_SIZES or not raw[-1] & 1 or any(b & 1 for b in raw[:-1]):
        raise EncodeError(f"{what} address {raw.hex()} is not a 1-, 2- or 4-byte HDLC address")
    return raw


def encode_ui_frame(
    information: bytes,
    dst: int | bytes = 0x2B,
    src: int | bytes = 0x21,
    control: int = CONTROL_UI,
    segmented: bool = False,
) -> bytes:
    """Build one type-3 frame around `information` (for a push: LLC + APDU).

    `dst`/`src` are the address as sent: an int is one address byte ((address << 1) | 1, so the
    default 0x2B is client 21 and 0x21 server 16); bytes give a 2- or 4-byte address. Build them
    from address numbers with `hdlc_address`.
    """
    dst_raw = _address_bytes(dst, "destination")
    src_raw = _address_bytes(src, "source")
    if not 0 <= control <= 0xFF:
        raise EncodeError(f"control {control!r} is not one byte")
    header_len = 2 + len(dst_raw) + len(src_raw) + 1
    length = header_len + (2 + len(information) if information else 0) + 2
    if length > MAX_LENGTH:
        raise EncodeError(f"information of {len(information)} bytes does not fit one HDLC frame")
    fmt = (FORMAT_TYPE_3 << 12) | (SEGMENTATION_BIT if segmented else 0) | length
    out = bytearray(fmt.to_bytes(2, "big") + dst_raw + src_raw + bytes([control]))
    if information:
        out += crc16_x25(out).to_bytes(2, "little")
        out += information
    out += crc16_x25(out).to_bytes(2, "little")
    return bytes([FLAG]) + bytes(out) + bytes([FLAG])


class _Incomplete(Exception):
    """The buffer ends before the frame can be judged (internal: the reader waits for more)."""


def _read_address(buf: bytes | bytearray, pos: int, what: str) -> int:
    """Return the index after the address starting at `pos`."""
    for size in range(1, 5):
        if pos + size > len(buf):
            raise _Incomplete
        if buf[pos + size - 1] & 1:
            if size not in _ADDRESS_SIZES:
                raise LengthError(f"{what} address of {size} bytes (HDLC allows 1, 2 or 4)")
            return pos + size
    raise LengthError(f"{what} address longer than 4 bytes")


def _parse(buf: bytes | bytearray) -> tuple[HdlcFrame, int]:
    """Parse the frame opening at buf[0] (a flag). Return it and the index after its closing flag.

    Raises _Incomplete when more bytes are needed and a CodecError when the frame is invalid. The
    checks run as soon as their bytes are there (HCS before waiting for the body), so a reader
    rejects a false start early.
    """
    if len(buf) < 3:
        raise _Incomplete
    fmt = int.from_bytes(buf[1:3], "big")
    if fmt >> 12 != FORMAT_TYPE_3:
        raise UnknownTagError(f"HDLC format type {fmt >> 12:X}, expected A (type 3)")
    length = fmt & MAX_LENGTH
    pos = _read_address(buf, 3, "destination")
    dst_end = pos
    pos = _read_address(buf, pos, "source")
    src_end = pos
    header_end = src_end + 1  # index after the control byte
    header_len = header_end - 1  # bytes from the format field through the control byte
    if length < header_len + 2 or length == header_len + 3:
        raise LengthError(f"length field {length} cannot hold a {header_len}-byte header and the check sums")
    if len(buf) < header_end:
        raise _Incomplete
    has_info = length > header_len + 2
    if has_info:
        if len(buf) < header_end + 2:
            raise _Incomplete
        hcs = int.from_bytes(buf[header_end : header_end + 2], "little")
        expected = crc16_x25(buf[1:header_end])
        if hcs != expected:
            raise ChecksumError(f"HCS {hcs:04X} does not match the header (expected {expected:04X})")
    total = length + 2
    if len(buf) < total:
        raise _Incomplete
    if buf[total - 1] != FLAG:
        raise LengthError(f"no closing flag after the {length} bytes the length field announces")
    fcs = int.from_bytes(buf[total - 3 : total - 1], "little")
    expected = crc16_x25(buf[1 : total - 3])
    if fcs != expected:
        raise ChecksumError(f"FCS {fcs:04X} does not match the frame (expected {expected:04X})")
    frame = HdlcFrame(
        format_type=fmt >> 12,
        segmented=bool(fmt & SEGMENTATION_BIT),
        length=length,
        dst=bytes(buf[3:dst_end]),
        src=bytes(buf[dst_end:src_end]),
        control=buf[src_end],
        information=bytes(buf[header_end + 2 : total - 3]) if has_info else b"",
    )
    return frame, total


def decode_frame(frame: bytes) -> HdlcFrame:
    """Decode exactly one frame, flags included. Every deviation raises a CodecError subclass."""
    if not frame:
        raise TruncatedError("empty HDLC frame")
    if frame[0] != FLAG:
        raise UnknownTagError(f"HDLC frame starts with {frame[0]:02X}, not the flag 7E")
    try:
        parsed, end = _parse(frame)
    except _Incomplete:
        raise TruncatedError(f"HDLC frame ends after {len(frame)} bytes, before its length field says") from None
    if end != len(frame):
        raise LengthError(f"{len(frame) - end} bytes after the frame's closing flag")
    return parsed


class HdlcReader(StreamBuffer):
    """Streaming frame reader: `feed()` bytes in any chunking, get back the valid frames.

    Error handling: `feed` never raises on bad input. A candidate that fails (unknown format,
    impossible length, missing closing flag, HCS or FCS mismatch) is dropped and its CodecError is
    collected; `take_errors()` returns and clears them (the newest `max_errors` are kept). After
    a failure the reader resumes at the byte after the rejected opening flag, not after the
    rejected frame, so a valid frame that starts inside garbage or inside a corrupted frame is still
    found. A false start can only delay later frames (until its announced length has arrived),
    never lose them. A closing flag may also open the next frame (shared flags), and repeated flags
    are inter-frame fill, which is neither an error nor garbage.

    `discarded` counts the non-flag bytes that belonged to no returned frame.
    """

    def __init__(self, *, max_errors: int = 64) -> None:
        super().__init__(max_errors=max_errors)


    def _drop(self, count: int) -> None:
        self.discarded += sum(1 for b in self._buf[:count] if b != FLAG)
        del self._buf[:count]

    def feed(self, data: bytes | bytearray | memoryview) -> list[HdlcFrame]:
        self._buf += data
        frames: list[HdlcFrame] = []
        while True:
            start = self._buf.find(FLAG)
            if start < 0:
                self._drop(len(self._buf))
                break
            self._drop(start)
            try:
                frame, end = _parse(self._buf)
            except _Incomplete:
                break
            except UnknownTagError as err:
                # Not a type-3 header: a flag followed by fill or garbage. Only report garbage.
                if self._buf[1] != FLAG:
                    self._errors.append(err)
                self._drop(1)
                continue
            except CodecError as err:
                self._errors.append(err)
                self._drop(1)
                continue
            frames.append(frame)
            del self._buf[: end - 1]  # keep the closing flag: it may open the next frame
        return frames


# --- additions for the connection-oriented link (omnipower/hdlc_link.py) -------------------------------------------

def encode_frame(control: int, dst: int | bytes, src: int | bytes, information: bytes = b"",
                 segmented: bool = False) -> bytes:
    """Any type-3 frame (I, RR, SNRM, UA, DM, FRMR, ...): the layout is the UI frame's, only the control differs."""
    return encode_ui_frame(information, dst, src, control, segmented)


def server_address(raw: bytes) -> tuple[int, int | None]:
    """A server address's upper (logical device) and lower (physical) HDLC address (IEC 62056-46 §6.4.2.2).

    One byte carries the upper address alone (lower None: point to point); two bytes carry one byte each, four
    bytes two each. `server_address(b"\\x02\\x23")` == (1, 17).
    """
    if len(raw) == 1:
        return address_value(raw), None
    half = len(raw) // 2
    return address_value(raw[:half]), address_value(raw[half:])


def encode_server_address(upper: int, lower: int | None = None, size: int = 2) -> bytes:
    """The wire bytes of a server address: upper alone in one byte, or upper and lower in `size` (2 or 4) bytes."""
    if lower is None:
        return hdlc_address(upper, 1)
    if size not in (2, 4):
        raise EncodeError(f"a server address with a lower address takes 2 or 4 bytes, not {size}")
    half = size // 2
    # The end-of-address bit (LSB) belongs on the lower address's last byte only.
    return bytes(b & 0xFE for b in hdlc_address(upper, half)) + hdlc_address(lower, half)
