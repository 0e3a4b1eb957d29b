"""Our RS-485 module's Modbus slave read by independent masters: mbpoll (Debian package) over TCP
and over a pty (RTU), and pymodbus's client; the values equal the model's readings."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from conftest import free_port
from pymodbus.client import AsyncModbusTcpClient
from sim_harness import START, serving, sim_config

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from omnipower import modbus_map as mm

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
            assert not (await client.write_register(mm.HOLDING_TARIFF_CONTROL, 3, device_id=1)).isError()
            hr = await client.read_holding_registers(0, count=mm.HOLDING_COUNT, device_id=1)
            assert hr.registers == [3, 0]
            rr = await client.read_input_registers(mm.INPUT_BY_KEY["tariff"].address, count=2, device_id=1)
            assert mm.decode_inputs(rr.registers, mm.INPUT_BY_KEY["tariff"].address)["tariff"] == 3
            bad = await client.write_register(mm.HOLDING_TARIFF_CONTROL, 7, device_id=1)
            assert bad.isError() and bad.exception_code == 3
        finally:
            client.close()
