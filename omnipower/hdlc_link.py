"""The meter's end of the connection-oriented HDLC link (IEC 62056-46): a secondary station in normal response mode.

Sans-IO, like h11: bytes in, events out; APDUs down, frames out; no socket and no clock.

    link = HdlcServerLink(server_address=1, physical_address=17)
    for event in link.feed(data):
        Transmit(frame)           -> write the frame
        Connected / Disconnected  -> start or end the client's association (SNRM, DISC)
        Request(client, apdu)     -> write link.respond(client, answer(apdu))

* Frames (`_CODES`): I, RR, RNR, SNRM, DISC, UA, DM, FRMR; control fields modulo 8 with the P/F bit. UI frames are
  not answered (the meter offers no unconfirmed services); REJ, SREJ and the rest are not used by IEC 62056-46.
* SNRM/UA negotiate the maximum information field length and window size each way (`LinkParameters`); an SNRM
  without them means 128 bytes and a window of 1, and the UA always states the values agreed.
* An APDU travels as LLC header (E6 E6 00 up, E6 E7 00 down) + APDU over one or more I frames: every frame but
  the last has the segmentation bit; the client asks for each further window with RR.
* Errors get the standard's answers: an I frame out of sequence is discarded and answered with RR carrying the
  N(S) expected; an invalid N(R), an unknown control field, an information field that is too long or not
  permitted gets FRMR, and the link stays in the frame reject condition until SNRM or DISC. Before SNRM every
  command gets DM; DISC gets UA (or DM when there was no connection).
* The secondary speaks only when polled: frames with P = 0 are taken in silence, and the last frame of every
  answer has F = 1.
* Addresses: the client's is one byte (its SAP); the server's is upper (logical device) alone in one byte, or
  upper and lower (physical) in two or four. Frames for another station are ignored, as on a multi-drop bus.

One connection per client address; the timers (inactivity, inter-frame) belong to the transport.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field

from omnipower.errors import CodecError, EncodeError, LengthError, TruncatedError, UnknownTagError
from omnipower.hdlc import FLAG, HdlcFrame, HdlcReader, encode_frame, hdlc_address, server_address

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PARAMETERS",
    "LLC_REQUEST",
    "LLC_RESPONSE",
    "SERVER_LIMITS",
    "Connected",
    "Control",
    "Disconnected",
    "FrameKind",
    "HdlcServerLink",
    "LinkEvent",
    "LinkParameters",
    "Reject",
    "Request",
    "Transmit",
    "decode_control",
    "negotiate",
]

LLC_REQUEST = b"\xe6\xe6\x00"  # destination LSAP, source LSAP (command), quality
LLC_RESPONSE = b"\xe6\xe7\x00"  # source LSAP E7: a response
POLL_FINAL = 0x10
MODULUS = 8
_FLAG_PAIR = bytes((FLAG, FLAG))
_FLAG_PAIR_TRIES = 7  # shorter cuts tried to keep a segment free of "7E 7E" (see `HdlcServerLink`)


class FrameKind(enum.Enum):
    I = "I"  # noqa: E741 - the standard's name
    RR = "RR"
    RNR = "RNR"
    SNRM = "SNRM"
    DISC = "DISC"
    UA = "UA"
    DM = "DM"
    FRMR = "FRMR"
    UI = "UI"


# The control byte with P/F, N(S) and N(R) zero (ISO/IEC 13239, modulo 8).
_CODES = {
    FrameKind.I: 0x00, FrameKind.RR: 0x01, FrameKind.RNR: 0x05, FrameKind.SNRM: 0x83, FrameKind.DISC: 0x43,
    FrameKind.UA: 0x63, FrameKind.DM: 0x0F, FrameKind.FRMR: 0x87, FrameKind.UI: 0x03,
}
_KINDS = {code: kind for kind, code in _CODES.items()}
# What identifies the frame, by the control byte's two low bits: I frames x0, supervisory 01, unnumbered 11.
_MASKS = (0x01, 0x0F, 0x01, 0xEF)
_WITH_NR = frozenset({FrameKind.I, FrameKind.RR, FrameKind.RNR})


@dataclass(frozen=True, slots=True)
class Control:
    """A control field: the frame's kind, the poll/final bit and its sequence numbers (N(S) on I frames only,
    N(R) on I, RR and RNR)."""

    kind: FrameKind
    poll_final: bool = True
    ns: int = 0
    nr: int = 0

    def to_byte(self) -> int:
        for name, number in (("N(S)", self.ns), ("N(R)", self.nr)):
            if not 0 <= number < MODULUS:
                raise EncodeError(f"{name} {number} is not 0..7")
        value = _CODES[self.kind] | (POLL_FINAL if self.poll_final else 0)
        if self.kind is FrameKind.I:
            value |= self.ns << 1
        if self.kind in _WITH_NR:
            value |= self.nr << 5
        return value


def decode_control(byte: int) -> Control:
    """Raises UnknownTagError for a control field IEC 62056-46 does not use (REJ, SREJ, XID, TEST, ...)."""
    kind = _KINDS.get(byte & _MASKS[byte & 0x03])
    if kind is None:
        raise UnknownTagError(f"HDLC control field {byte:02X} is none of I, RR, RNR, SNRM, DISC, UA, DM, FRMR, UI")
    return Control(kind, bool(byte & POLL_FINAL),
                   ns=(byte >> 1) & 7 if kind is FrameKind.I else 0,
                   nr=byte >> 5 if kind in _WITH_NR else 0)


# --- SNRM/UA parameter negotiation ---------------------------------------------------------------------------------

_FORMAT_ID, _GROUP_ID = 0x81, 0x80  # ISO/IEC 13239 general format, HDLC parameter group
_PARAMETERS = ((0x05, "max_info_tx"), (0x06, "max_info_rx"), (0x07, "window_tx"), (0x08, "window_rx"))
_RANGES = {"max_info_tx": (32, 2030), "max_info_rx": (32, 2030), "window_tx": (1, 7), "window_rx": (1, 7)}


@dataclass(frozen=True, slots=True)
class LinkParameters:
    """The HDLC parameters as one end states them: in an SNRM the client's transmit and receive values, in the UA
    the server's. The defaults are what both ends assume without negotiation. The ranges are those of the IEC HDLC
    setup object (class 23): 32..2030 bytes, windows 1..7 (modulo 8)."""

    max_info_tx: int = 128
    max_info_rx: int = 128
    window_tx: int = 1
    window_rx: int = 1

    def __post_init__(self) -> None:
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise LengthError(f"HDLC parameter {name} = {value} is outside {low}..{high}")

    def to_bytes(self) -> bytes:
        body = bytearray()
        for parameter, name in _PARAMETERS:
            value: int = getattr(self, name)
            # windows always in four bytes, lengths in as few as fit: the Green Book's examples do so
            size = 4 if name.startswith("window") else (1 if value <= 0xFF else 2)
            body += bytes((parameter, size)) + value.to_bytes(size, "big")
        return bytes((_FORMAT_ID, _GROUP_ID, len(body))) + bytes(body)

    @classmethod
    def from_bytes(cls, information: bytes) -> LinkParameters:
        """An SNRM's or UA's information field; empty means the defaults, and a parameter left out its default."""
        if not information:
            return cls()
        if len(information) < 3:
            raise TruncatedError(f"HDLC parameter field of {len(information)} bytes (at least 3)")
        if information[:2] != bytes((_FORMAT_ID, _GROUP_ID)):
            raise UnknownTagError(f"HDLC parameter field starts {information[:2].hex()}, expected 8180")
        if information[2] != len(information) - 3:
            raise LengthError(f"HDLC parameter group length {information[2]}, but {len(information) - 3} bytes follow")
        names = dict(_PARAMETERS)
        values: dict[str, int] = {}
        pos = 3
        while pos < len(information):
            parameter, size = information[pos], information[pos + 1] if pos + 1 < len(information) else 0
            raw = information[pos + 2:pos + 2 + size]
            if not 1 <= size <= 4 or len(raw) != size:
                raise LengthError(f"HDLC parameter {parameter:02X} has length {size} (1..4 bytes, within the group)")
            if parameter in names:  # others (e.g. inter-octet time-outs of newer editions) are not negotiated here
                values[names[parameter]] = int.from_bytes(raw, "big")
            pos += 2 + size
        return cls(**values)


def negotiate(proposal: LinkParameters, limits: LinkParameters) -> LinkParameters:
    """The UA's parameters for an SNRM's proposal: the server sends no more than the client receives and receives
    no more than the client sends, each cut to the server's own limits."""
    return LinkParameters(max_info_tx=min(proposal.max_info_rx, limits.max_info_tx),
                          max_info_rx=min(proposal.max_info_tx, limits.max_info_rx),
                          window_tx=min(proposal.window_rx, limits.window_tx),
                          window_rx=min(proposal.window_tx, limits.window_rx))


