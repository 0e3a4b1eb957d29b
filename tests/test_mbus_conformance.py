"""Conformance of our M-Bus frames with an independent implementation: pyMeterBus 0.8.5 (`meterbus`).

pyMeterBus quirks these tests allow for (README of the reference set, section 4):
* without a DIFE it reports tariff and subunit ("device") as None where we report 0;
* values scaled by a fractional factor come back as binary floats (Decimal(231.4000000000000056…));
* it has no entries for the VIF FB extension table (reactive energy/power): it reports "Reserved"
  and the unscaled count;
* it ignores manufacturer-specific VIFEs, so our per-phase records look like totals to it;
* it cannot parse a selection telegram (CI 52), so for those we compare bytes with its own builder.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from shared_reference import REFERENCE as SHARED_REFERENCE
from shared_reference import stems

from omnipower import mbus
from omnipower.mbus import Coding, Function, Quantity, SelectionMask, VariableDataResponse

meterbus = pytest.importorskip("meterbus", reason="pyMeterBus is a dev dependency (pip install -e .[dev])")

REFERENCE = SHARED_REFERENCE / "mbus"

READINGS = {
    "1.8.0": 12345.67, "2.8.0": 321.09, "3.8.0": 456.78, "4.8.0": 12.34,
    "1.8.1": 10000.01, "1.8.2": 2345.66, "1.8.3": 0.5, "1.8.4": 0.0,
    "2.8.1": 300.0, "2.8.2": 21.09, "2.8.3": 0.0, "2.8.4": 0.01,
    "1.7.0": 2345.0, "2.7.0": 0.0, "3.7.0": 120.0, "4.7.0": 0.0,
    "21.7.0": 800.0, "41.7.0": 745.0, "61.7.0": 800.0, "22.7.0": 0.0, "42.7.0": 0.0, "62.7.0": 0.0,
    "32.7.0": 231.4, "52.7.0": 229.9, "72.7.0": 232.1, "31.7.0": 3.52, "51.7.0": 3.31, "71.7.0": 3.6,
}  # fmt: skip

PYMETERBUS_FUNCTIONS = {
    Function.INSTANTANEOUS: "FunctionType.INSTANTANEOUS_VALUE",
    Function.MAXIMUM: "FunctionType.MAXIMUM_VALUE",
    Function.MINIMUM: "FunctionType.MINIMUM_VALUE",
    Function.ERROR: "FunctionType.ERROR_STATE_VALUE",
}
PYMETERBUS_UNITS = {
    Quantity.ENERGY: "MeasureUnit.WH",
    Quantity.POWER: "MeasureUnit.W",
    Quantity.VOLTAGE: "MeasureUnit.V",
    Quantity.CURRENT: "MeasureUnit.A",
    Quantity.ON_TIME: "MeasureUnit.SECONDS",
    Quantity.REACTIVE_ENERGY: "Reserved",  # no FB table in pyMeterBus
    Quantity.REACTIVE_POWER: "Reserved",
}


class FakeSerial:
    """Captures what pyMeterBus's frame builders would write to a serial port."""

    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes | bytearray) -> None:
        self.written += bytes(data)


def our_rsp_ud(readings: dict[str, float] = READINGS, address: int = 1) -> tuple[VariableDataResponse, bytes]:
    resp = VariableDataResponse(14839120, "KAM", 0x30, mbus.MEDIUM_ELECTRICITY, 7, 0, 0,
                                tuple(mbus.encode_readings(readings)))  # fmt: skip
    return resp, mbus.encode(mbus.rsp_ud(address, resp))


def same_number(theirs: Any, ours: Any) -> bool:
    if isinstance(theirs, Decimal):
        theirs = float(theirs)
    return math.isclose(float(theirs), float(ours), rel_tol=1e-12, abs_tol=1e-12)


def assert_record_agrees(theirs: Any, ours: mbus.DataRecord) -> None:
    view = theirs.interpreted
    what = f"{ours.quantity.name} {ours.encode().hex(' ')}: {view}"
    assert view["function"] == PYMETERBUS_FUNCTIONS[ours.function], what
    assert view["storage_number"] == ours.storage, what
    has_dife = ours.encode()[0] & 0x80
    assert view.get("tariff") == (ours.tariff if has_dife else None), what
    assert view.get("device") == (ours.subunit if has_dife else None), what
    assert view["unit"] == PYMETERBUS_UNITS[ours.quantity], what
    if ours.quantity in (Quantity.REACTIVE_ENERGY, Quantity.REACTIVE_POWER):
        assert same_number(view["value"], ours.raw), what
    else:
        assert same_number(view["value"], ours.value), what
    if ours.backward and ours.vif != 0x7B:  # pyMeterBus reads no VIFE enhancement after an FB table entry
        assert view["unit_enh"] == "VIFUnitEnhExt.NEGATIVE_ACCUMULATION", what


