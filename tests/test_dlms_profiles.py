"""The meter's loggers as COSEM Profile Generic objects, judged by an independent client: dlms-cosem's `DlmsClient`
reads the buffers whole, by range of time and by entry, and gets what MQTT's `get {"log": …}` gets
(`meter_sim.log_export.query_log`) for the same span; their columns are objects of the association's object list;
a selective access the meter cannot answer gets a data-access-result, and no parameters make the server raise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import attr
import pytest
from dlms_cosem import cosem, enumerations
from dlms_cosem.client import DlmsClient
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.time import datetime_from_bytes, datetime_to_bytes
from dlms_harness import START, ServedMeter, value
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.log_export import query_log
from meter_sim.meter import Meter
from meter_sim.modules.dlms_server import DlmsAssociation
from meter_sim.warp import warp_to
from omnipower import dlms_apdu as ap
from omnipower.cosem import cosem_objects
from omnipower.dlms import Data, DataType
from omnipower.loggers import LOGGERS, LOGGERS_BY_NAME
from omnipower.obis import logical_name
from omnipower.registers import REGISTERS_BY_OBIS

CET = timezone(timedelta(hours=1))  # the meter's standard time (Z11 = 01), in which its loggers keep their time
PROFILE = enumerations.CosemInterface.PROFILE_GENERIC
CLOCK_COLUMN = CaptureObject(cosem.CosemAttribute(enumerations.CosemInterface.CLOCK,
                                                  cosem.Obis(0, 1, 1, 0, 0, 255), 2))
LOAD_PROFILE = cosem.Obis(1, 1, 99, 1, 0, 255)
PROFILES = tuple(lg for lg in LOGGERS if lg.obis is not None)


@pytest.fixture(scope="module")
def served() -> Iterator[ServedMeter]:
    """A meter that ran three days, with a disconnection and a reconnection on the last morning."""
    meter = Meter("profiles", MeterSimSettings(), SteppedClock(START))
    meter.advance_to(START + 3 * 86400)
    meter.breaker_command("disconnect")
    meter.advance_to(START + 3 * 86400 + 600)
    meter.breaker_command("connect")
    meter.advance_to(START + 3 * 86400 + 1200)
    with ServedMeter(meter) as server:
        yield server


def attribute(ln: cosem.Obis, index: int, interface: enumerations.CosemInterface = PROFILE) -> cosem.CosemAttribute:
    return cosem.CosemAttribute(interface, ln, index)


def obis_of(text: str) -> cosem.Obis:
    return cosem.Obis(*logical_name(text))


def time_of(raw: bytes) -> datetime:
    return datetime_from_bytes(bytes(raw))[0]


@attr.s(auto_attribs=True)
class RawDescriptor:
    """A Selective-Access-Descriptor written out by hand: what dlms-cosem has no class for (an entry descriptor, a
    range with selected values) or would refuse to send (bad parameters)."""

    raw: bytes

    def to_bytes(self) -> bytes:
        return self.raw


def entry_descriptor(first: int, last: int, first_column: int = 1, last_column: int = 0) -> RawDescriptor:
    return RawDescriptor(b"\x02\x02\x04\x06" + first.to_bytes(4, "big") + b"\x06" + last.to_bytes(4, "big")
                         + b"\x12" + first_column.to_bytes(2, "big") + b"\x12" + last_column.to_bytes(2, "big"))


def definition(class_id: int, ln: bytes, index: int) -> bytes:
    return b"\x02\x04\x12" + class_id.to_bytes(2, "big") + b"\x09\x06" + ln + b"\x0f" + bytes([index]) + b"\x12\x00\x00"


def range_descriptor(restricting: bytes, start: datetime, end: datetime,
                     selected: tuple[bytes, ...] = ()) -> RawDescriptor:
    return RawDescriptor(b"\x01\x02\x04" + restricting + b"\x09\x0c" + datetime_to_bytes(start) + b"\x09\x0c"
                         + datetime_to_bytes(end) + b"\x01" + bytes([len(selected)]) + b"".join(selected))


def scalers(client: DlmsClient, columns: list[list[Any]]) -> dict[bytes, int]:
    """Each register column's scaler, as its object says (attribute 3)."""
    out = {}
    for class_id, ln, _, _ in columns:
        if class_id in (3, 4):
            interface = enumerations.CosemInterface(class_id)
            out[bytes(ln)] = value(client.get(attribute(cosem.Obis(*ln), 3, interface)))[0]
    return out


