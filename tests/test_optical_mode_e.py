"""IEC 62056-21 mode E on the meter's optical port: the sign-on's identification offers HDLC (`\\2`), the HHU's
option select `ACK 2 Z 2` switches the line to rate Z and hands it to the meter's DLMS HDLC server, and the DISC
(or silence) gives it back to a sign-on at 300 Bd.

The HHU here is written from the standard (Annex E) for the sign-on, and dlms-cosem's `DlmsClient` with its
`HdlcTransport` for the HDLC session, over an IO object for the line the sign-on already opened (dlms-cosem has no
IEC 62056-21 handshake of its own, and its IO objects open and close the line themselves). Over TCP and over a pty.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from dlms_cosem import cosem, enumerations
from dlms_cosem.dlms_data import DlmsDataParser
from dlms_cosem.hdlc import frames as cosem_frames
from dlms_harness import START, ServedMeter, dlms_client, dlms_transport, stepped_meter

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.optical import DiscWatch, OpticalPort, serve_tcp
from omnipower.errors import EncodeError, UnknownTagError
from omnipower.hdlc import encode_frame, hdlc_address
from omnipower.iec62056_21 import (
    AckMode,
    AckOptionSelect,
    BinaryModeRequested,
    DataReadout,
    FrameRejected,
    IdentificationMessage,
    MeterSession,
    MeterState,
    ProtocolControl,
    ProtocolMode,
    ReadoutRequested,
    SessionFailed,
    SwitchBaud,
    Transmit,
    decode_message,
    kamstrup_identification,
    readings_from_readout,
)

SIGN_ON = b"/?!\r\n"
IDENTIFICATION = b"/KAM5\\2OMNIPOWER\r\n"  # mode C up to 9600 Bd, \2: binary mode (HDLC) offered
MODE_E = b"\x06252\r\n"  # ACK, V = 2 (HDLC procedure), Z = 5 (9600 Bd), Y = 2 (binary)
MODE_C = b"\x06050\r\n"  # ACK, V = 0, Z = 5, Y = 0: the data readout at 9600 Bd
REACTION_S = 0.3  # tr: the standard's 200 ms at least, before the other side speaks at the new rate
INACTIVITY_S = 1.0
REGISTER = enumerations.CosemInterface.REGISTER
VARIANT_2 = "6841131BN243101040"
SNRM = encode_frame(0x93, hdlc_address(1), hdlc_address(16))  # to logical device 1 from public client 16, P = 1
DISC = encode_frame(0x53, hdlc_address(1), hdlc_address(16))


# --- the HHU --------------------------------------------------------------------------------------------------------

class OpenLine:
    """dlms-cosem's `IoImplementation` over a line that is already open: connect and disconnect do nothing, because
    the sign-on opened it and a DISC ends the HDLC session, not the line (the next sign-on follows on it)."""

    def __init__(self, send: Callable[[bytes], Any], read_some: Callable[[], bytes],
                 set_rate: Callable[[int], None] = lambda rate: None) -> None:
        self._send, self._read_some, self.set_rate = send, read_some, set_rate
        self._buffer = bytearray()

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def send(self, data: bytes) -> None:
        self._send(bytes(data))

    def _fill(self) -> None:
        chunk = self._read_some()
        if not chunk:
            raise TimeoutError(f"the meter said nothing more (have {bytes(self._buffer)!r})")
        self._buffer += chunk

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def recv(self, amount: int = 1) -> bytes:
        while len(self._buffer) < amount:
            self._fill()
        return self._take(amount)

    def recv_until(self, end: bytes) -> bytes:
        while (at := self._buffer.find(end)) < 0:
            self._fill()
        return self._take(at + len(end))

    def quiet(self, seconds: float = 0.3) -> bytes:
        """Whatever arrives within `seconds` (b"" when the meter keeps silent)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self._fill()
        return self._take(len(self._buffer))

    # the IEC 62056-21 side, from the standard
    def sign_on(self) -> IdentificationMessage:
        self.set_rate(300)
        self.send(SIGN_ON)
        ident = decode_message(self.recv_until(b"\n"))
        assert isinstance(ident, IdentificationMessage)
        return ident

    def select(self, ack: bytes) -> None:
        self.send(ack)
        time.sleep(REACTION_S)
        self.set_rate(9600)

    def readout(self) -> DataReadout:
        body = self.recv_until(b"\x03") + self.recv(1)  # ... ETX BCC
        readout = decode_message(body)
        assert isinstance(readout, DataReadout)
        return readout


