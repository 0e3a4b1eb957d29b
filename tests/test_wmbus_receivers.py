"""The receivers' output formats (omnipower/wmbus_receivers.py): iM871A HCI frames and rtl_wmbus lines, written
and read back in any chunking, with bad input reported and skipped; hypothesis fuzzes both readers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnipower import wmbus
from omnipower.crc import crc16_x25
from omnipower.errors import ChecksumError, LengthError, UnknownTagError
from omnipower.wmbus_receivers import (
    RADIOLINK,
    RADIOLINK_WMBUSMSG_IND,
    RECEIVERS,
    HciMessage,
    Im871aReader,
    RtlWmbusReader,
    decode_rtl_wmbus_line,
    encode_hci,
    encode_rtl_wmbus_line,
)

WHEN = datetime(2026, 1, 15, 11, 0, 16, tzinfo=UTC)
FRAME = wmbus.encode(wmbus.omnipower_telegram({"a_plus": 12.5, "p_plus": 30}, id=41234567, access_number=9))
# The columns rtl_wmbus documents: MODE;CRC_OK;3OUTOF6OK;TIMESTAMP;PACKET_RSSI;CURRENT_RSSI;IDENT;0x<hex>
RTL_LINE = re.compile(r"^(C1|T1|S1);[01];[01];\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.000;\d+;\d+;[0-9A-F]{8};0x[0-9a-f]+\n$")


def test_rtl_wmbus_line_has_rtl_wmbus_columns() -> None:
    line = encode_rtl_wmbus_line(FRAME, WHEN, packet_rssi=17, current_rssi=9).decode()
    assert RTL_LINE.match(line)
    assert line.startswith("C1;1;1;2026-01-15 11:00:16.000;17;9;41234567;0x")  # the BCD id reads as its digits
    assert line.strip().endswith(FRAME.hex())
    parsed = decode_rtl_wmbus_line(line)
    assert (parsed.mode, parsed.time, parsed.packet_rssi, parsed.current_rssi, parsed.frame) == (
        "C1", WHEN, 17, 9, FRAME)


def test_hci_wmbus_indication_layout() -> None:
    data = RECEIVERS["im871a"].emit(FRAME, WHEN, 200)
    # A5, CF = RSSI | CRC16 with endpoint 2, message 3, LEN = the telegram without L, payload, RSSI, CRC16 (LE)
    assert data[:4] == bytes([0xA5, 0xC2, 0x03, len(FRAME) - 1])
    assert data[4:-3] == FRAME[1:] and data[-3] == 200
    assert int.from_bytes(data[-2:], "little") == crc16_x25(data[1:-2])


@pytest.mark.parametrize("name", list(RECEIVERS))
def test_split_at_every_byte_boundary(name: str) -> None:
    fmt = RECEIVERS[name]
    stream = b"".join(fmt.emit(FRAME, WHEN, 42) for _ in range(3))
    for cut in range(1, len(stream)):
        reader = fmt.reader()
        got = fmt.receptions(reader, stream[:cut]) + fmt.receptions(reader, stream[cut:])
        assert [r.frame for r in got] == [FRAME] * 3, cut
        assert reader.take_errors() == []


@pytest.mark.parametrize("name", list(RECEIVERS))
def test_one_byte_at_a_time_with_garbage_around(name: str) -> None:
    fmt = RECEIVERS[name]
    one = fmt.emit(FRAME, WHEN, 42)
    stream = b"\x00\xa5\x13noise\n" + one + b"\xa5\x22\x09\x00junk\n" + one
    reader = fmt.reader()
    got = [r for byte in stream for r in fmt.receptions(reader, bytes([byte]))]
    assert [r.frame for r in got] == [FRAME, FRAME]
    assert reader.take_errors()  # what was skipped is reported, not raised


def test_hci_with_bad_crc_is_reported_and_the_next_message_read() -> None:
    good = encode_hci(HciMessage(RADIOLINK, RADIOLINK_WMBUSMSG_IND, FRAME[1:], timestamp=0x01020304, rssi=7))
    bad = bytearray(good)
    bad[10] ^= 1
    reader = Im871aReader()
    assert reader.feed(bytes(bad) + good) == [HciMessage(RADIOLINK, RADIOLINK_WMBUSMSG_IND, FRAME[1:], 0x01020304, 7)]
    assert any(isinstance(e, ChecksumError) for e in reader.take_errors())


def test_device_management_answers_are_not_telegrams() -> None:
    reader = Im871aReader()
    fmt = RECEIVERS["im871a"]
    pong = encode_hci(HciMessage(1, 0x02, b"", crc=False))  # DEVMGMT_MSG_PING_RSP
    assert fmt.receptions(reader, pong) == []
    assert reader.take_errors() == []


@pytest.mark.parametrize(("line", "error", "reason"), [
    ("C1;1;1;2026-01-15 11:00:16.000;42;42;41234567", LengthError, "7 columns"),
    ("X1;1;1;2026-01-15 11:00:16.000;42;42;41234567;0x00", UnknownTagError, "mode"),
    ("C1;0;1;2026-01-15 11:00:16.000;42;42;41234567;0x" + FRAME.hex(), ChecksumError, "CRC error"),
    ("C1;1;1;yesterday;42;42;41234567;0x" + FRAME.hex(), UnknownTagError, "time stamp"),
    ("C1;1;1;2026-01-15 11:00:16.000;42;42;41234567;0xZZ", UnknownTagError, "not hex"),
    ("C1;1;1;2026-01-15 11:00:16.000;42;42;41234567;0x" + FRAME[:-1].hex(), LengthError, "L field"),
    ("C1;1;1;2026-01-15 11:00:16.000;42;42;12345678;0x" + FRAME.hex(), UnknownTagError, "ident"),
    ("C1;1;1;2026-01-15 11:00:16.000;-4;42;41234567;0x" + FRAME.hex(), UnknownTagError, "RSSI"),
])
def test_bad_rtl_wmbus_lines(line: str, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        decode_rtl_wmbus_line(line)
    reader = RtlWmbusReader()
    assert reader.feed(line.encode() + b"\n" + encode_rtl_wmbus_line(FRAME, WHEN))[0].frame == FRAME
    assert isinstance(reader.take_errors()[0], error)


def test_an_endless_line_is_dropped() -> None:
    reader = RtlWmbusReader()
    assert reader.feed(b"C1;" * 500) == []
    assert isinstance(reader.take_errors()[0], LengthError) and reader.pending == 0


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([1, 2, 3, 4]), st.integers(1, 2), st.binary(max_size=255), st.none() | st.integers(0, 2**32 - 1),
       st.none() | st.integers(0, 255), st.booleans())
def test_hci_round_trip(endpoint: int, message_id: int, payload: bytes, timestamp: int | None, rssi: int | None,
                        crc: bool) -> None:
    message = HciMessage(endpoint, message_id, payload, timestamp, rssi, crc)
    assert Im871aReader().feed(encode_hci(message)) == [message]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40) | st.sampled_from([b"\xa5", b"\n", b"C1;1;1;", b"0x2d44"]), max_size=20))
def test_fuzz_readers_never_raise(chunks: list[bytes]) -> None:
    for fmt in RECEIVERS.values():
        reader = fmt.reader()
        for chunk in chunks:
            for reception in fmt.receptions(reader, chunk):
                assert reception.frame[0] == len(reception.frame) - 1
        reader.take_errors()
