"""The meter's DLMS/COSEM server over the connection-oriented HDLC link (IEC 62056-46).

The judge is dlms-cosem's `DlmsClient` with its `HdlcTransport`, over TCP and over a pty as a serial line: it
negotiates the link, associates, reads what the model holds (segmented frames and GET blocks for the object list),
operates the breaker and leaves with RLRQ and DISC. The link's own rules (negotiation, segmentation, sequence
numbers, rejects) are tested sans-IO against a small primary station written here from the standard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dlms_cosem import cosem, enumerations
from dlms_cosem.client import DlmsClient
from dlms_cosem.exceptions import CommunicationError, DlmsClientException
from dlms_cosem.hdlc import frames as cosem_frames
from dlms_harness import (
    PASSWORD,
    START,
    ServedMeter,
    dlms_client,
    mutated_frames,
    obis,
    simulator_client,
    stepped_meter,
    value,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.dlms_hdlc import converse_hdlc, physical_address
from omnipower import dlms_apdu as ap
from omnipower.cosem import cosem_objects
from omnipower.errors import CodecError
from omnipower.hdlc import FLAG, HdlcReader, decode_frame, encode_frame, encode_server_address, hdlc_address
from omnipower.hdlc_link import (
    DEFAULT_PARAMETERS,
    LLC_REQUEST,
    LLC_RESPONSE,
    Connected,
    Control,
    Disconnected,
    FrameKind,
    HdlcServerLink,
    LinkEvent,
    LinkParameters,
    Reject,
    Request,
    Transmit,
    decode_control,
)

REGISTER = enumerations.CosemInterface.REGISTER
DISCONNECT_CONTROL = enumerations.CosemInterface.DISCONNECT_CONTROL


# --- the judge: dlms-cosem over TCP and over a pty ----------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedMeter]:
    # a morning of energy, so that the values mean something
    meter = stepped_meter("hdlc1", {"dlms": {"password": PASSWORD}}, hours=6)
    with ServedMeter(meter, "hdlc", pty=tmp_path_factory.mktemp("hdlc") / "meter.pty") as server:
        yield server


def leave(client: DlmsClient) -> Any:
    """RLRQ, then DISC: the UA dlms-cosem receives (it drops it in `DlmsClient.disconnect`)."""
    client.release_association()
    return client.transport.disconnect()


@pytest.mark.parametrize("over", ["tcp", "pty"])
def test_the_public_client_reads_a_register_and_the_object_list(served: ServedMeter, over: str) -> None:
    readings = served.meter.readings()
    ln = obis(next(r.logical_name for r in served.meter.registers if r.key == "a_minus"))
    client = served.client(over=over)
    client.connect()  # SNRM / UA
    client.associate()
    count = value(client.get(cosem.CosemAttribute(REGISTER, ln, 2)))
    scaler, unit = value(client.get(cosem.CosemAttribute(REGISTER, ln, 3)))
    # 0.0.40.0.0.255 attribute 2: several GET blocks, each longer than one 128-byte frame
    entries = value(client.get(cosem.CosemAttribute(enumerations.CosemInterface.ASSOCIATION_LN,
                                                    obis("0.0.40.0.0.255"), 2)))
    ua = leave(client)
    assert isinstance(ua, cosem_frames.UnNumberedAcknowledgmentFrame)  # DISC answered with UA
    assert unit == 30  # Wh
    published = readings["a_minus"]
    assert isinstance(published, float) and published > 0
    assert count * 10**scaler / 1000 == pytest.approx(published, abs=10**scaler / 1000)
    listed = {(e[0], bytes(e[2])) for e in entries}
    assert listed == {(int(o.class_id), o.logical_name) for o in cosem_objects(served.meter.registers)}


@pytest.mark.parametrize("over", ["tcp", "pty"])
def test_the_management_client_disconnects_the_breaker(served: ServedMeter, over: str) -> None:
    control = obis("1.1.128.0.11.255")
    state = cosem.CosemAttribute(DISCONNECT_CONTROL, control, 3)
    client = served.client(1, PASSWORD, over=over)
    client.connect()
    client.associate()
    assert value(client.get(state)) == 1  # connected
    client.action(cosem.CosemMethod(DISCONNECT_CONTROL, control, 1), b"\x0f\x00")  # remote_disconnect
    assert served.meter.breaker.state == "disconnected" and value(client.get(state)) == 0
    # a request longer than one 128-byte frame: dlms-cosem segments it, the meter reassembles and answers
    clock = cosem.CosemAttribute(enumerations.CosemInterface.CLOCK, obis("0.1.1.0.0.255"), 2)
    refused = client.set(clock, b"\x09\x81\xc8" + bytes(200))  # an octet string of 200 bytes, not 12
    assert refused.result is enumerations.DataAccessResult.TYPE_UNMATCHED
    assert isinstance(leave(client), cosem_frames.UnNumberedAcknowledgmentFrame)
    served.meter.advance_to(served.meter.t + 60)  # past the minimum reconnection time: connected for the next
    served.meter.breaker_command("connect")


def test_a_wrong_password_is_refused_and_the_line_serves_the_next_client(served: ServedMeter) -> None:
    client = served.client(1, "wrong", over="pty")
    client.connect()
    with pytest.raises(DlmsClientException, match="REJECTED_PERMANENT"):
        client.associate()
    client.disconnect()
    with served.client(over="pty").session() as again:  # same line, new SNRM: a fresh association
        assert value(again.get(cosem.CosemAttribute(enumerations.CosemInterface.DATA,
                                                    obis("0.0.42.0.0.255"), 2))).startswith(b"KAM")


def test_the_physical_address_reaches_the_meter_and_another_does_not(served: ServedMeter) -> None:
    mine = physical_address(served.meter.id)
    transport = served.transport(16)
    transport.server_physical_address = mine  # the two-byte server address: upper 1, lower `mine`
    with dlms_client(transport).session() as client:
        assert value(client.get(cosem.CosemAttribute(enumerations.CosemInterface.DATA,
                                                     obis("0.0.42.0.0.255"), 2))).startswith(b"KAM")
    other = served.transport(16)
    other.server_physical_address = mine + 1
    other.io.timeout = 1
    with pytest.raises(CommunicationError):  # another station's frame: no answer at all
        other.connect()
    other.io.disconnect()


def test_omnipower_sim_serve_dlms_hdlc_answers_a_head_end(tmp_path: Path) -> None:
    """The command line's --dlms-hdlc: a real process, read by the independent client."""
    with simulator_client(tmp_path, "--dlms-hdlc") as client:
        client.associate()
        frequency = value(client.get(cosem.CosemAttribute(REGISTER, obis("1.1.14.7.0.255"), 2)))
        assert isinstance(leave(client), cosem_frames.UnNumberedAcknowledgmentFrame)
        assert 4900 <= frequency <= 5100  # 49–51 Hz in hundredths