def tcp_line(port: int, timeout: float = 0.2) -> tuple[OpenLine, socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(timeout)

    def read_some() -> bytes:
        try:
            return sock.recv(4096) or b""
        except TimeoutError:
            return b""

    return OpenLine(sock.sendall, read_some), sock


def pty_line(path: Path) -> tuple[OpenLine, serial.Serial]:
    port = serial.Serial(str(path), baudrate=300, timeout=0.2)

    def set_rate(rate: int) -> None:
        port.baudrate = rate  # a pty takes any rate; a real optical head would switch here

    return OpenLine(port.write, lambda: port.read(max(1, port.in_waiting)), set_rate), port


def hdlc_session(line: OpenLine, meter: Meter) -> tuple[Any, float, Any]:
    """Association, the A- register (the default meter exports), release and DISC: (the register in kWh by DLMS,
    the model's A-, DISC's answer)."""
    readings = meter.readings()
    ln = next(r.logical_name for r in meter.registers if r.key == "a_minus")
    transport = dlms_transport(line, hdlc=True)
    client = dlms_client(transport)
    client.connect()  # SNRM / UA
    client.associate()
    attribute = cosem.CosemAttribute(REGISTER, cosem.Obis(*(int(p) for p in ln.split("."))), 2)
    count = DlmsDataParser().parse(client.get(attribute), limit=1)[0].value
    scaler, unit = (x.value for x in DlmsDataParser().parse(
        client.get(cosem.CosemAttribute(REGISTER, attribute.instance, 3)), limit=1)[0].value)
    client.release_association()
    answer = transport.disconnect()  # DISC
    assert unit == 30  # Wh
    a_minus = readings["a_minus"]
    assert isinstance(a_minus, float)
    return count * 10**scaler / 1000, a_minus, answer


# --- the meter, served from a thread (dlms-cosem blocks) ---------------------------------------------------------

class ServedPort(ServedMeter):
    """One meter's optical port on a TCP port and on a pty, on a stepped clock (its values stay put)."""

    def __init__(self, pty_link: Path) -> None:
        meter = stepped_meter("optical-e", hours=6)  # a morning of energy, so that the values mean something
        super().__init__(meter, OpticalPort(meter, hdlc_inactivity_s=INACTIVITY_S), pty=pty_link)

    @contextlib.contextmanager
    def line(self, over: str) -> Iterator[OpenLine]:
        if over == "tcp":
            line, sock = tcp_line(self.port)
            with sock:
                yield line
        else:
            line, port = pty_line(self.pty)
            with port:
                yield line


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedPort]:
    with ServedPort(tmp_path_factory.mktemp("optical") / "optical.pty") as server:
        yield server


def assert_mode_c_readout(line: OpenLine, meter: Meter) -> None:
    assert line.sign_on().encode() == IDENTIFICATION
    line.select(MODE_C)
    values = readings_from_readout(line.readout())
    readings = meter.readings()
    assert values["1.8.0"] == pytest.approx(readings["a_plus"], abs=0.0005)
    assert values["2.8.0"] == pytest.approx(readings["a_minus"], abs=0.0005)


# --- over the wire ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("over", ["tcp", "pty"])
def test_mode_e_runs_a_dlms_session_then_the_line_takes_a_mode_c_readout(served: ServedPort, over: str) -> None:
    with served.line(over) as line:
        ident = line.sign_on()
        assert ident.encode() == IDENTIFICATION and ident.protocol_mode is ProtocolMode.E
        line.select(MODE_E)  # the meter sends nothing: the HHU waits tr, then speaks HDLC at 9600 Bd
        by_dlms, model, answer = hdlc_session(line, served.meter)
        assert isinstance(answer, cosem_frames.UnNumberedAcknowledgmentFrame)  # DISC answered with UA
        assert model > 0 and by_dlms == pytest.approx(model, abs=0.01)  # the register's scaler: 10 Wh
        time.sleep(REACTION_S)
        assert_mode_c_readout(line, served.meter)  # the DISC gave the line back to a sign-on at 300 Bd
        line.sign_on()
        line.select(MODE_E)  # and mode E again: a fresh HDLC link and association
        assert hdlc_session(line, served.meter)[0] == by_dlms


