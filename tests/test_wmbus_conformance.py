"""Our wireless M-Bus telegrams read by independent decoders:

* pymbusparser (PyPI, MIT; the Rust m-bus-parser): the link layer and extended link layer of what the simulator
  sends, and the application layer's records, decrypted by tests/wmbus_rules.py (written from wmbusmeters' source);
* rtl_433 (Debian's rtl-433, GPL-2, run as a program, test-only): format B on the air, both CRCs checked.

And the two real telegrams read by pymbusparser as we read them."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import wmbus_rules
from pymbusparser import parse, parse_records
from shared_reference import REFERENCE

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings, WmbusSettings
from meter_sim.meter import Meter
from meter_sim.modules.wmbus_radio import WmbusRadio
from omnipower import mbus, wmbus

KEY = "0F0E0D0C0B0A09080706050403020100"
START = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # a June night into the morning: import, then PV export


def morning_radio(key: str | None) -> tuple[Meter, WmbusRadio]:
    settings = MeterSimSettings(start=START, wmbus=WmbusSettings(key=key))
    meter = Meter("judged", settings, SteppedClock(START.timestamp()))
    meter.advance_to(START.timestamp() + 8 * 3600)
    return meter, WmbusRadio(meter)


def judged_values(records: list[dict[str, Any]]) -> dict[str, Decimal]:
    """A+, A−, P+, P− as pymbusparser names them: energy or power, with or without "only if negative"."""
    out = {}
    for rec in records:
        backward = "Accumulation only if value is negative" in rec["quantities"]
        name = {("Energy", False): "a_plus", ("Energy", True): "a_minus", ("Power", False): "p_plus",
                ("Power", True): "p_minus"}[(rec["quantities"][0], backward)]
        assert rec["function"] == "Instantaneous value" and rec["storage_number"] == rec["tariff"] == 0
        out[name] = Decimal(rec["value"]["value"]) / (1000 if rec["unit"] == "W.h" else 1)
    return out


@pytest.mark.parametrize("key", [None, KEY])
def test_pymbusparser_reads_the_link_layers_the_simulator_sends(key: str | None) -> None:
    _, radio = morning_radio(key)
    telegram = radio.telegram()
    frame = wmbus.encode(telegram, radio.key)
    judged = parse(frame)
    identity = judged["meter"]["identity"]
    assert identity["id"] == f"{radio.id:08d}" and identity["manufacturer_code"] == "KAM"
    assert (identity["version"], identity["device_type_code"]) == (0x30, 0x02)
    assert judged["frame"]["function"] == "SND_NR"
    ell = judged["transport"]["ell"]
    assert ell["communication_control"] == "20" and ell["access_number"] == telegram.access_number
    sn = telegram.session | ((1 if key else 0) << 29)
    assert ell["session_number"] == sn.to_bytes(4, "little").hex().upper()
    assert int(ell["payload_crc"], 16) == int.from_bytes(frame[17:19], "little")  # as sent (encrypted or not)
    assert wmbus_rules.ell_plain(frame, radio.key)[0] == 0x78  # decrypts, and its payload CRC holds


@pytest.mark.parametrize("key", [None, KEY])
def test_records_read_by_pymbusparser_are_the_meter_values(key: str | None) -> None:
    meter, radio = morning_radio(key)
    frame = wmbus.encode(radio.telegram(), radio.key)  # the first telegram: a full frame
    application = wmbus_rules.ell_plain(frame, radio.key)
    assert application[0] == 0x78
    values = judged_values(parse_records(application[1:].hex()))
    readings = meter.readings()
    assert readings["a_plus"] and readings["a_minus"] and readings["p_plus"] is not None
    for name, resolution in (("a_plus", 0.01), ("a_minus", 0.01), ("p_plus", 1), ("p_minus", 1)):
        assert float(values[name]) == pytest.approx(readings[name], abs=resolution / 2 + 1e-6), name


def test_compact_frame_matches_the_full_frame_as_wmbusmeters_reads_it() -> None:
    """Format signature = the hash of the full frame's record headers (as pymbusparser splits them), data CRC =
    the CRC of the full frame's records, data = the full frame's data fields in order."""
    _, radio = morning_radio(KEY)
    full = radio.telegram()
    compact = dataclasses.replace(full, compact=True)
    full_app = wmbus_rules.ell_plain(wmbus.encode(full, radio.key), radio.key)
    compact_app = wmbus_rules.ell_plain(wmbus.encode(compact, radio.key), radio.key)
    records = parse_records(full_app[1:].hex())
    headers = b"".join(bytes.fromhex(r["header_hex"]) for r in records)
    data = b"".join(bytes.fromhex(r["data_hex"]) for r in records)
    assert compact_app[0] == 0x79
    assert int.from_bytes(compact_app[1:3], "little") == wmbus_rules.crc16_en13757(headers)
    assert int.from_bytes(compact_app[3:5], "little") == wmbus_rules.crc16_en13757(full_app[1:])
    assert compact_app[5:] == data


@pytest.mark.reference("wmbus")
@pytest.mark.parametrize("name", ["omnipower-c1-full", "omnipower-c1-compact"])
def test_pymbusparser_reads_the_real_telegrams_headers_as_we_do(name: str) -> None:
    frame = bytes.fromhex((REFERENCE / "wmbus" / f"{name}.hex").read_text().strip().replace("_", ""))
    ours = wmbus.decode(frame)
    judged = parse(frame)
    identity = judged["meter"]["identity"]
    assert identity["id"] == ours.address.id_text and identity["manufacturer_code"] == ours.address.manufacturer
    assert judged["transport"]["ell"]["access_number"] == ours.access_number
    if not ours.compact:
        assert judged_values(parse_records(wmbus_rules.ell_plain(frame, None)[1:].hex())) == {
            "a_plus": Decimal("7.94"), "a_minus": 0, "p_plus": 3, "p_minus": 0}


def rtl_433(wire: bytes) -> list[dict[str, Any]]:
    """rtl_433's wireless M-Bus decoder (C&T, protocol 104) on demodulated bits: preamble, mode C sync word, the
    format B sync word, then the frame as on the air."""
    binary = shutil.which("rtl_433")
    if binary is None:
        pytest.fail("rtl_433 is missing: run scripts/test.sh, which installs Debian's rtl-433")
    bits = "5555543D543D" + wire.hex()
    result = subprocess.run([binary, "-R", "104", "-F", "json", "-y", f"{{{len(bits) * 4}}}{bits}"],
                            capture_output=True, text=True, timeout=30)
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_rtl_433_checks_format_b_crcs() -> None:
    _, radio = morning_radio(KEY)
    short = wmbus.encode(radio.telegram(), radio.key)
    records = tuple(mbus.make_record(mbus.Quantity.ENERGY, n, exponent=1, tariff=n % 4) for n in range(30))
    long = wmbus.encode(wmbus.Telegram(wmbus.LinkAddress("KAM", 12345678, 0x30, 2), records), radio.key)
    for frame in (short, long):
        wire = wmbus.add_crcs(frame)
        (decoded,) = rtl_433(wire)
        assert decoded["mode"] == "C" and decoded["mic"] == "CRC"
        assert (decoded["M"], decoded["id"], decoded["version"], decoded["type"]) == (
            "KAM", int(frame[4:8][::-1].hex()), 0x30, 0x02)
        if frame is short:  # rtl_433 22.11 shifts the bytes around block 3 in its "data" output
            assert decoded["data"] == frame.hex()
        for flipped in (5, len(wire) - 3):
            bad = bytearray(wire)
            bad[flipped] ^= 0x01
            assert rtl_433(bytes(bad)) == []
