"""Serves a simulated meter's DLMS/COSEM server to the tests, and builds the independent client that judges it.

`ServedMeter` serves one meter on a loopback port (and on a pty line when asked) from a thread and an event loop of
its own, since dlms-cosem's client blocks: behind the IEC 62056-47 wrapper (`converse_wrapper`), the HDLC link
(`converse_hdlc`), any converse function of the same shape, or an optical port (`serve_tcp`, `serve_serial`).
`dlms_client` is dlms-cosem's `DlmsClient` over either transport, with no security, LLS or HLS-GMAC;
`simulator_client` the same client of an `omnipower-sim serve` process. With the few helpers the tests share (`value`,
`obis`, `assert_association_refused`, `mutated_frames` for the HDLC fuzz tests)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from dlms_cosem import cosem
from dlms_cosem.client import DlmsClient
from dlms_cosem.dlms_data import DlmsDataParser
from dlms_cosem.exceptions import CommunicationError, DlmsClientException
from dlms_cosem.io import BlockingTcpIO, HdlcTransport, SerialIO, TcpTransport
from dlms_cosem.security import (
    HighLevelSecurityGmacAuthentication,
    LowLevelSecurityAuthentication,
    NoSecurityAuthentication,
)
from hypothesis import strategies as st

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.dlms_hdlc import converse_hdlc
from meter_sim.modules.dlms_server import MANAGEMENT_CLIENT, DlmsAssociation, ServerSecurity, converse_wrapper
from meter_sim.modules.optical import OpticalPort, serve_serial, serve_tcp
from meter_sim.ptys import PtyRelay
from meter_sim.serial_line import open_serial
from omnipower import dlms_apdu as ap

START = datetime.fromisoformat("2026-03-02T08:00:00+00:00").timestamp()
PASSWORD = "12345678"
EK, AK = "000102030405060708090A0B0C0D0E0F", "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"  # security suite 0's keys
CLIENT_TITLE = b"OMNIGW01"

Converse = Callable[..., Awaitable[None]]  # (meter, reader, write, security=…): one line of a transport
CONVERSE: dict[str, Converse] = {"wrapper": converse_wrapper, "hdlc": converse_hdlc}


def stepped_meter(meter_id: str, settings: MeterSimSettings | dict[str, Any] | None = None, start: float = START,
                  hours: float = 0) -> Meter:
    """A meter on a stepped clock from `start`, run `hours` ahead (its values then mean something, and stay put)."""
    if not isinstance(settings, MeterSimSettings):
        settings = MeterSimSettings.model_validate(settings or {})
    meter = Meter(meter_id, settings, SteppedClock(start))
    if hours:
        meter.advance_to(start + hours * 3600)
    return meter


def management_association(meter: Meter, password: str, conformance: ap.Conformance) -> DlmsAssociation:
    """A sans-IO association of the management client 1 with `meter`, accepted with its LLS `password`."""
    association = DlmsAssociation(meter, MANAGEMENT_CLIENT)
    aarq = ap.Aarq(user_information=ap.InitiateRequest(proposed_conformance=conformance), authentication=True,
                   mechanism=ap.AuthenticationMechanism.LLS, calling_authentication_value=password.encode())
    aare = ap.decode_apdu(association.handle(aarq.to_bytes()))
    assert isinstance(aare, ap.Aare) and aare.result is ap.AssociationResult.ACCEPTED
    return association


class ServedMeter:
    """`meter` behind `converse` ("wrapper", "hdlc", a converse function, or an `OpticalPort` of the meter's) on a
    loopback TCP port, and on a pty line at `pty` when given (opened by the meter before anyone can write on it),
    served from a thread of its own. `security`: one `ServerSecurity` for all the meter's lines, as `serve()` has
    (else each line remembers the invocation counters for itself). `close()` ends it; also a context manager."""

    def __init__(self, meter: Meter, converse: str | Converse | OpticalPort = "wrapper", *,
                 security: ServerSecurity | None = None, pty: Path | None = None) -> None:
        self.meter = meter
        self.converse = CONVERSE.get(converse, converse) if isinstance(converse, str) else converse
        self.hdlc = self.converse is not converse_wrapper  # what `client()` speaks: an optical port's DLMS is HDLC
        self.security = security
        self.port = free_port()
        self.pty = pty
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _line(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Awaitable[None]:
        if isinstance(self.converse, OpticalPort):
            return serve_serial(self.converse, reader, writer)
        extra = {} if self.security is None else {"security": self.security}
        return self.converse(self.meter, reader, writer.write, **extra)

    async def _serve_tcp(self) -> asyncio.Server:
        if isinstance(self.converse, OpticalPort):
            return await serve_tcp(self.converse, "127.0.0.1", self.port)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._line(reader, writer)
            writer.close()

        return await asyncio.start_server(handle, "127.0.0.1", self.port)

    def _run(self) -> None:
        async def main() -> None:
            self.server = await self._serve_tcp()
            async with contextlib.AsyncExitStack() as stack:
                if self.pty is not None:
                    relay = stack.enter_context(PtyRelay(str(self.pty), expose=False))
                    baud = 300 if isinstance(self.converse, OpticalPort) else 9600  # ptys refuse 7E1: 8N1 always
                    reader, writer = await open_serial(relay.inner_path, baud, "8N1")
                    stack.callback(writer.close)
                    line = asyncio.create_task(self._line(reader, writer))
                    stack.callback(line.cancel)
                    relay.expose()
                self.ready.set()
                await self.server.serve_forever()

        asyncio.set_event_loop(self.loop)
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(main())

    def transport(self, client: int = 16, over: str = "tcp") -> TcpTransport | HdlcTransport:
        return dlms_transport(self.port if over == "tcp" else self.pty, client, hdlc=self.hdlc)

    def client(self, client: int = 16, password: str | None = None, *, over: str = "tcp",
               keys: tuple[str, str] | None = None) -> DlmsClient:
        """dlms-cosem's client of this meter over its TCP port or (`over="pty"`) its pty line."""
        return dlms_client(self.transport(client, over), password=password, keys=keys)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(self.loop)])
        self.thread.join(5)

    def __enter__(self) -> ServedMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dlms_transport(line: int | Path | Any, client: int = 16, *, hdlc: bool = False) -> TcpTransport | HdlcTransport:
    """A transport to logical device 1 over `line`: a loopback TCP port, a pty or serial port at 9600 Bd, or an
    IO object of dlms-cosem's kind."""
    io: Any = (BlockingTcpIO("127.0.0.1", line, timeout=5) if isinstance(line, int)
               else SerialIO(str(line), baud_rate=9600, timeout=5) if isinstance(line, Path) else line)
    kind = HdlcTransport if hdlc else TcpTransport
    return kind(client_logical_address=client, server_logical_address=1, io=io)