@pytest.mark.parametrize("over", ["tcp", "pty"])
def test_a_mode_c_client_still_gets_its_readout(served: ServedPort, over: str) -> None:
    with served.line(over) as line:
        assert_mode_c_readout(line, served.meter)


@pytest.mark.parametrize("over", ["tcp", "pty"])
def test_a_quiet_hdlc_line_goes_back_to_the_sign_on(served: ServedPort, over: str) -> None:
    with served.line(over) as line:
        line.sign_on()
        line.select(MODE_E)
        line.send(SIGN_ON)  # the line is HDLC's now: no frame, dropped by the link, unanswered
        assert line.quiet(0.5) == b""
        time.sleep(INACTIVITY_S + 0.3)  # silence longer than the inactivity time
        assert_mode_c_readout(line, served.meter)


@pytest.mark.parametrize(
    "bad",
    [b"\x06250\r\n",  # V = 2 (HDLC) with Y = 0: no such option select
     b"\x0625\r\n",  # a character short
     b"\x06282\r\n",  # baud character 8: reserved
     b"\x06262\r\n"],  # 19200 Bd: above the announced 9600
)
def test_a_malformed_option_select_ends_the_session_as_bad_input_does(served: ServedPort, bad: bytes) -> None:
    with served.line("tcp") as line:
        line.sign_on()
        line.send(bad)
        assert line.quiet(0.5) == b""  # no readout, no HDLC: the session failed, the meter is idle at 300 Bd
        assert_mode_c_readout(line, served.meter)


# --- in process -----------------------------------------------------------------------------------------------------

