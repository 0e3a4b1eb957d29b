"""The tariff calendar as the Activity Calendar (class 20) and Special Days Table (class 11) show it, and back: the
COSEM face of the meter's `TariffCalendar` (§2.8 item 3, §3), for the DLMS server (meter_sim/modules/dlms_server.py)
and for a head-end that writes a calendar (gateway/sources/dlms_configure.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from meter_sim.modules.dlms_values import Refusal, date_time_of, items_of, structure_of, unsigned_of
from meter_sim.tariffs import DAY_TYPES, WEEKDAYS, TariffCalendar
from omnipower import dlms_apdu as ap
from omnipower.cosem import TARIFF_SCRIPTS
from omnipower.dlms import CosemDateTime, Data, DataType
from omnipower.obis import logical_name_text

_Season = tuple[bytes, CosemDateTime, bytes]  # season_profile_name, season_start, week_name
_Week = tuple[bytes, tuple[int, ...]]  # week_profile_name, day_id Monday…Sunday
_DayAction = tuple[bytes, bytes, int]  # start_time (time, 4 bytes), script_logical_name, script_selector
_Day = tuple[int, tuple[_DayAction, ...]]  # day_id, day_schedule


@dataclass(frozen=True, slots=True)
class CosemCalendar:
    """A calendar as the Activity Calendar (class 20) holds it, active or passive: calendar_name, season_profile,
    week_profile_table, day_profile_table (`CALENDAR_PARTS`, in the order of the attributes).

    From the meter's `TariffCalendar` (`calendar_of`): the plan that runs (the meter holds up to 3, one active;
    the Activity Calendar is one calendar), named "plan N"; a season profile per season start (named by its MM-DD,
    every year: year, weekday and time not specified but midnight), the season's week profile its week ("week n"
    for season n) giving each weekday the season's working or non-working day plan by the meter's working days;
    the day plans the plan uses, numbered by their place in `day_plans` (their names are not carried), each switch
    an action at its minute calling the tariffication script table with the tariff as script selector. A season's
    holiday plan is what the Special Days Table gives its exception days (`special_days_of`).

    Back to a TariffCalendar (`tariff_calendar_setting`, a passive calendar being activated) the model cannot
    express, and so refuses (other-reason): a calendar for a meter holding several plans (change those with MQTT
    `configure`); a week giving two day profiles to the meter's working days or to its non-working days (its
    working days stay as they are: the Activity Calendar has no day types); a season start with a year, a
    weekday or a time other than midnight (seasons start at 00:00 on a date every year); a switch off the minute; a
    day action calling another script; two switches at one minute, two day profiles with one day_id or two weeks
    of one name; a season naming a week or a week naming a day profile that is not there. The written names
    (calendar, seasons, weeks) are not kept; each season's holidays take its non-working day plan (the Special Days
    Table cannot be written: its entries are the calendar's exception days, which stay as they are). The rest is the
    `configure` command's to check (1–4 seasons, ≤ 8 season starts, ≤ 10 switches a day, tariffs 1–8, every day
    plan used …).

    The passive calendar is the association's (of one connection) while it writes it; once its activation time is
    set to a later time, the meter keeps it (`Meter.schedule_change`, saved with its state) and every association
    reads it as the passive calendar until the meter activates it at that minute. Parts written and neither
    activated nor scheduled are gone with the connection."""

    name: bytes
    seasons: tuple[_Season, ...]
    weeks: tuple[_Week, ...]
    days: tuple[_Day, ...]


CALENDAR_PARTS = ("name", "seasons", "weeks", "days")  # attributes 2–5 (active) and 6–9 (passive)


def _month_day(text: str) -> tuple[int, int]:
    """"MM-DD" (as the calendar has checked it) → (month, day)."""
    return int(text[:2]), int(text[3:5])


def calendar_of(calendar: TariffCalendar, plan: int) -> CosemCalendar:
    """The Activity Calendar's view of one plan of the meter's calendar (see `CosemCalendar`)."""
    seasons = calendar.plan_seasons(plan)
    ids = {name: i for i, name in enumerate(calendar.day_plans, 1)}
    used = {season.plan_for(day_type) for season in seasons for day_type in DAY_TYPES}
    working = set(calendar.working_days)
    weeks = tuple((f"week {n}".encode(), tuple(ids[s.working if day in working else s.non_working] for day in WEEKDAYS))
                  for n, s in enumerate(seasons, 1))
    starts = sorted((_month_day(text), n) for n, s in enumerate(seasons, 1) for text in s.start)
    profile = tuple((f"{m:02d}-{d:02d}".encode(), CosemDateTime(None, m, d, None, 0, 0, 0, 0, None, 0xFF),
                     f"week {n}".encode()) for (m, d), n in starts)
    days = tuple((ids[name], tuple((bytes((int(hhmm[:2]), int(hhmm[3:]), 0, 0)), TARIFF_SCRIPTS, tariff)
                                   for hhmm, tariff in sorted(switches.items())))
                 for name, switches in calendar.day_plans.items() if name in used)
    return CosemCalendar(f"plan {plan}".encode(), profile, weeks, days)


def special_days_of(calendar: TariffCalendar, plan: int) -> Data:
    """The Special Days Table's entries: {index, specialday_date, day_id} per exception day, in the calendar's order;
    a recurring day (MM-DD) has year 0xFFFF; its day_id is the holiday plan of the season in force on it (the
    seasons recur by month and day, so a recurring day has one)."""
    ids = {name: i for i, name in enumerate(calendar.day_plans, 1)}
    entries = []
    for index, text in enumerate(calendar.exception_days, 1):
        year = int(text[:4]) if len(text) == 10 else None
        month, day = _month_day(text[-5:])
        plan_name = calendar.day_plan(date(year or 2000, month, day), plan)  # 2000: a leap year has every MM-DD
        raw = (0xFFFF if year is None else year).to_bytes(2, "big") + bytes((month, day, 0xFF))
        entries.append(Data.structure(Data(DataType.LONG_UNSIGNED, index), Data(DataType.OCTET_STRING, raw),
                                      Data(DataType.UNSIGNED, ids[plan_name])))
    return Data.array(*entries)


def _octets(data: Data, what: str, size: int | None = None) -> bytes:
    raw = data.value
    if data.type is not DataType.OCTET_STRING or not isinstance(raw, bytes) or (size is not None and len(raw) != size):
        raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, f"{what}: an octet-string" + (f" of {size}" if size else ""))
    return raw


def _array(data: Data, what: str) -> tuple[Data, ...]:
    if data.type is not DataType.ARRAY:
        raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, f"{what}: an array")
    return items_of(data, what)


def _decode_seasons(data: Data) -> tuple[_Season, ...]:
    seasons = []
    for item in _array(data, "season_profile"):
        name, start, week = structure_of(item, 3, "season")
        seasons.append((_octets(name, "season_profile_name"), date_time_of(start, "season_start"),
                        _octets(week, "week_name")))
    return tuple(seasons)


def _decode_weeks(data: Data) -> tuple[_Week, ...]:
    weeks = []
    for item in _array(data, "week_profile_table"):
        name, *days = structure_of(item, 8, "week_profile")
        weeks.append((_octets(name, "week_profile_name"), tuple(unsigned_of(d, "day_id", 0xFF) for d in days)))
    return tuple(weeks)


def _decode_days(data: Data) -> tuple[_Day, ...]:
    days = []
    for item in _array(data, "day_profile_table"):
        day_id, schedule = structure_of(item, 2, "day_profile")
        actions = []
        for action in _array(schedule, "day_schedule"):
            start, script, selector = structure_of(action, 3, "day_profile_action")
            actions.append((_octets(start, "start_time", 4), _octets(script, "script_logical_name", 6),
                            unsigned_of(selector, "script_selector", 0xFFFF)))
        days.append((unsigned_of(day_id, "day_id", 0xFF), tuple(actions)))
    return tuple(days)


def _octet_string(raw: bytes) -> Data:
    return Data(DataType.OCTET_STRING, raw)


def _encode_seasons(seasons: tuple[_Season, ...]) -> Data:
    return Data.array(*(Data.structure(_octet_string(name), _octet_string(start.to_bytes()), _octet_string(week))
                        for name, start, week in seasons))


def _encode_weeks(weeks: tuple[_Week, ...]) -> Data:
    return Data.array(*(Data.structure(_octet_string(name), *(Data(DataType.UNSIGNED, i) for i in ids))
                        for name, ids in weeks))


def _encode_days(days: tuple[_Day, ...]) -> Data:
    return Data.array(*(Data.structure(Data(DataType.UNSIGNED, day_id), Data.array(*(
        Data.structure(_octet_string(start), _octet_string(script), Data(DataType.LONG_UNSIGNED, selector))
        for start, script, selector in actions))) for day_id, actions in days))


# Per part of a calendar: its attribute's value, and the part from a value written (TYPE_UNMATCHED for its shape).
CALENDAR_CODECS: dict[str, tuple[Callable[[Any], Data], Callable[[Data], Any]]] = {
    "name": (_octet_string, lambda data: _octets(data, "calendar_name")),
    "seasons": (_encode_seasons, _decode_seasons),
    "weeks": (_encode_weeks, _decode_weeks),
    "days": (_encode_days, _decode_days),
}


def passive_attributes(calendar: CosemCalendar) -> dict[int, Data]:
    """A calendar as the values of the Activity Calendar's passive attributes 6–9 (what a head-end writes)."""
    return {6 + i: CALENDAR_CODECS[part][0](getattr(calendar, part)) for i, part in enumerate(CALENDAR_PARTS)}


