"""The second independent judge of the meter's DLMS/COSEM server: Gurux's Python client (gurux-dlms, GPL-2.0: a test
dependency only, never imported by the project's packages).

Over the IEC 62056-47 wrapper it associates, reads the object list into its own object model, reads registers with
scaler and unit and the clock, is refused by a wrong password, and disconnects and releases the breaker through
Disconnect Control. Over HDLC (IEC 62056-46, on TCP and on a pty as a serial line) it does the same from SNRM/UA to
RLRQ and DISC/UA, with each form of the server address. With HLS-GMAC (security suite 0) it passes the four passes
of the authentication, reads and operates the breaker in ciphered APDUs of either form (service-specific glo and
general-glo-ciphering), and with a wrong key or a wrong proof gets no data."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import tty
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dlms_harness import ServedMeter, stepped_meter

from meter_sim.meter import Meter
from meter_sim.modules.dlms_hdlc import physical_address

gurux = pytest.importorskip("gurux_dlms", reason="gurux-dlms is a test dependency (pip install -e '.[dev]')")
from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData  # noqa: E402
from gurux_dlms.ConnectionState import ConnectionState  # noqa: E402
from gurux_dlms.enums import (  # noqa: E402
    AssociationResult,
    Authentication,
    InterfaceType,
    ObjectType,
    Security,
    SourceDiagnostic,
    Unit,
)
from gurux_dlms.GXDLMSException import GXDLMSException  # noqa: E402
from gurux_dlms.GXDLMSExceptionResponse import GXDLMSExceptionResponse  # noqa: E402
from gurux_dlms.objects import GXDLMSClock, GXDLMSDisconnectControl, GXDLMSRegister  # noqa: E402
from gurux_dlms.secure import GXDLMSSecureClient  # noqa: E402

START = datetime.fromisoformat("2026-06-10T04:00:00+00:00").timestamp()
PASSWORD = "gurux-pw"
EK = "000102030405060708090A0B0C0D0E0F"  # the meter's global unicast encryption key
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"  # and its authentication key
SERVER_TITLE = "4B414D4512345678"  # "KAME" and a serial number
CLIENT_TITLE = b"GRX00001"
METER_ID = "gx1"
SETTINGS = {"dlms": {"password": PASSWORD, "encryption_key": EK, "authentication_key": AK,
                     "system_title": SERVER_TITLE}}
BREAKER = "1.1.128.0.11.255"
# HDLC control fields of the answers to DISC (ISO/IEC 13239, F set) and the LLC headers (IEC 62056-46)
UA, DM = 0x73, 0x1F
LLC_REQUEST, LLC_RESPONSE = b"\xe6\xe6\x00", b"\xe6\xe7\x00"


def gurux_meter() -> Meter:
    return stepped_meter(METER_ID, SETTINGS, START, hours=8)  # a summer morning: import and export both moved


class TcpLine:
    def __init__(self, port: int, timeout: float = 5) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> bytes:
        chunk = self.sock.recv(4096)
        assert chunk, "the meter closed the connection"
        return chunk

    def close(self) -> None:
        self.sock.close()


class PtyLine:
    """The pty as a serial line: its file descriptor read and written as is (Gurux only makes and parses bytes)."""

    def __init__(self, path: Path, timeout: float = 5) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.timeout = timeout

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def receive(self) -> bytes:
        readable, _, _ = select.select([self.fd], [], [], self.timeout)
        if not readable:
            raise TimeoutError("the meter did not answer")
        return os.read(self.fd, 4096)

    def close(self) -> None:
        os.close(self.fd)


class GuruxSession:
    """Gurux's client makes and parses the bytes; this moves them over a socket or a pty (Gurux leaves that to its
    user), and keeps every message sent and received (`sent`, `received`) for the tests to look at."""

    def __init__(self, line: int | Path, client: int = 16, authentication: Any = Authentication.NONE,
                 password: str | None = None, interface: Any = InterfaceType.WRAPPER, server: int = 1,
                 keys: tuple[str, str] | None = None, timeout: float = 5) -> None:
        secret = password.encode() if password else None
        if keys is None:
            self.client = GXDLMSClient(True, client, server, authentication, secret, interface)
        else:  # HLS-GMAC: security suite 0, every APDU authenticated and encrypted
            self.client = GXDLMSSecureClient(True, client, server, authentication, secret, interface)
            self.client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
            self.client.ciphering.systemTitle = CLIENT_TITLE
            self.client.ciphering.blockCipherKey = bytes.fromhex(keys[0])
            self.client.ciphering.authenticationKey = bytes.fromhex(keys[1])
        self.line: TcpLine | PtyLine = TcpLine(line, timeout) if isinstance(line, int) else PtyLine(line, timeout)
        self.sent: list[bytes] = []
        self.received: list[bytes] = []

    def _exchange(self, data: bytes, reply: Any) -> None:
        self.sent.append(bytes(data))
        self.line.send(bytes(data))
        received = GXByteBuffer()
        while not self.client.getData(received, reply):
            received.set(self.line.receive())
        self.received.append(bytes(received.array()))

    def request(self, packets: Any) -> Any:
        """Send one request (a list of packets) and read its whole answer, block by block."""
        reply = GXReplyData()
        for packet in packets if isinstance(packets, list) else [packets]:
            reply.clear()
            self._exchange(packet, reply)
            while reply.isMoreData():
                self._exchange(self.client.receiverReady(reply), reply)
        return reply

    def connect(self) -> None:
        """SNRM/UA, over HDLC."""
        reply = self.request(self.client.snrmRequest())
        self.client.parseUAResponse(reply.data)

    def associate(self) -> None:
        reply = self.request(self.client.aarqRequest())
        self.client.parseAareResponse(reply.data)
        if self.client.getIsAuthenticationRequired():  # HLS: pass 3 and 4, the proofs of StoC and CtoS
            reply = self.request(self.client.getApplicationAssociationRequest())
            self.client.parseApplicationAssociationResponse(reply.data)

    def read(self, item: Any, attribute: int) -> Any:
        reply = self.request(self.client.read(item, attribute))
        return self.client.updateValue(item, attribute, reply.value)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.request(self.client.releaseRequest())
        with contextlib.suppress(Exception):
            if self.client.interfaceType == InterfaceType.HDLC:
                self.request(self.client.disconnectRequest())
        self.line.close()


@pytest.fixture
def served() -> Iterator[ServedMeter]:
    with ServedMeter(gurux_meter()) as server:
        yield server


@pytest.fixture
def served_hdlc(tmp_path: Path) -> Iterator[ServedMeter]:
    with ServedMeter(gurux_meter(), "hdlc", pty=tmp_path / "meter.pty") as server:
        yield server


def check_registers(session: GuruxSession, meter: Meter, registers: dict[str, GXDLMSRegister]) -> None:
    """Gurux's reading of the energy and voltage registers, scaled by the scaler and unit it read, is the model's."""
    readings = meter.readings()
    for ln, key, per_unit in (("1.1.1.8.0.255", "a_plus", 1000.0), ("1.1.2.8.0.255", "a_minus", 1000.0),
                              ("1.1.32.7.0.255", "u_l1", 1.0)):
        register = registers[ln]
        session.read(register, 3)  # scaler and unit first: Gurux scales the value with them
        session.read(register, 2)
        published = readings[key]
        assert isinstance(published, float)
        step = float(register.scaler)  # Gurux keeps the scaler as its multiplier, 10**scaler
        assert step == {"a_plus": 10.0, "a_minus": 10.0, "u_l1": 1.0}[key]  # 10 Wh and 1 V counts
        assert register.unit == {"a_plus": Unit.ACTIVE_ENERGY, "a_minus": Unit.ACTIVE_ENERGY, "u_l1": Unit.VOLTAGE}[key]
        assert float(register.value) / per_unit == pytest.approx(published, abs=step / per_unit)
    assert readings["a_plus"] > 0 and readings["a_minus"] > 0


def test_gurux_reads_the_object_list_registers_and_clock(served: ServedMeter) -> None:
    session = GuruxSession(served.port)
    try:
        session.associate()
        reply = session.request(session.client.getObjectsRequest())
        objects = session.client.parseObjects(reply.data, True)
        registers = {o.logicalName: o for o in objects.getObjects(ObjectType.REGISTER)}
        assert "1.1.1.8.0.255" in registers and "1.1.32.7.0.255" in registers
        assert objects.findByLN(ObjectType.DISCONNECT_CONTROL, BREAKER) is not None
        check_registers(session, served.meter, registers)
        clock = GXDLMSClock("0.1.1.0.0.255")
        session.read(clock, 2)
        assert clock.time.value.timestamp() == served.meter.t
    finally:
        session.close()


def test_gurux_is_refused_with_a_wrong_password(served: ServedMeter) -> None:
    session = GuruxSession(served.port, client=1, authentication=Authentication.LOW, password="wrong")
    try:
        with pytest.raises(Exception, match=r"(?i)authentication|reject|denied"):
            session.associate()
    finally:
        session.line.close()


def test_gurux_disconnects_and_releases_the_breaker(served: ServedMeter) -> None:
    session = GuruxSession(served.port, client=1, authentication=Authentication.LOW, password=PASSWORD)
    try:
        session.associate()
        control = GXDLMSDisconnectControl("1.1.128.0.11.255")
        session.request(session.client.method(control, 1, 0, 0x0F))  # remote_disconnect, integer 0
        assert served.meter.breaker.state == "disconnected"
        session.read(control, 3)
        assert int(control.controlState) == 0
        served.meter.clock.advance(10)  # type: ignore[attr-defined]
        session.request(session.client.method(control, 2, 0, 0x0F))  # remote_reconnect: a release here
        session.read(control, 3)
        assert int(control.controlState) == 2 and served.meter.breaker.state == "ready_for_reconnection"
    finally:
        session.close()


# --- HDLC (IEC 62056-46) on TCP and on a pty -------------------------------------------------------------------------

def remote_disconnect(session: GuruxSession, meter: Meter) -> GXDLMSDisconnectControl:
    """Disconnect Control's remote_disconnect (integer 0), answered, done, and read back as control state 0."""
    control = GXDLMSDisconnectControl(BREAKER)
    reply = session.request(session.client.method(control, 1, 0, 0x0F))
    assert reply.error == 0
    assert meter.breaker.state == "disconnected"
    session.read(control, 3)
    assert int(control.controlState) == 0
    return control


