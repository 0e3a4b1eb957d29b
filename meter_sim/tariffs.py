"""The active tariff: one source selected by Z13 (spec §2.8, §3, §11.2 Z3/Z13/Z20, §13 "Tariff source").

Sources (§2.8), one active at a time, chosen by Z13:
- 000 off: always T1 (inferred: the spec only says "off"; T1 is what the (0,0) module input and a fresh
  register read too).
- 001 module port: the 230 V inputs on the module's I/O ports, decoded per Z3 (`module_tariff`).
- 002 register: the tariff register, written by remote command, one command per change. Until the first
  command, and after "auto" (`set_override(None)`), the register reads T1 (inferred reset value).
- 003–999 table: the internal plan (`TariffCalendar`), standing in for the unpublished order-form table.

Tariff commands are refused (`TariffRefused`) unless Z13 = 002, as the spec's "only one source is active"
requires. `Tariffs(..., command_overrides_any_source=True)` is a simulator extension, off by default: the
command then overrides whatever source Z13 selects until "auto" clears it (the gateway's behaviour before
the sources were modelled).

The internal plan (§2.8 item 3, §3): the meter holds up to 3 plans, one of them active, chosen remotely
(`Tariffs.set_plan`; PB2 is not modelled). Each plan has 1–4 seasons with at most 8 season switches a year,
a week plan per season mapping the 3 day types (working, non-working, holiday) to day plans of at most 10
switches each at 1-min resolution. The calendar holds the named day plans the plans share, the working days
and up to 200 exception days (≤ 20 years ahead), which use the holiday plan; Z20 = 000 means "no exception
days". (inferred) The spec does not say whether plans share day plans and exception days; sharing them is
the simplest reading and lets one plan differ from another only in its seasons.

Tariffs are 1–8 (§2.8). The meter publishes the registers of T5–T8 only when its configuration can select
them (`tariff_count`); a command for a tariff without registers is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator

from meter_sim.refusals import MeterRefused
from meter_sim.zcodes import (
    Z3_ROLES,
    Z_DEFAULTS,
    check_z_codes,
    z3_tariff_inputs,
    z3_tariff_inverted,
    z13_tariff_control,
)
from omnipower.registers import BASIC_TARIFFS, MAX_TARIFF_PLANS
from omnipower.registers import MAX_TARIFF as MAX_TARIFF  # re-exported: scenarios check tariffs with it

MAX_PLANS: Final = MAX_TARIFF_PLANS  # §2.8 "up to 3 plans"
MAX_SEASONS: Final = 4  # §3 "up to 4 seasons"
MAX_SEASON_SWITCHES: Final = 8  # §2.8 "≤ 8 season switches/yr"
MAX_DAY_SWITCHES: Final = 10  # §2.8 "day plans with ≤ 10 switches"
MAX_EXCEPTION_DAYS: Final = 200  # §3
EXCEPTION_HORIZON_YEARS: Final = 20  # §3 "up to 20 years ahead"
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DayType = Literal["working", "non_working", "holiday"]
Source = Literal["off", "module", "command", "calendar"]
DAY_TYPES: Final[tuple[DayType, ...]] = ("working", "non_working", "holiday")
_SOURCE_OF_MODE: Final[dict[str, Source]] = {
    "off": "off", "module_port": "module", "register": "command", "table": "calendar"
}

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MMDD = re.compile(r"^(\d{2})-(\d{2})$")
_YYYYMMDD = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_LEAP_YEAR = 2000  # checks MM-DD against a leap year, so that 02-29 is a real day


class TariffRefused(MeterRefused):
    """A tariff or tariff-plan command the meter's configuration does not allow (Z13)."""


# ----- field checks (each raises ValueError with a message that says what is allowed) ---------------------------


def _switch_minute(text: str) -> int:
    m = _HHMM.match(text)
    if m is None:
        raise ValueError(f"switch time {text!r} is not HH:MM (00:00–23:59, 1-min resolution)")
    return int(m[1]) * 60 + int(m[2])


def _check_switch_time(text: str) -> str:
    _switch_minute(text)
    return text


def _check_tariff(tariff: int) -> int:
    if not 1 <= tariff <= MAX_TARIFF:
        raise ValueError(f"tariff {tariff} is not 1–{MAX_TARIFF} (the meter counts {MAX_TARIFF} tariffs)")
    return tariff


