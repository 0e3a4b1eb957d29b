"""The head-end's end of the HDLC link (`HdlcClientLink`, IEC 62056-46 primary station).

Its judge is the meter: a simulated meter behind `converse_hdlc` on a TCP port, read through a whole session with the
project's APDU codec (SNRM/UA, AARQ, GET with blocks, GET-with-list, RLRQ, DISC). The link's own rules (windows,
recovery from lost frames, DM, FRMR, garbage) are tested sans-IO against `HdlcServerLink` on an in-memory line that
can lose any one frame.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from dlms_harness import ServedMeter, mutated_frames, stepped_meter
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_sim.modules.dlms_hdlc import physical_address
from meter_sim.modules.dlms_server import SERVER_MAX_PDU
from omnipower import dlms_apdu as ap
from omnipower.cosem import CosemClass, cosem_objects
from omnipower.dlms import Data, decode_data
from omnipower.hdlc import FLAG, HdlcFrame, HdlcReader, decode_frame, encode_frame, hdlc_address
from omnipower.hdlc_link import (
    CLIENT_PROPOSAL,
    DEFAULT_PARAMETERS,
    LLC_REQUEST,
    ClientEvent,
    Connected,
    Control,
    Discard,
    Discarded,
    Disconnected,
    FrameKind,
    HdlcClientLink,
    HdlcServerLink,
    LinkParameters,
    LinkState,
    LinkStateError,
    Refused,
    Reject,
    Request,
    Response,
    Transmit,
    decode_control,
)

PUBLIC = 16
CONFORMANCE = ap.Conformance.GET | ap.Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ | ap.Conformance.MULTIPLE_REFERENCES
OBJECT_LIST = ap.AttributeDescriptor(CosemClass.ASSOCIATION_LN, bytes((0, 0, 40, 0, 0, 255)), 2)


def parameters(max_info: int, window: int) -> LinkParameters:
    return LinkParameters(max_info_tx=max_info, max_info_rx=max_info, window_tx=window, window_rx=window)


def kind_of(frame: bytes | HdlcFrame) -> Control:
    return decode_control((decode_frame(frame) if isinstance(frame, bytes) else frame).control)


# --- the judge: a simulated meter behind converse_hdlc ------------------------------------------------------------

@pytest.fixture(scope="module")
def meter() -> Iterator[ServedMeter]:
    # a morning of energy, so that the values mean something
    with ServedMeter(stepped_meter("hdlc-client", hours=6), "hdlc") as served:
        yield served


class HeadEnd:
    """An `HdlcClientLink` on a socket: the transport's few lines, with every frame kept for the test to count."""

    def __init__(self, port: int, link: HdlcClientLink) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.link = link
        self.seen = HdlcReader()
        self.sent: list[HdlcFrame] = []
        self.received: list[HdlcFrame] = []

    def write(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.sent.append(decode_frame(frame))
            self.sock.sendall(frame)

    def run(self, frames: list[bytes]) -> list[ClientEvent]:
        """Write `frames`, then read until the line is ours again, writing what the link sends by itself."""
        self.write(frames)
        events: list[ClientEvent] = []
        while self.link.awaiting:
            data = self.sock.recv(4096)
            assert data, "the meter closed the line"
            self.received += self.seen.feed(data)
            for event in self.link.feed(data):
                if isinstance(event, Transmit):
                    self.write([event.frame])
                else:
                    events.append(event)
        return events

    def request(self, apdu: ap.Apdu) -> ap.Apdu:
        events = self.run(self.link.send(apdu.to_bytes()))
        (response,) = events
        assert isinstance(response, Response)
        return ap.decode_apdu(response.apdu)

    def get(self, attribute: ap.AttributeDescriptor) -> tuple[Data, list[int]]:
        """The attribute's value, read in blocks when it is long; and the I frames each answer took."""
        frames: list[int] = []

        def ask(apdu: ap.Apdu) -> ap.Apdu:
            before = len(self.received)
            answer = self.request(apdu)
            frames.append(sum(kind_of(f).kind is FrameKind.I for f in self.received[before:]))
            return answer

        answer = ask(ap.GetRequestNormal(attribute=attribute))
        if isinstance(answer, ap.GetResponseNormal):
            assert isinstance(answer.result, Data)
            return answer.result, frames
        raw = bytearray()
        while True:
            assert isinstance(answer, ap.GetResponseWithBlock) and isinstance(answer.result, bytes)
            assert answer.block_number == len(frames)
            raw += answer.result
            if answer.last_block:
                return decode_data(bytes(raw)), frames
            answer = ask(ap.GetRequestNext(block_number=answer.block_number))

    def close(self) -> None:
        self.sock.close()


def register(served: ServedMeter, key: str, attribute: int) -> ap.AttributeDescriptor:
    text = next(r.logical_name for r in served.meter.registers if r.key == key)
    return ap.AttributeDescriptor(CosemClass.REGISTER, bytes(int(p) for p in text.split(".")), attribute)


@pytest.mark.parametrize(("max_info", "window", "physical"), [(128, 1, False), (128, 3, True), (1024, 7, True)])
def test_a_whole_session_with_the_meter(meter: ServedMeter, max_info: int, window: int, physical: bool) -> None:
    lower = physical_address(meter.meter.id) if physical else None
    head = HeadEnd(meter.port, HdlcClientLink(PUBLIC, 1, lower, proposal=parameters(max_info, window)))
    try:
        # SNRM/UA: the meter takes the proposal whole (it is within its limits)
        assert head.run([head.link.connect()]) == [Connected(PUBLIC, parameters(max_info, window))]
        assert kind_of(head.received[-1]).kind is FrameKind.UA
        assert head.sent[-1].dst == head.received[-1].src == (b"\x03" if lower is None else b"\x02" + bytes(
            [lower << 1 | 1]))

        # we take PDUs of 1 kB: longer answers come in blocks of that size
        aare = head.request(ap.Aarq(user_information=ap.InitiateRequest(proposed_conformance=CONFORMANCE,
                                                                         client_max_receive_pdu_size=1024)))
        assert isinstance(aare, ap.Aare) and aare.result is ap.AssociationResult.ACCEPTED

        # a register against the model
        count, _ = head.get(register(meter, "a_minus", 2))
        scaler_unit, _ = head.get(register(meter, "a_minus", 3))
        pair = scaler_unit.to_python()
        assert isinstance(pair, list)
        scaler, unit = pair
        published = meter.meter.readings()["a_minus"]
        assert unit == 30 and isinstance(published, float) and published > 0  # Wh
        assert isinstance(count.value, int) and isinstance(scaler, int)
        assert count.value * 10**scaler / 1000 == pytest.approx(published, abs=10**scaler / 1000)

        # the object list: several GET blocks (of about 1 kB: the PDU size we take), each over several I frames
        before = len(head.sent)
        entries, frames = head.get(OBJECT_LIST)
        table = entries.to_python()
        assert isinstance(table, list)
        listed = {(e[0], bytes(e[2])) for e in table}
        assert listed == {(int(o.class_id), o.logical_name) for o in cosem_objects(meter.meter.registers)}
        # a full block is about 1 kB (our PDU size) with its header and the LLC: 8 frames of 128 bytes, or one of 1024
        assert len(frames) >= 3 and all(n == (1 if max_info == 1024 else 8) for n in frames[:-1])
        # RR polled each further window of an answer: one per window but the first
        polls = [f for f in head.sent[before:] if kind_of(f).kind is FrameKind.RR]
        assert len(polls) == sum(-(-n // window) - 1 for n in frames)

        # a request longer than one frame: GET-with-list of every register, segmented and windowed on the way up
        # (within what the meter takes, its server-max-receive-pdu-size): 4 bytes + 10 per attribute, with the LLC
        # header more than even a 1024-byte information field
        assert isinstance(aare.user_information, ap.InitiateResponse)
        largest = aare.user_information.server_max_receive_pdu_size
        descriptors = [ap.AttributeDescriptor(o.class_id, o.logical_name, 2) for o in cosem_objects(
            meter.meter.registers) if o.class_id in (CosemClass.REGISTER, CosemClass.EXTENDED_REGISTER)]
        request = ap.GetRequestWithList(attributes=tuple(ap.AttributeWithSelection(d)
                                                         for d in descriptors[:(largest - 4) // 10]))
        assert 1024 < len(request.to_bytes()) <= largest == 4096
        before = len(head.sent)
        answer = head.request(request)
        segments = [f for f in head.sent[before:] if kind_of(f).kind is FrameKind.I]
        assert len(segments) >= 2 and all(f.segmented for f in segments[:-1]) and not segments[-1].segmented
        assert all(len(f.information) == max_info for f in segments[:-1])
        assert [kind_of(f).poll_final for f in segments] == [
            n % window == window - 1 or n == len(segments) - 1 for n in range(len(segments))]
        assert isinstance(answer, ap.GetResponseWithList)
        assert list(answer.results) == [head.get(d.attribute)[0] for d in request.attributes]

        release = head.request(ap.ReleaseRequest(reason=ap.ReleaseRequestReason.NORMAL))
        assert isinstance(release, ap.ReleaseResponse) and release.reason is ap.ReleaseResponseReason.NORMAL
        assert head.run([head.link.disconnect()]) == [Disconnected(PUBLIC)]
        assert kind_of(head.received[-1]).kind is FrameKind.UA and head.link.state is LinkState.DISCONNECTED
    finally:
        head.close()


def test_the_default_proposal_is_the_meter_s_limits(meter: ServedMeter) -> None:
    head = HeadEnd(meter.port, HdlcClientLink())
    try:
        assert head.run([head.link.connect()]) == [Connected(PUBLIC, CLIENT_PROPOSAL)]
        assert LinkParameters.from_bytes(head.sent[0].information) == CLIENT_PROPOSAL
        assert head.run([head.link.disconnect()]) == [Disconnected(PUBLIC)]
    finally:
        head.close()


# --- the link, sans-IO: an in-memory line to HdlcServerLink that can lose a frame ----------------------------------

@dataclass
class Line:
    """Carries frames between the client and the server, one turn of the line at a time, losing the frames whose
    number (counted over the whole life of the line, both ways) is in `lose`. The server echoes every request
    reversed. When the line goes quiet while the client waits, the client's reply timer runs out: `retry`."""

    client: HdlcClientLink
    server: HdlcServerLink = field(default_factory=lambda: HdlcServerLink(1, 17))
    lose: frozenset[int] = frozenset()
    answer: Callable[[bytes], bytes] = lambda apdu: bytes(reversed(apdu))
    carried: int = 0
    requests: list[bytes] = field(default_factory=list)
    up: list[bytes] = field(default_factory=list)  # every frame the client wrote
    down: list[bytes] = field(default_factory=list)  # every frame the server wrote
    retries: int = 0

    def _arrives(self, frame: bytes) -> bool:
        self.carried += 1
        return self.carried - 1 not in self.lose

    def carry(self, frames: list[bytes]) -> list[ClientEvent]:
        events: list[ClientEvent] = []
        while True:
            self.up += frames
            answers: list[bytes] = []
            for frame in filter(self._arrives, frames):
                for event in self.server.feed(frame):
                    if isinstance(event, Transmit):
                        answers.append(event.frame)
                    elif isinstance(event, Request):
                        self.requests.append(event.apdu)
                        answers += self.server.respond(event.client, self.answer(event.apdu))
            self.down += answers
            frames = []
            for frame in filter(self._arrives, answers):
                for happened in self.client.feed(frame):
                    if isinstance(happened, Transmit):
                        frames.append(happened.frame)
                    else:
                        events.append(happened)
            if not frames and self.client.awaiting:  # silence: the reply timer runs out
                self.retries += 1
                assert self.retries < 10, "the link does not recover"
                frames = self.client.retry()
            if not frames:
                return events


def connected_line(proposal: LinkParameters = CLIENT_PROPOSAL, **line: object) -> Line:
    wire = Line(HdlcClientLink(PUBLIC, 1, 17, proposal=proposal), **line)  # type: ignore[arg-type]
    (event,) = wire.carry([wire.client.connect()])
    assert isinstance(event, Connected)
    return wire


def responses(events: list[ClientEvent]) -> list[bytes]:
    return [e.apdu for e in events if isinstance(e, Response)]


def test_connect_states_the_proposal_and_takes_the_ua_s_values() -> None:
    client = HdlcClientLink(PUBLIC, 1, 17, proposal=LinkParameters(512, 256, 7, 3))
    snrm = decode_frame(client.connect())
    assert kind_of(snrm) == Control(FrameKind.SNRM) and client.awaiting
    assert snrm.dst == b"\x02\x23" and snrm.src == hdlc_address(PUBLIC)  # upper 1, lower 17; client 16
    assert LinkParameters.from_bytes(snrm.information) == LinkParameters(512, 256, 7, 3)
    server = HdlcServerLink(1, 17, limits=LinkParameters(max_info_tx=1024, max_info_rx=300, window_tx=7,
                                                         window_rx=2))
    (ua,) = [e.frame for e in server.feed(encode_frame(snrm.control, snrm.dst, snrm.src, snrm.information))
             if isinstance(e, Transmit)]
    # the server sends 256 (what we take) and takes 300 (we send 512: cut to its 300); windows 3 down, 2 up
    assert client.feed(ua) == [Connected(PUBLIC, LinkParameters(300, 256, 2, 3))]
    assert not client.awaiting and client.state is LinkState.CONNECTED


def test_a_ua_without_parameters_means_the_defaults_and_more_than_proposed_is_not_taken() -> None:
    client = HdlcClientLink(PUBLIC, proposal=parameters(256, 2))
    client.connect()
    ua = encode_frame(Control(FrameKind.UA).to_byte(), hdlc_address(PUBLIC), b"\x03")
    assert client.feed(ua) == [Connected(PUBLIC, DEFAULT_PARAMETERS)]
    client.connect()
    generous = encode_frame(Control(FrameKind.UA).to_byte(), hdlc_address(PUBLIC), b"\x03",
                            parameters(2000, 7).to_bytes())
    assert client.feed(generous) == [Connected(PUBLIC, parameters(256, 2))]


@pytest.mark.parametrize(("max_info", "window"), [(32, 1), (128, 1), (128, 3), (300, 2), (1024, 7)])
def test_requests_and_answers_of_any_length(max_info: int, window: int) -> None:
    wire = connected_line(parameters(max_info, window))
    for size in (1, max_info - 3, max_info - 2, 2 * max_info, 2500):
        apdu = bytes((n * 7 + size) % 256 for n in range(size))
        before_up, before_down = len(wire.up), len(wire.down)
        assert responses(wire.carry(wire.client.send(apdu))) == [bytes(reversed(apdu))]
        assert wire.requests[-1] == apdu and wire.retries == 0
        up = [decode_frame(f) for f in wire.up[before_up:]]
        pieces = -(-(size + 3) // max_info)
        # our I frames: N(S) in turn, P = 1 on the last of each window; one RR per further window of the answer
        sent = [f for f in up if kind_of(f).kind is FrameKind.I]
        assert len(sent) == pieces and all(len(f.information) <= max_info for f in sent)
        assert [kind_of(f).poll_final for f in sent] == [n % window == window - 1 or n == pieces - 1
                                                          for n in range(pieces)]
        down = [decode_frame(f) for f in wire.down[before_down:] if kind_of(f).kind is FrameKind.I]
        polls = [f for f in up if kind_of(f).kind is FrameKind.RR]
        assert len(polls) == -(-len(down) // window) - 1


def test_the_window_holds_further_segments_until_the_server_acknowledges() -> None:
    wire = connected_line(parameters(128, 3))
    first = wire.client.send(bytes(1000))  # 8 segments: 3 now
    assert [kind_of(f) for f in first] == [Control(FrameKind.I, n == 2, ns=n) for n in range(3)]
    assert wire.client.send(b"\xc0\x01") == []  # the line is the server's: queued behind the first
    for frame in first[:2]:
        assert wire.server.feed(frame) == []  # P = 0: the server takes them in silence
    (rr,) = wire.server.feed(first[2])
    assert isinstance(rr, Transmit) and kind_of(rr.frame) == Control(FrameKind.RR, nr=3)
    events = wire.client.feed(rr.frame)
    assert [kind_of(e.frame) for e in events if isinstance(e, Transmit)] == [
        Control(FrameKind.I, n == 5, ns=n % 8) for n in range(3, 6)]


def test_an_answer_split_at_every_byte_boundary_gives_the_same_events() -> None:
    def prepared() -> tuple[HdlcClientLink, bytes]:
        server = HdlcServerLink(1, avoid_flag_pairs=False)
        client = HdlcClientLink(PUBLIC, proposal=parameters(64, 7))
        (_, ua) = server.feed(client.connect())
        assert isinstance(ua, Transmit)
        client.feed(ua.frame)
        (request,) = [e for f in client.send(b"\xc0\x01\xc1\x7e\x7e" * 20) for e in server.feed(f)]
        assert isinstance(request, Request)
        return client, b"".join(server.respond(PUBLIC, bytes(range(256))))  # 5 segments, one window

    client, stream = prepared()
    whole = client.feed(stream)
    assert whole == [Response(bytes(range(256)))]
    for cut in range(1, len(stream)):
        client, stream = prepared()
        assert client.feed(stream[:cut]) + client.feed(stream[cut:]) == whole


def test_a_ua_split_at_every_byte_boundary_connects() -> None:
    ua = encode_frame(Control(FrameKind.UA).to_byte(), hdlc_address(PUBLIC), b"\x03", parameters(512, 4).to_bytes())
    for cut in range(len(ua) + 1):
        client = HdlcClientLink(PUBLIC)
        client.connect()
        assert client.feed(ua[:cut]) + client.feed(ua[cut:]) == [Connected(PUBLIC, parameters(512, 4))]


def _clean_session(wire: Line) -> list[ClientEvent]:
    events = wire.carry([wire.client.connect()])
    for apdu in (bytes(range(200)) * 3, b"\xc0\x01\xc1"):
        events += wire.carry(wire.client.send(apdu))
    return events + wire.carry([wire.client.disconnect()])


def _frames_in_a_clean_session(proposal: LinkParameters) -> int:
    wire = Line(HdlcClientLink(PUBLIC, 1, 17, proposal=proposal))
    _clean_session(wire)
    assert wire.retries == 0
    return wire.carried


@pytest.mark.parametrize("proposal", [parameters(128, 1), parameters(128, 3), parameters(64, 7)])
def test_any_frame_lost_is_recovered(proposal: LinkParameters) -> None:
    """Every frame of a session (SNRM, UA, request segments, RR, answer segments, DISC, UA) lost in turn: the
    session still ends with each request taken once, each answer whole, and the link disconnected."""
    for lost in range(_frames_in_a_clean_session(proposal)):
        wire = Line(HdlcClientLink(PUBLIC, 1, 17, proposal=proposal), lose=frozenset({lost}))
        events = _clean_session(wire)
        assert wire.requests == [bytes(range(200)) * 3, b"\xc0\x01\xc1"], lost
        assert responses(events) == [bytes(reversed(r)) for r in wire.requests], lost
        assert isinstance(events[-1], Disconnected) and wire.client.state is LinkState.DISCONNECTED, lost
        # the loss shows only as repeats dropped (late UA, I frames out of sequence), never as a refusal
        assert all(e.reason in (Discard.OUT_OF_SEQUENCE, Discard.UNEXPECTED) for e in events
                   if isinstance(e, Discarded)), lost
        assert not any(isinstance(e, Refused) for e in events), lost


def test_a_lost_segment_in_a_window_is_asked_for_again_from_its_n_s() -> None:
    wire = connected_line(parameters(128, 7))
    wire.carry(wire.client.send(b"\xc0\x01\xc1"))  # one request answered in one frame: both sides at 1
    (frame,) = wire.client.send(b"\xc0\x01\xc1")
    assert [type(e) for e in wire.server.feed(frame)] == [Request]
    window = wire.server.respond(PUBLIC, bytes(600))  # 5 segments, N(S) 1..5
    assert len(window) == 5
    events = [e for f in window[:2] + window[3:] for e in wire.client.feed(f)]  # N(S) 3 lost
    *discarded, poll = events
    assert discarded == [Discarded(Discard.OUT_OF_SEQUENCE, decode_frame(f).control, f"N(S) {n}, expected 3")
                         for n, f in zip((4, 5), window[3:], strict=True)]
    assert isinstance(poll, Transmit) and kind_of(poll.frame) == Control(FrameKind.RR, nr=3)
    again = [e.frame for e in wire.server.feed(poll.frame) if isinstance(e, Transmit)]
    assert again == window[2:]  # go-back-N: the lost one and those after it, unchanged
    assert [e for f in again for e in wire.client.feed(f)] == [Response(bytes(600))]


def test_dm_in_answer_to_snrm_is_a_refusal() -> None:
    client = HdlcClientLink(PUBLIC)
    with pytest.raises(LinkStateError, match="disconnected"):
        client.send(b"\xc0\x01\xc1")  # before SNRM
    # a proposal the server cannot take (a window of 0 is outside 1..7): DM
    snrm = decode_frame(client.connect())
    bad = encode_frame(snrm.control, snrm.dst, snrm.src, bytes.fromhex("818012050180060180070400000000080400000001"))
    (dm,) = HdlcServerLink(1).feed(bad)
    assert isinstance(dm, Transmit)
    assert client.feed(dm.frame) == [Refused(FrameKind.DM)]
    assert client.state is LinkState.DISCONNECTED and not client.awaiting


def test_dm_on_a_connection_the_server_has_forgotten() -> None:
    wire = connected_line()
    wire.server = HdlcServerLink(1, 17)  # the meter restarted: it knows no connection
    events = wire.carry(wire.client.send(b"\xc0\x01\xc1"))
    assert events == [Refused(FrameKind.DM), Disconnected(PUBLIC)]
    assert wire.client.state is LinkState.DISCONNECTED
    assert isinstance(wire.carry([wire.client.connect()])[0], Connected)  # and SNRM starts afresh


def test_disc_answered_with_dm_is_disconnected_too() -> None:
    client = HdlcClientLink(PUBLIC)
    (dm,) = HdlcServerLink(1).feed(client.disconnect())
    assert isinstance(dm, Transmit) and kind_of(dm.frame).kind is FrameKind.DM
    assert client.feed(dm.frame) == [Disconnected(PUBLIC)]


def test_frmr_puts_the_link_in_the_frame_reject_condition_until_snrm() -> None:
    wire = connected_line(parameters(128, 1))
    # an I frame with N(R) 5, as a confused client would send it: the server's FRMR names the frame and Z
    bad = encode_frame(Control(FrameKind.I, ns=0, nr=5).to_byte(), b"\x02\x23", hdlc_address(PUBLIC), LLC_REQUEST)
    (frmr,) = wire.server.feed(bad)
    assert isinstance(frmr, Transmit)
    assert wire.client.feed(frmr.frame) == [Refused(FrameKind.FRMR, Reject.INVALID_NR, 0xB0)]
    assert wire.client.state is LinkState.REJECTED
    with pytest.raises(LinkStateError, match="rejected"):
        wire.client.send(b"\xc0\x01\xc1")
    assert isinstance(wire.carry([wire.client.connect()])[0], Connected)
    assert responses(wire.carry(wire.client.send(b"\xc0\x01\xc1"))) == [b"\xc1\x01\xc0"]


def test_an_invalid_n_r_from_the_server_is_reported_and_needs_a_reset() -> None:
    client = HdlcClientLink(PUBLIC)
    client.connect()
    client.feed(encode_frame(Control(FrameKind.UA).to_byte(), hdlc_address(PUBLIC), b"\x03"))
    rr = encode_frame(Control(FrameKind.RR, nr=5).to_byte(), hdlc_address(PUBLIC), b"\x03")
    (event,) = client.feed(rr)
    assert isinstance(event, Discarded) and event.reason is Discard.INVALID_NR
    assert client.state is LinkState.REJECTED


@pytest.mark.parametrize(("state", "frame", "reason"), [
    ("connected", Control(FrameKind.UA), Discard.UNEXPECTED),  # a late UA
    ("connected", Control(FrameKind.SNRM), Discard.UNEXPECTED),  # a command: only we send those
    ("connecting", Control(FrameKind.I), Discard.UNEXPECTED),
    ("connected", 0x19, Discard.UNDEFINED),  # REJ
])
def test_frames_the_state_has_no_use_for_are_discarded(state: str, frame: Control | int, reason: Discard) -> None:
    client = HdlcClientLink(PUBLIC)
    client.connect()
    if state == "connected":
        client.feed(encode_frame(Control(FrameKind.UA).to_byte(), hdlc_address(PUBLIC), b"\x03"))
    control = frame if isinstance(frame, int) else frame.to_byte()
    (event,) = client.feed(encode_frame(control, hdlc_address(PUBLIC), b"\x03"))
    assert isinstance(event, Discarded) and event.reason is reason and event.control == control


def test_frames_for_other_stations_are_ignored() -> None:
    client = HdlcClientLink(PUBLIC, 1, 17)
    client.connect()
    ua = Control(FrameKind.UA).to_byte()
    assert client.feed(encode_frame(ua, hdlc_address(1), b"\x02\x23")) == []  # to the management client
    assert client.feed(encode_frame(ua, hdlc_address(PUBLIC), b"\x02\x25")) == []  # from another meter
    assert client.feed(encode_frame(ua, hdlc_address(PUBLIC), b"\x05")) == []  # another logical device
    assert client.feed(encode_frame(ua, hdlc_address(PUBLIC), b"\x02\x23")) == [Connected(PUBLIC, DEFAULT_PARAMETERS)]


def test_an_answer_beyond_max_response_is_dropped_and_the_link_goes_on() -> None:
    wire = connected_line(parameters(128, 2))
    wire.client.max_response = 500
    events = wire.carry(wire.client.send(b"\x01"))
    wire.answer = lambda apdu: bytes(1000)
    events = wire.carry(wire.client.send(b"\x02"))
    assert [type(e) for e in events] == [Discarded] and events[0].reason is Discard.TOO_LONG  # type: ignore[union-attr]
    wire.answer = lambda apdu: apdu
    assert responses(wire.carry(wire.client.send(b"\x03"))) == [b"\x03"]


def test_an_answer_without_its_llc_header_is_discarded() -> None:
    client = HdlcClientLink(PUBLIC)
    client.connect()
    client.feed(encode_frame(Control(FrameKind.UA).to_byte(), hdlc_address(PUBLIC), b"\x03"))
    client.send(b"\xc0\x01\xc1")
    answer = encode_frame(Control(FrameKind.I, ns=0, nr=1).to_byte(), hdlc_address(PUBLIC), b"\x03",
                          LLC_REQUEST + b"\x0e")  # E6 E6 00: a request's header, not an answer's
    (event,) = client.feed(answer)
    assert isinstance(event, Discarded) and event.reason is Discard.NOT_LLC


# --- never raises -------------------------------------------------------------------------------------------------

def _server_frames() -> list[bytes]:
    """What a server says in a session: UA, an answer in three segments, RR, FRMR, DM."""
    wire = Line(HdlcClientLink(PUBLIC, 1, 17, proposal=parameters(64, 3)))
    wire.carry([wire.client.connect()])
    wire.carry(wire.client.send(bytes(150)))
    frmr = encode_frame(Control(FrameKind.FRMR).to_byte(), hdlc_address(PUBLIC), b"\x02\x23", b"\x10\x00\x01")
    dm = encode_frame(Control(FrameKind.DM).to_byte(), hdlc_address(PUBLIC), b"\x02\x23")
    return [*wire.down, frmr, dm]


_SERVER_FRAMES = _server_frames()
_UA = _SERVER_FRAMES[0]
_FILL = bytes([FLAG]) * 2100  # completes any false start's announced length


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=300), mutated_frames(_SERVER_FRAMES),
                 st.lists(st.sampled_from(_SERVER_FRAMES)).map(b"".join)),
       st.sampled_from(["idle", "connecting", "connected", "awaiting"]))
def test_any_bytes_in_any_state_never_raise(data: bytes, state: str) -> None:
    client = HdlcClientLink(PUBLIC, 1, 17, proposal=parameters(64, 3))
    if state != "idle":
        client.connect()
    if state in ("connected", "awaiting"):
        client.feed(_UA)
    if state == "awaiting":
        client.send(bytes(150))
    events = client.feed(data)  # documented never to raise
    assert all(isinstance(e, Transmit | Connected | Disconnected | Response | Refused | Discarded) for e in events)
    if client.state is LinkState.CONNECTED:
        client.send(b"\xc0\x01\xc1")
    else:
        with pytest.raises(LinkStateError):
            client.send(b"\xc0\x01\xc1")
    client.retry()
    # What was left half-read is completed by the fill (a frame of it may still be answered: a DM, say), and then
    # the link still connects.
    client.feed(_FILL)
    client.connect()
    assert client.feed(_UA) == [Connected(PUBLIC, parameters(64, 3))]


def test_a_request_beyond_the_meter_s_pdu_size_gets_frmr(meter: ServedMeter) -> None:
    head = HeadEnd(meter.port, HdlcClientLink(PUBLIC, proposal=parameters(128, 1)))
    try:
        head.run([head.link.connect()])
        (refused,) = head.run(head.link.send(b"\xc0\x01\xc1" + bytes(SERVER_MAX_PDU)))  # more than the meter takes
        assert isinstance(refused, Refused) and refused.kind is FrameKind.FRMR
        assert refused.reasons is Reject.INFORMATION_TOO_LONG and head.link.state is LinkState.REJECTED
        assert isinstance(head.run([head.link.connect()])[0], Connected)  # SNRM clears the condition
        assert head.run([head.link.disconnect()]) == [Disconnected(PUBLIC)]
    finally:
        head.close()