def hdlc_fields(frame: bytes) -> tuple[bytes, bytes, int]:
    """The destination and source addresses and the control field of an HDLC frame: after the flag and the frame
    format, two addresses of any length (each ends with the byte whose lowest bit is 1), then the control byte."""
    fields = []
    i = 3
    for _ in range(2):
        start = i
        while not frame[i] & 1:
            i += 1
        i += 1
        fields.append(frame[start:i])
    return fields[0], fields[1], frame[i]


def hdlc_control(frame: bytes) -> int:
    return hdlc_fields(frame)[2]


SERVER_ADDRESSES = {  # Gurux's server address for each HDLC form (upper 1 = the logical device)
    "upper only": lambda: 1,
    "two bytes": lambda: GXDLMSClient.getServerAddress(1, physical_address(METER_ID), 2),
    "four bytes": lambda: GXDLMSClient.getServerAddress(1, physical_address(METER_ID), 4),
}
ADDRESS_LENGTHS = {"upper only": 1, "two bytes": 2, "four bytes": 4}


def hdlc_line(served: ServedMeter, over: str) -> int | Path:
    assert served.pty is not None
    return served.port if over == "tcp" else served.pty


@pytest.mark.parametrize("address", list(SERVER_ADDRESSES))
@pytest.mark.parametrize("over", ["tcp", "pty"])
def test_gurux_over_hdlc_reads_the_object_list_registers_and_clock(served_hdlc: ServedMeter, over: str,
                                                                   address: str) -> None:
    session = GuruxSession(hdlc_line(served_hdlc, over), interface=InterfaceType.HDLC,
                           server=SERVER_ADDRESSES[address]())
    try:
        session.connect()
        snrm_to, snrm_from, _ = hdlc_fields(session.sent[0])
        ua_to, ua_from, control = hdlc_fields(session.received[0])
        assert control == UA and len(snrm_to) == ADDRESS_LENGTHS[address]
        assert (ua_to, ua_from) == (snrm_from, snrm_to)  # answered from the address it was called at
        # the UA states what was agreed: Gurux's own defaults, which the meter can take (128 bytes, window 1)
        hdlc = session.client.hdlcSettings
        assert (hdlc.maxInfoTX, hdlc.maxInfoRX, hdlc.windowSizeTX, hdlc.windowSizeRX) == (128, 128, 1, 1)
        session.associate()
        first = len(session.sent)
        reply = session.request(session.client.getObjectsRequest())  # GET blocks, each in segmented I frames
        polls = [m for m in session.sent[first:] if hdlc_control(m) & 0x0F == 0x01]  # RR: the further segments
        nexts = [m for m in session.sent[first:] if LLC_REQUEST + b"\xc0\x02" in m]  # GET-Request-Next: blocks
        assert polls and nexts
        objects = session.client.parseObjects(reply.data, True)
        registers = {o.logicalName: o for o in objects.getObjects(ObjectType.REGISTER)}
        assert objects.findByLN(ObjectType.DISCONNECT_CONTROL, BREAKER) is not None
        check_registers(session, served_hdlc.meter, registers)
        clock = GXDLMSClock("0.1.1.0.0.255")
        session.read(clock, 2)
        assert clock.time.value.timestamp() == served_hdlc.meter.t
        reply = session.request(session.client.releaseRequest())
        assert reply.command == 0x63  # RLRE
        with pytest.raises(GXDLMSExceptionResponse, match="Service not allowed"):  # released: no more data
            session.read(clock, 2)
        session.request(session.client.disconnectRequest())
        assert hdlc_control(session.received[-1]) == UA
        session.request(session.client.disconnectRequest(True))  # no connection left: DM
        assert hdlc_control(session.received[-1]) == DM
    finally:
        session.line.close()