def _cannot(reason: str) -> Refusal:
    return Refusal(ap.DataAccessResult.OTHER_REASON, reason)


def _day_plans(days: tuple[_Day, ...]) -> dict[str, dict[str, int]]:
    plans: dict[str, dict[str, int]] = {}
    for day_id, actions in days:
        name = f"day {day_id}"
        if name in plans:
            raise _cannot(f"day_profile_table: day_id {day_id} twice")
        switches: dict[str, int] = {}
        for (hour, minute, second, hundredths), script, selector in ((tuple(a[0]), a[1], a[2]) for a in actions):
            if script != TARIFF_SCRIPTS:
                raise _cannot(f"day {day_id}: script {logical_name_text(script)}; the tariffs are the script table "
                              f"{logical_name_text(TARIFF_SCRIPTS)}")
            if hour > 23 or minute > 59 or second not in (0, 0xFF) or hundredths not in (0, 0xFF):
                raise _cannot(f"day {day_id}: start_time {bytes((hour, minute, second, hundredths)).hex()}: a switch "
                              "is at a minute of the day (1-min resolution)")
            hhmm = f"{hour:02d}:{minute:02d}"
            if hhmm in switches:
                raise _cannot(f"day {day_id}: two switches at {hhmm}")
            switches[hhmm] = selector
        plans[name] = switches
    return plans


