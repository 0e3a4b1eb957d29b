"""DLMS/COSEM TCP-UDP wrapper (IEC 62056-47 §5, Green Book "wrapper sub-layer"). Sans-IO.

    version (u16 = 0x0001) | source wPort (u16) | destination wPort (u16) | length (u16) | APDU

All four header fields are big-endian; `length` counts the APDU bytes only. The wrapper is the
only framing on a TCP connection: there is no flag, checksum or resynchronisation marker. So
`WrapperReader` checks each header as soon as its 8 bytes are there (version, then the announced
length against `max_apdu`) and never buffers a body it has refused.

After a refused header the reader cannot know where the next header starts, so it is spent and
must be discarded together with its connection (on a stream without sync markers, closing the
transport is the only safe recovery). A spent reader says so on every later `feed` (WrapperDesyncError)
rather than guessing at a new frame boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omnipower.errors import CodecError, EncodeError, LengthError, TruncatedError, UnknownTagError

__all__ = [
    "HEADER_SIZE",
    "MAX_APDU",
    "WRAPPER_VERSION",
    "WrapperDesyncError",
    "WrapperError",
    "WrapperLengthError",
    "WrapperPdu",
    "WrapperReader",
    "WrapperVersionError",
    "decode_wrapper",
    "encode_wrapper",
]

WRAPPER_VERSION = 0x0001
HEADER_SIZE = 8
MAX_APDU = 0xFFFF  # the length field is a u16


@dataclass(frozen=True, slots=True)
class WrapperPdu:
    """One wrapper PDU: the wPorts as sent (client SAP / server logical device) and the APDU."""

    source: int
    destination: int
    apdu: bytes


class WrapperError(CodecError):
    """A refused header. `pdus` holds the PDUs that were complete before it in the same `feed`
    call, so raising never loses a request already received."""

    def __init__(self, message: str, pdus: Sequence[WrapperPdu] = ()) -> None:
        super().__init__(message)
        self.pdus: tuple[WrapperPdu, ...] = tuple(pdus)


class WrapperVersionError(WrapperError, UnknownTagError):
    """A header whose version field is not 0x0001."""


class WrapperLengthError(WrapperError, LengthError):
    """A header announcing more APDU bytes than the reader accepts."""


class WrapperDesyncError(CodecError):
    """`feed` on a reader that already refused a header: discard it and close the connection."""


def _u16(value: int, what: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise EncodeError(f"{what} {value!r} is not a u16 (0..65535)")
    return value.to_bytes(2, "big")


def encode_wrapper(source: int, destination: int, apdu: bytes) -> bytes:
    """Prefix `apdu` with the 8-byte wrapper header."""
    if len(apdu) > MAX_APDU:
        raise EncodeError(f"APDU of {len(apdu)} bytes does not fit the wrapper's u16 length (max {MAX_APDU})")
    return (
        _u16(WRAPPER_VERSION, "version")
        + _u16(source, "source wPort")
        + _u16(destination, "destination wPort")
        + _u16(len(apdu), "length")
        + bytes(apdu)
    )


def _check_header(header: bytes | bytearray, max_apdu: int) -> tuple[int, int, int]:
    """(source, destination, length) of a complete 8-byte header; raises on a refused one."""
    version = int.from_bytes(header[0:2], "big")
    if version != WRAPPER_VERSION:
        raise WrapperVersionError(f"wrapper version {version:#06x} (only {WRAPPER_VERSION:#06x} is defined)")
    length = int.from_bytes(header[6:8], "big")
    if length > max_apdu:
        raise WrapperLengthError(f"wrapper length {length} exceeds the maximum APDU size {max_apdu}")
    return int.from_bytes(header[2:4], "big"), int.from_bytes(header[4:6], "big"), length


def decode_wrapper(frame: bytes, *, max_apdu: int = MAX_APDU) -> WrapperPdu:
    """Decode exactly one wrapper PDU (header and the whole APDU, nothing after it)."""
    frame = bytes(frame)
    if len(frame) < HEADER_SIZE:
        raise TruncatedError(f"wrapper PDU of {len(frame)} bytes is shorter than the {HEADER_SIZE}-byte header")
    source, destination, length = _check_header(frame, max_apdu)
    body = len(frame) - HEADER_SIZE
    if body < length:
        raise TruncatedError(f"wrapper length announces {length} APDU bytes, {body} present")
    if body > length:
        raise LengthError(f"{body - length} bytes after the {length}-byte APDU the wrapper length announces")
    return WrapperPdu(source, destination, frame[HEADER_SIZE:])


class WrapperReader:
    """Streaming reader: `feed()` bytes in any chunking, get back the complete PDUs in order.

    A refused header raises WrapperVersionError or WrapperLengthError at once; the PDUs that were
    complete before it in that call are in the error's `pdus`. The reader is then spent (see the
    module docstring): every later `feed` raises WrapperDesyncError. `max_apdu` may be lowered
    below the protocol's 65535, e.g. to the negotiated max-receive-pdu-size plus ciphering overhead.
    """

    def __init__(self, *, max_apdu: int = MAX_APDU) -> None:
        if isinstance(max_apdu, bool) or not isinstance(max_apdu, int) or not 0 <= max_apdu <= MAX_APDU:
            raise ValueError(f"max_apdu {max_apdu!r} must be 0..{MAX_APDU}")
        self.max_apdu = max_apdu
        self._buf = bytearray()
        self._failure: CodecError | None = None

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a PDU."""
        return len(self._buf)

    @property
    def failed(self) -> CodecError | None:
        """The error that spent this reader, or None while it is usable."""
        return self._failure

    def feed(self, data: bytes | bytearray | memoryview) -> list[WrapperPdu]:
        if self._failure is not None:
            raise WrapperDesyncError(f"this wrapper reader already refused a header ({self._failure}); discard it")
        self._buf += data
        pdus: list[WrapperPdu] = []
        while len(self._buf) >= HEADER_SIZE:
            try:
                source, destination, length = _check_header(self._buf, self.max_apdu)
            except WrapperError as err:
                self._failure = err
                self._buf.clear()  # nothing after a bad header can be framed: hold none of it
                err.pdus = tuple(pdus)
                raise
            end = HEADER_SIZE + length
            if len(self._buf) < end:
                break
            pdus.append(WrapperPdu(source, destination, bytes(self._buf[HEADER_SIZE:end])))
            del self._buf[:end]
        return pdus