def test_the_load_profile_read_by_range_is_what_query_log_gives(served: ServedMeter) -> None:
    start, end = datetime(2026, 3, 3, 10, 0, tzinfo=CET), datetime(2026, 3, 4, 10, 0, tzinfo=CET)
    with served.client().session() as client:
        columns = value(client.get(attribute(LOAD_PROFILE, 3)))
        scale = scalers(client, columns)
        rows = value(client.get(attribute(LOAD_PROFILE, 2),
                                access_descriptor=RangeDescriptor(CLOCK_COLUMN, start, end)))
    # the range includes both ends; query_log's end is exclusive
    expected, total = query_log(served.meter, "load_profile", int(start.timestamp()), int(end.timestamp()) + 1,
                                limit=1000)
    assert len(rows) == total == 97  # 24 h of 15-min periods, both ends
    codes = [".".join(str(b) for b in bytes(ln)[2:5]) if class_id == 3 else None for class_id, ln, _, _ in columns]
    assert [c for c in codes if c] == list(served.meter.load_profile.channels)
    assert (columns[-1][0], bytes(columns[-1][1])) == (1, bytes((0, 0, 96, 10, 1, 255)))  # the status word
    energy = 0.0
    for row, entry in zip(rows, expected, strict=True):
        assert time_of(row[0]) == datetime.fromisoformat(entry["time"])
        assert bytes(row[0])[9:12] == b"\xff\xc4\x00"  # deviation -60 min: standard time, no DST flag
        for cell, (class_id, ln, _, _), code in zip(row[1:-1], columns[1:-1], codes[1:-1], strict=True):
            assert class_id == 3 and code is not None
            resolution = 10.0 ** scale[bytes(ln)] / 1000.0  # a count in kWh
            assert cell * 10.0 ** scale[bytes(ln)] / 1000.0 == pytest.approx(entry[code], abs=resolution / 2 + 1e-9)
            energy += entry[code]
        assert row[-1] == entry["status"]
    assert energy > 1.0  # a day of a household: the values mean something


def test_capture_objects_are_objects_of_the_object_list(served: ServedMeter) -> None:
    with served.client().session() as client:
        listed = {(e[0], bytes(e[2])) for e in value(client.get(
            attribute(cosem.Obis(0, 0, 40, 0, 0, 255), 2, enumerations.CosemInterface.ASSOCIATION_LN)))}
        described = {lg.name: [value(client.get(attribute(obis_of(lg.obis or ""), a))) for a in (3, 4, 5, 7, 8)]
                     for lg in PROFILES}
    assert {(7, logical_name(lg.obis or "")) for lg in PROFILES} <= listed
    assert listed == {(int(o.class_id), o.logical_name) for o in cosem_objects(served.meter.registers)}
    for name, (columns, _, sort_method, in_use, depth) in described.items():
        assert columns[0] == [8, b"\x00\x01\x01\x00\x00\xff", 2, 0], name  # the clock first
        assert all((c[0], bytes(c[1])) in listed for c in columns), name
        assert sort_method == 1  # fifo
        assert in_use == len(query_log(served.meter, name, limit=None)[0]), name
        capacity = LOGGERS_BY_NAME[name].capacity
        assert depth == (capacity if capacity is not None else getattr(served.meter, name).capacity), name
    lp_columns, lp_period = described["load_profile"][:2]
    assert lp_period == 900 and len(lp_columns) == 1 + len(served.meter.load_profile.channels) + 1
    billing = described["billing"][0]
    assert [4, bytes((1, 1, 1, 6, 0, 255)), 5, 0] in [[c[0], bytes(c[1]), c[2], c[3]] for c in billing]  # P+max time
    assert [c[0] for c in described["meter_status"][0]] == [8, 1, 1]  # clock, event, details
    assert described["analysis"][1] == served.meter.analysis.interval_s
    assert described["debiting_logger_2"][1] == 86400  # Z25 = 1: daily


