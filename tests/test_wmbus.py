"""The wireless M-Bus codec (omnipower/wmbus.py): the two real OMNIPOWER telegrams, round trips, format B's CRCs,
encryption, compact frames, and hypothesis fuzzing (bad input raises a CodecError, never anything else)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_reference import REFERENCE

from omnipower import mbus, wmbus
from omnipower.crc import crc16_en13757
from omnipower.errors import ChecksumError, CodecError, DecryptionError, EncodeError, LengthError, UnknownTagError

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
FULL, COMPACT = "omnipower-c1-full", "omnipower-c1-compact"


def reference(name: str) -> bytes:
    text = (REFERENCE / "wmbus" / f"{name}.hex").read_text().strip()
    return bytes.fromhex(text.replace("_", ""))  # '_' marks where wmbusmeters' payload starts: not a byte


@pytest.mark.reference("wmbus")
@pytest.mark.parametrize("name", [FULL, COMPACT])
def test_reference_telegrams_decode_to_their_expected_values(name: str) -> None:
    expected = json.loads((REFERENCE / "wmbus" / "omnipower-c1.json").read_text())["expected"]
    telegram = wmbus.decode(reference(name))  # each on its own: the compact one through KNOWN_FORMATS
    assert telegram.address.id_text == expected["id"]
    assert telegram.address.manufacturer == expected["manufacturer"]
    assert (telegram.address.version, telegram.address.device_type) == (0x30, 0x02)
    assert telegram.compact is (name == COMPACT)
    readings = telegram.readings
    assert readings["1.8.0"] == pytest.approx(expected["total_energy_consumption_kwh"])
    assert readings["2.8.0"] == pytest.approx(expected["total_energy_production_kwh"])
    assert readings["1.7.0"] / 1000 == pytest.approx(expected["current_power_consumption_kw"])
    assert readings["2.7.0"] / 1000 == pytest.approx(expected["current_power_production_kw"])


@pytest.mark.reference("wmbus")
@pytest.mark.parametrize("name", [FULL, COMPACT])
def test_our_encoder_rebuilds_the_real_telegrams(name: str) -> None:
    """Payload CRC, format signature and data CRC come out as the meter sent them. The one byte that
    differs is SN's top one: those captures say AES-128-CTR yet are already decrypted, and we encode in clear."""
    real = reference(name)
    ours = wmbus.encode(wmbus.decode(real))
    assert ours[:16] + ours[17:] == real[:16] + real[17:]
    assert ours[16] == real[16] & 0x1F and real[16] >> 5 == wmbus.ENC_AES_CTR


@pytest.mark.reference("wmbus")
def test_the_real_compact_frame_names_the_format_of_the_real_full_frame() -> None:
    full = wmbus.decode(reference(FULL))
    compact = wmbus.decode(reference(COMPACT))
    assert compact.format_signature == wmbus.format_signature(full.records) == 0x8C13
    assert [r.encode()[:-4] for r in compact.records] == [r.encode()[:-4] for r in full.records]
    with pytest.raises(UnknownTagError, match="format signature 0x8C13, which is not known"):
        wmbus.decode(reference(COMPACT), formats={})
    learner = wmbus.TelegramDecoder()
    learner.formats.clear()
    learner.decode(reference(FULL))  # a receiver learns the format from the full frame
    assert learner.decode(reference(COMPACT)).readings == full.readings


READINGS = st.fixed_dictionaries({
    "a_plus": st.floats(0, 21_000_000, allow_nan=False),
    "a_minus": st.floats(0, 21_000_000, allow_nan=False),
    "p_plus": st.floats(0, 2_000_000, allow_nan=False),
    "p_minus": st.floats(0, 2_000_000, allow_nan=False),
})


@settings(max_examples=150, deadline=None)
@given(READINGS, st.integers(0, 99_999_999), st.integers(0, 255), st.integers(0, wmbus.SESSION_MASK),
       st.booleans(), st.none() | st.binary(min_size=16, max_size=16))