# --- the link, sans-IO ----------------------------------------------------------------------------------------------

SERVER = b"\x03"  # upper address 1, one byte
PUBLIC = 16


class Primary:
    """A client station from IEC 62056-46, just enough to drive the link: its own V(S), V(R) and segmentation."""

    def __init__(self, link: HdlcServerLink, client: int = PUBLIC, server: bytes = SERVER,
                 max_info: int = 128) -> None:
        self.link, self.client, self.server, self.max_info = link, client, server, max_info
        self.vs = self.vr = 0

    def frame(self, control: Control, information: bytes = b"", segmented: bool = False) -> bytes:
        return encode_frame(control.to_byte(), self.server, hdlc_address(self.client), information, segmented)

    def send(self, frame: bytes) -> list[LinkEvent]:
        return self.link.feed(frame)

    def snrm(self, parameters: bytes = b"") -> list[LinkEvent]:
        self.vs = self.vr = 0
        return self.send(self.frame(Control(FrameKind.SNRM), parameters))

    def i_frame(self, information: bytes, segmented: bool = False, poll: bool = True) -> bytes:
        frame = self.frame(Control(FrameKind.I, poll, ns=self.vs, nr=self.vr), information, segmented)
        self.vs = (self.vs + 1) % 8
        return frame

    def request(self, apdu: bytes) -> bytes:
        """Send an APDU, segmented; return the complete APDU the link hands up."""
        data = LLC_REQUEST + apdu
        chunks = [data[i:i + self.max_info] for i in range(0, len(data), self.max_info)]
        for n, chunk in enumerate(chunks):
            events = self.send(self.i_frame(chunk, segmented=n < len(chunks) - 1))
            if n < len(chunks) - 1:  # acknowledged with RR, N(R) = the next N(S)
                (ack,) = frames_of(events)
                assert decode_control(ack.control) == Control(FrameKind.RR, nr=self.vs)
        (request,) = [e for e in events if isinstance(e, Request)]
        return request.apdu

    def receive(self, first: list[bytes]) -> tuple[bytes, list[Any]]:
        """Collect an answer: take each window, RR for the next; return the reassembled information and frames."""
        received, data, window = [], bytearray(), first
        while True:
            decoded = [decode_frame(f) for f in window]
            for frame in decoded:
                control = decode_control(frame.control)
                assert control.kind is FrameKind.I and control.ns == self.vr and control.nr == self.vs
                self.vr = (self.vr + 1) % 8
                data += frame.information
            received += decoded
            assert decode_control(decoded[-1].control).poll_final  # the line is handed back
            assert all(not decode_control(f.control).poll_final for f in decoded[:-1])
            if not decoded[-1].segmented:
                return bytes(data), received
            window = [e.frame for e in self.send(self.frame(Control(FrameKind.RR, nr=self.vr)))
                      if isinstance(e, Transmit)]


