"""The gateway's `sms` source end to end: `omnipower-sim serve --gsm pty:…` is the modem on a serial line, the source
drives it with our AT client, reads the meter's GSM8i module by SMS and the gateway publishes the answer on a real
Mosquitto; refusals (the meter's PIN, the modem's SIM PIN) come back as the reason the meter is offline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Mosquitto, Received, free_port, probe_client
from gateway_harness import gateway_config, running_gateway
from sim_harness import START, serving, sim_config

from gateway.config import ConfigError, MeterConfig, load_settings
from gateway.period_fields import FIELDS_BY_KEY
from gateway.sources.base import SourceError
from gateway.sources.sms import SmsSource
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from omnipower.sms_reading import READ_KEYS

HEAD, NUMBER = "+4520000000", "+4520000001"
GSM = {"number": NUMBER, "pin": "4321", "whitelist": [HEAD], "head_end": {"number": HEAD, "pin": "1234"}}
HOUSEHOLD = {"pv_kwp": 0.0}  # no PV: at noon A+ grows


def twin_at(iso_time: str) -> dict[str, Any]:
    settings = MeterSimSettings(seed=1, start=START, household=HOUSEHOLD)
    meter = Meter("wire", settings, SteppedClock(datetime.fromisoformat(START).timestamp()))
    meter.advance_to(datetime.fromisoformat(iso_time).timestamp())
    return meter.readings()


@pytest.mark.integration
async def test_the_sms_source_publishes_the_meters_answer(mosquitto: Mosquitto, tmp_path: Path) -> None:
    wire = f"pty:{tmp_path / 'modem'}"
    meter = {"id": "wire", "source": "sms", "transport": wire,
             "sms": {"number": NUMBER, "pin": "4321", "sim_pin": "1234"}}
    with serving(sim_config(tmp_path, gsm=GSM, household=HOUSEHOLD), "--gsm", wire, speed="600"):
        async with running_gateway(gateway_config(tmp_path, mosquitto.port, [meter])), \
                probe_client(mosquitto, "omnipower/wire/#") as probe:
            state = (await probe.wait_for("omnipower/wire/state", timeout=30)).json()
            assert (await probe.wait_for("omnipower/wire/availability",
                                         lambda m: m.json()["state"] == "online")).json() == {"state": "online"}
            breaker = (await probe.wait_for("omnipower/wire/breaker")).json()
    twin = twin_at(state["time"])
    assert set(state) - FIELDS_BY_KEY.keys() == {"time", *(k for k in READ_KEYS if k in twin)}  # + the computed
    for key in READ_KEYS:
        if isinstance(twin.get(key), float):
            assert state[key] == pytest.approx(twin[key], abs=0.0006), key
    assert state["a_plus"] > 0 and state["breaker"] == "connected"
    assert breaker["state"] == "connected" and breaker["time"] == state["time"]


@pytest.mark.integration
async def test_the_sms_source_goes_offline_and_comes_back(mosquitto: Mosquitto, tmp_path: Path) -> None:
    wire = f"tcp:127.0.0.1:{free_port()}"  # a modem behind a terminal server
    meter = {"id": "wire", "source": "sms", "transport": wire,
             "sms": {"number": NUMBER, "pin": "4321", "sim_pin": "1234"}}
    config = gateway_config(tmp_path, mosquitto.port, [meter])

    def online(m: Received) -> bool:
        return bool(m.json()["state"] == "online")

    async with running_gateway(config), probe_client(mosquitto, "omnipower/wire/#") as probe:
        assert (await probe.wait_for("omnipower/wire/availability", timeout=20)).json() == {"state": "offline"}
        for _ in range(2):  # up, down, and up again: the source reconnects by itself
            mark = probe.mark()
            with serving(sim_config(tmp_path, gsm=GSM), "--gsm", wire, speed="60"):
                await probe.wait_for("omnipower/wire/availability", online, after=mark, timeout=40)
                await probe.wait_for("omnipower/wire/state", after=mark, timeout=20)
                mark = probe.mark()
            await probe.wait_for("omnipower/wire/availability", lambda m: not online(m), after=mark, timeout=40)


@contextlib.asynccontextmanager
async def running(source: SmsSource) -> AsyncIterator[SmsSource]:
    task = asyncio.create_task(source.run())
    try:
        yield source
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def problem_of(source: SmsSource, words: str) -> str:
    """The reason `read` gives, once it holds `words` (20 s at the most)."""
    async with asyncio.timeout(20):
        while True:
            try:
                await source.read()
            except SourceError as exc:
                if words in str(exc):
                    return str(exc)
            await asyncio.sleep(0.1)


@pytest.mark.parametrize(("sms", "reason"), [
    ({"pin": "9999", "sim_pin": "1234"}, "answered 'ERROR PIN' (check sms.pin)"),
    ({"pin": "4321", "sim_pin": "0000"}, "the modem's SIM refused sms.sim_pin (+CME ERROR: 16)"),
    ({"pin": "4321"}, "the modem's SIM says SIM PIN: set sms.sim_pin"),
])
async def test_refusals_are_the_reason_the_meter_is_offline(tmp_path: Path, sms: dict[str, str], reason: str) -> None:
    wire = f"pty:{tmp_path / 'modem'}"
    config = MeterConfig(id="wire", source="sms", transport=wire, sms={"number": NUMBER, **sms})
    with serving(sim_config(tmp_path, gsm=GSM), "--gsm", wire):
        async with running(SmsSource(config)) as source:
            assert reason in await problem_of(source, reason)
            assert not source.online


def test_configuration_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("meters:\n  - {id: m, source: sms, transport: /dev/ttyUSB3, sms: {number: '+4520000001', "
                    "interval_s: 60, sim_pin: '123456789'}}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "meters[0].sms.interval_s = 60: Input should be greater than or equal to 300" in message
    assert "123456789" not in message  # a PIN is never echoed
    path.write_text("meters:\n  - {id: m, source: sms, transport: /dev/ttyUSB3}\n")
    with pytest.raises(ConfigError, match=r"needs `sms\.number`"):
        load_settings(path)