def test_round_trip(readings: dict[str, float], ident: int, acc: int, session: int, compact: bool,
                    key: bytes | None) -> None:
    telegram = wmbus.omnipower_telegram(readings, id=ident, access_number=acc, session=session, compact=compact)
    frame = wmbus.encode(telegram, key)
    assert frame[0] == len(frame) - 1
    back = wmbus.decode(frame, key)
    assert back.records == telegram.records and back.address == telegram.address
    assert (back.compact, back.access_number, back.session, back.encrypted) == (compact, acc, session, key is not None)
    for obis, key_name in (("1.8.0", "a_plus"), ("2.8.0", "a_minus")):
        assert back.readings[obis] == pytest.approx(readings[key_name], abs=0.005 + 1e-9)
    for obis, key_name in (("1.7.0", "p_plus"), ("2.7.0", "p_minus")):
        assert back.readings[obis] == pytest.approx(readings[key_name], abs=0.5 + 1e-9)
    assert wmbus.strip_crcs(wmbus.add_crcs(frame)) == frame


def test_encryption_hides_the_payload_and_needs_the_key() -> None:
    telegram = wmbus.omnipower_telegram({"a_plus": 1234.56, "p_plus": 789}, id=12345678, session=0x123)
    clear, secret = wmbus.encode(telegram), wmbus.encode(telegram, KEY)
    assert clear[:16] == secret[:16] and secret[16] >> 5 == wmbus.ENC_AES_CTR
    assert clear[17:] != secret[17:] and len(clear) == len(secret)
    with pytest.raises(DecryptionError, match="give its key"):
        wmbus.decode(secret)
    with pytest.raises(DecryptionError, match="wrong key"):
        wmbus.decode(secret, bytes(16))
    assert wmbus.decode(secret, KEY).readings == wmbus.decode(clear).readings
    # The counter block changes with SN: the same readings encrypt differently in the next session.
    later = wmbus.encode(wmbus.omnipower_telegram({"a_plus": 1234.56, "p_plus": 789}, id=12345678, session=0x124),
                         KEY)
    assert later[19:] != secret[19:]


def test_a_full_frame_teaches_the_decoder_an_unknown_format() -> None:
    records = (mbus.make_record(mbus.Quantity.ENERGY, 5, exponent=3),
               mbus.make_record(mbus.Quantity.VOLTAGE, 2301, exponent=-1, coding=mbus.Coding.INT16))
    address = wmbus.LinkAddress("KAM", 42, 0x30, 0x02)
    full = wmbus.encode(wmbus.Telegram(address, records), KEY)
    compact = wmbus.encode(wmbus.Telegram(address, records, compact=True, access_number=1), KEY)
    decoder = wmbus.TelegramDecoder({42: KEY})
    with pytest.raises(UnknownTagError, match="not known"):
        decoder.decode(compact)
    assert decoder.decode(full).records == records
    assert decoder.decode(compact).records == records


def test_format_b_crcs_guard_every_block() -> None:
    short = wmbus.encode(wmbus.omnipower_telegram({}, id=1))
    wire = wmbus.add_crcs(short)
    assert len(wire) == len(short) + 2 and wire[0] == len(wire) - 1
    assert int.from_bytes(wire[-2:], "big") == crc16_en13757(wire[:-2])
    records = tuple(mbus.make_record(mbus.Quantity.ENERGY, n, exponent=1, tariff=n % 4) for n in range(30))
    long = wmbus.encode(wmbus.Telegram(wmbus.LinkAddress("KAM", 1, 0x30, 2), records))
    assert len(long) > wmbus.BLOCKS_1_2
    wire = wmbus.add_crcs(long)
    assert len(wire) == len(long) + 4 and wmbus.strip_crcs(wire) == long
    for position in (3, 130, len(wire) - 1):
        bad = bytearray(wire)
        bad[position] ^= 0x40
        with pytest.raises(ChecksumError, match="format B CRC"):
            wmbus.strip_crcs(bytes(bad))