def frames_of(events: list[LinkEvent]) -> list[Any]:
    return [decode_frame(e.frame) for e in events if isinstance(e, Transmit)]


def connected(link: HdlcServerLink | None = None, parameters: bytes = b"", **primary: Any) -> Primary:
    station = Primary(link or HdlcServerLink(1, 17), **primary)
    events = station.snrm(parameters)
    assert isinstance(events[0], Connected)
    return station


def test_control_fields_round_trip() -> None:
    for byte in range(256):
        try:
            control = decode_control(byte)
        except CodecError:
            continue
        assert control.to_byte() == byte
    assert Control(FrameKind.SNRM).to_byte() == 0x93 and Control(FrameKind.UA).to_byte() == 0x73
    assert Control(FrameKind.DISC).to_byte() == 0x53 and Control(FrameKind.DM).to_byte() == 0x1F
    assert Control(FrameKind.FRMR).to_byte() == 0x97 and Control(FrameKind.RR, nr=3).to_byte() == 0x71
    assert Control(FrameKind.I, ns=2, nr=5).to_byte() == 0xB4 and Control(FrameKind.RNR, nr=1).to_byte() == 0x35
    with pytest.raises(CodecError, match="09"):
        decode_control(0x09)  # REJ: not used by IEC 62056-46


def test_an_snrm_without_parameters_gets_the_defaults_stated_in_the_ua() -> None:
    events = Primary(HdlcServerLink(1, 17)).snrm()
    assert events[0] == Connected(PUBLIC, DEFAULT_PARAMETERS)
    (ua,) = frames_of(events)
    assert decode_control(ua.control) == Control(FrameKind.UA) and ua.src == SERVER and ua.dst == b"\x21"
    assert ua.information == bytes.fromhex("818012050180060180070400000001080400000001")


def test_an_snrm_s_proposal_is_cut_to_what_both_ends_can_do() -> None:
    # the client sends 512-byte fields and receives 256, with windows 7 and 3
    proposal = LinkParameters(max_info_tx=512, max_info_rx=256, window_tx=7, window_rx=3)
    link = HdlcServerLink(1, 17, limits=LinkParameters(max_info_tx=1024, max_info_rx=300, window_tx=7, window_rx=2))
    events = Primary(link).snrm(proposal.to_bytes())
    agreed = LinkParameters(max_info_tx=256, max_info_rx=300, window_tx=3, window_rx=2)
    assert events[0] == Connected(PUBLIC, agreed)
    (ua,) = frames_of(events)
    assert LinkParameters.from_bytes(ua.information) == agreed
    assert ua.information == bytes.fromhex("818014050201000602012c070400000003080400000002")