@pytest.mark.parametrize("over", ["tcp", "pty"])
def test_gurux_over_hdlc_disconnects_the_breaker_with_lls(served_hdlc: ServedMeter, over: str) -> None:
    session = GuruxSession(hdlc_line(served_hdlc, over), client=1, authentication=Authentication.LOW,
                           password=PASSWORD, interface=InterfaceType.HDLC,
                           server=SERVER_ADDRESSES["two bytes"]())
    try:
        session.connect()
        session.associate()
        control = remote_disconnect(session, served_hdlc.meter)
        session.read(control, 2)
        assert control.outputState is False
    finally:
        session.close()
    assert hdlc_control(session.received[-1]) == UA  # DISC answered


def test_gurux_over_hdlc_is_refused_with_a_wrong_password_and_the_line_serves_the_next(
        served_hdlc: ServedMeter) -> None:
    line = hdlc_line(served_hdlc, "pty")
    session = GuruxSession(line, client=1, authentication=Authentication.LOW, password="wrong",
                           interface=InterfaceType.HDLC, server=SERVER_ADDRESSES["two bytes"]())
    try:
        session.connect()
        reply = session.request(session.client.aarqRequest())
        with pytest.raises(GXDLMSException) as refused:
            session.client.parseAareResponse(reply.data)
        assert refused.value.result == AssociationResult.PERMANENT_REJECTED
        assert refused.value.diagnostic == SourceDiagnostic.AUTHENTICATION_FAILURE
        with pytest.raises(GXDLMSExceptionResponse, match="Service not allowed"):
            session.read(GXDLMSDisconnectControl(BREAKER), 3)
        session.request(session.client.disconnectRequest(True))
        assert hdlc_control(session.received[-1]) == UA
    finally:
        session.line.close()
    again = GuruxSession(line, client=1, authentication=Authentication.LOW, password=PASSWORD,
                         interface=InterfaceType.HDLC, server=SERVER_ADDRESSES["two bytes"]())
    try:  # the same line, a new SNRM: a fresh association
        again.connect()
        again.associate()
        control = GXDLMSDisconnectControl(BREAKER)
        again.read(control, 3)
        assert int(control.controlState) == 1
    finally:
        again.close()


