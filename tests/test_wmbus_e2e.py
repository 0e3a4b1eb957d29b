"""End to end: `omnipower-sim serve --wmbus` transmits the meter's telegrams as a receiver puts them out, the
gateway's `wmbus` source reads that receiver (rtl_wmbus lines on TCP and through a named pipe, iM871A HCI frames
on a pty), and a real Mosquitto shows A+, A−, P+ and P− equal to the simulated meter's (within the telegram's
resolution: 10 Wh and 1 W)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Mosquitto, free_port, probe_client
from gateway_harness import gateway_config, running_gateway
from sim_harness import START, serving, sim_config

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter, serial_number

pytestmark = pytest.mark.integration

KEY = "00112233445566778899AABBCCDDEEFF"
RESOLUTION = {"a_plus": 0.01, "a_minus": 0.01, "p_plus": 1.0, "p_minus": 1.0}


def twin() -> Meter:
    return Meter("wire", MeterSimSettings(start=START), SteppedClock(datetime.fromisoformat(START).timestamp()))


def matches(state: dict[str, object], readings: dict[str, object]) -> bool:
    return all(state[k] == pytest.approx(readings[k], abs=tol / 2 + 1e-6) for k, tol in RESOLUTION.items())


async def relay(port: int, fifo: Path) -> None:
    """What `nc 127.0.0.1 PORT > FIFO` does: rtl_wmbus's lines from TCP into a named pipe."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        while data := await reader.read(4096):
            os.write(fd, data)
    finally:
        os.close(fd)
        writer.close()


async def test_rtl_wmbus_on_tcp_and_on_a_pipe_encrypted(mosquitto: Mosquitto, tmp_path: Path) -> None:
    port = free_port()
    wire = f"tcp:127.0.0.1:{port}"
    fifo = tmp_path / "rtl_wmbus.fifo"
    os.mkfifo(fifo)
    radio = {"key": KEY, "interval_s": 16}
    meters = [{"id": "wire", "source": "wmbus", "transport": wire, "wmbus": {"format": "rtl_wmbus", "key": KEY}},
              {"id": "piped", "source": "wmbus", "transport": str(fifo),
               "wmbus": {"key": KEY, "id": f"{serial_number('wire'):08d}"}}]
    with serving(sim_config(tmp_path, wmbus=radio), "--wmbus", wire, speed="60"):
        relaying = asyncio.create_task(relay(port, fifo))
        try:
            async with running_gateway(gateway_config(tmp_path, mosquitto.port, meters)), \
                    probe_client(mosquitto, "omnipower/#", "homeassistant/#") as probe:
                for mid in ("wire", "piped"):
                    first = (await probe.wait_for(f"omnipower/{mid}/state", timeout=30)).json()
                    # a later telegram: compact frames after the power-up's full one
                    later = (await probe.wait_for(f"omnipower/{mid}/state",
                                                  lambda m, t=first["time"]: m.json()["time"] > t, timeout=30)).json()
                    for state in (first, later):
                        meter = twin()
                        meter.advance_to(datetime.fromisoformat(state["time"]).timestamp())
                        assert matches(state, meter.readings()), (mid, state, meter.readings())
                    assert set(first) >= set(RESOLUTION)
                    await probe.wait_for(f"omnipower/{mid}/availability", lambda m: m.json() == {"state": "online"})
                config = (await probe.wait_for("homeassistant/sensor/omnipower_wire/a_minus/config", timeout=10))
                assert config.json()["unit_of_measurement"] == "kWh"
        finally:
            relaying.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await relaying


async def test_im871a_on_a_pty(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """The stick's HCI frames carry no time the gateway can use: the state holds the values of one instant of
    the meter's, found among the seconds the simulation has run."""
    link = tmp_path / "im871a"
    meters = [{"id": "wire", "source": "wmbus", "transport": f"pty:{link}", "wmbus": {"format": "im871a"}}]
    launched = time.monotonic()
    with serving(sim_config(tmp_path, wmbus={"interval_s": 8}), "--wmbus", f"pty:{link}", "--wmbus-format",
                 "im871a", speed="60"):
        async with running_gateway(gateway_config(tmp_path, mosquitto.port, meters)), \
                probe_client(mosquitto, "omnipower/#") as probe:
            state = (await probe.wait_for("omnipower/wire/state", timeout=30)).json()
            elapsed = time.monotonic() - launched
    meter = twin()
    start = datetime.fromisoformat(START).timestamp()
    found = []
    for second in range(0, int(60 * (elapsed + 2))):
        meter.advance_to(start + second)
        if matches(state, meter.readings(list(RESOLUTION))):
            found.append(second)
    assert found, state