def _check_day_plan(switches: dict[str, int]) -> dict[str, int]:
    if not switches:
        raise ValueError("a day plan needs at least one switch, e.g. {'00:00': 1}")
    if len(switches) > MAX_DAY_SWITCHES:
        raise ValueError(f"{len(switches)} switches; a day plan holds at most {MAX_DAY_SWITCHES}")
    return switches


def _month_day(text: str) -> tuple[int, int]:
    m = _MMDD.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a date MM-DD")
    month, day = int(m[1]), int(m[2])
    try:
        date(_LEAP_YEAR, month, day)
    except ValueError:
        raise ValueError(f"{text!r} is not a date MM-DD (no such day)") from None
    return month, day


def _check_season_start(text: str) -> str:
    if _month_day(text) == (2, 29):
        # (inferred) A season switch must happen every year; 02-29 would skip three years in four.
        raise ValueError("'02-29' exists only in leap years; a season must start on a day every year has")
    return text


def _check_starts(starts: tuple[str, ...]) -> tuple[str, ...]:
    if not starts:
        raise ValueError("a season needs at least one start date MM-DD")
    return starts


def _exception_day(text: str) -> date | tuple[int, int]:
    """A dated exception day (YYYY-MM-DD) or a recurring one (MM-DD, every year)."""
    m = _YYYYMMDD.match(text)
    if m is not None:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise ValueError(f"{text!r} is not a date YYYY-MM-DD (no such day)") from None
    if _MMDD.match(text) is None:
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD (one day) or MM-DD (every year)")
    return _month_day(text)


def _check_exception_day(text: str) -> str:
    _exception_day(text)
    return text


def _check_season_count(seasons: tuple[Season, ...]) -> tuple[Season, ...]:
    if not 1 <= len(seasons) <= MAX_SEASONS:
        raise ValueError(f"{len(seasons)} seasons; the meter holds 1–{MAX_SEASONS}")
    return seasons