def test_the_load_profile_read_by_entry(served: ServedMeter) -> None:
    everything, total = query_log(served.meter, "load_profile", limit=None)
    with served.client().session() as client:
        some = value(client.get(attribute(LOAD_PROFILE, 2), access_descriptor=entry_descriptor(2, 4, 1, 2)))
        tail = value(client.get(attribute(LOAD_PROFILE, 2), access_descriptor=entry_descriptor(total - 1, 0)))
        beyond = value(client.get(attribute(LOAD_PROFILE, 2), access_descriptor=entry_descriptor(total + 1, 0)))
        whole = value(client.get(attribute(LOAD_PROFILE, 2)))
    assert len(some) == 3 and all(len(row) == 2 for row in some)  # entries 2–4, the clock and A+
    for row, entry in zip(some, everything[1:4], strict=True):
        assert time_of(row[0]) == datetime.fromisoformat(entry["time"])
        assert row[1] / 100 == pytest.approx(entry["1.8.0"], abs=0.005 + 1e-9)
    assert [time_of(r[0]) for r in tail] == [datetime.fromisoformat(e["time"]) for e in everything[-2:]]
    assert beyond == []
    assert len(whole) == total == 3 * 96 + 1  # 08:15 on the first day to 08:15 on the fourth


def test_a_range_with_selected_values_gives_those_columns(served: ServedMeter) -> None:
    start, end = datetime(2026, 3, 3, 0, 0, tzinfo=CET), datetime(2026, 3, 3, 1, 0, tzinfo=CET)
    clock, a_plus = definition(8, bytes((0, 1, 1, 0, 0, 255)), 2), definition(3, bytes((1, 1, 1, 8, 0, 255)), 2)
    with served.client().session() as client:
        rows = value(client.get(attribute(LOAD_PROFILE, 2),
                                access_descriptor=range_descriptor(clock, start, end, (a_plus, clock))))
    expected, _ = query_log(served.meter, "load_profile", int(start.timestamp()), int(end.timestamp()) + 1)
    assert [time_of(r[1]) for r in rows] == [datetime.fromisoformat(e["time"]) for e in expected]
    assert [r[0] for r in rows] == [round(e["1.8.0"] * 100) for e in expected]


def test_the_monthly_debiting_logger_after_two_month_ends() -> None:
    begin = datetime.fromisoformat("2026-03-30T12:00:00+00:00").timestamp()
    meter = Meter("billing", MeterSimSettings(), SteppedClock(begin))
    warp_to(meter, datetime.fromisoformat("2026-05-01T06:00:00+00:00").timestamp())  # as advance_to, faster
    with ServedMeter(meter) as server, server.client().session() as client:
        ln = obis_of("1.1.98.1.0.255")
        columns = value(client.get(attribute(ln, 3)))
        rows = value(client.get(attribute(ln, 2)))
        since_april = value(client.get(attribute(ln, 2), access_descriptor=RangeDescriptor(
            CLOCK_COLUMN, datetime(2026, 4, 2, tzinfo=CET), datetime(2026, 6, 1, tzinfo=CET))))
        scale = scalers(client, columns)
    expected, _ = query_log(meter, "billing", limit=None)
    assert [time_of(r[0]) for r in rows] == [datetime(2026, 4, 1, tzinfo=CET), datetime(2026, 5, 1, tzinfo=CET)]
    assert since_april == rows[1:]
    for row, entry in zip(rows, expected, strict=True):
        snapshot = entry["registers"]
        cells = {(bytes(c[1]), c[2]): cell for c, cell in zip(columns, row, strict=True)}
        assert cells[(logical_name(REGISTERS_BY_OBIS["96.8.0"].logical_name), 2)] == snapshot["96.8.0"]  # hours
        assert cells[(logical_name(REGISTERS_BY_OBIS["0.1.0"].logical_name), 2)] == snapshot["0.1.0"]  # 1, then 2
        for code in ("1.8.0", "2.8.0", "3.8.0", "1.8.1", "9.8.0"):
            ln_bytes = logical_name(REGISTERS_BY_OBIS[code].logical_name)
            count = cells[(ln_bytes, 2)] * 10.0 ** scale[ln_bytes] / 1000.0
            assert count == pytest.approx(snapshot[code], abs=10.0 ** scale[ln_bytes] / 2000.0 + 1e-9), code
        peak = logical_name(REGISTERS_BY_OBIS["1.6.0"].logical_name)
        assert cells[(peak, 2)] == snapshot["1.6.0"]  # W, scaler 0
        assert time_of(cells[(peak, 5)]) == datetime.fromisoformat(snapshot["1.6.0.t"])


