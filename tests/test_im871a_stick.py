"""The simulated iM871A stick (meter_sim/modules/im871a_stick.py): its answers to other hosts' requests are the
bytes written by hand here; it keeps a configuration in RAM and in NVM as a real stick does; it hears the meter
only as a collector in a C mode, with RSSI and time stamp as configured; what it does not emulate goes
unanswered; and no host input makes it raise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from im871a_vectors import (
    FACTORY_RESET,
    GET_CONFIG,
    GET_DEVICEINFO,
    PING,
    RESET,
    SET_CONFIG_JMBUS_C1B,
    SET_CONFIG_PYWIRELESSMBUS_T1,
    SET_CONFIG_WMBUSMETERS_C1,
    framed,
)

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.im871a_stick import Im871aStick
from meter_sim.modules.wmbus_radio import RECEIVER_DEVICES, WmbusRadio
from omnipower import wmbus
from omnipower.im871a import DEVMGMT, HciMessage, Im871aConfig, Im871aReader, SetConfig, encode_hci
from omnipower.wmbus_receivers import RECEIVERS

NOW = datetime(2026, 1, 15, 11, 0, 16, tzinfo=UTC).timestamp()  # 1768474816 = 0x6968C8C0
FRAME = wmbus.encode(wmbus.omnipower_telegram({"a_plus": 12.5, "p_plus": 30}, id=41234567, access_number=9))
# What the simulated stick's GET_CONFIG_RSP holds after jMBus's SET_CONFIG (module docstring's FACTORY, id
# 0x12345678, RSSI on), written out field by field.
CONFIG_AFTER_JMBUS = "FF 00 07 44 B3 25 78 56 34 12 01 36 01 FF 07 00 32 00 01 00 01 00"


def set_config(change: Im871aConfig, save: bool = False) -> bytes:
    return encode_hci(HciMessage(DEVMGMT, 0x03, SetConfig(change, save).encode(), crc=False))


def test_the_start_up_other_hosts_say_answered_with_these_bytes() -> None:
    stick = Im871aStick(0x12345678)
    assert stick.host(PING, NOW) == framed("81 02 00")
    assert stick.host(GET_DEVICEINFO, NOW) == framed("81 10 08 33 00 13 16 78 56 34 12")
    assert stick.host(SET_CONFIG_JMBUS_C1B, NOW) == framed("81 04 01 00")
    assert stick.host(GET_CONFIG, NOW) == framed(f"81 06 16 {CONFIG_AFTER_JMBUS}")
    assert stick.host(SET_CONFIG_WMBUSMETERS_C1, NOW) == framed("81 04 01 00")
    assert stick.config.link_mode == 0x06 and stick.hears_c1
    assert list(stick.unanswered) == []


def test_requests_in_any_chunking_with_crc16() -> None:
    stick = Im871aStick(0x12345678)
    requests = framed("81 01 00") + framed("81 0F 00")  # our gateway's PING and GET_DEVICEINFO, with CRC16
    answers = b"".join(stick.host(bytes([b]), NOW) for b in requests)
    assert answers == framed("81 02 00") + framed("81 10 08 33 00 13 16 78 56 34 12")


def test_in_a_mode_that_does_not_receive_c1_it_hears_nothing() -> None:
    stick = Im871aStick(1)
    assert stick.hear(FRAME, NOW, 42) != b""  # FACTORY: a collector in C1-TF-B
    assert stick.host(SET_CONFIG_PYWIRELESSMBUS_T1, NOW) == framed("81 04 01 00")
    assert not stick.hears_c1 and stick.hear(FRAME, NOW, 42) == b""
    for mode in (0x00, 0x01, 0x02, 0x04, 0x05):  # S1, S1-m, S2, T2, R2
        stick.host(set_config(Im871aConfig(link_mode=mode)), NOW)
        assert stick.hear(FRAME, NOW, 42) == b"", mode
    stick.host(set_config(Im871aConfig(device_mode=1, link_mode=0x07)), NOW)  # a meter in C1 transmits only
    assert stick.hear(FRAME, NOW, 42) == b""
    for mode in (0x06, 0x07, 0x08, 0x09):  # C1 and C2, frame format A or B: the collector hears C1 meters
        stick.host(set_config(Im871aConfig(device_mode=0, link_mode=mode)), NOW)
        assert stick.hear(FRAME, NOW, 42) != b"", mode


@pytest.mark.parametrize(("rssi", "stamp", "tail"), [
    (0, 0, ""), (1, 0, "2A"), (0, 1, "C0 C8 68 69"), (1, 1, "C0 C8 68 69 2A"),
])
def test_rssi_and_time_stamp_as_configured(rssi: int, stamp: int, tail: str) -> None:
    stick = Im871aStick(1)
    stick.host(set_config(Im871aConfig(auto_rssi=rssi, auto_rx_timestamp=stamp)), NOW)
    control = 0x8 | (0x2 if stamp else 0) | (0x4 if rssi else 0)
    body = f"{control:X}2 03 {len(FRAME) - 1:02X} {FRAME[1:].hex()} {tail}"
    assert stick.hear(FRAME, NOW, 0x2A) == framed(body)  # time stamp: NOW in seconds, little-endian


def test_ram_changes_last_until_reset_saved_ones_survive_it() -> None:
    stick = Im871aStick(1)
    stick.host(set_config(Im871aConfig(link_mode=0x03)), NOW)  # T1, RAM only
    assert stick.host(RESET, NOW) == framed("81 08 01 00")
    assert stick.config.link_mode == 0x07
    stick.host(set_config(Im871aConfig(link_mode=0x03, auto_rssi=1), save=True), NOW)
    stick.host(RESET, NOW)
    assert (stick.config.link_mode, stick.config.auto_rssi) == (0x03, 1) and not stick.hears_c1
    assert stick.host(FACTORY_RESET, NOW) == framed("81 0A 01 00")
    assert stick.config == stick.nvm == stick.factory and stick.hears_c1


@pytest.mark.parametrize(("payload", "why"), [
    ("00 02 0B", "link_mode 0x0B"),  # a link mode firmware 0x13 does not know
    ("00 01 02", "device_mode 0x02"),
    ("00 00 10 02", "auto_rssi 0x02"),
    ("02 02 07", "NVM flag 0x02"),
    ("00 10 01", "announces device_id"),
])
def test_a_set_config_it_cannot_take_is_refused_and_changes_nothing(payload: str, why: str) -> None:
    stick = Im871aStick(1)
    before = stick.config
    length = len(bytes.fromhex(payload))
    assert stick.host(bytes.fromhex(f"A5 01 03 {length:02X} {payload}"), NOW) == framed("81 04 01 01")
    assert stick.config == before
    assert why in stick.unanswered[-1]


def test_what_it_does_not_emulate_goes_unanswered() -> None:
    stick = Im871aStick(1)
    damaged = bytearray(framed("81 01 00"))
    damaged[-1] ^= 0xFF
    sysstatus = bytes.fromhex("A5 01 11 00")
    send = bytes.fromhex("A5 02 01 02 44 00")  # RADIOLINK_MSG_WMBUSMSG_REQ: the stick does not transmit here
    assert stick.host(bytes(damaged) + sysstatus + send + PING, NOW) == framed("81 02 00")
    assert list(stick.unanswered) == ["GET_SYSSTATUS_REQ (not emulated)", "WMBUSMSG_REQ (not emulated)",
                                      "damaged: HCI CRC16 0x" + damaged[-2:][::-1].hex().upper()
                                      + ", the message gives 0x" + framed("81 01 00")[-2:][::-1].hex().upper()]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=24) | st.sampled_from([PING, GET_CONFIG, SET_CONFIG_JMBUS_C1B, RESET,
                                                          b"\xa5\x01\x03"]), max_size=12))
def test_fuzz_host_input_never_raises_and_answers_are_device_management(chunks: list[bytes]) -> None:
    stick = Im871aStick(7)
    reader = Im871aReader()
    for chunk in chunks:
        for answer in reader.feed(stick.host(chunk, NOW)):
            assert answer.endpoint == DEVMGMT and answer.message_id in (0x02, 0x04, 0x06, 0x08, 0x0A, 0x10)
    assert reader.take_errors() == []


def test_every_receiver_format_has_a_simulated_device() -> None:
    assert set(RECEIVER_DEVICES) == set(RECEIVERS)


def test_the_meters_radio_goes_through_the_stick() -> None:
    start = datetime(2026, 1, 15, 11, 0, tzinfo=UTC).timestamp()
    meter = Meter("wire", MeterSimSettings(start=datetime.fromtimestamp(start, UTC)), SteppedClock(start))
    radio = WmbusRadio(meter, receiver="im871a")
    assert radio.host(PING) == framed("81 02 00")
    assert radio.host(SET_CONFIG_PYWIRELESSMBUS_T1) == framed("81 04 01 00")
    assert radio.due() == [] and radio.count == 1  # the module sent; a stick in T1 did not hear it
    radio.host(SET_CONFIG_JMBUS_C1B)
    meter.advance_to(start + 16)
    (out,) = radio.due()
    (indication,) = Im871aReader().feed(out)
    assert indication.rssi == 42 and wmbus.decode(bytes([len(indication.payload)]) + indication.payload)