@pytest.mark.parametrize("parameters", ["818012050180060180070400000000080400000001",  # window 0
                                        "8180030501", "81810305010a", "818005050200200601"])
def test_an_snrm_with_parameters_it_cannot_take_gets_dm(parameters: str) -> None:
    events = Primary(HdlcServerLink(1, 17)).snrm(bytes.fromhex(parameters))
    (dm,) = frames_of(events)
    assert decode_control(dm.control).kind is FrameKind.DM


@settings(max_examples=200, deadline=None)
@given(st.builds(LinkParameters, st.integers(32, 2030), st.integers(32, 2030), st.integers(1, 7), st.integers(1, 7)))
def test_link_parameters_round_trip(parameters: LinkParameters) -> None:
    assert LinkParameters.from_bytes(parameters.to_bytes()) == parameters


@pytest.mark.parametrize(("max_info", "window"), [(32, 1), (64, 1), (128, 1), (128, 3), (300, 2), (1024, 7)])
def test_segmentation_and_reassembly(max_info: int, window: int) -> None:
    proposal = LinkParameters(max_info_tx=max_info, max_info_rx=max_info, window_tx=window, window_rx=window)
    station = connected(HdlcServerLink(1, 17, avoid_flag_pairs=False), proposal.to_bytes(), max_info=max_info)
    for size in (1, max_info - 3, max_info - 2, 2 * max_info, 2500):
        apdu = bytes((n * 7 + size) % 256 for n in range(size))
        assert station.request(apdu) == apdu
        answer = bytes(reversed(apdu))
        data, received = station.receive(station.link.respond(PUBLIC, answer))
        assert data == LLC_RESPONSE + answer
        assert all(len(f.information) == max_info for f in received[:-1])  # full segments but the last
        assert all(f.segmented for f in received[:-1]) and not received[-1].segmented


def _answer_frames(answer: bytes, avoid_flag_pairs: bool) -> tuple[bytes, list[bytes]]:
    station = connected(HdlcServerLink(1, 17, avoid_flag_pairs=avoid_flag_pairs))
    station.request(b"\xc0\x01\xc1")
    data, received = station.receive(station.link.respond(PUBLIC, answer))
    return data, [encode_frame(f.control, f.dst, f.src, f.information, f.segmented) for f in received]


def test_no_frame_a_flag_scanning_client_would_lose() -> None:
    """About one frame in 256 has 7E as its last FCS byte, right before the closing flag: dlms-cosem, which finds a
    frame's end by scanning for 7E, waits for a flag that never comes. The link cuts such a segment shorter."""
    pair = bytes((FLAG, FLAG))
    answers = (b"\xc4\x01\xc1\x00\x06" + k.to_bytes(4, "big") for k in range(5000))
    losing = [a for a in answers if any(pair in f[1:] for f in _answer_frames(a, False)[1])][:5]
    assert losing
    for answer in losing:
        data, frames = _answer_frames(answer, True)
        assert data == LLC_RESPONSE + answer and len(frames) == 2  # the same bytes, in two segments
        assert not any(pair in f[1:] for f in frames)


def test_a_frame_split_at_every_byte_boundary_gives_the_same_events() -> None:
    reference = Primary(HdlcServerLink(1, 17))
    stream = reference.frame(Control(FrameKind.SNRM)) + reference.i_frame(LLC_REQUEST + b"\xc0\x01\xc1\x7e\x7e")
    whole = HdlcServerLink(1, 17).feed(stream)
    assert isinstance(whole[-1], Request) and whole[-1].apdu == b"\xc0\x01\xc1\x7e\x7e"
    for cut in range(1, len(stream)):
        link = HdlcServerLink(1, 17)
        assert link.feed(stream[:cut]) + link.feed(stream[cut:]) == whole


