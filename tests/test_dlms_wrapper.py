"""IEC 62056-47 TCP wrapper: layout, chunking at every byte boundary, refusals, and conformance
with dlms-cosem's independent `WrapperHeader` / `WrapperProtocolDataUnit`."""

from __future__ import annotations

import pytest
from dlms_cosem.protocol.wrappers import WrapperHeader, WrapperProtocolDataUnit
from hypothesis import given
from hypothesis import strategies as st

from omnipower.dlms_wrapper import (
    MAX_APDU,
    WrapperDesyncError,
    WrapperError,
    WrapperLengthError,
    WrapperPdu,
    WrapperReader,
    WrapperVersionError,
    decode_wrapper,
    encode_wrapper,
)
from omnipower.errors import CodecError, EncodeError, LengthError, TruncatedError, UnknownTagError

# A public client (wPort 16) asking the management logical device (wPort 1) for the clock time.
GET_CLOCK = bytes.fromhex("c001c100080000010000ff0200")
FRAME = bytes.fromhex("0001 0010 0001 000d") + GET_CLOCK


def test_header_layout() -> None:
    assert encode_wrapper(16, 1, GET_CLOCK) == FRAME
    assert decode_wrapper(FRAME) == WrapperPdu(16, 1, GET_CLOCK)


def test_every_split_point_gives_the_same_pdus() -> None:
    second = encode_wrapper(1, 16, b"\xc4\x01\xc1\x00\x06\x00\x00\x00\x2a")
    empty = encode_wrapper(0x1234, 0xABCD, b"")
    stream = FRAME + second + empty
    expected = [WrapperPdu(16, 1, GET_CLOCK), WrapperPdu(1, 16, second[8:]), WrapperPdu(0x1234, 0xABCD, b"")]
    for cut in range(len(stream) + 1):
        reader = WrapperReader()
        got = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert got == expected, cut
        assert reader.pending == 0


def test_byte_by_byte() -> None:
    reader = WrapperReader()
    got = [pdu for byte in FRAME * 3 for pdu in reader.feed(bytes([byte]))]
    assert got == [WrapperPdu(16, 1, GET_CLOCK)] * 3


@given(
    st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=300)), max_size=5),
    st.lists(st.integers(1, 50), max_size=20),
)
def test_round_trip_any_chunking(pdus: list[tuple[int, int, bytes]], sizes: list[int]) -> None:
    stream = b"".join(encode_wrapper(s, d, a) for s, d, a in pdus)
    reader = WrapperReader()
    got: list[WrapperPdu] = []
    pos = 0
    for size in [*sizes, len(stream)]:
        got += reader.feed(stream[pos : pos + size])
        pos += size
    assert got == [WrapperPdu(s, d, a) for s, d, a in pdus]


def test_wrong_version_is_refused_and_spends_the_reader() -> None:
    reader = WrapperReader()
    bad = b"\x00\x02" + FRAME[2:]
    with pytest.raises(WrapperVersionError, match="version 0x0002") as info:
        reader.feed(FRAME + bad)
    assert isinstance(info.value, UnknownTagError)
    assert info.value.pdus == (WrapperPdu(16, 1, GET_CLOCK),)  # the good PDU before it is not lost
    assert reader.failed is info.value
    assert reader.pending == 0
    with pytest.raises(WrapperDesyncError, match="discard"):
        reader.feed(FRAME)


def test_version_is_checked_before_the_body_arrives() -> None:
    reader = WrapperReader()
    assert reader.feed(b"\x00\x01\x00\x10\x00\x01\x00") == []
    with pytest.raises(WrapperVersionError):
        WrapperReader().feed(b"\xff\xff\x00\x10\x00\x01\x00\x05")


def test_length_above_max_apdu_is_refused_without_buffering() -> None:
    reader = WrapperReader(max_apdu=512)
    header = bytes.fromhex("0001 0010 0001 0201")  # 513 bytes announced
    with pytest.raises(WrapperLengthError, match="513 exceeds the maximum APDU size 512") as info:
        reader.feed(header)
    assert isinstance(info.value, LengthError)
    assert info.value.pdus == ()
    assert reader.pending == 0
    ok = WrapperReader(max_apdu=512)
    assert ok.feed(encode_wrapper(16, 1, bytes(512))) == [WrapperPdu(16, 1, bytes(512))]


def test_max_apdu_is_validated() -> None:
    assert WrapperReader().max_apdu == MAX_APDU == 65535
    for bad in (-1, 65536):
        with pytest.raises(ValueError, match="max_apdu"):
            WrapperReader(max_apdu=bad)


def test_encode_refuses_what_does_not_fit() -> None:
    with pytest.raises(EncodeError, match="source wPort 65536"):
        encode_wrapper(65536, 1, b"")
    with pytest.raises(EncodeError, match="destination wPort -1"):
        encode_wrapper(1, -1, b"")
    with pytest.raises(EncodeError, match="65536 bytes"):
        encode_wrapper(1, 1, bytes(65536))


def test_decode_wrapper_needs_exactly_one_pdu() -> None:
    with pytest.raises(TruncatedError):
        decode_wrapper(FRAME[:5])
    with pytest.raises(TruncatedError, match="announces 13 APDU bytes, 12 present"):
        decode_wrapper(FRAME[:-1])
    with pytest.raises(LengthError, match="1 bytes after"):
        decode_wrapper(FRAME + b"\x00")


@given(st.lists(st.binary(max_size=40), max_size=8))
def test_fuzz_feed_raises_only_codec_errors(chunks: list[bytes]) -> None:
    reader = WrapperReader(max_apdu=64)
    for chunk in chunks:
        try:
            for pdu in reader.feed(chunk):
                assert len(pdu.apdu) <= 64
        except WrapperError:
            assert reader.failed is not None
        except CodecError:
            assert isinstance(reader.failed, WrapperError)  # only a spent reader refuses this way


# --- conformance with dlms-cosem -------------------------------------------------------------------------


def test_dlms_cosem_wrapper_decodes_with_ours() -> None:
    theirs = WrapperProtocolDataUnit(GET_CLOCK, WrapperHeader(source_wport=16, destination_wport=1, length=13))
    assert WrapperReader().feed(theirs.to_bytes()) == [WrapperPdu(16, 1, GET_CLOCK)]


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=200))
def test_ours_decodes_with_dlms_cosem(source: int, destination: int, apdu: bytes) -> None:
    parsed = WrapperProtocolDataUnit.from_bytes(encode_wrapper(source, destination, apdu))
    header = parsed.wrapper_header
    assert (header.version, header.source_wport, header.destination_wport, header.length) == (
        1,
        source,
        destination,
        len(apdu),
    )
    assert parsed.data == apdu
