"""Our RS-485 module's Modbus slave read by independent masters: mbpoll (Debian package) over TCP
and over a pty (RTU), and pymodbus's client; the values equal the model's readings."""

from __future__ import annotations

import asyncio
import os
import re
import select
import shutil
import subprocess
import sys
import time
import tty
from datetime import datetime
from pathlib import Path

import pytest
from conftest import free_port
from pymodbus.client import AsyncModbusTcpClient
from sim_harness import FROZEN, START, serving, sim_config

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.ptys import PtyRelay
from meter_sim.serve import serve
from omnipower import modbus_map as mm
from omnipower.address import parse_address

pytestmark = pytest.mark.integration


def mbpoll(*args: str) -> str:
    binary = shutil.which("mbpoll")
    if binary is None:
        pytest.fail("mbpoll is missing: run scripts/test.sh, which installs Debian's mbpoll")
    result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)
    return result.stdout + result.stderr


def values(output: str) -> dict[int, int]:
    return {int(ref): int(v) for ref, v in re.findall(r"^\[(\d+)\]:\s+(-?\d+)", output, re.M)}


def twin() -> dict[str, object]:
    """The same meter in-process, at the same (frozen) instant."""
    start = datetime.fromisoformat(START).timestamp()
    return Meter("wire", MeterSimSettings(seed=1, start=START), SteppedClock(start)).readings()


def ref(key: str) -> int:
    return mm.INPUT_BY_KEY[key].address + 1  # mbpoll counts references from 1


def test_mbpoll_over_tcp_and_pty(tmp_path: Path) -> None:
    port = free_port()
    link = tmp_path / "rtu"
    expected = twin()
    with serving(sim_config(tmp_path), "--modbus", f"tcp:127.0.0.1:{port}", "--modbus-rtu", f"pty:{link}"):
        for transport in (["-m", "tcp", "-p", str(port)], ["-m", "rtu", "-b", "9600", "-P", "none"]):
            target = "127.0.0.1" if "tcp" in transport else str(link)
            out = mbpoll(*transport, "-a", "1", "-t", "3:int", "-B", "-r", str(ref("u_l1")), "-c", "9", "-1", target)
            got = values(out)
            for n, key in enumerate(("u_l1", "u_l2", "u_l3", "i_l1", "i_l2", "i_l3", "pf_l1", "pf_l2", "pf_l3")):
                point = mm.INPUT_BY_KEY[key]
                assert got[ref(key)] == round(expected[key] * 10**point.decimals), (transport, key, out)  # type: ignore[operator]
                assert ref(key) == ref("u_l1") + 2 * n
        # The function word (reference 235): breaker, load control, tariff command, S0, current THD.
        out = mbpoll("-m", "tcp", "-p", str(port), "-a", "1", "-t", "3:int", "-B", "-r", "235", "-c", "2", "-1",
                     "127.0.0.1")
        assert values(out) == {235: 0b1001111, 237: 4}, out
        # Frequency and the breaker code, read as 32-bit big-endian integers.
        out = mbpoll("-m", "tcp", "-p", str(port), "-a", "1", "-t", "3:int", "-B", "-r", str(ref("frequency")),
                     "-c", "1", "-1", "127.0.0.1")
        assert values(out)[ref("frequency")] == round(expected["frequency"] * 100)  # type: ignore[operator]
        # Writing coil 0 (reference 1) = 0 disconnects the breaker; the input register shows it.
        out = mbpoll("-m", "tcp", "-p", str(port), "-a", "1", "-t", "0", "-r", "1", "-1", "127.0.0.1", "0")
        assert "Written 1 references" in out, out
        out = mbpoll("-m", "tcp", "-p", str(port), "-a", "1", "-t", "3:int", "-B", "-r", str(ref("breaker")),
                     "-c", "1", "-1", "127.0.0.1")
        assert values(out)[ref("breaker")] == mm.BREAKER_CODES["disconnected"]
        # A second disconnect is refused in that state (exception 4), an unknown address is illegal.
        out = mbpoll("-m", "tcp", "-p", str(port), "-a", "1", "-t", "0", "-r", "1", "-1", "127.0.0.1", "0")
        assert "Slave device or server failure" in out, out
        out = mbpoll("-m", "tcp", "-p", str(port), "-a", "1", "-t", "3", "-r", "1001", "-c", "2", "-1", "127.0.0.1")
        assert "Illegal data address" in out, out


def test_mbpoll_switches_the_load_control_relays(tmp_path: Path) -> None:
    port = free_port()
    tcp = ["-m", "tcp", "-p", str(port), "-a", "1"]
    with serving(sim_config(tmp_path), "--modbus", f"tcp:127.0.0.1:{port}"):
        # Coils 1 and 2 (references 2 and 3) are the relays; coil 0 (reference 1) the breaker.
        out = mbpoll(*tcp, "-t", "0", "-r", "3", "-1", "127.0.0.1", "1")
        assert "Written 1 references" in out, out
        out = mbpoll(*tcp, "-t", "0", "-r", "1", "-c", "3", "-1", "127.0.0.1")
        assert values(out) == {1: 1, 2: 0, 3: 1}, out
        out = mbpoll(*tcp, "-t", "0", "-r", "4", "-1", "127.0.0.1", "1")
        assert "Illegal data address" in out, out
    with serving(sim_config(tmp_path, z14=0), "--modbus", f"tcp:127.0.0.1:{port}"):
        out = mbpoll(*tcp, "-t", "0", "-r", "2", "-1", "127.0.0.1", "1")  # no load control: refused
        assert "Slave device or server failure" in out, out


