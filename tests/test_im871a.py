"""The iM871A's device management codecs (omnipower/im871a.py): other hosts' requests read right, our host's
start-up requests are the bytes written by hand here, configurations and device information round-trip, bad
payloads fail with the reason, and a stream of requests and answers is read in any chunking."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from im871a_vectors import (
    GET_DEVICEINFO,
    PING,
    SET_CONFIG_JMBUS_C1B,
    SET_CONFIG_NO_IIFLAG2,
    SET_CONFIG_PYWIRELESSMBUS_T1,
    SET_CONFIG_WMBUSMETERS_C1,
    framed,
    x25,
)

from omnipower.errors import CodecError, LengthError, TruncatedError, UnknownTagError
from omnipower.im871a import (
    CONFIG_FIELDS,
    DEVMGMT,
    MESSAGES,
    DeviceInfo,
    HciMessage,
    Im871aConfig,
    Im871aReader,
    SetConfig,
    decode_config,
    encode_config,
    encode_hci,
    start_up,
)


def test_the_reference_crc_is_x25() -> None:
    assert x25(b"123456789") == (0x906E).to_bytes(2, "little")  # the catalogued check value


def test_every_request_has_its_response_one_id_up() -> None:
    requests = {mid: name for (ep, mid), name in MESSAGES.items() if ep == DEVMGMT and name.endswith("_REQ")}
    for (endpoint, mid), name in MESSAGES.items():
        if name.endswith("_REQ"):
            assert MESSAGES[(endpoint, mid + 1)] == name.replace("_REQ", "_RSP")
    assert {requests[m] for m in (0x01, 0x03, 0x05, 0x07, 0x09, 0x0F)} == {
        "PING_REQ", "SET_CONFIG_REQ", "GET_CONFIG_REQ", "RESET_REQ", "FACTORY_RESET_REQ", "GET_DEVICEINFO_REQ"}


@pytest.mark.parametrize(("request_bytes", "save", "expected"), [
    (SET_CONFIG_JMBUS_C1B, False, Im871aConfig(device_mode=0, link_mode=7, auto_rssi=1)),
    (SET_CONFIG_WMBUSMETERS_C1, False, Im871aConfig(link_mode=6, auto_rssi=1, auto_rx_timestamp=0)),
    (SET_CONFIG_PYWIRELESSMBUS_T1, False, Im871aConfig(link_mode=3)),
    (SET_CONFIG_NO_IIFLAG2, False, Im871aConfig(link_mode=6)),
])
def test_other_hosts_set_config_requests(request_bytes: bytes, save: bool, expected: Im871aConfig) -> None:
    (message,) = Im871aReader().feed(request_bytes)
    assert (message.endpoint, message.message_id, message.crc) == (DEVMGMT, 0x03, False)
    assert SetConfig.decode(message.payload) == SetConfig(expected, save)


def test_our_start_up_requests_are_these_bytes() -> None:
    """Each with CRC16 (control field 8): PING, GET_DEVICEINFO, SET_CONFIG (RAM only; IIFlag1 = device mode +
    link mode: other, C1-TF-B; IIFlag2 = RSSI + time stamp: on, off), GET_CONFIG."""
    assert [encode_hci(step.request) for step in start_up()] == [
        framed("81 01 00"), framed("81 0F 00"), framed("81 03 07 00 03 00 07 30 01 00"), framed("81 05 00")]
    assert [step.answer for step in start_up()] == [0x02, 0x10, 0x04, 0x06]


def test_other_hosts_requests_are_read_as_sent() -> None:
    assert Im871aReader().feed(PING + GET_DEVICEINFO) == [HciMessage(DEVMGMT, 0x01, b"", crc=False),
                                                          HciMessage(DEVMGMT, 0x0F, b"", crc=False)]


def test_get_config_answer_written_by_hand() -> None:
    payload = bytes.fromhex(
        "FF"  # IIFlag1: every group-1 field
        "00 07 44 B3 25 78 56 34 12 01 36 01"  # other, C1-TF-B, C 44, IMS, id 12345678, version 1, type 36, ch 1
        "FF"  # IIFlag2: every group-2 field
        "07 00 32 00 01 00 01 00")  # power 7, rate 0, rx window 50 ms, no power saving, RSSI, no stamp, LED, no RTC
    config = Im871aConfig(device_mode=0, link_mode=7, c_field=0x44, manufacturer_id=0x25B3, device_id=0x12345678,
                          version=1, device_type=0x36, radio_channel=1, radio_power_level=7, radio_data_rate=0,
                          radio_rx_window=50, auto_power_saving=0, auto_rssi=1, auto_rx_timestamp=0, led_control=1,
                          rtc_control=0)
    assert decode_config(payload) == config
    assert encode_config(config) == payload


def test_device_information_written_by_hand() -> None:
    payload = bytes.fromhex("33 00 13 16 78 56 34 12")
    info = DeviceInfo.decode(payload)
    assert info == DeviceInfo(0x33, 0, 0x13, 0x16, 0x12345678)
    assert info.encode() == payload
    assert info.describe() == "iM871A, device mode other, firmware 0x13, HCI protocol 0x16, device id 12345678"


@pytest.mark.parametrize(("payload", "error", "reason"), [
    (b"", TruncatedError, "NVM flag is missing"),
    (b"\x02\x00", UnknownTagError, "NVM flag 0x02"),
    (b"\x00", TruncatedError, "IIFlag1 missing"),
    (b"\x00\x10\x01\x02", TruncatedError, "announces device_id"),
    (b"\x00\x02\x07\x10", TruncatedError, "announces auto_rssi"),
    (b"\x00\x02\x07\x00\x99", LengthError, "1 byte\\(s\\) after IIFlag2"),
])
def test_bad_set_config_payloads(payload: bytes, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        SetConfig.decode(payload)


def test_bad_device_information() -> None:
    with pytest.raises(LengthError, match="8 bytes, got 7"):
        DeviceInfo.decode(bytes(7))


def test_start_up_checks_say_what_is_wrong() -> None:
    ping, info, set_config, get_config = start_up()
    assert ping.check(b"") == "" and "answered no PING: is it an iM871A" in ping.silence
    assert info.check(bytes.fromhex("36 00 13 16 00 00 00 00")).startswith("is no iM871A: iM170A")
    assert "does not parse" in info.check(b"\x33")
    assert set_config.check(b"\x00") == ""
    assert set_config.check(b"\x01") == "refused SET_CONFIG (status 0x01: error)"
    assert "no status" in set_config.check(b"")
    taken = encode_config(Im871aConfig(device_mode=0, link_mode=7, auto_rssi=1, auto_rx_timestamp=0))
    assert get_config.check(taken) == ""
    kept = encode_config(Im871aConfig(device_mode=0, link_mode=3, auto_rssi=1, auto_rx_timestamp=0))
    assert get_config.check(kept) == "kept another configuration after SET_CONFIG: link_mode is 3, not 7"


def _field(size: int) -> st.SearchStrategy[int | None]:
    return st.none() | st.integers(0, (1 << (8 * size)) - 1)


configs = st.builds(Im871aConfig, **{f.name: _field(f.size) for f in CONFIG_FIELDS})


@settings(max_examples=300, deadline=None)
@given(configs, st.booleans())
def test_configurations_round_trip(config: Im871aConfig, save: bool) -> None:
    assert decode_config(encode_config(config)) == config
    assert SetConfig.decode(SetConfig(config, save).encode()) == SetConfig(config, save)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 2**32 - 1))
def test_device_information_round_trips(module: int, mode: int, firmware: int, hci: int, ident: int) -> None:
    info = DeviceInfo(module, mode, firmware, hci, ident)
    assert DeviceInfo.decode(info.encode()) == info


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40))
def test_fuzz_payload_decoders_fail_only_with_codec_errors(payload: bytes) -> None:
    with contextlib.suppress(CodecError):
        config = decode_config(payload)
        assert decode_config(encode_config(config)) == config
    with contextlib.suppress(CodecError):
        assert SetConfig.decode(payload).save == (payload[0] == 1)
    with contextlib.suppress(CodecError):
        assert DeviceInfo.decode(payload).encode() == payload
    for step in start_up():
        assert isinstance(step.check(payload), str) and isinstance(step.describe(payload), str)


def test_a_conversation_split_at_every_byte_boundary() -> None:
    conversation = b"".join([
        PING, framed("81 02 00"), GET_DEVICEINFO, framed("81 10 08 33 00 13 16 78 56 34 12"),
        SET_CONFIG_JMBUS_C1B, framed("81 04 01 00"),
        framed("C2 03 05 44 2D 2C 01 02 2A"),  # a telegram indication with RSSI 0x2A between the answers
    ])
    whole = Im871aReader().feed(conversation)
    assert [(m.endpoint, m.message_id) for m in whole] == [(1, 1), (1, 2), (1, 0x0F), (1, 0x10), (1, 3), (1, 4),
                                                           (2, 3)]
    assert whole[-1].rssi == 0x2A and whole[-1].payload == bytes.fromhex("44 2D 2C 01 02")
    for cut in range(1, len(conversation)):
        reader = Im871aReader()
        assert reader.feed(conversation[:cut]) + reader.feed(conversation[cut:]) == whole, cut
        assert reader.take_errors() == []
