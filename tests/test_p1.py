"""Kamstrup P1 telegrams (omnipower.p1).

The real telegram (amsreader-firmware #578) is under the Fair Source licence: it is read from
../shared/reference/p1 and never copied into the repository, so those tests skip without it. The
other tests build their telegrams with `encode_p1`.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_reference import REFERENCE as SHARED_REFERENCE
from shared_reference import require

from omnipower.crc import crc16_arc
from omnipower.errors import ChecksumError, CodecError, EncodeError, LengthError, TruncatedError, UnknownTagError
from omnipower.p1 import P1Reader, P1Telegram, encode_p1, p1_timestamp, parse_p1, parse_p1_timestamp

REFERENCE = SHARED_REFERENCE / "p1"
TELEGRAM_FILE = REFERENCE / "se-kam5.amsreader-gh578-1.txt"
EXPECTED_FILE = REFERENCE / "se-kam5.amsreader-gh578-1.json"

SUMMER = timezone(timedelta(hours=2))
WINTER = timezone(timedelta(hours=1))

# expected-field name in the reference JSON -> (OBIS display code, JSON unit per register-table unit)
JSON_FIELDS = {
    "active_energy_import_Wh": ("1.8.0", 1000), "active_energy_export_Wh": ("2.8.0", 1000),
    "reactive_energy_import_varh": ("3.8.0", 1000), "reactive_energy_export_varh": ("4.8.0", 1000),
    "active_power_import_W": ("1.7.0", 1), "active_power_export_W": ("2.7.0", 1),
    "reactive_power_import_var": ("3.7.0", 1), "reactive_power_export_var": ("4.7.0", 1),
    **{f"active_power_import_l{n}_W": (f"{c}.7.0", 1) for n, c in ((1, 21), (2, 41), (3, 61))},
    **{f"active_power_export_l{n}_W": (f"{c}.7.0", 1) for n, c in ((1, 22), (2, 42), (3, 62))},
    **{f"reactive_power_import_l{n}_var": (f"{c}.7.0", 1) for n, c in ((1, 23), (2, 43), (3, 63))},
    **{f"reactive_power_export_l{n}_var": (f"{c}.7.0", 1) for n, c in ((1, 24), (2, 44), (3, 64))},
    **{f"voltage_l{n}_V": (f"{c}.7.0", 1) for n, c in ((1, 32), (2, 52), (3, 72))},
    **{f"current_l{n}_A": (f"{c}.7.0", 1) for n, c in ((1, 31), (2, 51), (3, 71))},
}

SAMPLE_VALUES = {"1.8.0": 12345.678, "2.8.0": 0.5, "3.7.0": 0.0, "4.7.0": 321.0, "32.7.0": 230.1, "31.7.0": 5.1}
SAMPLE_TIME = datetime(2025, 1, 15, 8, 30, 0, tzinfo=WINTER)


def real_telegram() -> tuple[bytes, dict[str, Any]]:
    require(TELEGRAM_FILE)
    require(EXPECTED_FILE)
    expected: dict[str, Any] = json.loads(EXPECTED_FILE.read_text())
    return TELEGRAM_FILE.read_bytes(), expected


def with_crc(body: bytes) -> bytes:
    """A telegram from '/' .. '!' with its correct CRC."""
    return body + f"{crc16_arc(body):04X}".encode() + b"\r\n"


# --- the real Kamstrup telegram --------------------------------------------------------------


def test_real_telegram_parses_to_the_expected_values() -> None:
    raw, reference = real_telegram()
    assert reference["framing"]["crc_ok"] and len(raw) == reference["framing"]["bytes"]
    telegram = parse_p1(raw)
    expected = reference["expected"]
    assert telegram.header == reference["framing"]["header"] == "/KAM5"
    assert telegram.timestamp_as_sent == expected["timestamp_as_sent"]
    assert telegram.timestamp.isoformat() == expected["timestamp_local_iso"]
    assert telegram.timestamp == datetime(2024, 4, 7, 10, 28, 54, tzinfo=UTC)
    for name, (code, scale) in JSON_FIELDS.items():
        assert telegram.values[code] * scale == pytest.approx(expected[name], abs=1e-9), name
    assert set(telegram.values) == {code for code, _ in JSON_FIELDS.values()}
    assert telegram.other == {}


def test_real_telegram_keeps_total_reactive_power() -> None:
    raw, reference = real_telegram()
    values = parse_p1(raw).values
    # dsmr_parser's SWEDEN specification drops these two lines (reference README 4 item 6)
    assert "reactive_power_export_var" in reference["notes"][0]
    assert values["3.7.0"] == 0.0 and values["4.7.0"] == 321.0


def test_real_telegram_encodes_back_byte_for_byte() -> None:
    raw, _ = real_telegram()
    telegram = parse_p1(raw)
    assert encode_p1(telegram.header, telegram.timestamp, telegram.values) == raw
    assert telegram.encode() == raw


def test_real_telegram_every_flipped_bit_is_caught() -> None:
    raw, _ = real_telegram()
    end = raw.index(b"!")
    for pos in range(1, end):
        for bit in range(8):
            broken = bytearray(raw)
            broken[pos] ^= 1 << bit
            if broken[pos] == ord("!"):
                with pytest.raises(CodecError):
                    parse_p1(bytes(broken))
                continue
            with pytest.raises(ChecksumError):
                parse_p1(bytes(broken))


def test_real_telegram_one_flipped_byte() -> None:
    raw, _ = real_telegram()
    broken = raw.replace(b"(00009621.983*kWh)", b"(00009621.984*kWh)")
    assert broken != raw
    with pytest.raises(ChecksumError, match="1D66"):
        parse_p1(broken)


@pytest.mark.parametrize("split", range(0, 720, 7))
def test_real_telegram_in_a_stream(split: int) -> None:
    raw, _ = real_telegram()
    stream = b"\x00garbage 1-0:1.8.0(1" + raw + raw[:300] + raw + b"\r\n"
    reader = P1Reader()
    got = reader.feed(stream[:split]) + reader.feed(stream[split:])
    assert got == [parse_p1(raw), parse_p1(raw)]
    assert [type(e) for e in reader.take_errors()] == [TruncatedError]


def test_real_telegram_byte_by_byte() -> None:
    raw, _ = real_telegram()
    reader = P1Reader()
    got = [t for i in range(len(raw)) for t in reader.feed(raw[i : i + 1])]
    assert got == [parse_p1(raw)] and reader.pending == 0


@given(st.data())
@settings(max_examples=200)
def test_real_telegram_mutations_raise_only_codec_errors(data: st.DataObject) -> None:
    raw, _ = real_telegram()
    broken = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        broken[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if bytes(broken) == raw:
        return
    with pytest.raises(CodecError):
        parse_p1(bytes(broken))


# --- encoder, parser details ---------------------------------------------------------------------


def test_encode_layout() -> None:
    raw = encode_p1("KAM5", SAMPLE_TIME, SAMPLE_VALUES, other={"0-0:96.1.0": "(57065670)"})
    assert raw.startswith(b"/KAM5\r\n\r\n0-0:1.0.0(250115083000W)\r\n0-0:96.1.0(57065670)\r\n")
    assert b"1-0:1.8.0(00012345.678*kWh)\r\n" in raw and b"1-0:4.7.0(0000.321*kVAr)\r\n" in raw
    assert b"1-0:32.7.0(230.1*V)\r\n1-0:31.7.0(005.1*A)\r\n!" in raw
    telegram = parse_p1(raw)
    assert telegram == P1Telegram("/KAM5", "250115083000W", SAMPLE_TIME, SAMPLE_VALUES, {"0-0:96.1.0": "(57065670)"})
    assert telegram.encode() == raw


def test_timestamps() -> None:
    assert parse_p1_timestamp("240407122854S") == datetime(2024, 4, 7, 12, 28, 54, tzinfo=SUMMER)
    assert parse_p1_timestamp("250115083000W").utcoffset() == timedelta(hours=1)
    assert p1_timestamp(datetime(2024, 4, 7, 12, 28, 54, tzinfo=SUMMER)) == "240407122854S"
    for bad in ("240407122854", "240407122854X", "241307122854S", "240431122854S", "2404071228S"):
        with pytest.raises(CodecError):
            parse_p1_timestamp(bad)
    for when in (datetime(2024, 4, 7), datetime(2024, 4, 7, tzinfo=UTC), datetime(1999, 4, 7, tzinfo=SUMMER)):
        with pytest.raises(EncodeError):
            p1_timestamp(when)


def test_crc_required_unless_told_otherwise() -> None:
    raw = encode_p1("/KAM5", SAMPLE_TIME, SAMPLE_VALUES)
    bare = raw[: raw.index(b"!") + 1] + b"\r\n"
    with pytest.raises(ChecksumError, match="without a CRC"):
        parse_p1(bare)
    assert parse_p1(bare, require_crc=False) == parse_p1(raw)
    assert P1Reader(require_crc=False).feed(bare + raw) == [parse_p1(raw), parse_p1(raw)]
    assert parse_p1(raw.replace(raw[-6:-2], raw[-6:-2].lower())) == parse_p1(raw)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!", CodecError),  # no time stamp
        (b"/KAM5\r\n0-0:1.0.0(240407122854S)\r\n!", CodecError),  # no empty line
        (b"/KAM5\r\n\r\n0-0:1.0.0(240407122854S)\r\n1-0:1.8.0(1*m3)\r\n!", UnknownTagError),
        (b"/KAM5\r\n\r\n0-0:1.0.0(240407122854S)\r\n1-0:1.8.0(1*V)\r\n!", CodecError),
        (b"/KAM5\r\n\r\n0-0:1.0.0(240407122854S)\r\n1-0:1.8.0(1*kWh)\r\n1-0:1.8.0(2*kWh)\r\n!", CodecError),
        (b"/KAM5\r\n\r\n0-0:1.0.0(240407122854S)\r\n0-0:1.0.0(240407122854S)\r\n!", CodecError),
        (b"/KAM5\r\n\r\n0-0:1.0.0(240407122854S)\r\n1-0:1.8.0 (1*kWh)\r\n!", CodecError),
        (b"/KAM5\r\n\r\n0-0:1.0.0(240407122854S)\n1-0:1.8.0(1*kWh)\r\n!", CodecError),
        (b"/KAM5\r\n\r\n0-0:1.0.0(240407122854S)\r\n1-0:1.8.0(1*kWh)!", CodecError),
        (b"/KAM5\r\n\r\n0-0:1.0.0(240407122854S)\r\n1-0:1.8.0(\xb1*kWh)\r\n!", CodecError),
        (b"/KAM5\r\n\r\n0-0:1.0.0(240407122854S)\r\n1-0:1.8.0(" + b"1" * 33 + b"*kWh)\r\n!", LengthError),
        (b"/\r\n\r\n0-0:1.0.0(240407122854S)\r\n!", CodecError),
    ],
)
def test_parse_errors(body: bytes, error: type[CodecError]) -> None:
    with pytest.raises(error):
        parse_p1(with_crc(body))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", TruncatedError),
        (b"KAM5\r\n", CodecError),
        (b"/KAM5\r\n\r\n", TruncatedError),
        (b"/KAM5\r\n\r\n!1D", TruncatedError),
        (b"/KAM5\r\n\r\n!1D66\r\nX", LengthError),
        (b"/KAM5\r\n\r\n!1D66\n\n", CodecError),
        (b"/KAM5\r\n\r\n!1G66\r\n", CodecError),
    ],
)
def test_framing_errors(data: bytes, error: type[CodecError]) -> None:
    with pytest.raises(error):
        parse_p1(data)


def test_other_lines_are_kept() -> None:
    body = (b"/ELL5\\253833635_A\r\n\r\n0-0:1.0.0(240407122854S)\r\n0-0:96.14.0(0001)\r\n"
            b"1-0:99.97.0(1)(0-0:96.7.19)(000101000001W)(2147483647*s)\r\n1-0:32.32.0(00003)\r\n"
            b"1-0:1.8.0(000123.456*kWh)\r\n!")
    telegram = parse_p1(with_crc(body))
    assert telegram.header == "/ELL5\\253833635_A"
    assert telegram.values == {"1.8.0": 123.456}
    assert telegram.other == {"0-0:96.14.0": "(0001)", "1-0:32.32.0": "(00003)",
                              "1-0:99.97.0": "(1)(0-0:96.7.19)(000101000001W)(2147483647*s)"}
    assert parse_p1(telegram.encode()) == telegram


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"values": {"1.8.0": float("nan")}}, "finite"),
        ({"values": {"1.8.0": float("inf")}}, "finite"),
        ({"values": {"99.99.99": 1.0}}, "register"),
        ({"values": {"1.6.0.t": 1.0}}, "register"),
        ({"values": {"96.8.0": 1.0}}, "no P1 form"),
        ({"values": {"128.0.11": 1.0}}, "no P1 form"),
        ({"values": {"1.8.0": 1e40}}, "longer than 32|too large"),
        ({"values": {}, "header": "/KAM!"}, "header"),
        ({"values": {}, "header": "/KAM/5"}, "header"),
        ({"values": {}, "other": {"0-0:96.13.0": "(a/b)"}}, "groups"),
        ({"values": {}, "header": "/KAM5\r\n"}, "header"),
        ({"values": {}, "other": {"0-0:1.0.0": "(1)"}}, "time stamp"),
        ({"values": {}, "other": {"0-0:96.1.0": "1"}}, "groups"),
        ({"values": {}, "other": {"1-0:1.8.0": "(1*kWh)"}}, "pass it in values"),
    ],
)
def test_encode_errors(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"header": "/KAM5", "timestamp": SAMPLE_TIME, **kwargs}
    with pytest.raises(EncodeError, match=match):
        encode_p1(**args)


def test_reader_reports_bad_telegrams_and_continues() -> None:
    good = encode_p1("/KAM5", SAMPLE_TIME, SAMPLE_VALUES)
    bad = good.replace(b"230.1", b"230.2")
    reader = P1Reader(max_telegram_len=1024)
    got = reader.feed(bad + b"\xff\xfe" + good + b"/" + b"x" * 1100) + reader.feed(good)
    assert got == [parse_p1(good), parse_p1(good)]
    assert [type(e) for e in reader.take_errors()] == [ChecksumError, LengthError]
    assert reader.discarded == len(bad) + 2 + 1101
    # all at once, the runaway start is cut off by the next telegram's '/'
    assert reader.feed(b"/" + b"x" * 100 + good) == [parse_p1(good)]
    assert [type(e) for e in reader.take_errors()] == [TruncatedError]


# --- hypothesis ------------------------------------------------------------------------------------

_FORMATS = {  # code -> strategy of values exactly representable at Kamstrup's P1 resolution
    "1.8.0": st.integers(0, 10**11 - 1).map(lambda n: n / 1000),
    "4.8.0": st.integers(0, 10**11 - 1).map(lambda n: n / 1000),
    "1.7.0": st.integers(0, 9_999_999).map(float),
    "4.7.0": st.integers(0, 9_999_999).map(float),
    "24.7.0": st.integers(0, 9_999_999).map(float),
    "32.7.0": st.integers(0, 9999).map(lambda n: n / 10),
    "71.7.0": st.integers(0, 9999).map(lambda n: n / 10),
    "14.7.0": st.integers(0, 9999).map(lambda n: n / 100),
    "13.7.0": st.integers(0, 1000).map(lambda n: n / 1000),
}
p1_values = st.fixed_dictionaries({}, optional=_FORMATS)
p1_times = st.builds(
    lambda dt, tz: dt.replace(tzinfo=tz),
    st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59, 59)).map(lambda d: d.replace(microsecond=0)),
    st.sampled_from([SUMMER, WINTER]),
)


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="!/"), max_size=20),
       p1_times, p1_values)
@settings(max_examples=200)
def test_round_trip(ident: str, when: datetime, values: dict[str, float]) -> None:
    raw = encode_p1("/" + ident if ident else "/KAM5", when, values)
    telegram = parse_p1(raw)
    assert telegram.values == values
    assert telegram.timestamp == when and telegram.timestamp.utcoffset() == when.utcoffset()
    assert telegram.encode() == raw


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_random_bytes_raise_only_codec_errors(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        parse_p1(data)
    with contextlib.suppress(CodecError):
        parse_p1(b"/" + data)
    reader = P1Reader()
    reader.feed(data)
    assert all(isinstance(e, CodecError) for e in reader.take_errors())


@given(p1_values, st.lists(st.integers(0, 255), max_size=4), st.lists(st.integers(0, 10_000), max_size=4))
@settings(max_examples=200)
def test_reader_mutated_stream(values: dict[str, float], noise: list[int], cuts: list[int]) -> None:
    good = encode_p1("/KAM5", SAMPLE_TIME, values)
    stream = bytearray(good * 3)
    for i, b in zip(cuts, noise, strict=False):
        stream[len(good) + i % len(good)] = b  # damage only the middle telegram
    reader = P1Reader()
    got = reader.feed(bytes(stream))
    assert all(isinstance(e, CodecError) for e in reader.take_errors())
    assert got[0] == parse_p1(good) and got[-1] == parse_p1(good)
