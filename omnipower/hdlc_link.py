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

`HdlcClientLink` is the other end, the primary station a head-end runs: SNRM/DISC, requests segmented and windowed,
answers reassembled with RR polling each further window, lost frames asked for again. Its events are `Transmit`,
`Connected`, `Disconnected`, `Response`, `Refused` (DM, FRMR) and `Discarded` (a protocol error, with its reason);
the reply timer is the transport's, which calls `retry()` when it runs out.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from omnipower.errors import CodecError, EncodeError, LengthError, OmnipowerError, TruncatedError, UnknownTagError
from omnipower.hdlc import (
    FLAG,
    HdlcFrame,
    HdlcReader,
    encode_frame,
    encode_server_address,
    hdlc_address,
    server_address,
)

log = logging.getLogger(__name__)

__all__ = [
    "CLIENT_PROPOSAL",
    "DEFAULT_PARAMETERS",
    "LLC_REQUEST",
    "LLC_RESPONSE",
    "SERVER_LIMITS",
    "ClientEvent",
    "Connected",
    "Control",
    "Discard",
    "Discarded",
    "Disconnected",
    "FrameKind",
    "HdlcClientLink",
    "HdlcServerLink",
    "LinkEvent",
    "LinkParameters",
    "LinkState",
    "LinkStateError",
    "Refused",
    "Reject",
    "Request",
    "Response",
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
    """SNRM accepted (UA): the client starts afresh (any association it had is gone). `parameters` are the ones the
    station reporting it uses: the server's as its UA states them, the client's as it derives them from that UA."""

    client: int
    parameters: LinkParameters


@dataclass(frozen=True, slots=True)
class Disconnected:
    """DISC (or an SNRM that could not be accepted; at the client, DM on a connection): the client's connection and
    association are gone."""

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


_Event = TypeVar("_Event")
_Sent = TypeVar("_Sent")  # what a station keeps of an I frame sent: its bytes (server) or segment (client)


class _FrameLink(Generic[_Event]):
    """What both stations do with the line's bytes: cut them into frames with one `HdlcReader` and hand each to
    `handle_frame`, the station's own logic."""

    def __init__(self) -> None:
        self._reader = HdlcReader()

    def take_errors(self) -> list[CodecError]:
        """The malformed frames dropped since the last call (see `HdlcReader`)."""
        return self._reader.take_errors()

    def feed(self, data: bytes | bytearray | memoryview) -> list[_Event]:
        """Bytes from the line in any chunking. Never raises: malformed frames are dropped (`take_errors`)."""
        events: list[_Event] = []
        for frame in self._reader.feed(data):
            events += self.handle_frame(frame)
        return events

    def handle_frame(self, frame: HdlcFrame) -> list[_Event]:
        raise NotImplementedError


class HdlcServerLink(_FrameLink[LinkEvent]):
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
        super().__init__()
        self._stations: dict[int, _Station] = {}

    def connected(self, client: int) -> bool:
        return client in self._stations

    def parameters(self, client: int) -> LinkParameters | None:
        station = self._stations.get(client)
        return station.parameters if station is not None else None

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
        if not _acknowledge(station.unacked, station.vs, control.nr):
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
        if not _acknowledge(station.unacked, station.vs, control.nr):
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


def _acknowledge(unacked: list[_Sent], vs: int, nr: int) -> bool:
    """Take the peer's N(R): drop from `unacked` (our I frames not yet acknowledged, the last of them numbered
    V(S) - 1) the frames it acknowledges. False if N(R) is not one of V(A)..V(S). Both stations use it."""
    outstanding = len(unacked)
    acknowledged = (nr - (vs - outstanding)) % MODULUS
    if acknowledged > outstanding:
        return False
    del unacked[:acknowledged]
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


# --- the primary station: a head-end's end of the link -----------------------------------------------------------

CLIENT_PROPOSAL = SERVER_LIMITS
"""What `HdlcClientLink` proposes by default: 1024-byte information fields and windows of 7 each way. These are the
meter's own limits (`SERVER_LIMITS`), so a default session runs at the best the meter offers and its UA cuts nothing;
a meter with smaller limits cuts the proposal in its UA, which is how IEC 62056-46 means negotiation to work (the
client proposes the most it can take). 128 bytes and window 1 remain what a UA without parameters means."""


class LinkStateError(OmnipowerError):
    """The local side asked the link for something its state does not allow (e.g. `send` before `Connected`)."""


class LinkState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"  # SNRM sent, UA awaited
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"  # DISC sent, UA (or DM) awaited
    REJECTED = "rejected"  # frame reject condition (FRMR received, or an invalid N(R)): only connect or disconnect


@dataclass(frozen=True, slots=True)
class Response:
    """A complete APDU from the server, reassembled from its segments, LLC header (E6 E7 00) removed."""

    apdu: bytes


_NO_REASONS = Reject(0)  # DM, or an FRMR without its information field


@dataclass(frozen=True, slots=True)
class Refused:
    """The server refused the link: DM (it is in disconnected mode: it refused the SNRM, or has no connection for
    this client) or FRMR (it rejected one of our frames: `reasons` are the W/X/Y/Z bits, `rejected` the frame's
    control byte). After DM the link is disconnected; after FRMR only `connect` or `disconnect` can follow."""

    kind: FrameKind
    reasons: Reject = _NO_REASONS
    rejected: int | None = None


class Discard(enum.Enum):
    """Why a frame from the server was dropped (`Discarded`)."""

    UNDEFINED = "a control field IEC 62056-46 does not use"
    UNEXPECTED = "a frame the link's state has no use for (a command, a late UA or DM, an I frame while idle)"
    OUT_OF_SEQUENCE = "an I frame whose N(S) is not the one expected: asked for again with RR"
    INVALID_NR = "an N(R) acknowledging frames never sent: the link is in the frame reject condition"
    BAD_PARAMETERS = "a UA whose parameter field cannot be read: still connecting"
    NOT_LLC = "an answer without the LLC header E6 E7 00"
    TOO_LONG = "an answer longer than max_response: its segments are taken and dropped"


@dataclass(frozen=True, slots=True)
class Discarded:
    """A frame from the server the link dropped, and why: a protocol error the link reports rather than raises."""

    reason: Discard
    control: int
    detail: str = ""


ClientEvent = Transmit | Connected | Disconnected | Response | Refused | Discarded


@dataclass(frozen=True, slots=True)
class _Segment:
    """One of our I frames until it is acknowledged: re-encoded when sent again, with the V(R) of that moment."""

    ns: int
    information: bytes
    segmented: bool


def _client_view(proposal: LinkParameters, ua: LinkParameters) -> LinkParameters:
    """Our parameters from the server's UA (its transmit is our receive), never more than we proposed: a server that
    answers with more than it was offered is held to the offer."""
    return LinkParameters(max_info_tx=min(proposal.max_info_tx, ua.max_info_rx),
                          max_info_rx=min(proposal.max_info_rx, ua.max_info_tx),
                          window_tx=min(proposal.window_tx, ua.window_rx),
                          window_rx=min(proposal.window_rx, ua.window_tx))


class HdlcClientLink(_FrameLink[ClientEvent]):
    """The primary station (a head-end, the gateway): `connect`, `send` APDUs, `feed` the line's bytes, act on the
    events, `disconnect`.

        link = HdlcClientLink(client=16)
        write(link.connect())                        # SNRM with `proposal`
        for event in link.feed(data):
            Transmit(frame)        -> write the frame (RR polling the next segments, frames sent again)
            Connected(_, params)   -> the UA came: `send` may start (params as this station uses them)
            Response(apdu)         -> a complete answer
            Refused / Discarded    -> DM or FRMR from the server; a frame dropped, and why
            Disconnected           -> DISC answered, or the server lost the connection (DM)
        for frame in link.send(apdu): write(frame)   # the first window; the rest goes out as the server acknowledges

    `client` is our SAP (16 public, 1 management); `server` the upper HDLC address (logical device) and `physical`
    the lower one, written in `address_size` (2 or 4) bytes with it, or None for the one-byte form.

    The line is half duplex, as normal response mode makes it: every frame we send with P = 1 hands the line to the
    server, which hands it back with F = 1. `awaiting` says the line is the server's; when the transport's reply
    timer runs out it calls `retry`, which sends SNRM or DISC again, or polls with RR so that the server states its
    N(R) and sends again what we lost.

    Recovery (ISO/IEC 13239 checkpointing, as IEC 62056-46 uses it): an I frame out of sequence is dropped and, when
    the server hands the line back, RR with our V(R) asks for everything from the frame lost; an RR or I frame whose
    N(R) leaves some of our frames unacknowledged makes us send those again (go-back-N). `feed` never raises: malformed
    bytes are skipped as `HdlcReader` does (`take_errors`), frames from other stations are ignored, and frames that
    make no sense here come back as `Discarded`. Only local misuse raises (`LinkStateError`).
    """

    def __init__(self, client: int = 16, server: int = 1, physical: int | None = None, *, address_size: int = 2,
                 proposal: LinkParameters = CLIENT_PROPOSAL, max_response: int = 0x10000) -> None:
        self.client = client
        self.server = server
        self.physical = physical
        self.proposal = proposal
        self.max_response = max_response
        self._client_address = hdlc_address(client)  # raises EncodeError for a SAP beyond one byte
        self._server_address = encode_server_address(server, physical, address_size)
        super().__init__()
        self.state = LinkState.DISCONNECTED
        self.parameters = DEFAULT_PARAMETERS  # ours: what we send and take; the defaults until a UA states others
        self._reset()

    def _reset(self) -> None:
        self._vs = 0  # N(S) of our next new I frame
        self._vr = 0  # N(S) expected in the server's next I frame
        self._waiting = False  # we sent P = 1 and the server has not answered with F = 1
        self._busy = False  # the server's last word was RNR: no I frames until it says RR
        self._gap = False  # an I frame was out of sequence since the line was last ours
        self._more = False  # the last I frame taken had the segmentation bit: the answer goes on
        self._dropping = False  # the answer outgrew max_response: its further segments are dropped
        self._received = bytearray()
        self._pending: deque[tuple[bytes, bool]] = deque()  # segments not sent yet: (information, segmented)
        self._unacked: list[_Segment] = []

    @property
    def awaiting(self) -> bool:
        """The line is the server's: wait for its frames (or call `retry` when the reply timer runs out)."""
        return self._waiting

    # --- what the application asks ----------------------------------------------------------------------------
    def connect(self) -> bytes:
        """SNRM with our proposal. From any state: SNRM also resets a connection (and ends its association)."""
        self._reset()
        self.state = LinkState.CONNECTING
        return self._command(Control(FrameKind.SNRM), self.proposal.to_bytes())

    def disconnect(self) -> bytes:
        """DISC. The server answers UA, or DM when it had no connection: either gives `Disconnected`."""
        self._reset()
        self.state = LinkState.DISCONNECTING
        return self._command(Control(FrameKind.DISC))

    def send(self, apdu: bytes) -> list[bytes]:
        """The frames to write now for an APDU: LLC header E6 E6 00 + APDU, cut to the negotiated information field
        length, as many as the window allows (the last with P = 1). The rest waits for the server's acknowledgement,
        and a request sent while the line is the server's waits until it comes back; both go out as `Transmit`."""
        if self.state is not LinkState.CONNECTED:
            raise LinkStateError(f"cannot send an APDU while the HDLC link is {self.state.value}; connect first")
        data = LLC_REQUEST + apdu
        size = self.parameters.max_info_tx
        self._pending.extend((data[at:at + size], at + size < len(data)) for at in range(0, len(data), size))
        return [] if self._waiting or self._busy else self._send_window()

    def retry(self) -> list[bytes]:
        """What to send when the reply timer ran out while `awaiting`: the SNRM or DISC again, or RR with P = 1, to
        which the server answers with its N(R) (so we send again what it lacks) or with the frames we lost."""
        if self.state is LinkState.CONNECTING:
            return [self._command(Control(FrameKind.SNRM), self.proposal.to_bytes())]
        if self.state is LinkState.DISCONNECTING:
            return [self._command(Control(FrameKind.DISC))]
        if self.state is LinkState.CONNECTED and (self._waiting or self._busy):
            return [self._poll()]
        return []

    # --- what the server says ---------------------------------------------------------------------------------
    def handle_frame(self, frame: HdlcFrame) -> list[ClientEvent]:
        """One decoded frame."""
        if not self._from_server(frame):  # another station's, on a multi-drop bus
            return []
        try:
            control = decode_control(frame.control)
        except UnknownTagError as exc:
            return [Discarded(Discard.UNDEFINED, frame.control, str(exc))]
        if self.state not in _CLIENT_ACCEPTS.get(control.kind, frozenset()):
            return [Discarded(Discard.UNEXPECTED, frame.control, f"{control.kind.value} while {self.state.value}")]
        if control.poll_final:  # the line is ours again
            self._waiting = False
        return _CLIENT_HANDLERS[control.kind](self, frame, control)

    def _unnumbered_ack(self, frame: HdlcFrame, control: Control) -> list[ClientEvent]:
        if self.state is LinkState.DISCONNECTING:
            self.state = LinkState.DISCONNECTED
            return [Disconnected(self.client)]
        try:
            stated = LinkParameters.from_bytes(frame.information)
        except CodecError as exc:
            return [Discarded(Discard.BAD_PARAMETERS, frame.control, str(exc))]
        self.parameters = _client_view(self.proposal, stated)
        self.state = LinkState.CONNECTED
        return [Connected(self.client, self.parameters)]

    def _disconnected_mode(self, frame: HdlcFrame, control: Control) -> list[ClientEvent]:
        was = self.state
        self._reset()
        self.state = LinkState.DISCONNECTED
        if was is LinkState.DISCONNECTING:  # DISC to a server that had no connection: just as good
            return [Disconnected(self.client)]
        lost: list[ClientEvent] = [Disconnected(self.client)] if was is not LinkState.CONNECTING else []
        return [Refused(FrameKind.DM), *lost]

    def _frame_reject(self, frame: HdlcFrame, control: Control) -> list[ClientEvent]:
        self.state = LinkState.REJECTED
        self._pending.clear()
        info = frame.information  # rejected control, V(R)/V(S), reason bits (W X Y Z)
        return [Refused(FrameKind.FRMR, Reject(info[2] & 0x0F) if len(info) >= 3 else _NO_REASONS,
                        info[0] if info else None)]

    def _information(self, frame: HdlcFrame, control: Control) -> list[ClientEvent]:
        if not _acknowledge(self._unacked, self._vs, control.nr):
            return self._invalid_nr(frame)
        events: list[ClientEvent] = []
        if control.ns != self._vr:  # lost one before it, or a repeat: dropped; RR asks from V(R) on
            self._gap = True
            events.append(Discarded(Discard.OUT_OF_SEQUENCE, frame.control, f"N(S) {control.ns}, expected {self._vr}"))
        else:
            self._vr = (self._vr + 1) % MODULUS
            events += self._reassemble(frame)
        if control.poll_final:
            events += [Transmit(f) for f in self._line_returned()]
        return events

    def _receive_ready(self, frame: HdlcFrame, control: Control) -> list[ClientEvent]:
        if not _acknowledge(self._unacked, self._vs, control.nr):
            return self._invalid_nr(frame)
        self._busy = control.kind is FrameKind.RNR
        return [Transmit(f) for f in self._line_returned()] if control.poll_final else []

    # --- our side of the sequence -------------------------------------------------------------------------------
    def _reassemble(self, frame: HdlcFrame) -> list[ClientEvent]:
        self._more = frame.segmented
        if self._dropping:
            self._dropping = frame.segmented
            return []
        self._received += frame.information
        if len(self._received) > self.max_response + len(LLC_RESPONSE):
            self._received.clear()
            self._dropping = frame.segmented
            return [Discarded(Discard.TOO_LONG, frame.control, f"more than {self.max_response} bytes")]
        if frame.segmented:
            return []
        answer = bytes(self._received)
        self._received.clear()
        if not answer.startswith(LLC_RESPONSE):
            return [Discarded(Discard.NOT_LLC, frame.control, f"LLC header {answer[:3].hex()}")]
        return [Response(answer[len(LLC_RESPONSE):])]

    def _line_returned(self) -> list[bytes]:
        """The server handed the line back (F = 1): what we send now."""
        gap, self._gap = self._gap, False
        if self._unacked:  # its N(R) says these did not arrive: go back to the first of them
            return self._encode(self._unacked)
        if gap or self._more:  # the answer goes on, or must be sent again from the frame we lost
            return [self._poll()]
        return [] if self._busy else self._send_window()

    def _send_window(self) -> list[bytes]:
        batch: list[_Segment] = []
        while self._pending and len(self._unacked) + len(batch) < self.parameters.window_tx:
            information, segmented = self._pending.popleft()
            batch.append(_Segment(self._vs, information, segmented))
            self._vs = (self._vs + 1) % MODULUS
        self._unacked += batch
        return self._encode(batch)

    def _encode(self, segments: list[_Segment]) -> list[bytes]:
        """I frames for `segments`; the last polls (P = 1), handing the line to the server."""
        frames = [encode_frame(Control(FrameKind.I, n == len(segments) - 1, ns=s.ns, nr=self._vr).to_byte(),
                               self._server_address, self._client_address, s.information, s.segmented)
                  for n, s in enumerate(segments)]
        self._waiting = self._waiting or bool(frames)
        return frames

    def _poll(self) -> bytes:
        return self._command(Control(FrameKind.RR, nr=self._vr))

    def _command(self, control: Control, information: bytes = b"") -> bytes:
        self._waiting = control.poll_final
        return encode_frame(control.to_byte(), self._server_address, self._client_address, information)

    def _invalid_nr(self, frame: HdlcFrame) -> list[ClientEvent]:
        self.state = LinkState.REJECTED
        self._pending.clear()
        detail = f"N(R) {frame.control >> 5} with V(S) {self._vs} and {len(self._unacked)} frames unacknowledged"
        return [Discarded(Discard.INVALID_NR, frame.control, detail)]

    def _from_server(self, frame: HdlcFrame) -> bool:
        if frame.dst != self._client_address:
            return False
        upper, lower = server_address(frame.src)
        return upper == self.server and (self.physical is None or lower in (None, self.physical))


_CONNECTION = frozenset({LinkState.CONNECTED})
# Which server frames each state takes; any other is `Discarded(UNEXPECTED)`. SNRM, DISC and UI are commands only a
# primary sends (the meter offers no unsolicited UI on this link), so no state takes them.
_CLIENT_ACCEPTS: dict[FrameKind, frozenset[LinkState]] = {
    FrameKind.UA: frozenset({LinkState.CONNECTING, LinkState.DISCONNECTING}),
    FrameKind.DM: frozenset({LinkState.CONNECTING, LinkState.CONNECTED, LinkState.DISCONNECTING, LinkState.REJECTED}),
    FrameKind.FRMR: frozenset({LinkState.CONNECTED, LinkState.REJECTED}),
    FrameKind.I: _CONNECTION,
    FrameKind.RR: _CONNECTION,
    FrameKind.RNR: _CONNECTION,
}
_CLIENT_HANDLERS = {
    FrameKind.UA: HdlcClientLink._unnumbered_ack,
    FrameKind.DM: HdlcClientLink._disconnected_mode,
    FrameKind.FRMR: HdlcClientLink._frame_reject,
    FrameKind.I: HdlcClientLink._information,
    FrameKind.RR: HdlcClientLink._receive_ready,
    FrameKind.RNR: HdlcClientLink._receive_ready,
}