async def test_pymodbus_client_reads_the_whole_map_and_writes(tmp_path: Path) -> None:
    port = free_port()
    expected = twin()
    with serving(sim_config(tmp_path), "--modbus", f"tcp:127.0.0.1:{port}"):
        client = AsyncModbusTcpClient("127.0.0.1", port=port)
        await client.connect()
        try:
            decoded: dict[str, object] = {}
            for address, count in mm.read_blocks():
                rr = await client.read_input_registers(address, count=count, device_id=1)
                assert not rr.isError()
                decoded.update(mm.decode_inputs(rr.registers, address))
            assert decoded["time"] == expected["time"]
            for key in mm.INPUT_KEYS:
                if key.endswith("_time"):
                    continue
                if key not in expected:  # not on this meter (prepayment off, no pulse input)
                    assert decoded[key] in (0, None), key
                    continue
                assert decoded[key] == expected[key] or decoded[key] == pytest.approx(
                    expected[key], abs=10 ** -mm.INPUT_BY_KEY[key].decimals), key
            rr = await client.read_input_registers(mm.FEATURES_ADDRESS, count=mm.FEATURES_COUNT, device_id=1)
            assert mm.decode_features(rr.registers) == mm.Features(
                frozenset({"breaker", "load_control", "tariff_command", "s0_output", "current_thd"}), 4)
            assert not (await client.write_register(mm.HOLDING_TARIFF_CONTROL, 3, device_id=1)).isError()
            hr = await client.read_holding_registers(0, count=mm.HOLDING_COUNT, device_id=1)
            assert hr.registers == [3, 0]
            rr = await client.read_input_registers(mm.INPUT_BY_KEY["tariff"].address, count=2, device_id=1)
            assert mm.decode_inputs(rr.registers, mm.INPUT_BY_KEY["tariff"].address)["tariff"] == 3
            bad = await client.write_register(mm.HOLDING_TARIFF_CONTROL, 7, device_id=1)
            assert bad.isError() and bad.exception_code == 3
        finally:
            client.close()


def crc16(frame: bytes) -> bytes:
    """Modbus RTU CRC (poly 0xA001, low byte first), written out so that the test does not trust pymodbus."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes([crc & 0xFF, crc >> 8])


def read_request(key: str) -> bytes:
    """Function 04, one reading (two registers), unit 1."""
    address = mm.INPUT_BY_KEY[key].address
    pdu = bytes([1, 4, address >> 8, address & 0xFF, 0, 2])
    return pdu + crc16(pdu)


def answered_value(answer: bytes) -> int:
    assert len(answer) == 9 and answer[:3] == bytes([1, 4, 4]) and crc16(answer[:7]) == answer[7:], answer.hex()
    return mm.from_words(int.from_bytes(answer[3:5]), int.from_bytes(answer[5:7]))


def test_a_tool_that_opens_the_rtu_pty_the_moment_it_appears_gets_its_first_answer(tmp_path: Path) -> None:
    """No settling time: the request goes out as soon as PATH exists, as an impatient tool would send it."""
    expected = round(twin()["u_l1"] * 10)  # type: ignore[operator]  # 0.1 V
    for attempt in range(3):
        link = tmp_path / f"rtu{attempt}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "meter_sim", "serve", "--config", str(sim_config(tmp_path)), "--speed", FROZEN,
             "--modbus-rtu", f"pty:{link}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while not link.exists():  # spin: the earliest moment a tool can see PATH
                assert proc.poll() is None and time.monotonic() < deadline, "serve exited or never made PATH"
            fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
            try:
                tty.setraw(fd)
                os.write(fd, read_request("u_l1"))
                answer = b""
                deadline = time.monotonic() + 5
                while len(answer) < 9 and time.monotonic() < deadline:
                    if select.select([fd], [], [], 0.1)[0]:
                        answer += os.read(fd, 64)
            finally:
                os.close(fd)
        finally:
            proc.terminate()
            proc.wait(10)
        assert answered_value(answer) == expected, attempt


async def test_the_rtu_pty_appears_only_once_the_slave_has_its_port_open(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """At the instant PATH is made, the slave already holds the inner pty open (pyserial has flushed it),
    and a request written at that very instant is answered."""
    link = tmp_path / "rtu"
    seen: dict[str, int] = {}
    exposed = asyncio.Event()
    expose = PtyRelay.expose

    def watched_expose(relay: PtyRelay) -> None:
        expose(relay)
        holders = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                holders += os.readlink(f"/proc/self/fd/{fd}") == relay.inner_path
            except OSError:
                continue
        seen["inner_holders"] = holders  # the relay's own descriptor, plus the slave's serial port
        seen["fd"] = fd = os.open(link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        os.write(fd, read_request("u_l1"))
        exposed.set()

    monkeypatch.setattr(PtyRelay, "expose", watched_expose)
    stop = asyncio.Event()
    settings = MeterSimSettings(seed=1, start=START)
    task = asyncio.create_task(serve("wire", settings, float(FROZEN), {"modbus-rtu": parse_address(f"pty:{link}")},
                                     stop))
    try:
        async with asyncio.timeout(10):
            await exposed.wait()
        assert seen["inner_holders"] >= 2, seen
        loop = asyncio.get_running_loop()
        answer = bytearray()
        complete = asyncio.Event()

        def readable() -> None:
            answer.extend(os.read(seen["fd"], 64))
            if len(answer) >= 9:
                complete.set()

        loop.add_reader(seen["fd"], readable)
        try:
            async with asyncio.timeout(5):
                await complete.wait()
        finally:
            loop.remove_reader(seen["fd"])
        assert answered_value(bytes(answer)) == round(twin()["u_l1"] * 10)  # type: ignore[operator]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        if "fd" in seen:
            os.close(seen["fd"])