@pytest.mark.parametrize(("frame", "error", "reason"), [
    ("0B442D2C", CodecError, "needs L, C, M, A and CI"),
    ("2D442D2C7856341230028D200000000000000078", LengthError, "L = 45 but 19 bytes follow"),
    ("0A442D2C7856341230027A", UnknownTagError, "CI 0x7A"),
    ("0A442D2C7856A41230028D", UnknownTagError, "not BCD"),
    ("13442D2C7856341230028D2000000000600000" + "78", UnknownTagError, "security mode 3"),
    ("14442D2C7856341230028D20000000000000007804", ChecksumError, "payload CRC"),
])
def test_bad_telegrams_get_a_specific_error(frame: str, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        wmbus.decode(bytes.fromhex(frame))


def test_encoder_refuses_what_the_air_cannot_carry() -> None:
    address = wmbus.LinkAddress("KAM", 1, 0x30, 2)
    with pytest.raises(EncodeError, match="format B allows"):
        wmbus.encode(wmbus.Telegram(address, tuple(mbus.make_record(mbus.Quantity.ENERGY, n) for n in range(50))))
    with pytest.raises(EncodeError, match="fixed-size"):
        wmbus.encode(wmbus.Telegram(address, (mbus.DataRecord(0x78, "text", mbus.Coding.VARIABLE),), compact=True))
    with pytest.raises(EncodeError, match="16 bytes"):
        wmbus.encode(wmbus.Telegram(address, ()), b"short")
    with pytest.raises(EncodeError, match="0–99999999"):
        wmbus.encode(wmbus.Telegram(wmbus.LinkAddress("KAM", 10**8, 0x30, 2), ()))
    with pytest.raises(ValueError, match="32 hex digits"):
        wmbus.parse_key("00112233")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80), st.none() | st.just(KEY))
def test_fuzz_decode_raises_only_codec_errors(data: bytes, key: bytes | None) -> None:
    with contextlib.suppress(CodecError):
        wmbus.decode(data, key)
    with contextlib.suppress(CodecError):
        wmbus.strip_crcs(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.binary(min_size=1, max_size=40), st.booleans())
def test_fuzz_valid_header_with_random_payload(acc: int, payload: bytes, compact: bool) -> None:
    """A good link layer and ELL in front of garbage (with a correct payload CRC, so the garbage is parsed)."""
    ci = bytes([wmbus.CI_COMPACT if compact else wmbus.CI_FULL])
    application = ci + (wmbus.format_signature(wmbus.datagram_records({})).to_bytes(2, "little") if compact else b"")
    application += payload
    body = crc16_en13757(application).to_bytes(2, "little") + application
    head = bytes([0x44]) + wmbus.LinkAddress("KAM", 1, 0x30, 2).encode() + bytes([0x8D, 0x20, acc]) + bytes(4)
    frame = bytes([len(head) + len(body)]) + head + body
    try:
        telegram = wmbus.decode(frame)
    except CodecError:
        return
    assert telegram.access_number == acc


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=24), st.binary(max_size=40))
def test_fuzz_compact_frames_with_any_format(headers: bytes, data: bytes) -> None:
    """A receiver's learnt format can be anything a full frame held: expanding with it fails cleanly."""
    signature = crc16_en13757(headers)
    application = (bytes([wmbus.CI_COMPACT]) + signature.to_bytes(2, "little")
                   + crc16_en13757(data).to_bytes(2, "little"))
    body = crc16_en13757(application + data).to_bytes(2, "little") + application + data
    head = bytes([0x44]) + wmbus.LinkAddress("KAM", 1, 0x30, 2).encode() + bytes([0x8D, 0x20, 0]) + bytes(4)
    with contextlib.suppress(CodecError):
        wmbus.decode(bytes([len(head) + len(body)]) + head + body, formats={signature: headers})