def test_an_event_log(served: ServedMeter) -> None:
    ln = obis_of("1.1.99.98.5.255")
    with served.client().session() as client:
        columns = value(client.get(attribute(ln, 3)))
        rows = value(client.get(attribute(ln, 2)))
        newest = value(client.get(attribute(cosem.Obis(*bytes(columns[1][1])), 2, enumerations.CosemInterface.DATA)))
    expected, _ = query_log(served.meter, "disconnect", limit=None)
    assert [bytes(c[1]) for c in columns] == [bytes((0, 1, 1, 0, 0, 255)), bytes((0, 0, 96, 11, 5, 255)),
                                            bytes((0, 0, 96, 11, 133, 255))]
    assert [r[1] for r in rows] == [e["type"] for e in expected] == ["disconnected", "connected"]
    assert newest == "connected"
    for row, entry in zip(rows, expected, strict=True):
        assert time_of(row[0]) == datetime.fromisoformat(entry["time"])
        detail = {k: v for k, v in entry.items() if k not in ("time", "type", "log")}
        assert json.loads(row[2]) == detail and detail["reason"]


def test_a_range_with_no_entries_gives_an_empty_array(served: ServedMeter) -> None:
    with served.client().session() as client:
        for start, end in ((datetime(2025, 1, 1, tzinfo=CET), datetime(2025, 2, 1, tzinfo=CET)),
                           (datetime(2026, 3, 4, 10, 1, tzinfo=CET), datetime(2026, 3, 4, 10, 14, tzinfo=CET)),
                           (datetime(2026, 3, 4, tzinfo=CET), datetime(2026, 3, 3, tzinfo=CET))):  # upside down
            assert value(client.get(attribute(LOAD_PROFILE, 2),
                                    access_descriptor=RangeDescriptor(CLOCK_COLUMN, start, end))) == []


@pytest.mark.parametrize(("descriptor", "error"), [
    (RawDescriptor(b"\x03\x00"), "SCOPE_OF_ACCESS_VIOLATED"),  # no selector 3
    (RawDescriptor(b"\x02\x02\x02\x06\x00\x00\x00\x01\x06\x00\x00\x00\x02"), "TYPE_UNMATCHED"),  # two elements
    (RawDescriptor(b"\x02\x02\x04\x0a\x01x\x06\x00\x00\x00\x02\x12\x00\x01\x12\x00\x00"), "TYPE_UNMATCHED"),
    (entry_descriptor(0, 2), "SCOPE_OF_ACCESS_VIOLATED"),  # entries count from 1
    (entry_descriptor(5, 2), "SCOPE_OF_ACCESS_VIOLATED"),
    (entry_descriptor(1, 2, 2, 9), "SCOPE_OF_ACCESS_VIOLATED"),  # the load profile has 6 columns
    (range_descriptor(definition(3, bytes((1, 1, 1, 8, 0, 255)), 2), datetime(2026, 3, 3, tzinfo=CET),
                      datetime(2026, 3, 4, tzinfo=CET)), "OTHER_REASON"),  # restricted by A+, not by time
    (range_descriptor(definition(3, bytes((1, 1, 9, 9, 9, 255)), 2), datetime(2026, 3, 3, tzinfo=CET),
                      datetime(2026, 3, 4, tzinfo=CET)), "SCOPE_OF_ACCESS_VIOLATED"),  # not a column
    (RawDescriptor(b"\x01\x02\x04" + definition(8, bytes((0, 1, 1, 0, 0, 255)), 2) + b"\x09\x0c" + b"\xff" * 12
                   + b"\x09\x0c" + datetime_to_bytes(datetime(2026, 3, 4, tzinfo=CET)) + b"\x01\x00"),
     "TYPE_UNMATCHED"),  # a from_value that names no instant
])
def test_bad_selective_access_gets_a_data_access_result(served: ServedMeter, descriptor: RawDescriptor,
                                                         error: str) -> None:
    with served.client().session() as client:
        with pytest.raises(Exception, match=error):
            client.get(attribute(LOAD_PROFILE, 2), access_descriptor=descriptor)
        with pytest.raises(Exception, match="SCOPE_OF_ACCESS_VIOLATED"):  # only the buffer has selective access
            client.get(attribute(LOAD_PROFILE, 3), access_descriptor=entry_descriptor(1, 0))
        assert value(client.get(attribute(LOAD_PROFILE, 7))) == len(served.meter.load_profile)  # still associated