DEFAULT_PARAMETERS = LinkParameters()
SERVER_LIMITS = LinkParameters(max_info_tx=1024, max_info_rx=1024, window_tx=7, window_rx=7)


# --- events --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Transmit:
    """A frame to write to the line."""

    frame: bytes


@dataclass(frozen=True, slots=True)
class Connected:
    """SNRM accepted: the client starts afresh (any association it had is gone)."""

    client: int
    parameters: LinkParameters


@dataclass(frozen=True, slots=True)
class Disconnected:
    """DISC (or an SNRM that could not be accepted): the client's connection and association are gone."""

    client: int


@dataclass(frozen=True, slots=True)
class Request:
    """A complete APDU from the client, LLC header removed: answer it with `HdlcServerLink.respond`."""

    client: int
    apdu: bytes


LinkEvent = Transmit | Connected | Disconnected | Request


class Reject(enum.IntFlag):
    """The FRMR information field's reason bits (ISO/IEC 13239 W, X, Y, Z)."""

    UNDEFINED_CONTROL = 0x01  # W
    INFORMATION_NOT_PERMITTED = 0x02  # X, always with W
    INFORMATION_TOO_LONG = 0x04  # Y
    INVALID_NR = 0x08  # Z


@dataclass
class _Station:
    """One client's connection as the meter keeps it."""

    parameters: LinkParameters
    address: bytes  # the server address as this client writes it: the source of every answer
    vs: int = 0  # N(S) of our next I frame
    vr: int = 0  # N(S) expected in the client's next I frame
    polled: bool = False  # the client's last P = 1 is not answered yet: we may send
    received: bytearray = field(default_factory=bytearray)  # the request being reassembled
    pending: bytearray = field(default_factory=bytearray)  # LLC + answer not yet sent
    unacked: list[bytes] = field(default_factory=list)  # our I frames not acknowledged: resent if N(R) says lost
    rejected: bytes | None = None  # the FRMR information field, while in the frame reject condition


