"""`omnipower-gateway decode KIND DATA`: one JSON object per frame on stdout, readings by OBIS code in
the register table's units; exit status 1 with a one-line reason on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from shared_reference import REFERENCE, stems

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from omnipower.iec62056_21 import kamstrup_readout


def decode(*args: str) -> tuple[int, list[dict[str, object]], str]:
    result = subprocess.run([sys.executable, "-m", "gateway", "decode", *args], capture_output=True, text=True,
                            timeout=60)
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()], result.stderr


@pytest.mark.reference("han")
@pytest.mark.parametrize("name", stems("han"))
def test_han_reference_frames(name: str) -> None:
    expected = json.loads((REFERENCE / "han" / f"{name}.json").read_text())["expected"]
    status, frames, err = decode("han", str(REFERENCE / "han" / f"{name}.hex"))
    assert status == 0 and err == "" and len(frames) == 1
    readings = frames[0]["readings"]
    assert isinstance(readings, dict)
    fields = {"active_power_import_W": ("1.7.0", 1), "voltage_l1_V": ("32.7.0", 1), "current_l1_A": ("31.7.0", 1),
              "active_energy_import_Wh": ("1.8.0", 1000)}
    checked = 0
    for field, (obis, per_unit) in fields.items():
        if field in expected and obis in readings:
            assert readings[obis] * per_unit == pytest.approx(expected[field]), field
            checked += 1
    assert checked >= 1


@pytest.mark.reference("p1")
def test_p1_reference_telegram() -> None:
    expected = json.loads((REFERENCE / "p1" / "se-kam5.amsreader-gh578-1.json").read_text())["expected"]
    status, frames, _ = decode("p1", str(REFERENCE / "p1" / "se-kam5.amsreader-gh578-1.txt"))
    assert status == 0 and frames[0]["time"] == "2024-04-07T12:28:54+02:00"
    readings = frames[0]["readings"]
    assert isinstance(readings, dict)
    wh = next(v for k, v in expected.items() if k.startswith("active_energy_import") and isinstance(v, int | float))
    assert readings["1.8.0"] * 1000 == pytest.approx(wh)


def test_optical_readout_of_our_meter(tmp_path: Path) -> None:
    meter = Meter("m", MeterSimSettings(), SteppedClock(1_768_478_400))
    meter.advance_to(1_768_478_400 + 86400)
    readings = meter.readings()
    values = {k: v for k, v in readings.items() if isinstance(v, float | int)}
    readout = kamstrup_readout(values, meter_number=12345678, when=datetime(2026, 1, 16, 12, 0))
    capture = tmp_path / "readout.bin"
    capture.write_bytes(readout.encode())
    status, frames, _ = decode("optical", str(capture))
    assert status == 0
    readings = frames[0]["readings"]
    assert isinstance(readings, dict)
    assert readings["1.8.0"] == pytest.approx(values["a_plus"], abs=0.001)
    assert readings["32.7.0"] == pytest.approx(values["u_l1"], abs=0.05)
    assert readings["1.7.0"] == pytest.approx(values["p_plus"], abs=1.0)  # sent in kW with 3 decimals


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [
        ("han", "7EA0E22B2113239AE6E7", "bytes at the end do not complete a frame"),
        ("han", "not hex", "neither an existing file nor a hex string"),
        ("han", "00112233", "no han frame found"),
        ("p1", "2F4B414D350D0A", "no p1 frame found"),
        ("optical", "0241", "no optical frame found"),
    ],
)
def test_bad_input_exits_1_with_one_line(kind: str, data: str, reason: str) -> None:
    status, frames, err = decode(kind, data)
    assert status == 1 and frames == []
    assert err.count("\n") == 1 and reason in err and err.startswith(f"omnipower-gateway: decode {kind}: ")


@pytest.mark.reference("han")
def test_a_corrupted_frame_is_reported() -> None:
    hexdata = (REFERENCE / "han" / "se-list1-3ph.amshan.hex").read_text().strip()
    corrupted = hexdata[:100] + ("0" if hexdata[100] != "0" else "1") + hexdata[101:]
    status, frames, err = decode("han", corrupted)
    assert status == 1 and frames == [] and "rejected" in err


@pytest.mark.reference("mbus")
@pytest.mark.parametrize("name", stems("mbus"))
def test_mbus_reference_frames(name: str) -> None:
    reference = json.loads((REFERENCE / "mbus" / f"{name}.json").read_text())
    status, frames, _ = decode("mbus", str(REFERENCE / "mbus" / f"{name}.hex"))
    assert status == 0 and len(frames) == 1
    records = frames[0]["records"]
    assert isinstance(records, list) and len(records) == len(reference["records"])


def test_mbus_frames_of_our_record_map(tmp_path: Path) -> None:
    from omnipower import mbus

    meter = Meter("m", MeterSimSettings(), SteppedClock(1_768_478_400))
    meter.advance_to(1_768_478_400 + 86400)
    readings = meter.readings()
    resp = mbus.VariableDataResponse(id=12345678, manufacturer="KAM", version=1, medium=2,
                                     records=tuple(mbus.encode_readings(readings)))
    status, frames, _ = decode("mbus", mbus.encode(mbus.rsp_ud(5, resp)).hex() + "E5")
    assert status == 0 and frames[0]["id"] == "12345678" and frames[1] == {"kind": "mbus", "frame": "ack"}
    got = frames[0]["readings"]
    assert isinstance(got, dict)
    assert got["1.8.0"] == pytest.approx(readings["a_plus"], abs=0.01)
    assert got["32.7.0"] == pytest.approx(readings["u_l1"], abs=0.1)


def test_dlms_wrapper_pdus_and_bare_apdus() -> None:
    from omnipower import dlms_apdu as ap
    from omnipower.dlms import Data, DataType
    from omnipower.dlms_wrapper import encode_wrapper

    get = ap.GetRequestNormal(attribute=ap.AttributeDescriptor(3, bytes((1, 1, 1, 8, 0, 255)), 2)).to_bytes()
    answer = ap.GetResponseNormal(result=Data(DataType.DOUBLE_LONG_UNSIGNED, 123456)).to_bytes()
    status, frames, err = decode("dlms", (encode_wrapper(16, 1, get) + encode_wrapper(1, 16, answer)).hex())
    assert status == 0 and err == ""
    assert [(f["source"], f["destination"], f["apdu"]) for f in frames] == [
        (16, 1, "GetRequestNormal"), (1, 16, "GetResponseNormal")]
    assert frames[0]["fields"]["attribute"] == {"class_id": 3, "logical_name": "1.1.1.8.0.255",  # type: ignore[index]
                                                "attribute_id": 2}
    assert frames[1]["fields"]["result"] == 123456  # type: ignore[index]
    status, frames, _ = decode("dlms", answer.hex())
    assert status == 0 and frames[0]["transport"] is None and frames[0]["apdu"] == "GetResponseNormal"


def test_dlms_ciphered_apdus_need_the_keys() -> None:
    from omnipower import dlms_apdu as ap
    from omnipower.dlms import Data, DataType, encrypt_glo

    ek, ak = bytes(range(16)), bytes(range(16, 32))
    answer = ap.GetResponseNormal(result=Data(DataType.LONG_UNSIGNED, 5000)).to_bytes()
    ciphered = encrypt_glo(answer, b"KAME\x00\x00\x00\x01", 7, ek, ak).hex()
    status, frames, err = decode("dlms", ciphered, "--keys", f"{ek.hex()}:{ak.hex()}")
    assert status == 0 and frames[0]["frame_counter"] == 7 and frames[0]["fields"]["result"] == 5000  # type: ignore[index]
    status, _, err = decode("dlms", ciphered)
    assert status == 1 and "give --keys EK:AK" in err
    status, _, err = decode("dlms", ciphered, "--keys", f"{ak.hex()}:{ek.hex()}")
    assert status == 1 and "authentication tag does not verify" in err


@pytest.mark.reference("han")
def test_dlms_reads_a_han_push_frame_as_a_data_notification() -> None:
    status, frames, err = decode("dlms", str(REFERENCE / "han" / "no-list2-3ph.kamstrup-doc-example2.hex"))
    assert status == 0 and err == ""
    assert frames[0]["transport"] == "hdlc" and frames[0]["apdu"] == "DataNotification"
    assert (frames[0]["client"], frames[0]["server"]) == (21, 16)
    assert frames[0]["fields"]["body"][0] == "Kamstrup_V0001"  # type: ignore[index]


def test_dlms_garbage_is_refused_with_a_reason() -> None:
    status, frames, err = decode("dlms", "c0ff00")
    assert status == 1 and frames == [] and "get-request choice 255 is not supported" in err
