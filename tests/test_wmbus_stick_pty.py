"""The gateway's `wmbus` source with `format: im871a` against the simulated stick on a pty (the transport
`omnipower-sim serve --wmbus pty:… --wmbus-format im871a` uses): it sets the stick up before listening, so a
stick whose owner saved T1 hears the meter once the source has set C1-TF-B in RAM; and a line where nothing
answers is named for what failed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import free_port

from gateway.config import MeterConfig
from gateway.sources.base import SourceError
from gateway.sources.wmbus import WmbusSource
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings, WmbusSettings
from meter_sim.meter import Meter
from meter_sim.modules.im871a_stick import Im871aStick
from meter_sim.modules.wmbus_radio import WmbusRadio
from meter_sim.push_transport import PushTransport
from omnipower.address import parse_address
from omnipower.im871a import Im871aConfig

START = datetime(2026, 1, 15, 11, 0, tzinfo=UTC).timestamp()


def source_on(address: str) -> WmbusSource:
    return WmbusSource(MeterConfig(id="wire", source="wmbus", transport=address, wmbus={"format": "im871a"}))


@contextlib.asynccontextmanager
async def running(source: WmbusSource) -> AsyncIterator[None]:
    task = asyncio.create_task(source.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("line_kind", ["pty", "tcp"])  # tcp: a stick behind ser2net, clients share the line
async def test_the_source_sets_the_stick_up_then_reads_its_telegrams(tmp_path: Path, line_kind: str,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.sources.wmbus")
    meter = Meter("wire", MeterSimSettings(start=datetime.fromtimestamp(START, UTC),
                                           wmbus=WmbusSettings(interval_s=4)), SteppedClock(START))
    radio = WmbusRadio(meter, receiver="im871a")
    radio.device = stick = Im871aStick(0x12345678, nvm=Im871aConfig(link_mode=0x03))  # its owner saved T1
    assert radio.due() == [] and radio.count == 1  # the module sent at power-up; a stick in T1 did not hear it
    address = f"pty:{tmp_path / 'im871a'}" if line_kind == "pty" else f"tcp:127.0.0.1:{free_port()}"
    source = source_on(address)
    async with PushTransport(parse_address(address), 57600, "8N1", on_receive=radio.host) as line, \
            running(source):
        async with asyncio.timeout(20):
            second = 0
            while source.telegrams < 2:
                second += 4
                meter.advance_to(START + second)
                for out in radio.due():
                    line.send(out)
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # the last telegram sent is read too
        readings = await source.read()
    assert (stick.config.link_mode, stick.config.device_mode, stick.config.auto_rssi) == (0x07, 0x00, 1)
    assert stick.nvm.link_mode == 0x03  # set in RAM only: the saved T1 stays the owner's
    expected = meter.readings()
    for key in ("a_plus", "a_minus"):
        assert readings[key] == pytest.approx(expected[key], abs=0.005 + 1e-9), key
    for key in ("p_plus", "p_minus"):
        assert readings[key] == pytest.approx(expected[key], abs=0.5 + 1e-9), key
    assert (f"GET_DEVICEINFO_RSP on {address}: iM871A, device mode other, firmware 0x13, HCI protocol 0x16, "
            "device id 12345678") in caplog.text
    assert "GET_CONFIG_RSP" in caplog.text and "link_mode C1-TF-B" in caplog.text
    assert list(stick.unanswered) == []


async def test_a_line_that_answers_nothing_is_named_for_it(tmp_path: Path) -> None:
    link = tmp_path / "silent"
    source = source_on(f"pty:{link}")
    async with PushTransport(parse_address(f"pty:{link}"), 57600, "8N1"), running(source):  # push-only: no answers
        async with asyncio.timeout(10):
            while source.problem is None:  # noqa: ASYNC110 - the source's state, polled from outside
                await asyncio.sleep(0.05)
        with pytest.raises(SourceError, match=rf"the stick on pty:{link} answered no PING: is it an iM871A"):
            await source.read()
    assert source.telegrams == 0 and not source.online