def _check_working_days(days: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
    for day in set(days):
        if days.count(day) > 1:
            raise ValueError(f"{day!r} is listed twice")
    return days


def _check_exception_days(days: tuple[str, ...]) -> tuple[str, ...]:
    if len(days) > MAX_EXCEPTION_DAYS:
        raise ValueError(f"{len(days)} exception days; the meter holds at most {MAX_EXCEPTION_DAYS}")
    seen: dict[date | tuple[int, int], int] = {}
    for i, text in enumerate(days):
        key = _exception_day(text)
        if key in seen:
            raise ValueError(f"exception_days[{i}] = {text!r} repeats exception_days[{seen[key]}]")
        seen[key] = i
    return days


def _one_or_more(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


SwitchTime = Annotated[str, AfterValidator(_check_switch_time)]
TariffNumber = Annotated[int, Field(strict=True), AfterValidator(_check_tariff)]
DayPlanSwitches = Annotated[dict[SwitchTime, TariffNumber], AfterValidator(_check_day_plan)]
SeasonStart = Annotated[str, AfterValidator(_check_season_start)]
ExceptionDay = Annotated[str, AfterValidator(_check_exception_day)]


# ----- one day plan ---------------------------------------------------------------------------------------------


class TariffSchedule:
    """One day plan: local switch times "HH:MM" → tariff, compiled for look-ups by minute of the day."""

    def __init__(self, switches: Mapping[str, int]) -> None:
        _check_day_plan(dict(switches))
        for tariff in switches.values():
            if isinstance(tariff, bool) or not isinstance(tariff, int):
                raise ValueError(f"tariff {tariff!r} is not an integer 1–{MAX_TARIFF}")
            _check_tariff(tariff)
        self._points = sorted((_switch_minute(k), v) for k, v in switches.items())

    @property
    def last(self) -> int:
        """The tariff after the day's last switch (it holds into the next day until that day's first switch)."""
        return self._points[-1][1]

    def switched_tariff(self, minute_of_day: int) -> int | None:
        """The tariff of the latest switch at or before this local minute; None before the day's first switch."""
        current: int | None = None
        for minute, tariff in self._points:
            if minute > minute_of_day:
                break
            current = tariff
        return current

    def tariff_at(self, minute_of_day: int) -> int:
        """The tariff at a local minute when every day uses this plan: before the first switch the plan's last
        tariff (yesterday's) still holds."""
        switched = self.switched_tariff(minute_of_day)
        return self.last if switched is None else switched


# ----- the internal plan (Z13 = table) --------------------------------------------------------------------------


class Season(BaseModel):
    """One season: the date(s) it starts each year and its week plan (day type → name of a day plan)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: Annotated[tuple[SeasonStart, ...], BeforeValidator(_one_or_more), AfterValidator(_check_starts)] = Field(
        description="MM-DD on which the season starts every year; a list when it recurs (e.g. winter 01-01 and 10-01)"
    )
    working: str = Field(description="day plan on working days")
    non_working: str = Field(description="day plan on non-working days")
    holiday: str = Field(description="day plan on holidays (exception days)")

    def plan_for(self, day_type: DayType) -> str:
        return {"working": self.working, "non_working": self.non_working, "holiday": self.holiday}[day_type]


Seasons = Annotated[tuple[Season, ...], AfterValidator(_check_season_count)]


def _check_season_starts(seasons: tuple[Season, ...]) -> None:
    """No date starts two seasons, and a plan switches season at most 8 times a year."""
    starts: dict[tuple[int, int], str] = {}
    for i, season in enumerate(seasons):
        for j, text in enumerate(season.start):
            key = _month_day(text)
            if key in starts:
                raise ValueError(f"seasons[{i}].start[{j}]: {text!r} is also the start of {starts[key]}")
            starts[key] = f"seasons[{i}]"
    if len(starts) > MAX_SEASON_SWITCHES:
        raise ValueError(f"seasons: {len(starts)} season switches a year; the meter holds at most "
                         f"{MAX_SEASON_SWITCHES}")


def _check_plan_count(plans: tuple[TariffPlan, ...]) -> tuple[TariffPlan, ...]:
    if len(plans) > MAX_PLANS:
        raise ValueError(f"{len(plans)} plans; the meter holds 1–{MAX_PLANS}")
    return plans


class TariffPlan(BaseModel):
    """One of the internal plans (§2.8): its seasons, whose week plans name the calendar's day plans."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seasons: Seasons = Field(
        description=f"1–{MAX_SEASONS} seasons, at most {MAX_SEASON_SWITCHES} season starts a year in all"
    )

    @model_validator(mode="after")
    def _check_starts(self) -> TariffPlan:
        _check_season_starts(self.seasons)
        return self


class TariffCalendar(BaseModel):
    """The meter's internal tariff plans (Z13 = table), §2.8 item 3 and §3: 1–3 plans, one active at a time.

    One plan is given as `seasons` (the original form, which stays valid); several as `plans`, plan n being
    `plans[n-1]`. Both forms name the calendar's `day_plans`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day_plans: dict[str, DayPlanSwitches] = Field(
        description=f"named day plans: local switch time HH:MM → tariff 1–{MAX_TARIFF}, 1–{MAX_DAY_SWITCHES} "
        "switches each; shared by the plans"
    )
    seasons: Seasons | None = Field(
        None, description=f"a calendar with one plan: its 1–{MAX_SEASONS} seasons, at most {MAX_SEASON_SWITCHES} "
        "season starts a year in all (else `plans`)"
    )
    plans: Annotated[tuple[TariffPlan, ...], AfterValidator(_check_plan_count)] = Field(
        (), description=f"a calendar with several plans: 1–{MAX_PLANS} plans, each with its seasons (else `seasons`)"
    )
    working_days: Annotated[tuple[Weekday, ...], AfterValidator(_check_working_days)] = Field(
        ("mon", "tue", "wed", "thu", "fri"), description="weekdays that are working days; the others are non-working"
    )
    exception_days: Annotated[tuple[ExceptionDay, ...], AfterValidator(_check_exception_days)] = Field(
        (),
        description=f"up to {MAX_EXCEPTION_DAYS} holidays, YYYY-MM-DD (one day) or MM-DD (every year); they use "
        "the holiday plan. Needs Z20 ≠ 000",
    )

    _schedules: dict[str, TariffSchedule] = PrivateAttr()
    _plan_seasons: tuple[tuple[Season, ...], ...] = PrivateAttr()  # plan n at index n-1
    _starts: list[list[tuple[tuple[int, int], int]]] = PrivateAttr()  # per plan: sorted (month, day) → season
    _working: frozenset[int] = PrivateAttr()
    _dated: frozenset[date] = PrivateAttr()
    _recurring: frozenset[tuple[int, int]] = PrivateAttr()

    def _each_plan(self) -> list[tuple[str, tuple[Season, ...]]]:
        """(prefix of its error locations, seasons) of every plan, plan 1 first."""
        if self.seasons is not None:
            return [("", self.seasons)]
        return [(f"plans[{k}].", plan.seasons) for k, plan in enumerate(self.plans)]

    @model_validator(mode="after")
    def _check_references(self) -> TariffCalendar:
        if self.seasons is not None and self.plans:
            raise ValueError("give either `seasons` (a calendar with one plan) or `plans` (1–3 plans, each with its "
                             "seasons), not both")
        if self.seasons is None and not self.plans:
            raise ValueError("no plan: give `seasons` (a calendar with one plan) or `plans` (1–3 plans, each with "
                             "its seasons)")
        if self.seasons is not None:
            _check_season_starts(self.seasons)  # each of `plans` checks its own
        used: set[str] = set()
        for prefix, seasons in self._each_plan():
            for i, season in enumerate(seasons):
                for day_type in DAY_TYPES:
                    name = season.plan_for(day_type)
                    if name not in self.day_plans:
                        raise ValueError(f"{prefix}seasons[{i}].{day_type}: day plan {name!r} is not in day_plans "
                                         f"(defined: {', '.join(map(repr, self.day_plans))})")
                    used.add(name)
        for name in self.day_plans:
            if name not in used:
                raise ValueError(f"day_plans.{name}: not used by any season (a misspelt name?)")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._schedules = {name: TariffSchedule(switches) for name, switches in self.day_plans.items()}
        self._plan_seasons = tuple(seasons for _, seasons in self._each_plan())
        self._starts = [sorted((_month_day(text), i) for i, s in enumerate(seasons) for text in s.start)
                        for seasons in self._plan_seasons]
        self._working = frozenset(WEEKDAYS.index(d) for d in self.working_days)
        keys = [_exception_day(text) for text in self.exception_days]
        self._dated = frozenset(k for k in keys if isinstance(k, date))
        self._recurring = frozenset(k for k in keys if isinstance(k, tuple))

    @classmethod
    def from_schedule(cls, schedule: Mapping[str, int]) -> TariffCalendar:
        """A plain daily schedule (the settings' `tariff_schedule`, "HH:MM" → tariff) as a one-season calendar
        in which every day type uses it: every day then runs the same plan, as before calendars existed."""
        return cls(
            day_plans={"daily": dict(schedule)},
            seasons=(Season(start=("01-01",), working="daily", non_working="daily", holiday="daily"),),
        )

    @property
    def plan_count(self) -> int:
        """How many plans the calendar holds (1–3)."""
        return len(self._plan_seasons)

    @property
    def max_tariff(self) -> int:
        """The highest tariff any plan names (every day plan is used by some season)."""
        return max(tariff for switches in self.day_plans.values() for tariff in switches.values())

    def plan_seasons(self, plan: int = 1) -> tuple[Season, ...]:
        """The seasons of plan 1–3 (ValueError for a plan the calendar does not hold)."""
        if isinstance(plan, bool) or not isinstance(plan, int) or not 1 <= plan <= self.plan_count:
            raise ValueError(f"tariff plan {plan!r} is not held: the calendar holds plan(s) 1–{self.plan_count}")
        return self._plan_seasons[plan - 1]

    def season_at(self, day: date, plan: int = 1) -> int:
        """Index into the plan's seasons of the season in force on a local date: the latest start on or before
        it, else (before the year's first start) the year's last start, carried over from the previous year."""
        self.plan_seasons(plan)
        starts = self._starts[plan - 1]
        key = (day.month, day.day)
        current = starts[-1][1]
        for start, index in starts:
            if start > key:
                break
            current = index
        return current

    def day_type(self, day: date) -> DayType:
        """Exception days are holidays; otherwise the weekday decides (working_days or non-working)."""
        if day in self._dated or (day.month, day.day) in self._recurring:
            return "holiday"
        return "working" if day.weekday() in self._working else "non_working"

    def day_plan(self, day: date, plan: int = 1) -> str:
        """Name of the day plan that runs on a local date under plan 1–3."""
        return self.plan_seasons(plan)[self.season_at(day, plan)].plan_for(self.day_type(day))

    def tariff_at(self, local: datetime, plan: int = 1) -> int:
        """The tariff of plan 1–3 at a local wall-clock time (seconds ignored). Before the day's first switch
        the tariff of the previous day's last switch holds, taken from the day plan that ran on that day (its
        own season and day type) under the same plan (inferred, also just after a change of plan)."""
        day = local.date()
        switched = self._schedules[self.day_plan(day, plan)].switched_tariff(local.hour * 60 + local.minute)
        if switched is not None:
            return switched
        # (inferred) date.min has no previous day: its own plan's last tariff stands in.
        previous = day - timedelta(days=1) if day > date.min else day
        return self._schedules[self.day_plan(previous, plan)].last

    def check_horizon(self, today: date) -> None:
        """Raise ValueError if a dated exception day lies more than 20 years after the meter's date (§3)."""
        try:
            limit = today.replace(year=today.year + EXCEPTION_HORIZON_YEARS)
        except ValueError:  # 29 February + 20 years is not a leap day; the limit falls on 28 February
            limit = today.replace(year=today.year + EXCEPTION_HORIZON_YEARS, day=28)
        for i, text in enumerate(self.exception_days):
            key = _exception_day(text)
            if isinstance(key, date) and key > limit:
                raise ValueError(f"exception_days[{i}] = {text!r}: more than {EXCEPTION_HORIZON_YEARS} years "
                                 f"after the meter's date {today.isoformat()} (the meter looks at most "
                                 f"{EXCEPTION_HORIZON_YEARS} years ahead)")


# ----- module inputs (Z13 = 001) --------------------------------------------------------------------------------


def module_tariff(z3: int, port1: bool, port2: bool) -> int | None:
    """The tariff that the 230 V inputs select (§2.8), or None when Z3 gives the module no tariff input.

    4-tariff (Z3 01, 02, 22, 23): (P1, P2) = (0,0) → T1, (1,0) → T2, (0,1) → T3, (1,1) → T4; inverted T4…T1.
    2-tariff: the one port whose Z3 role is "2-tariff in" (I/O1 for codes 07–12, I/O2 for 13–14); 0 → T1,
    1 → T2; inverted T2, T1. The other port (alarm, pulse, output) does not affect the tariff."""
    count = z3_tariff_inputs(z3)
    if count == 0:
        return None
    # 4 tariffs: both ports, P1 the low bit. 2 tariffs: only the port whose Z3 role is the tariff input.
    index = int(port1) + 2 * int(port2) if count == 4 else int(port1 if "tariff" in Z3_ROLES[z3][0] else port2)
    return count - index if z3_tariff_inverted(z3) else index + 1


def check_tariff_codes(z3: int, z13: int, z20: int, calendar: TariffCalendar) -> None:
    """Raise ValueError when the codes contradict each other or the calendar: Z13 = 001 without a tariff input
    among the Z3 roles, or exception days while Z20 = 000 ("no exception days")."""
    check_z_codes({3: z3, 13: z13, 20: z20})
    if z20 == 0 and calendar.exception_days:
        raise ValueError(
            f"Z20 (calendar) = 000 means no exception days, but exception_days holds {len(calendar.exception_days)}; "
            "set Z20 to a calendar setup code (001–999) or remove them"
        )


def tariff_count(z13: int, calendar: TariffCalendar) -> int:
    """How many tariffs have registers on this meter: 8 when its configuration can select T5–T8, else 4.

    The rule (omnipower.registers.WHICH_REGISTERS tells users): Z13 = 002 takes the tariff by command, which may
    name any of the 8; Z13 = table selects what its plans name, so 8 only when a plan names T5–T8; the module
    inputs (Z13 = 001) reach T4 at most and Z13 = 000 stays at T1. (inferred) The meter itself always counts 8
    tariffs; publishing T5–T8 only where they can move keeps up to 25 registers that stay at zero out of Home
    Assistant, and the counts do not change with the active plan."""
    mode = z13_tariff_control(z13)
    if mode == "register" or (mode == "table" and calendar.max_tariff > BASIC_TARIFFS):
        return MAX_TARIFF
    return BASIC_TARIFFS


def plan_count(z13: int, calendar: TariffCalendar) -> int:
    """How many internal plans a command can choose from: the calendar's when Z13 selects the table, else 1."""
    return calendar.plan_count if z13_tariff_control(z13) == "table" else 1


# ----- the selector ---------------------------------------------------------------------------------------------


class Tariffs:
    """The tariff source Z13 selects, and the tariff it gives now.

    The meter calls `update` every minute with its local wall-clock time, `set_inputs` when the module ports
    change, `set_override` for a remote tariff command and `set_plan` for a remote choice of internal plan;
    `take_change` then yields each change of tariff once, for the event log. `to_state`/`restore` carry the
    inputs, the register (override), the active plan and the last reported tariff across a restart, so a change
    that happened while the meter was off is reported after the first update."""

    def __init__(
        self,
        z13: int,
        z3: int,
        calendar: TariffCalendar,
        override: int | None = None,
        *,
        z20: int = Z_DEFAULTS[20],
        command_overrides_any_source: bool = False,
    ) -> None:
        check_tariff_codes(z3, z13, z20, calendar)
        self.z13 = z13
        self.z3 = z3
        self.z20 = z20
        self.calendar = calendar
        self.command_overrides_any_source = command_overrides_any_source
        # T1–T4 or T1–T8 have registers; plans a command can choose from
        self.tariff_count, self.plan_count = tariff_count(z13, calendar), plan_count(z13, calendar)
        self._mode = z13_tariff_control(z13)
        self._inputs = (False, False)  # no 230 V on either port until told otherwise
        self._override: int | None = None
        self._plan = 1  # (inferred) plan 1 until a command chooses another
        self._local: datetime | None = None  # the wall-clock time of the last update
        self._calendar_tariff: int | None = None  # None until the first update()
        self._fallback = 1  # (inferred) the tariff before the calendar is first consulted, unless restored
        self._reported: int | None = None
        if override is not None:
            self.set_override(override)
        self._settle()

    # --- inputs ------------------------------------------------------------------------------------------------
    def update(self, local: datetime) -> None:
        """Follow the calendar to a local wall-clock time (naive or aware: its own wall-clock fields are used)."""
        self._local = local
        if self._mode == "table":
            self._calendar_tariff = self.calendar.tariff_at(local, self._plan)
        self._settle()

    def set_inputs(self, port1: bool, port2: bool) -> None:
        """230 V present (True) or absent on module I/O ports 1 (terminals 13 & 15) and 2 (33 & 15)."""
        self._inputs = (bool(port1), bool(port2))
        self._settle()

    def set_override(self, tariff: int | None) -> None:
        """The remote tariff command: a tariff 1–8, or None ("auto") to clear it. Raises ValueError for a tariff
        out of range, also for T5–T8 on a meter without their registers (`tariff_count`), and TariffRefused when
        Z13 ≠ 002 (unless command_overrides_any_source). "auto" is always accepted: under Z13 = 002 it returns
        the register to T1, otherwise there is nothing to clear."""
        if tariff is not None:
            if isinstance(tariff, bool) or not isinstance(tariff, int) or not 1 <= tariff <= MAX_TARIFF:
                raise ValueError(f"tariff must be 1–{MAX_TARIFF} or auto, got {tariff!r}")
            if not self.accepts_commands:
                raise TariffRefused(self._refusal())
            if tariff > self.tariff_count:
                raise ValueError(
                    f"tariff {tariff} is out of range for this meter: it has registers for T1–T{self.tariff_count} "
                    f"only (1–{self.tariff_count} or auto). T{BASIC_TARIFFS + 1}–T{MAX_TARIFF} exist when Z13 = 002 "
                    "(register) or a tariff plan of the calendar names them"
                )
        self._override = tariff
        self._settle()

    def set_plan(self, plan: int) -> None:
        """The remote choice of internal plan, 1–3. Raises ValueError for a number outside 1–3 and TariffRefused
        for a plan the calendar does not hold or when Z13 does not select the calendar. The tariff follows at
        once (from the time of the last update)."""
        if isinstance(plan, bool) or not isinstance(plan, int) or not 1 <= plan <= MAX_PLANS:
            raise ValueError(f"tariff plan must be 1–{MAX_PLANS}, got {plan!r}")
        if self._mode != "table":
            why = {"off": "tariff control is off", "module_port": "the tariff follows the module inputs",
                   "register": "the tariff follows the tariff register"}[self._mode]
            raise TariffRefused(f"tariff plan command refused: Z13 (tariff control) = {self.z13:03d}, {why}; the "
                                "plans are used only when Z13 is a tariff table (003–999)")
        if plan > self.plan_count:
            held = "only plan 1" if self.plan_count == 1 else f"plans 1–{self.plan_count}"
            raise TariffRefused(f"tariff plan {plan} refused: the calendar holds {held} "
                                "(configure more with tariff_calendar.plans)")
        self._plan = plan
        if self._local is not None:
            self._calendar_tariff = self.calendar.tariff_at(self._local, plan)
        self._settle()

    def _refusal(self) -> str:
        why = {
            "off": "tariff control is off",
            "module_port": "the tariff follows the module inputs",
            "table": "the tariff follows the internal calendar",
        }[self._mode]
        return (f"tariff command refused: Z13 (tariff control) = {self.z13:03d}, {why}; "
                "only Z13 = 002 (register) takes the tariff by command")

    # --- outputs -----------------------------------------------------------------------------------------------
    @property
    def accepts_commands(self) -> bool:
        return self._mode == "register" or self.command_overrides_any_source

    @property
    def override(self) -> int | None:
        """The commanded tariff (the register), None = none ("auto")."""
        return self._override

    @property
    def plan(self) -> int:
        """The active internal plan, 1–3."""
        return self._plan

    @property
    def inputs(self) -> tuple[bool, bool]:
        return self._inputs

    @property
    def source(self) -> Source:
        if self._override is not None:
            return "command"
        return _SOURCE_OF_MODE[self._mode]

    @property
    def active(self) -> int:
        if self._override is not None:
            return self._override
        if self._mode == "register" or self._mode == "off":
            return 1
        if self._mode == "module_port":
            tariff = module_tariff(self.z3, *self._inputs)
            assert tariff is not None  # check_tariff_codes: Z13 = 001 needs a tariff input
            return tariff
        return self._fallback if self._calendar_tariff is None else self._calendar_tariff

    def take_change(self) -> tuple[int, int] | None:
        """(old, new) once after the active tariff changed, else None. Changes between two calls are netted:
        T1 → T2 → T1 reports nothing. The tariff first determined after construction is no change."""
        now = self.active
        if self._reported is None or now == self._reported:
            return None
        change = (self._reported, now)
        self._reported = now
        return change

    def _settle(self) -> None:
        # The calendar gives no tariff before its first update; only then is there a tariff to compare with.
        if self._reported is None and (self.source != "calendar" or self._calendar_tariff is not None):
            self._reported = self.active

    # --- permanent memory --------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"override": self._override, "inputs": list(self._inputs), "active": self.active,
                "reported": self._reported, "plan": self._plan}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore `to_state` output; absent keys keep their present values. An override saved under a
        configuration that accepted it is dropped when the present one does not (no commands, or no register
        for its tariff); a saved plan the present calendar does not hold falls back to plan 1 (inferred)."""
        override = state.get("override", self._override)
        if override is not None:
            if isinstance(override, bool) or not isinstance(override, int) or not 1 <= override <= MAX_TARIFF:
                raise ValueError(f"saved tariff override {override!r} is not 1–{MAX_TARIFF} or None")
            if not self.accepts_commands or override > self.tariff_count:
                override = None
        inputs = state.get("inputs", self._inputs)
        if len(inputs) != 2 or not all(isinstance(p, bool) for p in inputs):
            raise ValueError(f"saved module inputs {inputs!r} are not two booleans")
        for key in ("active", "reported"):
            value = state.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 1 <= value <= MAX_TARIFF):
                raise ValueError(f"saved tariff {key} {value!r} is not 1–{MAX_TARIFF} or None")
        plan = state.get("plan", self._plan)
        if isinstance(plan, bool) or not isinstance(plan, int) or not 1 <= plan <= MAX_PLANS:
            raise ValueError(f"saved tariff plan {plan!r} is not 1–{MAX_PLANS}")
        self._override = override
        self._inputs = (inputs[0], inputs[1])
        self._plan = plan if plan <= self.plan_count else 1
        if self._mode == "table" and self._local is not None:
            self._calendar_tariff = self.calendar.tariff_at(self._local, self._plan)
        if state.get("active") is not None and state["active"] <= self.tariff_count:
            self._fallback = state["active"]
        if state.get("reported") is not None:
            self._reported = state["reported"]
        self._settle()
