"""Variant 2 (type number X8 = 2) answers no IEC 62056-21 (1107) or DLMS query (spec §10.1) but still
pushes DLMS-framed HAN data: the optical port stays silent, the gateway says why a readout may have
failed, and the HAN push decodes as before."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import pytest
from conftest import free_port

from gateway.config import MeterConfig
from gateway.sources.base import SourceError
from gateway.sources.optical import OpticalSource
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.han_push import HanPush
from meter_sim.modules.optical import OpticalPort, serve_tcp
from omnipower.han import HanListKind, decode_han
from omnipower.iec62056_21 import (
    AckOptionSelect,
    DataReadout,
    IdentificationMessage,
    Iec62056Reader,
    RequestMessage,
    readings_from_readout,
)

VARIANT_1 = "6841131BN143101040"  # the simulator's default
VARIANT_2 = "6841131BN243101040"  # the spec's worked example (§11.1)
START = datetime.fromisoformat("2026-01-15T11:00:00+00:00").timestamp()
SIGN_ON = RequestMessage().encode()  # "/?!\r\n"
OPTION_SELECT = AckOptionSelect("5").encode()  # ACK 0 5 0: data readout at 9600 Bd


def meter(type_number: str, **settings: object) -> Meter:
    z18 = 0 if type_number[9] == "2" else 1  # a Variant 2 meter refuses 1107 on (Z18 ≠ 000)
    config = MeterSimSettings.model_validate({"type_number": type_number, "z18": z18, "seed": 1} | settings)
    return Meter("m", config, SteppedClock(START))


async def exchange(port: OpticalPort, *chunks: bytes) -> bytes:
    """What the port sends back to `chunks` on one line (EOF after the last)."""
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    sent = bytearray()
    await port.converse(reader, sent.extend)
    return bytes(sent)


async def test_a_variant_2_meter_does_not_answer_the_sign_on(caplog: pytest.LogCaptureFixture) -> None:
    port = OpticalPort(meter(VARIANT_2))
    assert port.silent_reason() is not None
    with caplog.at_level(logging.INFO, logger="meter_sim.modules.optical"):
        assert await exchange(port, SIGN_ON) == b""
        assert await exchange(port, SIGN_ON, OPTION_SELECT, SIGN_ON) == b""  # a retrying client: still nothing
    told = [r.getMessage() for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(told) == 1, told  # said once per port, not once per sign-on
    assert f"type number {VARIANT_2} is Variant 2 (X8 = 2)" in told[0]
    assert all(r.levelno == logging.INFO for r in caplog.records)


async def test_a_variant_1_meter_answers_with_its_readout() -> None:
    m = meter(VARIANT_1)
    port = OpticalPort(m)
    assert port.silent_reason() is None
    messages = Iec62056Reader().feed(await exchange(port, SIGN_ON, OPTION_SELECT))
    assert [type(msg) for msg in messages] == [IdentificationMessage, DataReadout]
    ident, readout = messages
    assert isinstance(ident, IdentificationMessage) and isinstance(readout, DataReadout)
    assert (ident.manufacturer, ident.baud_char) == ("KAM", "5")
    values = readings_from_readout(readout)
    readings = m.readings()
    assert values["1.8.0"] == pytest.approx(readings["a_plus"], abs=0.0005)
    assert values["32.7.0"] == pytest.approx(readings["u_l1"], abs=0.05)


async def test_1107_switched_off_by_z18_is_silent_too() -> None:
    port = OpticalPort(meter(VARIANT_1, z18=0))
    assert port.silent_reason() == "Z18 = 000 switches IEC 62056-21 (1107) off"
    assert await exchange(port, SIGN_ON, OPTION_SELECT) == b""


def test_a_variant_2_meter_refuses_1107_switched_on() -> None:
    with pytest.raises(ValueError, match="Variant 2"):
        MeterSimSettings(type_number=VARIANT_2, z18=1)


async def test_the_gateway_names_variant_2_when_the_meter_never_answers() -> None:
    tcp_port = free_port()
    server = await serve_tcp(OpticalPort(meter(VARIANT_2)), "127.0.0.1", tcp_port)
    source = OpticalSource(MeterConfig(id="v2", source="optical", transport=f"tcp:127.0.0.1:{tcp_port}"),
                           response_timeout=0.3)
    try:
        with pytest.raises(SourceError) as failed:
            await source.read()
    finally:
        server.close()
        await server.wait_closed()
    text = str(failed.value)
    assert text.startswith(f"the meter on tcp:127.0.0.1:{tcp_port} did not answer the IEC 62056-21 sign-on "
                           "within 0.3 s")
    assert "Variant 2 meter (type number X8 = 2)" in text and "Z18 = 000" in text
    assert not source.online


async def test_the_gateway_reads_a_variant_1_meter_through_the_same_port() -> None:
    tcp_port = free_port()
    m = meter(VARIANT_1)
    server = await serve_tcp(OpticalPort(m), "127.0.0.1", tcp_port)
    source = OpticalSource(MeterConfig(id="v1", source="optical", transport=f"tcp:127.0.0.1:{tcp_port}"),
                           response_timeout=0.3)
    try:
        readings = await source.read()
    finally:
        server.close()
        await server.wait_closed()
    expected = m.readings()  # the stepped clock stood still: the same instant
    assert source.online
    assert readings["a_plus"] == pytest.approx(expected["a_plus"], abs=0.0005)
    assert readings["i_l2"] == pytest.approx(expected["i_l2"], abs=0.005)


def test_a_variant_2_meters_han_push_still_decodes() -> None:
    clock = SteppedClock(START)  # 11:00:00 UTC
    m = Meter("m", MeterSimSettings(type_number=VARIANT_2, z18=0, seed=1), clock)
    push = HanPush(m, m.settings.type.code)
    clock.advance(10)  # past 11:00:05 (list 2, hourly) and 11:00:10 (list 1, every 10 s)
    m.update()
    list_1, list_2 = (decode_han(frame) for frame in push.due())
    readings = m.readings()
    assert (list_1.list_kind, list_2.list_kind) == (HanListKind.LIST_1, HanListKind.LIST_2)
    assert list_2.meter_type == VARIANT_2
    assert list_1.registers["p_plus"] == pytest.approx(readings["p_plus"], abs=0.5)
    assert list_2.registers["u_l1"] == pytest.approx(readings["u_l1"], abs=0.5)  # HAN carries whole volts
    assert list_2.registers["i_l3"] == pytest.approx(readings["i_l3"], abs=0.005)
    assert list_2.registers["a_plus"] == pytest.approx(readings["a_plus"], abs=0.005)