# --- any parameters, sans-IO ---------------------------------------------------------------------------------

def _associated() -> DlmsAssociation:
    meter = Meter("fuzz", MeterSimSettings(), SteppedClock(START))
    meter.advance_to(START + 3 * 3600)
    association = DlmsAssociation(meter, 16)
    aarq = ap.Aarq(user_information=ap.InitiateRequest(
        proposed_conformance=ap.Conformance.GET | ap.Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ))
    assert ap.decode_apdu(association.handle(aarq.to_bytes())).result is ap.AssociationResult.ACCEPTED  # type: ignore[union-attr]
    return association


_ASSOCIATED = _associated()
_COLUMNS = [Data.structure(Data(DataType.LONG_UNSIGNED, c), Data(DataType.OCTET_STRING, bytes(ln)),
                           Data(DataType.INTEGER, a), Data(DataType.LONG_UNSIGNED, 0))
            for c, ln, a in ((8, (0, 1, 1, 0, 0, 255), 2), (3, (1, 1, 1, 8, 0, 255), 2), (1, (0, 0, 96, 10, 1, 255), 2),
                             (4, (1, 1, 1, 6, 0, 255), 5))]
_INTS = st.sampled_from([DataType.DOUBLE_LONG_UNSIGNED, DataType.LONG_UNSIGNED, DataType.UNSIGNED, DataType.INTEGER,
                         DataType.DOUBLE_LONG, DataType.LONG64])
_BOUNDS = {DataType.DOUBLE_LONG_UNSIGNED: (0, 2**32 - 1), DataType.LONG_UNSIGNED: (0, 0xFFFF),
           DataType.UNSIGNED: (0, 0xFF), DataType.INTEGER: (-128, 127), DataType.DOUBLE_LONG: (-(2**31), 2**31 - 1),
           DataType.LONG64: (-(2**63), 2**63 - 1)}
_integers = _INTS.flatmap(lambda kind: st.integers(*_BOUNDS[kind]).map(lambda v: Data(kind, v)))
_date_times = st.one_of(
    st.binary(min_size=12, max_size=12),
    st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(CET)).map(datetime_to_bytes),
    st.binary(max_size=14)).map(lambda raw: Data(DataType.OCTET_STRING, raw))
_scalars = st.one_of(_integers, _date_times, st.just(Data(DataType.NULL_DATA)),
                     st.text(max_size=5).map(lambda v: Data(DataType.UTF8_STRING, v)), st.sampled_from(_COLUMNS))
_data = st.recursive(_scalars, lambda inner: st.tuples(st.sampled_from([DataType.ARRAY, DataType.STRUCTURE]),
                                                        st.lists(inner, max_size=5)).map(
    lambda kind_items: Data(kind_items[0], tuple(kind_items[1]))), max_leaves=12)
_ranges = st.tuples(st.sampled_from(_COLUMNS), _date_times, _date_times,
                    st.lists(st.sampled_from(_COLUMNS), max_size=3)).map(
    lambda p: Data.structure(p[0], p[1], p[2], Data.array(*p[3])))
_entries = st.tuples(_integers, _integers, _integers, _integers).map(lambda p: Data.structure(*p))
_selections = st.one_of(st.tuples(st.just(1), _ranges), st.tuples(st.just(2), _entries),
                        st.tuples(st.integers(0, 255), _data)).map(lambda s: ap.AccessSelection(*s))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PROFILES), st.integers(1, 9), _selections)
def test_any_selective_access_gets_an_answer_and_never_an_exception(logger: Any, index: int,
                                                                    access: ap.AccessSelection) -> None:
    request = ap.GetRequestNormal(attribute=ap.AttributeDescriptor(7, logical_name(logger.obis), index), access=access)
    answer = ap.decode_apdu(_ASSOCIATED.handle(request.to_bytes()))
    assert isinstance(answer, ap.GetResponseNormal | ap.GetResponseWithBlock)
    if isinstance(answer, ap.GetResponseNormal) and isinstance(answer.result, Data):
        assert index == 2 and answer.result.type is DataType.ARRAY