def test_an_i_frame_out_of_sequence_is_discarded_and_answered_with_the_n_s_expected() -> None:
    station = connected()
    station.vs = 3  # as if the client had lost count
    (rr,) = frames_of(station.send(station.i_frame(LLC_REQUEST + b"\xc0\x01\xc1")))
    assert decode_control(rr.control) == Control(FrameKind.RR, nr=0)
    station.vs = 0
    assert station.request(b"\xc0\x01\xc1") == b"\xc0\x01\xc1"


def test_an_invalid_n_r_gets_frmr_until_snrm() -> None:
    station = connected()
    bad = station.frame(Control(FrameKind.I, ns=0, nr=5), LLC_REQUEST + b"\xc0")
    (frmr,) = frames_of(station.send(bad))
    assert decode_control(frmr.control).kind is FrameKind.FRMR
    assert frmr.information == bytes((0xB0, 0x00, Reject.INVALID_NR))  # control, V(R)/V(S), Z
    (again,) = frames_of(station.send(station.frame(Control(FrameKind.RR))))  # the reject condition holds
    assert again.information == frmr.information
    assert isinstance(station.snrm()[0], Connected)
    assert station.request(b"\xc0\x01\xc1") == b"\xc0\x01\xc1"


@pytest.mark.parametrize(("control", "information", "reason"), [
    (0x19, b"", Reject.UNDEFINED_CONTROL),  # REJ
    (0x73, b"", Reject.UNDEFINED_CONTROL),  # UA: a response, not a command
    (0x11, b"\x01", Reject.UNDEFINED_CONTROL | Reject.INFORMATION_NOT_PERMITTED),  # RR with information
    (0x10, LLC_REQUEST + bytes(126), Reject.INFORMATION_TOO_LONG),  # 129 bytes in a 128-byte link
])
def test_frames_the_link_cannot_take_get_frmr(control: int, information: bytes, reason: Reject) -> None:
    station = connected()
    (frmr,) = frames_of(station.send(encode_frame(control, SERVER, hdlc_address(PUBLIC), information)))
    assert decode_control(frmr.control).kind is FrameKind.FRMR and frmr.information[2] == reason


def test_a_lost_segment_is_sent_again() -> None:
    station = connected()
    station.request(b"\xc0\x01\xc1")
    first = station.link.respond(PUBLIC, bytes(300))
    (again,) = [e.frame for e in station.send(station.frame(Control(FrameKind.RR, nr=0)))
                if isinstance(e, Transmit)]  # N(R) = 0: segment 0 never arrived
    assert again == first[0]


def test_disc_gets_ua_and_then_dm() -> None:
    station = connected()
    events = station.send(station.frame(Control(FrameKind.DISC)))
    assert events[0] == Disconnected(PUBLIC)
    (ua,) = frames_of(events)
    assert decode_control(ua.control) == Control(FrameKind.UA) and ua.information == b""
    (dm,) = frames_of(station.send(station.frame(Control(FrameKind.DISC))))
    assert decode_control(dm.control).kind is FrameKind.DM


@pytest.mark.parametrize("control", [Control(FrameKind.I), Control(FrameKind.RR), Control(FrameKind.RNR)])
def test_frames_before_snrm_get_dm(control: Control) -> None:
    station = Primary(HdlcServerLink(1, 17))
    information = LLC_REQUEST + b"\xc0\x01\xc1" if control.kind is FrameKind.I else b""
    (dm,) = frames_of(station.send(station.frame(control, information)))
    assert decode_control(dm.control) == Control(FrameKind.DM) and dm.dst == b"\x21"


def test_a_ui_frame_is_not_answered() -> None:
    station = Primary(HdlcServerLink(1, 17))
    assert station.send(station.frame(Control(FrameKind.UI), LLC_REQUEST + b"\xc0")) == []


