"""The second independent judge of the meter's DLMS/COSEM server: Gurux's Python client (gurux-dlms, GPL-2.0: a test
dependency only, never imported by the project's packages). It associates over the IEC 62056-47 wrapper, reads the
object list into its own object model, reads registers with scaler and unit and the clock, is refused by a wrong
password, and disconnects and releases the breaker through Disconnect Control."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from conftest import free_port

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.dlms_server import converse_wrapper

gurux = pytest.importorskip("gurux_dlms", reason="gurux-dlms is a test dependency (pip install -e '.[dev]')")
from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData  # noqa: E402
from gurux_dlms.enums import Authentication, InterfaceType, ObjectType  # noqa: E402
from gurux_dlms.objects import GXDLMSClock, GXDLMSDisconnectControl, GXDLMSRegister  # noqa: E402

START = datetime.fromisoformat("2026-06-10T04:00:00+00:00").timestamp()
PASSWORD = "gurux-pw"


class Served:
    def __init__(self) -> None:
        self.meter = Meter("gx1", MeterSimSettings.model_validate({"dlms": {"password": PASSWORD}}),
                           SteppedClock(START))
        self.meter.advance_to(START + 8 * 3600)  # a summer morning: import and export both moved
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await converse_wrapper(self.meter, reader, writer.write)
                writer.close()

            async def main() -> None:
                self.server = await asyncio.start_server(handle, "127.0.0.1", self.port)
                ready.set()
                await self.server.serve_forever()

            asyncio.set_event_loop(self.loop)
            with contextlib.suppress(asyncio.CancelledError):
                self.loop.run_until_complete(main())

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(self.loop)])
        self.thread.join(5)


class GuruxSession:
    """Gurux's client makes and parses the bytes; this moves them over a socket (Gurux leaves that to its user)."""

    def __init__(self, port: int, client: int = 16, authentication: Any = Authentication.NONE,
                 password: str | None = None) -> None:
        self.client = GXDLMSClient(True, client, 1, authentication, password.encode() if password else None,
                                   InterfaceType.WRAPPER)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)

    def _exchange(self, data: bytes, reply: Any) -> None:
        self.sock.sendall(bytes(data))
        received = GXByteBuffer()
        while not self.client.getData(received, reply):
            chunk = self.sock.recv(4096)
            assert chunk, "the meter closed the connection"
            received.set(chunk)

    def request(self, packets: Any) -> Any:
        """Send one request (a list of packets) and read its whole answer, block by block."""
        reply = GXReplyData()
        for packet in packets if isinstance(packets, list) else [packets]:
            reply.clear()
            self._exchange(packet, reply)
            while reply.isMoreData():
                self._exchange(self.client.receiverReady(reply), reply)
        return reply

    def associate(self) -> None:
        reply = self.request(self.client.aarqRequest())
        self.client.parseAareResponse(reply.data)

    def read(self, item: Any, attribute: int) -> Any:
        reply = self.request(self.client.read(item, attribute))
        return self.client.updateValue(item, attribute, reply.value)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.request(self.client.releaseRequest())
        self.sock.close()


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served()
    yield server
    server.close()


def test_gurux_reads_the_object_list_registers_and_clock(served: Served) -> None:
    session = GuruxSession(served.port)
    try:
        session.associate()
        reply = session.request(session.client.getObjectsRequest())
        objects = session.client.parseObjects(reply.data, True)
        registers = {o.logicalName: o for o in objects.getObjects(ObjectType.REGISTER)}
        assert "1.1.1.8.0.255" in registers and "1.1.32.7.0.255" in registers
        assert objects.findByLN(ObjectType.DISCONNECT_CONTROL, "1.1.128.0.11.255") is not None
        readings = served.meter.readings()
        for ln, key, per_unit in (("1.1.1.8.0.255", "a_plus", 1000.0), ("1.1.2.8.0.255", "a_minus", 1000.0),
                                  ("1.1.32.7.0.255", "u_l1", 1.0)):
            register: GXDLMSRegister = registers[ln]
            session.read(register, 3)  # scaler and unit first: Gurux scales the value with them
            session.read(register, 2)
            published = readings[key]
            assert isinstance(published, float)
            step = float(register.scaler)  # Gurux keeps the scaler as its multiplier, 10**scaler
            assert step == {"a_plus": 10.0, "a_minus": 10.0, "u_l1": 1.0}[key]  # 10 Wh and 1 V counts
            assert float(register.value) / per_unit == pytest.approx(published, abs=step / per_unit)
        assert readings["a_plus"] > 0 and readings["a_minus"] > 0
        clock = GXDLMSClock("0.1.1.0.0.255")
        session.read(clock, 2)
        assert clock.time.value.timestamp() == served.meter.t
    finally:
        session.close()


def test_gurux_is_refused_with_a_wrong_password(served: Served) -> None:
    session = GuruxSession(served.port, client=1, authentication=Authentication.LOW, password="wrong")
    try:
        with pytest.raises(Exception, match=r"(?i)authentication|reject|denied"):
            session.associate()
    finally:
        session.sock.close()


def test_gurux_disconnects_and_releases_the_breaker(served: Served) -> None:
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


def test_no_package_of_ours_imports_a_gpl_judge() -> None:
    """gurux-dlms is GPL-2.0: the project (MIT) may run it in tests, never import it."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    offenders = []
    for package in ("omnipower", "meter_sim", "gateway"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] == "gurux_dlms"]
    assert offenders == []