async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One HDLC frame, by its length field: flag, format and length, the rest, the closing flag."""
    head = await reader.readexactly(3)
    assert head[0] == 0x7E
    return head + await reader.readexactly((int.from_bytes(head[1:3], "big") & 0x7FF) - 1)


async def test_hdlc_bytes_sent_with_the_option_select_are_not_lost() -> None:
    """A client that does not wait the reaction time (over TCP nothing forces it to): the SNRM in the option
    select's chunk is the HDLC session's first frame."""
    served = OpticalPort(Meter("early", MeterSimSettings(), SteppedClock(START)), hdlc_inactivity_s=INACTIVITY_S)
    server = await serve_tcp(served, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(SIGN_ON)
        assert await asyncio.wait_for(reader.readline(), 5) == IDENTIFICATION
        writer.write(MODE_E + SNRM)
        assert (await asyncio.wait_for(read_frame(reader), 5))[5] & 0xEF == 0x63  # UA to client 16
        writer.write(DISC)
        assert (await asyncio.wait_for(read_frame(reader), 5))[5] & 0xEF == 0x63
        await asyncio.sleep(0.05)
        writer.write(SIGN_ON)
        assert await asyncio.wait_for(reader.readline(), 5) == IDENTIFICATION
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_variant_2_meter_offers_no_mode_e_and_answers_no_hdlc() -> None:
    meter = Meter("v2", MeterSimSettings.model_validate({"type_number": VARIANT_2, "z18": 0}), SteppedClock(START))
    reader = asyncio.StreamReader()
    for chunk in (SIGN_ON, MODE_E, SNRM, DISC, SIGN_ON):
        reader.feed_data(chunk)
    reader.feed_eof()
    sent = bytearray()
    await OpticalPort(meter).converse(reader, sent.extend)
    assert sent == b""


async def test_the_line_closing_during_hdlc_ends_the_port() -> None:
    port = OpticalPort(Meter("closing", MeterSimSettings(), SteppedClock(START)))
    reader = asyncio.StreamReader()
    reader.feed_data(SIGN_ON)
    reader.feed_data(MODE_E)
    sent = bytearray()
    conversation = asyncio.create_task(port.converse(reader, sent.extend))
    await asyncio.sleep(0.05)
    reader.feed_data(SNRM)
    reader.feed_eof()
    await asyncio.wait_for(conversation, 5)
    assert sent.startswith(IDENTIFICATION) and sent.endswith(b"\x7e") and sent[len(IDENTIFICATION) + 5] & 0xEF == 0x63


def test_the_disc_watch_sees_only_a_disc_for_this_meter() -> None:
    watch = DiscWatch(physical=17)
    assert not watch.feed(SNRM)
    assert not watch.feed(encode_frame(0x53, hdlc_address(2), hdlc_address(16)))  # another logical device
    assert not watch.feed(encode_frame(0x53, bytes([0x02, 0x25]), hdlc_address(16)))  # another physical address
    assert not watch.feed(DISC[:5])
    assert watch.feed(DISC[5:])  # split anywhere
    assert watch.feed(encode_frame(0x53, bytes([0x02, 0x23]), hdlc_address(16)))  # upper 1, lower 17


# --- the session machine (sans-IO) ----------------------------------------------------------------------------------

def test_the_mode_e_option_select_round_trips() -> None:
    ack = AckOptionSelect("5", AckMode.BINARY, ProtocolControl.HDLC)
    assert ack.encode() == MODE_E and decode_message(MODE_E) == ack
    with pytest.raises(EncodeError):
        AckOptionSelect("5", AckMode.DATA_READOUT, ProtocolControl.HDLC)
    with pytest.raises(UnknownTagError):
        decode_message(b"\x06251\r\n")


@pytest.mark.parametrize("ack", [MODE_E, b"\x06052\r\n"])
def test_the_meter_switches_to_hdlc_and_hands_over_what_followed(ack: bytes) -> None:
    meter = MeterSession(kamstrup_identification("OMNIPOWER"))
    assert meter.receive_data(SIGN_ON) == [Transmit(IDENTIFICATION)]
    events = meter.receive_data(ack[:3])
    assert events == [] and meter.state is MeterState.AWAIT_OPTION_SELECT
    assert meter.receive_data(ack[3:] + SNRM) == [SwitchBaud(9600), BinaryModeRequested(9600, SNRM)]
    assert meter.state is MeterState.BINARY and meter.reset() == [SwitchBaud(300)]
    # all at once, sign-on included
    assert meter.receive_data(SIGN_ON + ack + SNRM) == [Transmit(IDENTIFICATION), SwitchBaud(9600),
                                                        BinaryModeRequested(9600, SNRM)]


def test_mode_e_at_a_lower_rate_and_a_meter_without_hdlc() -> None:
    meter = MeterSession(kamstrup_identification("OMNIPOWER"))
    meter.receive_data(SIGN_ON)
    assert meter.receive_data(b"\x06232\r\n") == [SwitchBaud(2400), BinaryModeRequested(2400)]
    plain = MeterSession(kamstrup_identification("OMNIPOWER", binary_mode=False))
    plain.receive_data(SIGN_ON)
    events = plain.receive_data(MODE_E)
    assert isinstance(events[0], SessionFailed) and "not offered" in events[0].reason
    assert plain.state is MeterState.IDLE


def test_a_malformed_mode_e_select_fails_the_session_like_any_garbled_one() -> None:
    meter = MeterSession(kamstrup_identification("OMNIPOWER"))
    meter.receive_data(SIGN_ON)
    events = meter.receive_data(b"\x06250\r\n")
    assert isinstance(events[0], FrameRejected) and isinstance(events[0].error, UnknownTagError)
    assert isinstance(events[1], SessionFailed) and meter.state is MeterState.IDLE
    assert meter.receive_data(SIGN_ON) == [Transmit(IDENTIFICATION)]  # the next sign-on is answered


def test_a_mode_c_session_is_unchanged() -> None:
    meter = MeterSession(kamstrup_identification("OMNIPOWER"))
    assert meter.receive_data(SIGN_ON + MODE_C) == [Transmit(IDENTIFICATION), SwitchBaud(9600), ReadoutRequested(9600)]