def test_another_physical_address_is_not_answered(served_hdlc: ServedMeter) -> None:
    other = physical_address(METER_ID) + 1
    session = GuruxSession(served_hdlc.port, interface=InterfaceType.HDLC,
                           server=GXDLMSClient.getServerAddress(1, other, 2), timeout=0.5)
    try:
        with pytest.raises(TimeoutError):  # a frame for another station on the bus: silence
            session.connect()
    finally:
        session.line.close()


# --- HLS-GMAC (security suite 0): the four passes, then every APDU ciphered ----------------------------------------

CIPHERED_TAGS = {  # the ciphered requests and responses Gurux sends and expects, in each form
    "glo": ({0xC8, 0xCB}, {0xCC, 0xCF}),  # glo-get and glo-action requests and responses
    "general-glo": ({0xDB}, {0xDB}),  # general-glo-ciphering both ways
}


def apdu_tag(message: bytes, llc: bytes | None) -> int:
    """The first byte of the APDU in one message: after the wrapper's 8-byte header, or after the LLC header of an
    HDLC I frame."""
    return message[8] if llc is None else message[message.index(llc) + 3]


def hls_session(served: ServedMeter, form: str = "glo", keys: tuple[str, str] = (EK, AK)) -> GuruxSession:
    hdlc = served.pty is not None
    session = GuruxSession(served.port, client=1, authentication=Authentication.HIGH_GMAC, keys=keys,
                           interface=InterfaceType.HDLC if hdlc else InterfaceType.WRAPPER,
                           server=SERVER_ADDRESSES["two bytes"]() if hdlc else 1)
    if form == "general-glo":  # Gurux ciphers with general-glo-ciphering when it knows the server's title first
        session.client.serverSystemTitle = bytes.fromhex(SERVER_TITLE)
    if hdlc:
        session.connect()
    return session


