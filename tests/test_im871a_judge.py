"""Judge: pyWirelessMbus (PyPI, MIT), a host library written for the real iM871A-USB, drives the simulated stick
over a pty (tests/pywirelessmbus_host.py, in its own process): it reads the stick's configuration, PING,
device information, sets T1 (the meter's telegrams go unheard) then C1-TF-B with RSSI and time stamp, reads a
telegram indication, and resets the stick."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings, WmbusSettings
from meter_sim.meter import Meter
from meter_sim.modules.im871a_stick import Im871aStick
from meter_sim.modules.wmbus_radio import WmbusRadio
from meter_sim.push_transport import PushTransport
from omnipower import wmbus
from omnipower.address import parse_address

pytest.importorskip("pywirelessmbus", reason="the judge is a dev extra: pip install -e '.[dev]'")

HOST = Path(__file__).with_name("pywirelessmbus_host.py")
START = datetime(2026, 1, 15, 11, 0, tzinfo=UTC).timestamp()


async def test_pywirelessmbus_configures_the_stick_and_reads_a_telegram(tmp_path: Path) -> None:
    meter = Meter("wire", MeterSimSettings(start=datetime.fromtimestamp(START, UTC),
                                           wmbus=WmbusSettings(interval_s=4)), SteppedClock(START))
    radio = WmbusRadio(meter, receiver="im871a")
    radio.device = stick = Im871aStick(0x12345678)
    radio.due()  # the power-up telegram, before anyone listens
    link = tmp_path / "im871a"
    async with PushTransport(parse_address(f"pty:{link}"), 57600, "8N1", on_receive=radio.host) as line:
        host = await asyncio.create_subprocess_exec(sys.executable, str(HOST), str(link), stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE)
        assert host.stdin is not None and host.stdout is not None
        said: dict[str, dict[str, Any]] = {}

        async def next_step() -> dict[str, Any]:
            assert host.stdout is not None
            step = json.loads(await host.stdout.readline())
            said[step["step"]] = step
            assert step["step"] != "timeout", step
            return step

        def transmit() -> None:
            meter.advance_to(meter.t + 4)
            for out in radio.due():
                line.send(out)

        try:
            async with asyncio.timeout(30):
                while (await next_step())["step"] != "T1":
                    pass
                transmit()  # heard by nobody: the stick is in T1
                host.stdin.write(b"go\n")
                await host.stdin.drain()
                await next_step()  # listening
                transmit()
                while (await next_step())["step"] != "done":
                    pass
                await host.wait()
        finally:
            if host.returncode is None:
                host.kill()
                await host.wait()
    assert said["config"] == {"step": "config", "link_mode": 7, "device_mode": 0, "rssi": False, "timestamp": False,
                              "device_id": "12345678", "manufacturer_id": "25b3"}  # our factory settings
    assert said["device info"]["lines"][-5:] == ["Module Type: 33", "Device Mode: 00", "Firmware: 13",
                                            "HCI Protocol version: 16", "Device ID: 78563412"]
    assert said["T1"]["link_mode"] == 3
    assert said["listening"] == {"step": "listening", "heard_so_far": 0, "link_mode": 7, "device_mode": 0,
                                 "rssi": True, "timestamp": True, "device_id": "12345678",
                                 "manufacturer_id": "25b3"}
    heard = said["heard"]
    assert (heard["endpoint"], heard["message_id"], heard["rssi"]) == (2, "03", 42)
    assert bytes.fromhex(heard["timestamp"]) == int(meter.t).to_bytes(4, "little")  # the meter's clock
    telegram = wmbus.decode(bytes.fromhex(heard["payload"]))  # the library hands on L + the telegram from C
    assert telegram.address.id == radio.id
    assert telegram.readings["1.8.0"] == pytest.approx(meter.readings()["a_plus"], abs=0.005 + 1e-9)
    assert stick.config == stick.nvm  # RESET: back to what it saved (pyWirelessMbus sets RAM only)