def test_pymeterbus_reads_our_rsp_ud() -> None:
    resp, wire = our_rsp_ud()
    telegram = meterbus.load(wire)
    assert isinstance(telegram, meterbus.TelegramLong)
    assert telegram.check_crc()
    assert list(telegram) == list(wire)  # pyMeterBus re-serialises our frame identically
    assert telegram.header.cField.parts == [0x08] and telegram.header.aField.parts == [1]
    assert telegram.manufacturer == "KAM"
    assert telegram.secondary_address == "148391202D2C3002"
    header = telegram.body.bodyHeader.interpreted
    assert (header["type"], header["access_no"], header["medium"]) == ("0x72", 7, "0x2")
    assert not telegram.more_records_follow
    assert len(telegram.records) == len(resp.records) == len(READINGS)
    for theirs, ours in zip(telegram.records, resp.records, strict=True):
        assert_record_agrees(theirs, ours)


def test_pymeterbus_sees_our_tariffs_directions_and_phase_order() -> None:
    _, wire = our_rsp_ud()
    views = [r.interpreted for r in meterbus.load(wire).records]
    by_obis = dict(zip((e.obis for e in mbus.RECORD_MAP), views, strict=True))
    assert [by_obis[f"1.8.{t}"]["tariff"] for t in (1, 2, 3, 4)] == [1, 2, 3, 4]
    assert [by_obis[f"2.8.{t}"]["tariff"] for t in (1, 2, 3, 4)] == [1, 2, 3, 4]
    assert by_obis["2.8.4"]["value"] == 10  # 0.01 kWh = 10 Wh, tariff 4 via a second DIFE
    assert by_obis["1.8.0"]["value"] == 12345670 and "unit_enh" not in by_obis["1.8.0"]
    assert by_obis["2.8.0"]["unit_enh"] == "VIFUnitEnhExt.NEGATIVE_ACCUMULATION"
    assert by_obis["2.7.0"]["unit_enh"] == "VIFUnitEnhExt.NEGATIVE_ACCUMULATION"
    assert by_obis["22.7.0"]["unit_enh"] == "VIFUnitEnhExt.NEGATIVE_ACCUMULATION"
    # phases are invisible to pyMeterBus, but the quantities, units and L1-L2-L3 order are intact
    volts = [float(by_obis[f"{c}.7.0"]["value"]) for c in (32, 52, 72)]
    assert volts == pytest.approx([231.4, 229.9, 232.1])
    amps = [float(by_obis[f"{c}.7.0"]["value"]) for c in (31, 51, 71)]
    assert amps == pytest.approx([3.52, 3.31, 3.6])
    assert float(by_obis["3.8.0"]["value"]) == 45678  # reactive: raw counts of 10 varh


def test_pymeterbus_reads_other_codings_we_encode() -> None:
    records = (
        mbus.make_record(Quantity.ENERGY, 12345678, exponent=0, coding=Coding.BCD8, tariff=2, storage=3),
        mbus.make_record(Quantity.POWER, -1234, exponent=0, coding=Coding.INT24),
        mbus.make_record(Quantity.POWER, 3000, exponent=0, coding=Coding.INT16, function=Function.MAXIMUM),
        mbus.make_record(Quantity.VOLTAGE, 229.5, coding=Coding.REAL32),
        mbus.make_record(Quantity.CURRENT, -66, exponent=-3, coding=Coding.INT48, subunit=1),
        mbus.make_record(Quantity.ENERGY, 2**40, exponent=1, coding=Coding.INT64),
        mbus.make_record(Quantity.ON_TIME, 32400),
    )
    resp = VariableDataResponse(12345678, "KAM", 1, 2, records=records)
    telegram = meterbus.load(mbus.encode(mbus.rsp_ud(5, resp)))
    for theirs, ours in zip(telegram.records, records, strict=True):
        assert_record_agrees(theirs, ours)


def test_pymeterbus_reads_our_date_time_and_fabrication_number() -> None:
    from datetime import datetime

    records = (
        mbus.date_time_record(datetime(2024, 4, 7, 12, 28)),
        mbus.make_record(Quantity.FABRICATION_NUMBER, 32629, coding=Coding.BCD8),
    )
    telegram = meterbus.load(mbus.encode(mbus.rsp_ud(5, VariableDataResponse(1, "KAM", 1, 2, records=records))))
    clock, fabrication = (r.interpreted for r in telegram.records)
    assert clock["value"] == "2024-04-07T12:28"
    assert fabrication["value"] == 32629 and fabrication["type"] == "VIFUnit.FABRICATION_NO"