@pytest.fixture(params=["wrapper", "hdlc"])
def served_either(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedMeter]:
    pty = None if request.param == "wrapper" else tmp_path / "meter.pty"
    with ServedMeter(gurux_meter(), request.param, pty=pty) as server:
        yield server


@pytest.mark.parametrize("form", list(CIPHERED_TAGS))
def test_gurux_with_hls_gmac_reads_and_disconnects_the_breaker_ciphered(served_either: ServedMeter, form: str) -> None:
    session = hls_session(served_either, form)
    llc = (LLC_REQUEST, LLC_RESPONSE) if served_either.pty is not None else (None, None)
    try:
        reply = session.request(session.client.aarqRequest())
        session.client.parseAareResponse(reply.data)
        # pass 2: accepted, but usable only once the client proved it knows the keys; the meter's title and StoC
        assert session.client.getIsAuthenticationRequired()
        assert bytes(session.client.getSourceSystemTitle()) == bytes.fromhex(SERVER_TITLE)
        assert len(session.client.settings.getStoCChallenge()) == 16
        assert not session.client.settings.connected & ConnectionState.DLMS
        first = len(session.sent)
        # pass 3 and 4: Gurux's f(StoC) accepted, the meter's f(CtoS) checked by Gurux (it raises when it is wrong)
        reply = session.request(session.client.getApplicationAssociationRequest())
        session.client.parseApplicationAssociationResponse(reply.data)
        assert session.client.settings.connected & ConnectionState.DLMS
        registers = {ln: GXDLMSRegister(ln) for ln in ("1.1.1.8.0.255", "1.1.2.8.0.255", "1.1.32.7.0.255")}
        check_registers(session, served_either.meter, registers)
        clock = GXDLMSClock("0.1.1.0.0.255")
        session.read(clock, 2)
        assert clock.time.value.timestamp() == served_either.meter.t
        remote_disconnect(session, served_either.meter)
        # every APDU after the AARQ went ciphered, and came back in the form it was asked in
        requests, responses = CIPHERED_TAGS[form]
        # (over HDLC only the frames that start an APDU: a long answer comes in segments that Gurux polls with RR)
        assert {apdu_tag(m, llc[0]) for m in session.sent[first:] if llc[0] is None or llc[0] in m} == requests
        assert {apdu_tag(m, llc[1]) for m in session.received[first:] if llc[1] is None or llc[1] in m} == responses
    finally:
        session.close()


def assert_no_data(session: GuruxSession, meter: Meter) -> None:
    """Without an association, no read and no action: each an exception-response, and the breaker untouched."""
    with pytest.raises(GXDLMSExceptionResponse, match="Service not allowed"):
        session.read(GXDLMSRegister("1.1.1.8.0.255"), 2)
    with pytest.raises(GXDLMSExceptionResponse, match="Service not allowed"):
        session.request(session.client.method(GXDLMSDisconnectControl(BREAKER), 1, 0, 0x0F))
    assert meter.breaker.state == "connected"


@pytest.mark.parametrize("wrong", ["encryption key", "authentication key"])
def test_gurux_with_a_wrong_key_gets_no_data(served_either: ServedMeter, wrong: str) -> None:
    keys = ("00" * 16, AK) if wrong == "encryption key" else (EK, "00" * 16)
    session = hls_session(served_either, keys=keys)
    try:
        reply = session.request(session.client.aarqRequest())
        with pytest.raises(GXDLMSException) as refused:  # the ciphered AARQ does not decipher: refused in the AARE
            session.client.parseAareResponse(reply.data)
        assert refused.value.result == AssociationResult.PERMANENT_REJECTED
        assert refused.value.diagnostic == SourceDiagnostic.AUTHENTICATION_FAILURE
        assert_no_data(session, served_either.meter)
    finally:
        session.line.close()


def test_gurux_with_a_wrong_proof_gets_no_data(served_either: ServedMeter) -> None:
    session = hls_session(served_either)
    try:
        reply = session.request(session.client.aarqRequest())
        session.client.parseAareResponse(reply.data)
        assert session.client.getIsAuthenticationRequired()
        session.client.settings.stoCChallenge = bytes(16)  # Gurux proves a challenge the meter did not send
        reply = session.request(session.client.getApplicationAssociationRequest())
        assert reply.error == 250  # ACTION-Response other-reason, and no f(CtoS)
        with pytest.raises(Exception, match="Server to Client do not match"):
            session.client.parseApplicationAssociationResponse(reply.data)
        assert_no_data(session, served_either.meter)
    finally:
        session.line.close()