class HdlcServerLink:
    """The secondary station: `feed` the line's bytes, act on the events, `respond` to each `Request`.

    `server_address` is the upper HDLC address (the logical device); `physical_address` the lower one, or None to
    answer any (the one-byte form, upper alone, always reaches this station). `limits` cap what SNRM may
    negotiate; `max_request` caps a reassembled APDU.

    `avoid_flag_pairs`: some clients find a frame's end by scanning for 7E instead of reading the length field
    (dlms-cosem's `HdlcConnection` does), and lose a frame in which 7E follows 7E or precedes the closing flag. Such
    a segment is cut up to 7 bytes shorter (the rest goes in the next segment): still standard frames, no larger
    than negotiated, so a reader by length sees no difference.
    """

    def __init__(self, server_address: int = 1, physical_address: int | None = None, *,
                 limits: LinkParameters = SERVER_LIMITS, max_request: int = 0xFFFF,
                 avoid_flag_pairs: bool = True) -> None:
        self.server_address = server_address
        self.physical_address = physical_address
        self.limits = limits
        self.max_request = max_request
        self.avoid_flag_pairs = avoid_flag_pairs
        self._reader = HdlcReader()
        self._stations: dict[int, _Station] = {}

    def connected(self, client: int) -> bool:
        return client in self._stations

    def parameters(self, client: int) -> LinkParameters | None:
        station = self._stations.get(client)
        return station.parameters if station is not None else None

    def take_errors(self) -> list[CodecError]:
        """The malformed frames dropped since the last call (see `HdlcReader`)."""
        return self._reader.take_errors()

    def feed(self, data: bytes | bytearray | memoryview) -> list[LinkEvent]:
        """Bytes from the line in any chunking; malformed frames are dropped, never raised."""
        events: list[LinkEvent] = []
        for frame in self._reader.feed(data):
            events += self.handle_frame(frame)
        return events

    def handle_frame(self, frame: HdlcFrame) -> list[LinkEvent]:
        """One decoded frame."""
        if not self._addressed(frame.dst) or len(frame.src) != 1:  # another station's, or not from a client
            return []
        client = frame.src_address
        poll = bool(frame.control & POLL_FINAL)
        try:
            control: Control | None = decode_control(frame.control)
        except UnknownTagError:
            control = None
        if control is not None and control.kind in _ANY_STATE:
            return _ANY_STATE[control.kind](self, client, frame)
        station = self._stations.get(client)
        if station is None:
            return [Transmit(self._frame(client, frame.dst, Control(FrameKind.DM)))] if poll else []
        if station.rejected is not None:  # only SNRM and DISC leave the frame reject condition
            return [Transmit(self._frmr(client, station))] if poll else []
        if control is None or control.kind not in _CONNECTED:  # a response, or a command this station lacks
            return self._reject(client, station, frame, Reject.UNDEFINED_CONTROL)
        return _CONNECTED[control.kind](self, client, station, frame, control)

    def respond(self, client: int, apdu: bytes) -> list[bytes]:
        """The frames that carry the answer to the client's last `Request` (its first window; RR fetches the rest)."""
        station = self._stations.get(client)
        if station is None or station.rejected is not None:
            return []
        station.pending = bytearray(LLC_RESPONSE + apdu)
        station.unacked.clear()
        return self._send_window(client, station) if station.polled else []

    # --- commands in any state --------------------------------------------------------------------------------
    def _snrm(self, client: int, frame: HdlcFrame) -> list[LinkEvent]:
        try:
            parameters = negotiate(LinkParameters.from_bytes(frame.information), self.limits)
        except CodecError as exc:  # parameters this station cannot take: it stays (or goes) disconnected
            log.info("hdlc client %d: SNRM refused: %s", client, exc)
            gone: list[LinkEvent] = [Disconnected(client)] if self._stations.pop(client, None) else []
            return [*gone, Transmit(self._frame(client, frame.dst, Control(FrameKind.DM)))]
        self._stations[client] = _Station(parameters, frame.dst)
        ua = self._frame(client, frame.dst, Control(FrameKind.UA), parameters.to_bytes())
        return [Connected(client, parameters), Transmit(ua)]

    def _disc(self, client: int, frame: HdlcFrame) -> list[LinkEvent]:
        if self._stations.pop(client, None) is None:
            return [Transmit(self._frame(client, frame.dst, Control(FrameKind.DM)))]
        return [Disconnected(client), Transmit(self._frame(client, frame.dst, Control(FrameKind.UA)))]

    def _unconfirmed(self, client: int, frame: HdlcFrame) -> list[LinkEvent]:
        log.debug("hdlc client %d: UI frame ignored (no unconfirmed services)", client)
        return []

    # --- commands on a connection -----------------------------------------------------------------------------
    def _information(self, client: int, station: _Station, frame: HdlcFrame, control: Control) -> list[LinkEvent]:
        if not _acknowledge(station, control.nr):
            return self._reject(client, station, frame, Reject.INVALID_NR)
        if len(frame.information) > station.parameters.max_info_rx:
            return self._reject(client, station, frame, Reject.INFORMATION_TOO_LONG)
        station.polled = station.polled or control.poll_final
        if control.ns != station.vr:  # lost or repeated: discarded; the RR names the N(S) expected
            return self._ready(client, station)
        station.vr = (station.vr + 1) % MODULUS
        station.pending.clear()  # a new request: what is left of the last answer is abandoned
        station.unacked.clear()
        station.received += frame.information
        if len(station.received) > self.max_request + len(LLC_REQUEST):
            station.received.clear()
            return self._reject(client, station, frame, Reject.INFORMATION_TOO_LONG)
        if frame.segmented:  # more to come: acknowledge (when polled) and wait
            return self._ready(client, station)
        request = bytes(station.received)
        station.received.clear()
        if not request.startswith(LLC_REQUEST):
            log.debug("hdlc client %d: LLC header %s, not E6E600: request dropped", client, request[:3].hex())
            return self._ready(client, station)
        return [Request(client, request[len(LLC_REQUEST):])]

    def _receive_ready(self, client: int, station: _Station, frame: HdlcFrame, control: Control) -> list[LinkEvent]:
        if frame.information:
            return self._reject(client, station, frame, Reject.UNDEFINED_CONTROL | Reject.INFORMATION_NOT_PERMITTED)
        if not _acknowledge(station, control.nr):
            return self._reject(client, station, frame, Reject.INVALID_NR)
        station.polled = station.polled or control.poll_final
        if not station.polled:
            return []
        if control.kind is FrameKind.RNR or not (station.unacked or station.pending):  # nothing we may send
            return self._ready(client, station)
        if station.unacked:  # N(R) says our last frames were lost: send them again, unchanged
            station.polled = False
            return [Transmit(f) for f in station.unacked]
        return [Transmit(f) for f in self._send_window(client, station)]

    # --- answers ------------------------------------------------------------------------------------------------
    def _ready(self, client: int, station: _Station) -> list[LinkEvent]:
        """RR with our V(R), if polled: an acknowledgement, or "nothing to send"."""
        if not station.polled:
            return []
        station.polled = False
        return [Transmit(self._frame(client, station.address, Control(FrameKind.RR, nr=station.vr)))]

    def _reject(self, client: int, station: _Station, frame: HdlcFrame, reason: Reject) -> list[LinkEvent]:
        log.info("hdlc client %d: frame %02X rejected (%s)", client, frame.control, reason.name)
        # the rejected control field; V(S) and V(R) (C/R = 0: the rejected frame was a command); the reasons
        station.rejected = bytes((frame.control, station.vr << 5 | station.vs << 1, int(reason)))
        return [Transmit(self._frmr(client, station))] if frame.control & POLL_FINAL else []

    def _frmr(self, client: int, station: _Station) -> bytes:
        return self._frame(client, station.address, Control(FrameKind.FRMR), station.rejected or b"")

    def _send_window(self, client: int, station: _Station) -> list[bytes]:
        """Up to a window of segments from `pending`; the last one sent has F = 1 and hands the line back."""
        window = station.parameters.window_tx
        frames: list[bytes] = []
        while station.pending and len(frames) < window:
            frames.append(self._segment(client, station, last_of_window=len(frames) + 1 == window))
        station.polled = False
        return frames

    def _segment(self, client: int, station: _Station, last_of_window: bool) -> bytes:
        size = min(station.parameters.max_info_tx, len(station.pending))
        cut, frame = size, self._i_frame(client, station, size, last_of_window)
        if self.avoid_flag_pairs:
            for shorter in range(size - 1, max(size - 1 - _FLAG_PAIR_TRIES, 0), -1):
                if _FLAG_PAIR not in frame[1:]:
                    break
                cut, frame = shorter, self._i_frame(client, station, shorter, last_of_window)
        del station.pending[:cut]
        station.unacked.append(frame)
        station.vs = (station.vs + 1) % MODULUS
        return frame

    def _i_frame(self, client: int, station: _Station, cut: int, last_of_window: bool) -> bytes:
        more = cut < len(station.pending)
        control = Control(FrameKind.I, last_of_window or not more, ns=station.vs, nr=station.vr)
        return encode_frame(control.to_byte(), hdlc_address(client), station.address,
                            bytes(station.pending[:cut]), segmented=more)

    def _frame(self, client: int, address: bytes, control: Control, information: bytes = b"") -> bytes:
        return encode_frame(control.to_byte(), hdlc_address(client), address, information)

    def _addressed(self, raw: bytes) -> bool:
        upper, lower = server_address(raw)
        return upper == self.server_address and (lower is None or self.physical_address in (None, lower))


def _acknowledge(station: _Station, nr: int) -> bool:
    """Take the client's N(R): drop the frames it acknowledges. False if N(R) is not one of V(A)..V(S)."""
    outstanding = len(station.unacked)
    acknowledged = (nr - (station.vs - outstanding)) % MODULUS
    if acknowledged > outstanding:
        return False
    del station.unacked[:acknowledged]
    return True


_ANY_STATE = {
    FrameKind.SNRM: HdlcServerLink._snrm,
    FrameKind.DISC: HdlcServerLink._disc,
    FrameKind.UI: HdlcServerLink._unconfirmed,
}
_CONNECTED = {
    FrameKind.I: HdlcServerLink._information,
    FrameKind.RR: HdlcServerLink._receive_ready,
    FrameKind.RNR: HdlcServerLink._receive_ready,
}