def test_pymeterbus_follows_our_multi_telegram_readout() -> None:
    records = mbus.encode_readings(READINGS) * 2
    chunks = mbus.split_records(records)
    assert len(chunks) == 2
    telegrams = []
    for n, chunk in enumerate(chunks):
        resp = VariableDataResponse(14839120, "KAM", 0x30, 2, access_number=n, records=tuple(chunk))
        telegram = meterbus.load(mbus.encode(mbus.rsp_ud(1, resp)))
        assert telegram.more_records_follow is (n < len(chunks) - 1)
        telegrams.append(telegram)
    whole = telegrams[0] + telegrams[1]  # pyMeterBus's own reassembly drops the 1F marker
    assert len(whole.records) == len(records)
    for theirs, ours in zip(whole.records, records, strict=True):
        assert_record_agrees(theirs, ours)


def test_pymeterbus_accepts_our_short_and_control_frames() -> None:
    for frame, c in ((mbus.req_ud2(5), 0x5B), (mbus.req_ud2(5, fcb=True), 0x7B), (mbus.snd_nke(250), 0x40)):
        telegram = meterbus.load(mbus.encode(frame))
        assert isinstance(telegram, meterbus.TelegramShort)
        assert telegram.check_crc()
        assert telegram.header.cField.parts == [c] and telegram.header.aField.parts == [frame.a]
        assert list(telegram) == list(mbus.encode(frame))
    assert isinstance(meterbus.load(mbus.encode(mbus.Ack())), meterbus.TelegramACK)
    reset = meterbus.load(mbus.encode(mbus.snd_ud(0xFE, mbus.CI_APPLICATION_RESET)))
    assert isinstance(reset, meterbus.TelegramControl)
    assert reset.header.cField.parts == [0x53] and reset.header.aField.parts == [0xFE]


def test_our_master_frames_equal_pymeterbus_builders() -> None:
    assert bytes(meterbus.send_request_frame(None, address=5)) == mbus.encode(mbus.req_ud2(5))
    assert bytes(meterbus.send_request_frame_multi(None, address=5)) == mbus.encode(mbus.req_ud2(5, fcb=True))
    port = FakeSerial()
    meterbus.send_ping_frame(port, 7)
    assert port.written == mbus.encode(mbus.snd_nke(7))


@pytest.mark.parametrize(
    ("secondary", "mask"),
    [
        ("148391202D2C3002", SelectionMask.exact(14839120, "KAM", 0x30, 2)),
        ("1483912FFFFFFFFF", SelectionMask("1483912F")),
        ("FFFFFFFF2D2CFF02", SelectionMask(manufacturer="KAM", medium=2)),
        ("FFFFFFFFFFFFFFFF", SelectionMask()),
    ],
)
def test_our_selection_telegram_equals_pymeterbus(secondary: str, mask: SelectionMask) -> None:
    port = FakeSerial()
    meterbus.send_select_frame(port, secondary)  # pyMeterBus sets FCB in its selection frame
    assert port.written == mbus.encode(mbus.select(mask, fcb=True))
    assert mbus.decode_selection(mbus.decode(port.written)) == mask


def test_our_selection_matches_what_pymeterbus_reports_as_secondary_address() -> None:
    resp, wire = our_rsp_ud()
    secondary = meterbus.load(wire).secondary_address
    port = FakeSerial()
    meterbus.send_select_frame(port, secondary)
    mask = mbus.decode_selection(mbus.decode(port.written))
    assert mbus.matches(mask, resp.id, resp.manufacturer, resp.version, resp.medium)


@pytest.mark.reference("mbus")
@pytest.mark.parametrize("stem", stems("mbus"))
def test_pymeterbus_and_we_agree_on_the_reference_frames(stem: str) -> None:
    wire = bytes.fromhex((REFERENCE / f"{stem}.hex").read_text().strip())
    ours = mbus.decode_rsp_ud(mbus.decode(wire))
    theirs = meterbus.load(wire)
    assert theirs.manufacturer == ours.manufacturer
    assert "".join(f"{b:02X}" for b in theirs.body.bodyHeader.id_nr) == ours.id_text
    assert len(theirs.records) == len(ours.records)
    for t, o in zip(theirs.records, ours.records, strict=True):
        view = t.interpreted
        if o.coding is Coding.MANUFACTURER:
            assert view["function"] == "FunctionType.SPECIAL_FUNCTION"
            assert isinstance(o.raw, bytes) and view["value"] == o.raw.hex(" ").upper()
            continue
        has_dife = o.encode()[0] & 0x80
        assert view["function"] == PYMETERBUS_FUNCTIONS[o.function]
        assert (view["storage_number"], view.get("tariff"), view.get("device")) == (
            o.storage, o.tariff if has_dife else None, o.subunit if has_dife else None,
        )  # fmt: skip
        assert same_number(view["value"], o.value)