@pytest.mark.parametrize(("address", "answered"), [
    (b"\x03", True),  # upper alone: any physical address
    (encode_server_address(1, 17, 2), True),
    (encode_server_address(1, 17, 4), True),
    (encode_server_address(1, 18, 2), False),  # another meter on the bus
    (encode_server_address(2, 17, 2), False),  # another logical device
    (b"\x05", False),
])
def test_one_two_and_four_byte_server_addresses(address: bytes, answered: bool) -> None:
    events = Primary(HdlcServerLink(1, 17), server=address).snrm()
    assert bool(events) == answered
    if answered:
        (ua,) = frames_of(events)
        assert ua.src == address  # the answer comes from the address the client wrote


def test_each_client_has_its_own_connection() -> None:
    link = HdlcServerLink(1, 17)
    public, management = connected(link), connected(link, client=1)
    assert public.request(b"\xc0\x01\xc1") == b"\xc0\x01\xc1"
    management.send(management.frame(Control(FrameKind.DISC)))
    assert link.connected(PUBLIC) and not link.connected(1)


# --- never raises, never stops ----------------------------------------------------------------------------------

def _valid_stream() -> list[bytes]:
    station = Primary(HdlcServerLink(1, 17))
    return [station.frame(Control(FrameKind.SNRM)), station.i_frame(LLC_REQUEST + bytes(200), segmented=True),
            station.i_frame(b"\x01\x02"), station.frame(Control(FrameKind.RR, nr=2)),
            station.frame(Control(FrameKind.DISC))]


_VALID = _valid_stream()
_SNRM = _VALID[0]
_FILL = bytes([FLAG]) * 2100  # inter-frame fill: enough to complete any false start's announced length


def _answers_snrm(events: list[LinkEvent]) -> bool:
    return any(isinstance(e, Transmit) and decode_control(decode_frame(e.frame).control).kind is FrameKind.UA
               for e in events)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=300), mutated_frames(_VALID)), st.booleans())
def test_the_link_takes_any_bytes_and_still_answers_snrm(data: bytes, connect_first: bool) -> None:
    link = HdlcServerLink(1, 17)
    events = link.feed(_SNRM) if connect_first else []
    events += link.feed(data)
    for event in events:
        if isinstance(event, Request):
            link.respond(event.client, b"\x0e\x01")
    assert _answers_snrm(link.feed(_FILL + _SNRM + _FILL))


async def _converse(meter: Meter, data: bytes) -> bytes:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    written = bytearray()
    await converse_hdlc(meter, reader, written.extend)
    return bytes(written)


_METER = Meter("fuzz", MeterSimSettings(), SteppedClock(START))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300), mutated_frames(_VALID)))
def test_converse_hdlc_takes_any_bytes_and_keeps_serving(data: bytes) -> None:
    written = asyncio.run(_converse(_METER, data + _FILL + _SNRM))
    reader = HdlcReader()
    answers = [decode_control(f.control).kind for f in reader.feed(written)]
    assert answers and answers[-1] is FrameKind.UA  # the line still answers


def test_converse_hdlc_answers_a_whole_session() -> None:
    station = Primary(HdlcServerLink(1, 17))
    aarq = ap.Aarq(user_information=ap.InitiateRequest(proposed_conformance=ap.Conformance.GET)).to_bytes()
    written = asyncio.run(_converse(_METER, station.frame(Control(FrameKind.SNRM))
                                    + station.i_frame(LLC_REQUEST + aarq)))
    ua, answer = HdlcReader().feed(written)
    assert decode_control(ua.control).kind is FrameKind.UA
    aare = ap.decode_apdu(answer.information[len(LLC_RESPONSE):])
    assert isinstance(aare, ap.Aare) and aare.result is ap.AssociationResult.ACCEPTED


def test_a_variant_2_meter_answers_nothing() -> None:
    settings_ = MeterSimSettings.model_validate({"type_number": "6841131BN243101040", "z18": 0, "seed": 1})
    meter = Meter("v2", settings_, SteppedClock(START))
    assert asyncio.run(_converse(meter, _SNRM + _VALID[1])) == b""
