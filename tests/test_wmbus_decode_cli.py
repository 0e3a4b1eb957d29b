"""`omnipower-gateway decode wmbus DATA [--key HEX]`: the readings of each telegram as JSON (OBIS codes, register
units); a telegram as wmbusmeters writes it, a format B frame with its CRCs, rtl_wmbus lines or iM871A bytes;
exit status 1 with a one-line reason on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_reference import REFERENCE

from gateway.decode import decode as decode_in_process
from omnipower import wmbus
from omnipower.wmbus_receivers import RECEIVERS

KEY = "FFEEDDCCBBAA99887766554433221100"
WHEN = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)


def decode(*args: str) -> tuple[int, list[dict[str, object]], str]:
    result = subprocess.run([sys.executable, "-m", "gateway", "decode", "wmbus", *args], capture_output=True,
                            text=True, timeout=60)
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()], result.stderr


@pytest.mark.reference("wmbus")
def test_the_real_telegrams_as_wmbusmeters_writes_them() -> None:
    expected = json.loads((REFERENCE / "wmbus" / "omnipower-c1.json").read_text())["expected"]
    for name, frame in (("omnipower-c1-full", "full"), ("omnipower-c1-compact", "compact")):
        text = (REFERENCE / "wmbus" / f"{name}.hex").read_text().strip()
        status, frames, err = decode(f"|{text}|")
        assert status == 0 and err == "" and len(frames) == 1
        (out,) = frames
        assert out["id"] == expected["id"] and out["manufacturer"] == "KAM" and out["frame"] == frame
        assert out["readings"] == {"1.8.0": expected["total_energy_consumption_kwh"],
                                   "2.8.0": expected["total_energy_production_kwh"],
                                   "1.7.0": expected["current_power_consumption_kw"] * 1000,
                                   "2.7.0": expected["current_power_production_kw"] * 1000}


def telegrams(key: bytes | None) -> list[bytes]:
    readings = {"a_plus": 1234.56, "a_minus": 78.9, "p_plus": 2345, "p_minus": 0}
    return [wmbus.encode(wmbus.omnipower_telegram(readings, id=87654321, access_number=n, session=n,
                                                  compact=n > 0), key) for n in range(2)]


def test_encrypted_telegram_needs_the_key() -> None:
    frame = telegrams(bytes.fromhex(KEY))[0]
    status, frames, err = decode(frame.hex(), "--key", KEY)
    assert status == 0 and frames[0]["encrypted"] is True
    assert frames[0]["readings"] == {"1.8.0": 1234.56, "2.8.0": 78.9, "1.7.0": 2345.0, "2.7.0": 0.0}
    status, frames, err = decode(frame.hex())
    assert status == 1 and frames == [] and "give its key" in err and err.count("\n") == 1
    status, _, err = decode(frame.hex(), "--key", "00" * 16)
    assert status == 1 and "wrong key" in err
    status, _, err = decode(frame.hex(), "--key", "123")
    assert status == 1 and "--key must be 32 hex digits" in err


@pytest.mark.parametrize("receiver", list(RECEIVERS))
def test_receiver_captures(tmp_path: Path, receiver: str) -> None:
    capture = tmp_path / f"{receiver}.bin"
    capture.write_bytes(b"".join(RECEIVERS[receiver].emit(f, WHEN, 42) for f in telegrams(bytes.fromhex(KEY))))
    status, frames, err = decode(str(capture), "--key", KEY)
    assert status == 0, err
    assert [f["frame"] for f in frames] == ["full", "compact"]
    assert frames[0]["readings"] == frames[1]["readings"]


def test_format_b_from_the_air() -> None:
    frame = telegrams(None)[0]
    status, frames, _ = decode(wmbus.add_crcs(frame).hex())
    assert status == 0 and frames[0]["readings"]["1.8.0"] == 1234.56
    broken = bytearray(wmbus.add_crcs(frame))
    broken[-1] ^= 0xFF
    status, frames, err = decode(bytes(broken).hex())
    assert status == 1 and "format B CRC 1" in err


@pytest.mark.parametrize(("data", "reason"), [
    ("not hex", "neither an existing file nor a hex string"),
    ("2D44", "neither a telegram without CRCs"),
    ("0A442D2C7856341230027A", "CI 0x7A"),
    ("C1;1;1;garbage", "receiver output rejected"),
])
def test_bad_input_exits_1_with_one_line(data: str, reason: str) -> None:
    status, frames, err = decode(data)
    assert status == 1 and frames == [] and reason in err and err.count("\n") == 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60) | st.sampled_from([b"C1;1;1;", b"\xa5\x22\x03\x05"]).map(lambda b: b + b"\x00" * 8))
def test_fuzz_decode_wmbus_reports_instead_of_raising(payload: bytes) -> None:
    frames, errors = decode_in_process("wmbus", payload)
    assert frames or errors or payload[:1] == b"\xa5" or not payload.strip()
