"""The meter's setup as COSEM objects, judged by dlms-cosem's `DlmsClient`: the Activity Calendar and Special Days
Table read back as the tariff calendar the meter runs (checked by an evaluator written here from the Blue Book's
rules, not from the server's code), Security Setup's titles and no key, the HAN Push Setups' object lists, and a
SET of the passive calendar and its activation through the MQTT `configure` command's validation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dlms_cosem import cosem, enumerations
from dlms_cosem.client import ActionError, DataResultError, DlmsClient
from dlms_cosem.time import datetime_from_bytes, datetime_to_bytes
from dlms_harness import (
    AK,
    CLIENT_TITLE,
    EK,
    PASSWORD,
    START,
    ServedMeter,
    management_association,
    simulator_client,
    stepped_meter,
    value,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.dlms_server import DlmsAssociation, system_title
from omnipower import dlms_apdu as ap
from omnipower.dlms import Data, DataType, encode_data
from omnipower.han import HAN_LISTS, HanListKind

Interface = enumerations.CosemInterface
CALENDAR_LN = cosem.Obis(0, 0, 13, 0, 0, 255)
SPECIAL_DAYS_LN = cosem.Obis(0, 0, 11, 0, 0, 255)
SECURITY_LN = cosem.Obis(0, 0, 43, 0, 0, 255)
SCRIPTS = bytes((0, 0, 10, 0, 100, 255))
# Two seasons (winter recurring twice a year), three day types, a holiday plan of its own, dated and yearly holidays
CALENDAR = {
    "day_plans": {"weekday": {"00:00": 1, "06:00": 2, "22:00": 1}, "weekend": {"00:00": 1, "10:30": 3},
                  "summer": {"07:00": 2, "21:00": 1}, "holiday": {"00:00": 4}},
    "seasons": [{"start": ["01-01", "10-01"], "working": "weekday", "non_working": "weekend", "holiday": "holiday"},
                {"start": "04-01", "working": "summer", "non_working": "weekend", "holiday": "weekend"}],
    "exception_days": ["12-25", "2026-05-14", "2026-01-01"],
}


SETTINGS = {"dlms": {"password": PASSWORD, "encryption_key": EK, "authentication_key": AK}, "z20": 1,
            "tariff_calendar": CALENDAR}


@pytest.fixture
def served() -> Iterator[ServedMeter]:
    # Monday 2 March 2026, 15:00 CET
    with ServedMeter(stepped_meter("dlms1", SETTINGS, hours=6)) as server:
        yield server


def read(client: DlmsClient, interface: enumerations.CosemInterface, ln: cosem.Obis, attribute: int) -> Any:
    return value(client.get(cosem.CosemAttribute(interface, ln, attribute)))


# --- an Activity Calendar evaluator, from the Blue Book (class 20, class 11) ---------------------------------------
class CosemCalendarJudge:
    """The tariff an Activity Calendar and Special Days Table select at a local time: the season of the latest
    season_start on or before the date (the year's last carried over from the year before), its week profile's day
    for the weekday unless a special day names one, that day's latest action at or before the time, else the
    previous day's last action."""

    def __init__(self, seasons: list[Any], weeks: list[Any], days: list[Any], specials: list[Any]) -> None:
        self.starts = sorted(((bytes(start)[2], bytes(start)[3]), bytes(week)) for _, start, week in seasons)
        self.weeks = {bytes(w[0]): w[1:] for w in weeks}
        self.days = {d[0]: sorted((bytes(a[0])[0] * 60 + bytes(a[0])[1], a[2]) for a in d[1]) for d in days}
        self.specials = [(int.from_bytes(bytes(raw)[:2], "big"), bytes(raw)[2], bytes(raw)[3], day_id)
                         for _, raw, day_id in specials]

    def day_id(self, day: date) -> int:
        for year, month, dom, day_id in self.specials:
            if year in (0xFFFF, day.year) and (month, dom) == (day.month, day.day):
                return int(day_id)
        week = self.starts[-1][1]
        for start, name in self.starts:
            if start <= (day.month, day.day):
                week = name
        return int(self.weeks[week][day.weekday()])

    def tariff(self, when: datetime) -> int:
        minute = when.hour * 60 + when.minute
        switched = [t for m, t in self.days[self.day_id(when.date())] if m <= minute]
        if switched:
            return int(switched[-1])
        return int(self.days[self.day_id(when.date() - timedelta(days=1))][-1][1])


def judge_of(client: DlmsClient, first: int = 3) -> CosemCalendarJudge:
    seasons, weeks, days = (read(client, Interface.ACTIVITY_CALENDAR, CALENDAR_LN, a) for a in range(first, first + 3))
    return CosemCalendarJudge(seasons, weeks, days, read(client, Interface.SPECIAL_DAYS_TABLE, SPECIAL_DAYS_LN, 2))


def test_the_activity_calendar_is_the_calendar_the_meter_runs(served: ServedMeter) -> None:
    with served.client().session() as client:
        name = read(client, Interface.ACTIVITY_CALENDAR, CALENDAR_LN, 2)
        judge = judge_of(client)
        passive = judge_of(client, 7)  # nothing written: the passive calendar is the active one
        activation = read(client, Interface.ACTIVITY_CALENDAR, CALENDAR_LN, 10)
    assert name == b"plan 1" and activation == b"\xff" * 9 + b"\x80\x00\xff"
    calendar = served.meter.tariffs.calendar
    # every day plan the calendar uses, switch for switch (in minutes), with the tariffs as script selectors
    model_days = {tuple((int(k[:2]) * 60 + int(k[3:]), t) for k, t in sorted(v.items()))
                  for v in calendar.day_plans.values()}
    assert {tuple(d) for d in judge.days.values()} == model_days
    when = datetime(2026, 1, 1)
    while when < datetime(2027, 1, 10):  # a year and more, every half hour: seasons, weekends, holidays
        assert judge.tariff(when) == calendar.tariff_at(when) == passive.tariff(when), when
        when += timedelta(minutes=30)


def test_the_special_days_are_the_exception_days_with_their_season_s_holiday_plan(served: ServedMeter) -> None:
    with served.client().session() as client:
        entries = read(client, Interface.SPECIAL_DAYS_TABLE, SPECIAL_DAYS_LN, 2)
        days = {d[0]: d[1] for d in read(client, Interface.ACTIVITY_CALENDAR, CALENDAR_LN, 5)}
    assert [(e[0], bytes(e[1])[:4]) for e in entries] == [(1, b"\xff\xff\x0c\x19"), (2, b"\x07\xea\x05\x0e"),
                                                        (3, b"\x07\xea\x01\x01")]
    holiday = [[bytes((0, 0, 0, 0)), SCRIPTS, 4]]
    weekend = [[bytes((0, 0, 0, 0)), SCRIPTS, 1], [bytes((10, 30, 0, 0)), SCRIPTS, 3]]
    # Christmas and New Year in winter take the holiday plan; 14 May in summer the weekend plan
    assert [[[*map(bytes, a[:2]), a[2]] for a in days[e[2]]] for e in entries] == [holiday, weekend, holiday]


def test_security_setup_gives_the_titles_and_never_a_key(served: ServedMeter) -> None:
    keys = (bytes.fromhex(EK), bytes.fromhex(AK), PASSWORD.encode())
    with served.client().session() as client:
        public = [read(client, Interface.SECURITY_SETUP, SECURITY_LN, a) for a in (2, 3, 4, 5)]
        with pytest.raises(Exception, match="OBJECT_UNDEFINED"):
            client.get(cosem.CosemAttribute(Interface.SECURITY_SETUP, SECURITY_LN, 6))
    with served.client(1, keys=(EK, AK)).session() as client:
        raw = [client.get(cosem.CosemAttribute(Interface.SECURITY_SETUP, SECURITY_LN, a)) for a in (2, 3, 4, 5)]
        meter_title = client.dlms_connection.meter_system_title
    assert public == [0, 0, b"", system_title("dlms1")]  # no ciphering in this association, suite 0
    assert [value(r) for r in raw] == [3, 0, CLIENT_TITLE, meter_title]  # authenticated and encrypted
    assert meter_title == system_title("dlms1")
    assert not any(key in r for key in keys for r in raw)


@pytest.mark.parametrize(("ln", "kind"), [(cosem.Obis(0, 1, 25, 9, 0, 255), HanListKind.LIST_1),
                                          (cosem.Obis(0, 2, 25, 9, 0, 255), HanListKind.LIST_2)])
def test_push_setup_lists_the_han_list_and_is_read_only(served: ServedMeter, ln: cosem.Obis,
                                                        kind: HanListKind) -> None:
    with served.client(1, PASSWORD).session() as client:
        objects = read(client, Interface.PUSH, ln, 2)
        rest = [read(client, Interface.PUSH, ln, a) for a in (3, 4, 5, 6, 7)]
        refused = client.set(cosem.CosemAttribute(Interface.PUSH, ln, 5), encode_data(Data(DataType.LONG_UNSIGNED, 9)))
    expected = [bytes((1, 1, 0, 2, 129, 255)), *(bytes(int(p) for p in o.obis.split(".")) for o in HAN_LISTS[kind])]
    assert [bytes(o[1]) for o in objects] == expected  # the list version first, then the list's objects in order
    assert all(o[2:] == [2, 0] for o in objects)
    classes = {bytes(o[1]): o[0] for o in objects}  # the object model's classes; Data for the identifiers
    assert classes[bytes((1, 1, 0, 0, 5, 255))] == 1 and classes[bytes((1, 1, 1, 7, 0, 255))] == 3
    assert classes.get(bytes((0, 1, 1, 0, 0, 255)), 8) == 8
    assert rest == [[5, b"21", 0], [], 0, 0, 0]  # HDLC to client 21, always open, no retries (§10.4)
    assert refused.result is enumerations.DataAccessResult.READ_WRITE_DENIED


def test_the_object_list_gives_each_client_its_rights(served: ServedMeter) -> None:
    def rights(client: DlmsClient) -> dict[bytes, Any]:
        entries = read(client, Interface.ASSOCIATION_LN, cosem.Obis(0, 0, 40, 0, 0, 255), 2)
        return {bytes(e[2]): ([a[1] for a in e[3][0]], [m[1] for m in e[3][1]]) for e in entries}

    with served.client().session() as client:
        public = rights(client)
    with served.client(1, PASSWORD).session() as client:
        management = rights(client)
    calendar, push = bytes((0, 0, 13, 0, 0, 255)), bytes((0, 1, 25, 9, 0, 255))
    assert public[calendar] == ([1] * 10, [0])
    assert management[calendar] == ([1] * 5 + [3] * 5, [1])  # the passive calendar and its activation
    for ln in (push, bytes((0, 0, 43, 0, 0, 255)), bytes((0, 0, 11, 0, 0, 255))):
        assert public[ln] == management[ln] and set(management[ln][0]) == {1} and management[ln][1] == []


# --- SET of the passive calendar -----------------------------------------------------------------------------------
def octets(raw: bytes) -> Data:
    return Data(DataType.OCTET_STRING, raw)


def season(name: bytes, month: int, day: int, week: bytes) -> Data:
    start = bytes((0xFF, 0xFF, month, day, 0xFF, 0, 0, 0, 0, 0x80, 0x00, 0xFF))
    return Data.structure(octets(name), octets(start), octets(week))


def week(name: bytes, *ids: int) -> Data:
    return Data.structure(octets(name), *(Data(DataType.UNSIGNED, i) for i in ids))


def day(day_id: int, *switches: tuple[int, int, int]) -> Data:
    return Data.structure(Data(DataType.UNSIGNED, day_id), Data.array(*(
        Data.structure(octets(bytes((h, m, 0, 0))), octets(SCRIPTS), Data(DataType.LONG_UNSIGNED, t))
        for h, m, t in switches)))


PASSIVE = {  # T3 by day in winter, summer from April with a midday T4; working days and weekends alike
    6: octets(b"dlms"),
    7: Data.array(season(b"winter", 1, 1, b"w"), season(b"summer", 4, 1, b"s")),
    8: Data.array(week(b"w", *[1] * 7), week(b"s", *[2] * 7)),
    9: Data.array(day(1, (0, 0, 1), (6, 0, 3)), day(2, (0, 0, 3), (12, 0, 4))),
}


def set_passive(client: DlmsClient, values: dict[int, Data]) -> list[enumerations.DataAccessResult]:
    return [client.set(cosem.CosemAttribute(Interface.ACTIVITY_CALENDAR, CALENDAR_LN, a), encode_data(v)).result
            for a, v in values.items()]


def activate(client: DlmsClient) -> None:
    client.action(cosem.CosemMethod(Interface.ACTIVITY_CALENDAR, CALENDAR_LN, 1), b"\x0f\x00")


def test_a_valid_passive_calendar_activated_runs_the_meter_s_tariffs(served: ServedMeter) -> None:
    meter = served.meter
    assert meter.tariffs.active == 2  # the winter weekday plan at 15:00
    with served.client(1, PASSWORD).session() as client:
        assert set_passive(client, PASSIVE) == [enumerations.DataAccessResult.SUCCESS] * 4
        assert meter.tariffs.active == 2  # written, not yet active
        written = judge_of(client, 7)
        activate(client)
        active = judge_of(client)
        assert read(client, Interface.ACTIVITY_CALENDAR, CALENDAR_LN, 2) == b"plan 1"
    assert meter.tariffs.active == 3  # at once: winter's day 1 gives T3 after 06:00
    calendar = meter.settings.tariff_calendar
    assert calendar is not None and calendar.exception_days == tuple(CALENDAR["exception_days"])
    events, _ = meter.logs.query("meter_status")
    assert events[-1].detail["settings"] == ["tariff_calendar"]  # the configure command's own log entry
    when = datetime(2026, 1, 1)
    while when < datetime(2027, 1, 10):
        assert active.tariff(when) == calendar.tariff_at(when), when
        if calendar.day_type(when.date()) != "holiday":  # written weeks: the holidays keep the exception days
            assert written.tariff(when) == active.tariff(when), when
        when += timedelta(hours=1)
    meter.advance_to(meter.t + 600)  # and it keeps running it
    assert meter.tariffs.active == 3 and meter.readings()["tariff"] == 3


def test_activation_by_time_now_and_a_later_one_scheduled_by_the_meter(served: ServedMeter) -> None:
    """A time not after the meter's activates at once; a later one is kept by the meter (every connection reads it
    as the passive calendar and its activation time, and it survives a save) and carried out at that minute with
    nobody connected; "never" cancels one."""
    meter = served.meter
    before = meter.settings.calendar.day_plans
    now = datetime.fromtimestamp(meter.t).astimezone()
    at = now.replace(microsecond=0) + timedelta(days=1, minutes=30)
    with served.client(1, PASSWORD).session() as client:
        written = set_passive(client, PASSIVE)
        later = set_passive(client, {10: octets(datetime_to_bytes(at))})
    assert written + later == [enumerations.DataAccessResult.SUCCESS] * 5
    assert meter.settings.calendar.day_plans == before  # not yet
    with served.client().session() as client:  # another association, the public client: the meter holds it
        scheduled = judge_of(client, 7)
        when = datetime_from_bytes(read(client, Interface.ACTIVITY_CALENDAR, CALENDAR_LN, 10))[0]
    assert when == at
    for probe in (datetime(2026, 2, 1, 7), datetime(2026, 5, 1, 13), datetime(2026, 5, 1, 11)):
        assert scheduled.tariff(probe) == {(2, 7): 3, (5, 13): 4, (5, 11): 3}[(probe.month, probe.hour)]
    saved = Meter("dlms1", meter.settings, SteppedClock(meter.t), state=meter.to_state())
    assert saved.scheduled == meter.scheduled is not None
    meter.advance_to(at.timestamp() - 61)
    assert meter.settings.calendar.day_plans == before
    meter.advance_to(at.timestamp() + 60)
    assert meter.settings.calendar.day_plans == {"day 1": {"00:00": 1, "06:00": 3}, "day 2": {"00:00": 3, "12:00": 4}}
    assert meter.scheduled is None
    events = [e.type for e in meter.logs.query("meter_status")[0]]
    assert events[-2:] == ["reconfiguration_scheduled", "reconfigured"]
    with served.client(1, PASSWORD).session() as client:
        assert read(client, Interface.ACTIVITY_CALENDAR, CALENDAR_LN, 10) == b"\xff" * 9 + b"\x80\x00\xff"
        set_passive(client, {**PASSIVE, 9: Data.array(day(1, (0, 0, 2)), day(2, (0, 0, 2)))})
        set_passive(client, {10: octets(datetime_to_bytes(at + timedelta(days=1)))})
        assert meter.scheduled is not None
        never = set_passive(client, {10: octets(b"\xff" * 9 + b"\x80\x00\xff")})
        done = set_passive(client, {10: octets(datetime_to_bytes(at))})  # before the meter's time now: at once
    assert never == done == [enumerations.DataAccessResult.SUCCESS]
    assert meter.scheduled is None
    assert meter.settings.calendar.day_plans == {"day 1": {"00:00": 2}, "day 2": {"00:00": 2}}


def test_a_later_activation_that_the_meter_refuses_is_refused_when_set(served: ServedMeter) -> None:
    meter = served.meter
    at = datetime.fromtimestamp(meter.t).astimezone() + timedelta(days=1)
    with served.client(1, PASSWORD).session() as client:
        set_passive(client, {**PASSIVE, 9: Data.array(day(1, (0, 0, 9)), day(2, (0, 0, 1)))})
        refused = set_passive(client, {10: octets(datetime_to_bytes(at))})
    assert refused == [enumerations.DataAccessResult.OTHER_REASON] and meter.scheduled is None


def test_a_calendar_the_validation_refuses_is_refused_with_its_message(served: ServedMeter,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    meter = served.meter
    before = meter.settings.model_dump()
    with caplog.at_level(logging.INFO, logger="meter_sim.modules.dlms_server"), \
            served.client(1, PASSWORD).session() as client:
        assert set_passive(client, {**PASSIVE, 9: Data.array(day(1, (0, 0, 9)), day(2, (0, 0, 1)))}) \
            == [enumerations.DataAccessResult.SUCCESS] * 4  # the shape is right; tariff 9 is for configure to judge
        with pytest.raises(ActionError, match="OTHER_REASON"):
            activate(client)
        now = datetime.fromtimestamp(meter.t).astimezone()
        by_time = set_passive(client, {10: octets(datetime_to_bytes(now))})
        five_seasons = Data.array(*(season(b"s%d" % m, m, 1, b"w%d" % m) for m in range(1, 6)))
        five_weeks = Data.array(*(week(b"w%d" % m, *[1 + m // 5] * 7) for m in range(1, 6)))
        too_many = set_passive(client, {9: PASSIVE[9], 7: five_seasons, 8: five_weeks,
                                        10: octets(datetime_to_bytes(now))})
        shapes = set_passive(client, {9: Data(DataType.UNSIGNED, 1), 7: Data.array(Data.structure(octets(b"x"))),
                                      8: Data.array(week(b"w", 1, 1))})
    assert by_time == [enumerations.DataAccessResult.OTHER_REASON]
    assert too_many[-1] is enumerations.DataAccessResult.OTHER_REASON
    assert shapes == [enumerations.DataAccessResult.TYPE_UNMATCHED] * 3
    assert meter.settings.model_dump() == before  # nothing changed
    assert "tariff 9 is not 1–8" in caplog.text and "5 seasons" in caplog.text


def test_what_the_model_cannot_express_is_refused(served: ServedMeter) -> None:
    with served.client(1, PASSWORD).session() as client:
        assert set_passive(client, {**PASSIVE, 8: Data.array(week(b"w", 1, 2, 1, 1, 1, 1, 1), week(b"s", *[2] * 7))}) \
            == [enumerations.DataAccessResult.SUCCESS] * 4
        with pytest.raises(ActionError, match="OTHER_REASON"):  # Tuesday unlike the other working days
            activate(client)
    assert served.meter.settings.tariff_calendar is not None
    assert served.meter.settings.tariff_calendar.day_plans == CALENDAR["day_plans"]


def test_the_public_client_and_legal_data_are_refused(served: ServedMeter) -> None:
    with served.client().session() as client:
        assert set_passive(client, PASSIVE) == [enumerations.DataAccessResult.READ_WRITE_DENIED] * 4
        with pytest.raises(ActionError, match="READ_WRITE_DENIED"):
            activate(client)
    with served.client(1, PASSWORD).session() as client:
        energy = cosem.CosemAttribute(Interface.REGISTER, cosem.Obis(1, 1, 1, 8, 0, 255), 2)
        legal = [client.set(energy, encode_data(Data(DataType.DOUBLE_LONG_UNSIGNED, 0))).result,
                 client.set(cosem.CosemAttribute(Interface.ACTIVITY_CALENDAR, CALENDAR_LN, 3),
                            encode_data(PASSIVE[7])).result,  # the active calendar: only through activation
                 client.set(cosem.CosemAttribute(Interface.SECURITY_SETUP, SECURITY_LN, 5),
                            encode_data(octets(b"KAME0000"))).result]
    assert legal == [enumerations.DataAccessResult.READ_WRITE_DENIED] * 3
    assert served.meter.settings.tariff_calendar is not None
    assert served.meter.settings.tariff_calendar.day_plans == CALENDAR["day_plans"]


# --- any SET value: an answer, never an exception ------------------------------------------------------------------
_MANAGEMENT = management_association(Meter("m", MeterSimSettings.model_validate(SETTINGS), SteppedClock(START)),
                                     PASSWORD, ap.Conformance.SET | ap.Conformance.ACTION | ap.Conformance.GET)
_LEAVES = st.one_of(
    st.just(Data(DataType.NULL_DATA)), st.booleans().map(lambda b: Data(DataType.BOOLEAN, b)),
    st.integers(0, 255).map(lambda i: Data(DataType.UNSIGNED, i)),
    st.integers(0, 0xFFFF).map(lambda i: Data(DataType.LONG_UNSIGNED, i)),
    st.integers(-128, 127).map(lambda i: Data(DataType.INTEGER, i)),
    st.integers(0, 255).map(lambda i: Data(DataType.ENUM, i)),
    st.binary(max_size=14).map(octets),
    st.sampled_from([octets(SCRIPTS), octets(bytes(4)), octets(bytes((25, 0, 0, 0)))]),
    # whole parts of a valid calendar and their elements, for values near a valid one
    st.sampled_from([v for d in PASSIVE.values() for v in (d, *(d.value if isinstance(d.value, tuple) else ()))]),
)
_VALUES = st.recursive(_LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=8).map(lambda x: Data.array(*x)),
                                                        st.lists(inner, max_size=8).map(lambda x: Data.structure(*x))),
                       max_leaves=24)

# every Activity Calendar attribute, the read-only setup objects, and the clock
_TARGETS = [(20, (0, 0, 13, 0, 0, 255), a) for a in range(2, 11)] + [
    (40, (0, 1, 25, 9, 0, 255), 2), (64, (0, 0, 43, 0, 0, 255), 4), (11, (0, 0, 11, 0, 0, 255), 2),
    (8, (0, 1, 1, 0, 0, 255), 2)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_TARGETS), _VALUES, st.booleans())
def test_a_set_of_any_value_is_answered_and_never_raises(target: tuple[int, tuple[int, ...], int], data: Data,
                                                         then_activate: bool) -> None:
    class_id, ln, attribute = target
    request = ap.SetRequestNormal(attribute=ap.AttributeDescriptor(class_id, bytes(ln), attribute), value=data)
    answer = ap.decode_apdu(_MANAGEMENT.handle(request.to_bytes()))
    assert isinstance(answer, ap.SetResponseNormal)
    if then_activate:
        action = ap.ActionRequestNormal(method=ap.MethodDescriptor(20, bytes((0, 0, 13, 0, 0, 255)), 1),
                                        parameters=Data(DataType.INTEGER, 0))
        assert isinstance(ap.decode_apdu(_MANAGEMENT.handle(action.to_bytes())), ap.ActionResponseNormal)


def test_the_han_layout_served_is_the_one_the_push_setups_name(tmp_path: Path) -> None:
    """`omnipower-sim serve --han-layout dk` on a meter delivered with the NVE lists: its HAN port pushes the Danish
    push 1, so its Push Setups name that, not the country's lists."""
    with simulator_client(tmp_path, "--dlms", "--han-layout", "dk") as client:
        client.associate()
        objects = read(client, Interface.PUSH, cosem.Obis(0, 1, 25, 9, 0, 255), 2)
        with pytest.raises(DataResultError, match="OBJECT_UNDEFINED"):
            client.get(cosem.CosemAttribute(Interface.PUSH, cosem.Obis(0, 2, 25, 9, 0, 255), 2))
        client.release_association()
        client.disconnect()
    assert len(objects) == 1 + len(HAN_LISTS[HanListKind.DK_PUSH_1])


def test_a_danish_meter_has_one_push_setup_for_its_push_1() -> None:
    """The Push Setups follow the HAN layout the meter is delivered with (the Danish push 1, §10.5)."""
    meter = Meter("dk", MeterSimSettings(type_number="6841131BN143101010"), SteppedClock(START))
    association = DlmsAssociation(meter, 16)
    association.handle(ap.Aarq(user_information=ap.InitiateRequest(proposed_conformance=ap.Conformance.GET)).to_bytes())

    def get(ln: bytes, attribute: int) -> Any:
        request = ap.GetRequestNormal(attribute=ap.AttributeDescriptor(40, ln, attribute))
        answer = ap.decode_apdu(association.handle(request.to_bytes()))
        assert isinstance(answer, ap.GetResponseNormal)
        return answer.result

    objects = get(bytes((0, 1, 25, 9, 0, 255)), 2)
    assert isinstance(objects, Data) and isinstance(objects.value, tuple)
    assert len(objects.value) == 1 + len(HAN_LISTS[HanListKind.DK_PUSH_1])
    assert get(bytes((0, 2, 25, 9, 0, 255)), 2) is ap.DataAccessResult.OBJECT_UNDEFINED


def test_the_tariffication_script_table_the_calendar_names(served: ServedMeter) -> None:
    """Its scripts write the tariff the calendar's day actions select (script n: n to the active tariff's Data
    object), and execute runs one as a forced tariff, for the management client only."""
    tariff = cosem.Obis(0, 0, 96, 14, 0, 255)
    execute = cosem.CosemMethod(Interface.SCRIPT_TABLE, cosem.Obis.from_bytes(SCRIPTS), 1)
    with served.client(1, PASSWORD).session() as client:
        scripts = read(client, Interface.SCRIPT_TABLE, cosem.Obis.from_bytes(SCRIPTS), 2)
        client.action(execute, encode_data(Data(DataType.LONG_UNSIGNED, 3)))
        forced = read(client, Interface.DATA, tariff, 2)
        with pytest.raises(ActionError, match="OBJECT_UNAVAILABLE"):
            client.action(execute, encode_data(Data(DataType.LONG_UNSIGNED, 9)))
    assert [s[0] for s in scripts] == list(range(1, served.meter.tariffs.tariff_count + 1))
    assert all(s[1] == [[1, 1, bytes((0, 0, 96, 14, 0, 255)), 2, s[0]]] for s in scripts)
    assert forced == 3 and served.meter.tariffs.override == 3
    with served.client().session() as client, pytest.raises(ActionError, match="READ_WRITE_DENIED"):
        client.action(execute, encode_data(Data(DataType.LONG_UNSIGNED, 1)))