def dlms_client(line: int | Path | Any, client: int = 16, password: str | None = None, *, hdlc: bool = False,
                keys: tuple[str, str] | None = None, title: bytes = CLIENT_TITLE) -> DlmsClient:
    """dlms-cosem's `DlmsClient` over `line` (as `dlms_transport`, or a transport already made): no security,
    LLS with `password`, or HLS-GMAC with `keys` (encryption, authentication; hex) and the system title `title`."""
    transport = line if isinstance(line, TcpTransport | HdlcTransport) else dlms_transport(line, client, hdlc=hdlc)
    if keys is not None:
        return DlmsClient(transport=transport, authentication=HighLevelSecurityGmacAuthentication(challenge_length=32),
                          encryption_key=bytes.fromhex(keys[0]), authentication_key=bytes.fromhex(keys[1]),
                          client_system_title=title)
    auth: Any = (NoSecurityAuthentication() if password is None
                 else LowLevelSecurityAuthentication(password.encode()))
    return DlmsClient(transport=transport, authentication=auth)


@contextlib.contextmanager
def simulator_client(tmp_path: Path, option: str, *extra: str) -> Iterator[DlmsClient]:
    """`omnipower-sim serve` with one meter (m1) and `option` ("--dlms" or "--dlms-hdlc") on a loopback port (and
    the `extra` arguments), a real process as a user runs it: dlms-cosem's client, connected as soon as it listens
    (20 s at the most)."""
    port = free_port()
    config = tmp_path / "meter.yaml"
    config.write_text("meters:\n  - id: m1\n    start: '2026-03-02T08:00:00Z'\n")
    proc = subprocess.Popen([sys.executable, "-m", "meter_sim", "serve", "--config", str(config),
                             option, f"tcp:127.0.0.1:{port}", *extra], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            client = dlms_client(port, hdlc=option == "--dlms-hdlc")
            try:
                client.connect()
                break
            except CommunicationError:
                assert time.monotonic() < deadline and proc.poll() is None, "the simulator did not listen"
                time.sleep(0.1)
        yield client
    finally:
        proc.terminate()
        proc.wait(10)


def assert_association_refused(client: DlmsClient) -> None:
    """The client connects, its AARQ is refused permanently, and it disconnects."""
    client.connect()
    try:
        with pytest.raises(DlmsClientException, match="REJECTED_PERMANENT"):
            client.associate()
    finally:
        client.disconnect()


def obis(text: str) -> cosem.Obis:
    return cosem.Obis(*(int(p) for p in text.split(".")))


def plain(item: Any) -> Any:
    """dlms-cosem's data objects as Python values (structures and arrays as lists)."""
    inner = item.value
    return [plain(x) for x in inner] if isinstance(inner, list) else inner


def value(data: bytes) -> Any:
    return plain(DlmsDataParser().parse(data, limit=1)[0])


def mutated_frames(frames: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Up to six of `frames` in a row, each with up to three bytes flipped, dropped or inserted."""

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        chosen = [bytearray(f) for f in draw(st.lists(st.sampled_from(frames), min_size=1, max_size=6))]
        for frame in chosen:
            for _ in range(draw(st.integers(0, 3))):
                pos = draw(st.integers(0, len(frame) - 1))
                action = draw(st.sampled_from(["flip", "drop", "insert"]))
                if action == "flip":
                    frame[pos] ^= draw(st.integers(1, 255))
                elif action == "drop":
                    del frame[pos]
                else:
                    frame.insert(pos, draw(st.integers(0, 255)))
        return b"".join(chosen)

    return mutated()