def _week_plans(weeks: tuple[_Week, ...], days: Mapping[str, object],
                working_days: tuple[str, ...]) -> dict[bytes, tuple[str, str]]:
    """Week name → (working, non-working) day plan, by the meter's working days (either set may be empty, when
    every day is or none is a working day: then both are the other's)."""
    plans: dict[bytes, tuple[str, str]] = {}
    for name, ids in weeks:
        if name in plans:
            raise _cannot(f"week_profile_table: week {name!r} twice")
        chosen = []
        for working in (True, False):
            named = {f"day {i}" for day, i in zip(WEEKDAYS, ids, strict=True) if (day in working_days) is working}
            if len(named) > 1:
                kind = "working" if working else "non-working"
                raise _cannot(f"week {name!r}: {', '.join(sorted(named))} on the meter's {kind} days; the meter runs "
                              f"one day plan on all its {kind} days ({', '.join(working_days) or 'none'} work)")
            missing = named - days.keys()
            if missing:
                raise _cannot(f"week {name!r}: {missing.pop()} is not in the day_profile_table")
            chosen.append(next(iter(named), None))
        work, rest = chosen
        plans[name] = (work or rest or "", rest or work or "")
    return plans


def tariff_calendar_setting(passive: CosemCalendar, current: TariffCalendar) -> dict[str, Any]:
    """A passive calendar as the `tariff_calendar` setting that MQTT `configure` takes (see `CosemCalendar` for
    what it cannot express); the working and exception days stay the meter's."""
    if current.plan_count > 1:
        raise _cannot(f"the meter holds {current.plan_count} tariff plans; the Activity Calendar replaces a calendar "
                      "of one plan only (change several with MQTT configure)")
    days = _day_plans(passive.days)
    weeks = _week_plans(passive.weeks, days, current.working_days)
    starts: dict[bytes, list[str]] = {}  # week → its season's starts, in the order the seasons name them
    for name, start, week in passive.seasons:
        if (start.year, start.weekday) != (None, None) or (start.hour, start.minute, start.second) != (0, 0, 0) \
                or not (isinstance(start.month, int) and 1 <= start.month <= 12 and isinstance(start.day, int)
                        and 1 <= start.day <= 31):
            raise _cannot(f"season {name!r}: season_start {start.to_bytes().hex()}; a season starts at 00:00 on a "
                          "month and day every year (year and weekday not specified)")
        if week not in weeks:
            raise _cannot(f"season {name!r}: week {week!r} is not in the week_profile_table")
        starts.setdefault(week, []).append(f"{start.month:02d}-{start.day:02d}")
    seasons = [{"start": dates, "working": weeks[week][0], "non_working": weeks[week][1], "holiday": weeks[week][1]}
               for week, dates in starts.items()]
    return {"day_plans": days, "seasons": seasons, "working_days": list(current.working_days),
            "exception_days": list(current.exception_days)}
