"""Tariff selection (spec §2.8 Tariffs, §3 Time management, §11.2 Z3/Z13/Z20, §13 "Tariff source"): the
internal calendar, the module inputs, the command register, Z13 gating, change reporting and persistence."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from meter_sim.tariffs import (
    TariffCalendar,
    TariffRefused,
    Tariffs,
    TariffSchedule,
    module_tariff,
)
from meter_sim.zcodes import Z_DEFAULTS

# The settings' default daily schedule (meter_sim/config.py `tariff_schedule`).
DEFAULT_SCHEDULE = {"00:00": 1, "06:00": 2, "22:00": 1}
TABLE = 3  # Z13 = 003: a tariff table (any code ≥ 003)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def where(exc: ValidationError) -> list[str]:
    """Each error as "loc: message", loc dotted the way the configuration loader shows it (seasons[1].start)."""
    out = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        out.append(f"{loc}: {err['msg']}")
    return out


def calendar(**fields: Any) -> TariffCalendar:
    return TariffCalendar.model_validate(fields)


def one_season(work: dict[str, int], weekend: dict[str, int], holiday: dict[str, int], **more: Any) -> TariffCalendar:
    return calendar(
        day_plans={"work": work, "weekend": weekend, "holiday": holiday},
        seasons=[{"start": "01-01", "working": "work", "non_working": "weekend", "holiday": "holiday"}],
        **more,
    )


# --- the present default behaviour is unchanged ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("local", "tariff"),
    [
        ("2026-01-15T00:00", 1), ("2026-01-15T05:59", 1), ("2026-01-15T06:00", 2), ("2026-01-15T21:59", 2),
        ("2026-01-15T22:00", 1), ("2026-01-17T12:00", 2),  # a Saturday runs the same plan
        ("2026-07-15T06:30", 2), ("2026-12-25T23:59", 1),
    ],
)
def test_default_schedule_becomes_a_calendar_with_the_same_tariffs(local: str, tariff: int) -> None:
    tariffs = Tariffs(Z_DEFAULTS[13], Z_DEFAULTS[3], TariffCalendar.from_schedule(DEFAULT_SCHEDULE))
    tariffs.update(at(local))
    assert tariffs.active == tariff and tariffs.source == "calendar"


def test_default_z13_is_a_table_code() -> None:
    # The settings' schedule stands in for the order-form table (zcodes.Z_DEFAULTS); commands are refused there.
    assert Z_DEFAULTS[13] >= 3
    assert not Tariffs(Z_DEFAULTS[13], 0, TariffCalendar.from_schedule(DEFAULT_SCHEDULE)).accepts_commands


def test_a_plain_schedule_repeats_its_last_tariff_before_the_first_switch() -> None:
    schedule = TariffSchedule({"07:00": 3, "23:00": 4})
    assert [schedule.tariff_at(m) for m in (0, 419, 420, 1379, 1380, 1439)] == [4, 4, 3, 3, 4, 4]
    assert schedule.switched_tariff(419) is None and schedule.last == 4
    cal = TariffCalendar.from_schedule({"07:00": 3, "23:00": 4})
    assert cal.tariff_at(at("2026-01-01T00:00")) == 4  # Jan 1 after Dec 31: same plan, last switch 23:00 → T4


# --- seasons ----------------------------------------------------------------------------------------------------
SEASONS = calendar(
    day_plans={"winter": {"00:00": 1, "06:00": 2, "22:00": 1}, "summer": {"00:00": 3, "08:00": 4, "20:00": 3}},
    seasons=[
        {"start": ["01-01", "10-01"], "working": "winter", "non_working": "winter", "holiday": "winter"},
        {"start": "04-01", "working": "summer", "non_working": "summer", "holiday": "summer"},
    ],
)


@pytest.mark.parametrize(
    ("local", "tariff"),
    [
        ("2026-03-31T12:00", 2), ("2026-04-01T12:00", 4), ("2026-09-30T12:00", 4), ("2026-10-01T12:00", 2),
        ("2026-12-31T12:00", 2), ("2027-01-01T12:00", 2), ("2028-04-01T07:59", 3), ("2028-04-01T08:00", 4),
    ],
)
def test_seasons_switch_on_their_start_dates(local: str, tariff: int) -> None:
    assert SEASONS.tariff_at(at(local)) == tariff


def test_before_the_years_first_season_start_last_years_last_season_holds() -> None:
    cal = calendar(
        day_plans={"a": {"00:00": 1}, "b": {"00:00": 2}},
        seasons=[
            {"start": "03-01", "working": "a", "non_working": "a", "holiday": "a"},
            {"start": "11-01", "working": "b", "non_working": "b", "holiday": "b"},
        ],
    )
    assert [cal.season_at(date.fromisoformat(d)) for d in ("2026-01-15", "2026-02-28", "2026-03-01",
                                                            "2026-10-31", "2026-11-01")] == [1, 1, 0, 0, 1]
    assert cal.tariff_at(at("2026-01-15T12:00")) == 2 and cal.tariff_at(at("2026-03-01T00:00")) == 1


# --- day types and exception days -------------------------------------------------------------------------------
DAY_TYPES = one_season({"00:00": 1, "07:00": 2}, {"00:00": 3}, {"00:00": 4},
                       exception_days=["2026-01-15", "12-25", "02-29"])


@pytest.mark.parametrize(
    ("day", "day_type", "tariff_at_noon"),
    [
        ("2026-01-14", "working", 2),  # Wednesday
        ("2026-01-15", "holiday", 4),  # Thursday, a dated exception day
        ("2027-01-15", "working", 2),  # the same date a year later is an ordinary Friday
        ("2026-01-17", "non_working", 3),  # Saturday
        ("2026-01-18", "non_working", 3),  # Sunday
        ("2026-12-25", "holiday", 4),  # recurring MM-DD, a Friday
        ("2030-12-25", "holiday", 4),  # ... every year (a Wednesday)
        ("2028-02-29", "holiday", 4),  # recurring 02-29: leap years only
        ("2027-03-01", "working", 2),
    ],
)
def test_day_types(day: str, day_type: str, tariff_at_noon: int) -> None:
    assert DAY_TYPES.day_type(date.fromisoformat(day)) == day_type
    assert DAY_TYPES.tariff_at(at(f"{day}T12:00")) == tariff_at_noon


def test_working_days_are_configurable() -> None:
    cal = one_season({"00:00": 2}, {"00:00": 3}, {"00:00": 4}, working_days=["sun", "mon", "tue", "wed", "thu"])
    friday, saturday, sunday = (date.fromisoformat(d) for d in ("2026-01-16", "2026-01-17", "2026-01-18"))
    assert [cal.day_type(d) for d in (friday, saturday, sunday)] == ["non_working", "non_working", "working"]
    everyday = one_season({"00:00": 2}, {"00:00": 3}, {"00:00": 4}, working_days=[])
    assert everyday.day_type(date(2026, 1, 14)) == "non_working"


# --- the previous day's last tariff holds until the first switch --------------------------------------------------
CARRY = one_season({"07:00": 2, "21:00": 1}, {"09:00": 3, "23:00": 4}, {"10:00": 2, "20:00": 3},
                   exception_days=["2026-01-15"])


@pytest.mark.parametrize(
    ("local", "tariff"),
    [
        ("2026-01-14T06:59", 1),  # Wed after a working Tuesday (last switch 21:00 → T1)
        ("2026-01-14T07:00", 2),
        ("2026-01-15T09:59", 1),  # holiday Thursday after a working Wednesday
        ("2026-01-15T10:00", 2),
        ("2026-01-16T06:59", 3),  # working Friday after the holiday (20:00 → T3)
        ("2026-01-17T08:59", 1),  # Saturday after a working Friday
        ("2026-01-17T09:00", 3),
        ("2026-01-18T08:59", 4),  # Sunday after a non-working Saturday (23:00 → T4)
        ("2026-01-19T06:59", 4),  # Monday after Sunday
        ("2026-01-19T07:00", 2),
    ],
)
def test_before_the_first_switch_the_previous_days_plan_holds(local: str, tariff: int) -> None:
    assert CARRY.tariff_at(at(local)) == tariff


def test_carry_over_across_a_season_start() -> None:
    cal = calendar(
        day_plans={"a": {"06:00": 2, "22:00": 1}, "b": {"06:00": 4, "22:00": 3}},
        seasons=[
            {"start": "01-01", "working": "a", "non_working": "a", "holiday": "a"},
            {"start": "04-01", "working": "b", "non_working": "b", "holiday": "b"},
        ],
    )
    assert cal.tariff_at(at("2026-04-01T03:00")) == 1  # March 31 ran season a
    assert cal.tariff_at(at("2026-04-02T03:00")) == 3
    assert cal.tariff_at(at("2027-01-01T03:00")) == 3  # Dec 31 ran season b


# --- module inputs (Z13 = 001) ----------------------------------------------------------------------------------
PORTS = [(False, False), (True, False), (False, True), (True, True)]


@pytest.mark.parametrize(
    ("z3", "tariffs"),
    [(1, [1, 2, 3, 4]), (2, [4, 3, 2, 1]), (22, [1, 2, 3, 4]), (23, [4, 3, 2, 1])],
)
def test_four_tariff_inputs(z3: int, tariffs: list[int]) -> None:
    # §2.8: (P1, P2) = (0,0) → T1, (230,0) → T2, (0,230) → T3, (230,230) → T4; inverted T4, T3, T2, T1.
    selector = Tariffs(1, z3, TariffCalendar.from_schedule(DEFAULT_SCHEDULE))
    seen = []
    for p1, p2 in PORTS:
        selector.set_inputs(p1, p2)
        selector.update(at("2026-01-15T12:00"))  # the calendar does not matter
        seen.append(selector.active)
        assert selector.source == "module"
    assert seen == tariffs


# Z3 table: 07/09/11 2-tariff on I/O1, 08/10/12 the same inverted; 13 on I/O2, 14 inverted.
@pytest.mark.parametrize(
    ("z3", "port", "inverted"),
    [(7, 1, False), (8, 1, True), (9, 1, False), (10, 1, True), (11, 1, False), (12, 1, True),
     (13, 2, False), (14, 2, True)],
)
def test_two_tariff_inputs_use_one_port(z3: int, port: int, inverted: bool) -> None:
    selector = Tariffs(1, z3, TariffCalendar.from_schedule(DEFAULT_SCHEDULE))
    for p1, p2 in PORTS:
        selector.set_inputs(p1, p2)
        energised = p1 if port == 1 else p2
        expected = (1 if energised else 2) if inverted else (2 if energised else 1)
        assert selector.active == expected == module_tariff(z3, p1, p2)


def test_module_tariff_without_tariff_inputs() -> None:
    assert module_tariff(0, True, True) is None and module_tariff(5, True, False) is None


def test_module_port_needs_a_tariff_input_among_the_z3_roles() -> None:
    with pytest.raises(ValueError, match=r"Z13 \(tariff control\) = 1: tariff by module port needs a tariff input"):
        Tariffs(1, 3, TariffCalendar.from_schedule(DEFAULT_SCHEDULE))


# --- Z13 gating and the command -----------------------------------------------------------------------------------
def test_z13_off_is_always_t1() -> None:
    selector = Tariffs(0, 1, TariffCalendar.from_schedule(DEFAULT_SCHEDULE))
    selector.set_inputs(True, True)
    selector.update(at("2026-01-15T12:00"))
    assert selector.active == 1 and selector.source == "off"
    with pytest.raises(TariffRefused, match=r"Z13 \(tariff control\) = 000, tariff control is off"):
        selector.set_override(2)


@pytest.mark.parametrize(("z13", "z3"), [(1, 1), (3, 0), (999, 0)])
def test_commands_are_refused_unless_z13_is_register(z13: int, z3: int) -> None:
    selector = Tariffs(z13, z3, TariffCalendar.from_schedule(DEFAULT_SCHEDULE))
    selector.update(at("2026-01-15T12:00"))
    with pytest.raises(TariffRefused, match=rf"Z13 \(tariff control\) = {z13:03d}.*only Z13 = 002"):
        selector.set_override(4)
    assert selector.override is None and selector.active in (1, 2)
    selector.set_override(None)  # "auto": nothing to clear, accepted
    assert selector.override is None
    with pytest.raises(TariffRefused):
        Tariffs(z13, z3, TariffCalendar.from_schedule(DEFAULT_SCHEDULE), override=2)


def test_z13_register_follows_the_command_only() -> None:
    selector = Tariffs(2, 1, TariffCalendar.from_schedule(DEFAULT_SCHEDULE))
    selector.update(at("2026-01-15T12:00"))  # calendar says T2: ignored
    selector.set_inputs(True, True)  # module says T4: ignored
    assert selector.active == 1 and selector.source == "command"  # register before any command: T1 (inferred)
    selector.set_override(3)
    assert selector.active == 3 and selector.override == 3
    selector.update(at("2026-01-15T23:00"))
    assert selector.active == 3
    selector.set_override(None)
    assert selector.active == 1 and selector.override is None
    assert Tariffs(2, 0, TariffCalendar.from_schedule(DEFAULT_SCHEDULE), override=4).active == 4


@pytest.mark.parametrize("bad", [0, 9, -1, True])
def test_command_tariff_out_of_range(bad: int) -> None:
    selector = Tariffs(2, 0, TariffCalendar.from_schedule(DEFAULT_SCHEDULE))
    with pytest.raises(ValueError, match="tariff must be 1–8 or auto"):
        selector.set_override(bad)
    assert selector.override is None


def test_simulator_extension_lets_the_command_override_any_source() -> None:
    selector = Tariffs(TABLE, 0, TariffCalendar.from_schedule(DEFAULT_SCHEDULE), command_overrides_any_source=True)
    selector.update(at("2026-01-15T12:00"))
    selector.set_override(4)
    assert (selector.active, selector.source) == (4, "command")
    selector.set_override(None)
    assert (selector.active, selector.source) == (2, "calendar")
    module = Tariffs(1, 1, TariffCalendar.from_schedule(DEFAULT_SCHEDULE), command_overrides_any_source=True)
    module.set_inputs(True, False)
    module.set_override(3)
    assert module.active == 3
    module.set_override(None)
    assert (module.active, module.source) == (2, "module")


# --- Z20 and the 20-year horizon ----------------------------------------------------------------------------------
def test_exception_days_need_z20() -> None:
    cal = one_season({"00:00": 1}, {"00:00": 2}, {"00:00": 3}, exception_days=["12-25"])
    with pytest.raises(ValueError, match=r"Z20 \(calendar\) = 000 means no exception days.*holds 1"):
        Tariffs(TABLE, 0, cal)
    selector = Tariffs(TABLE, 0, cal, z20=1)
    selector.update(at("2026-12-25T12:00"))
    assert selector.active == 3


def test_exception_days_at_most_20_years_ahead() -> None:
    cal = one_season({"00:00": 1}, {"00:00": 2}, {"00:00": 3}, exception_days=["2046-01-15", "01-16"])
    cal.check_horizon(date(2026, 1, 15))
    with pytest.raises(ValueError, match=r"exception_days\[0\] = '2046-01-15': more than 20 years after .* 2026-01-14"):
        cal.check_horizon(date(2026, 1, 14))
    one_season({"00:00": 1}, {"00:00": 2}, {"00:00": 3}, exception_days=["2048-02-28"]).check_horizon(date(2028, 2, 29))


# --- change reporting -------------------------------------------------------------------------------------------
def test_take_change_reports_each_change_once() -> None:
    selector = Tariffs(TABLE, 0, TariffCalendar.from_schedule(DEFAULT_SCHEDULE))
    selector.update(at("2026-01-15T05:59"))
    assert selector.take_change() is None  # the first tariff after start is no change
    selector.update(at("2026-01-15T06:00"))
    assert selector.take_change() == (1, 2)
    assert selector.take_change() is None
    selector.update(at("2026-01-15T06:01"))
    assert selector.take_change() is None
    selector.update(at("2026-01-15T22:00"))
    assert selector.take_change() == (2, 1)


def test_take_change_nets_changes_between_calls() -> None:
    selector = Tariffs(2, 0, TariffCalendar.from_schedule(DEFAULT_SCHEDULE))
    selector.set_override(3)
    selector.set_override(None)
    assert selector.take_change() is None
    selector.set_override(4)
    selector.set_override(2)
    assert selector.take_change() == (1, 2)


def test_take_change_for_module_inputs() -> None:
    selector = Tariffs(1, 1, TariffCalendar.from_schedule(DEFAULT_SCHEDULE))
    assert selector.take_change() is None
    selector.set_inputs(False, True)
    assert selector.take_change() == (1, 3)


# --- persistence ------------------------------------------------------------------------------------------------
def test_a_change_while_the_meter_was_off_is_reported_after_restart() -> None:
    cal = TariffCalendar.from_schedule(DEFAULT_SCHEDULE)
    before = Tariffs(TABLE, 0, cal)
    before.update(at("2026-01-15T12:00"))
    saved = before.to_state()
    after = Tariffs(TABLE, 0, cal)
    after.restore(saved)
    assert after.active == 2  # before the first update: the saved tariff
    after.update(at("2026-01-15T23:30"))
    assert after.take_change() == (2, 1)
    same = Tariffs(TABLE, 0, cal)
    same.restore(saved)
    same.update(at("2026-01-15T13:00"))
    assert same.take_change() is None


def test_inputs_and_register_survive_a_restart() -> None:
    cal = TariffCalendar.from_schedule(DEFAULT_SCHEDULE)
    module = Tariffs(1, 2, cal)
    module.set_inputs(True, False)
    restored = Tariffs(1, 2, cal)
    restored.restore(module.to_state())
    assert restored.inputs == (True, False) and restored.active == 3  # inverted: (230, 0) → T3
    assert restored.take_change() == (4, 3)  # a change not yet taken before saving is still reported
    assert module.take_change() == (4, 3)
    again_module = Tariffs(1, 2, cal)
    again_module.restore(module.to_state())
    assert again_module.take_change() is None
    register = Tariffs(2, 0, cal, override=4)
    again = Tariffs(2, 0, cal)
    again.restore(register.to_state())
    assert again.override == 4 and again.active == 4 and again.take_change() is None
    table = Tariffs(TABLE, 0, cal)
    table.restore(register.to_state())  # Z13 changed from 002 to a table: the register no longer counts
    assert table.override is None
    table.restore({"override": 3})  # an old save holding the override only
    assert table.override is None


@pytest.mark.parametrize(
    "state", [{"override": 9}, {"override": "2"}, {"inputs": [1, 0]}, {"inputs": [True]}, {"active": 0}]
)
def test_restore_refuses_malformed_state(state: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="saved"):
        Tariffs(2, 0, TariffCalendar.from_schedule(DEFAULT_SCHEDULE)).restore(state)


# --- validation -------------------------------------------------------------------------------------------------
def seasons(n: int, starts: list[str] | None = None) -> list[dict[str, Any]]:
    starts = starts or [f"{m:02d}-01" for m in range(1, n + 1)]
    return [{"start": s, "working": "p", "non_working": "p", "holiday": "p"} for s in starts[:n]]


def test_limits_are_accepted_up_to_the_spec_sizes() -> None:
    plan = {f"{h:02d}:00": 1 + h % 4 for h in range(10)}
    starts = [["01-01", "05-01"], ["02-01", "06-01"], ["03-01", "07-01"], ["04-01", "08-01"]]
    days = [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(199)] + ["12-31"]
    cal = calendar(day_plans={"p": plan}, exception_days=days,
                   seasons=[{"start": s, "working": "p", "non_working": "p", "holiday": "p"} for s in starts])
    assert len(cal.seasons) == 4 and len(cal.exception_days) == 200


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"seasons": seasons(5)}, "seasons: Value error, 5 seasons; the meter holds 1–4"),
        ({"seasons": []}, "seasons: Value error, 0 seasons; the meter holds 1–4"),
        ({"seasons": [{"start": [f"{m:02d}-01" for m in range(1, 10)], "working": "p", "non_working": "p",
                       "holiday": "p"}]},
         ": Value error, seasons: 9 season switches a year; the meter holds at most 8"),
        ({"day_plans": {"p": {f"{h:02d}:00": 1 for h in range(11)}}},
         "day_plans.p: Value error, 11 switches; a day plan holds at most 10"),
        ({"day_plans": {"p": {}}}, "day_plans.p: Value error, a day plan needs at least one switch"),
        ({"day_plans": {"p": {"24:00": 1}}}, "day_plans.p.24:00.[key]: Value error, switch time '24:00' is not HH:MM"),
        ({"day_plans": {"p": {"7:00": 1}}}, "day_plans.p.7:00.[key]: Value error, switch time '7:00' is not HH:MM"),
        ({"day_plans": {"p": {"07:60": 1}}}, "day_plans.p.07:60.[key]: Value error, switch time '07:60'"),
        ({"day_plans": {"p": {"07:00:30": 1}}}, "day_plans.p.07:00:30.[key]: Value error, switch time '07:00:30'"),
        ({"day_plans": {"p": {"07:00": 9}}}, "day_plans.p.07:00: Value error, tariff 9 is not 1–8 (the meter counts"),
        ({"day_plans": {"p": {"07:00": 0}}}, "day_plans.p.07:00: Value error, tariff 0 is not 1–8"),
        ({"day_plans": {"p": {"07:00": "2"}}}, "day_plans.p.07:00: Input should be a valid integer"),
        ({"seasons": seasons(2, ["01-01", "02-30"])}, "seasons[1].start[0]: Value error, '02-30' is not a date MM-DD"),
        ({"seasons": seasons(1, ["1-1"])}, "seasons[0].start[0]: Value error, '1-1' is not a date MM-DD"),
        ({"seasons": seasons(1, ["02-29"])}, "seasons[0].start[0]: Value error, '02-29' exists only in leap years"),
        ({"seasons": seasons(2, ["03-01", "03-01"])},
         ": Value error, seasons[1].start[0]: '03-01' is also the start of seasons[0]"),
        ({"seasons": [{"start": [], "working": "p", "non_working": "p", "holiday": "p"}]},
         "seasons[0].start: Value error, a season needs at least one start date MM-DD"),
        ({"seasons": [{"start": "01-01", "working": "p", "non_working": "x", "holiday": "p"}]},
         ": Value error, seasons[0].non_working: day plan 'x' is not in day_plans (defined: 'p')"),
        ({"seasons": [{"start": "01-01", "working": "p", "non_working": "p"}]}, "seasons[0].holiday: Field required"),
        ({"day_plans": {"p": {"00:00": 1}, "q": {"00:00": 2}}},
         ": Value error, day_plans.q: not used by any season"),
        ({"exception_days": ["2026-01-01"] * 2}, "exception_days: Value error, exception_days[1] = '2026-01-01' "
                                                 "repeats exception_days[0]"),
        ({"exception_days": [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(201)]},
         "exception_days: Value error, 201 exception days; the meter holds at most 200"),
        ({"exception_days": ["2026-02-29"]}, "exception_days[0]: Value error, '2026-02-29' is not a date YYYY-MM-DD"),
        ({"exception_days": ["26-12-2026"]}, "exception_days[0]: Value error, '26-12-2026' is not a date YYYY-MM-DD "
                                             "(one day) or MM-DD (every year)"),
        ({"working_days": ["monday"]}, "working_days[0]: Input should be 'mon', 'tue'"),
        ({"working_days": ["mon", "mon"]}, "working_days: Value error, 'mon' is listed twice"),
        ({"plans": 3}, "plans: Input should be a valid tuple"),
        ({"plans": [{"seasons": seasons(1)}]}, ": Value error, give either `seasons` (a calendar with one plan) or "
                                               "`plans`"),
        ({"seasons": None}, ": Value error, no plan: give `seasons`"),
        ({"seasons": None, "plans": [{"seasons": seasons(1)}] * 4}, "plans: Value error, 4 plans; the meter holds 1–3"),
        ({"seasons": None, "plans": [{"seasons": seasons(1)}, {"seasons": seasons(2, ["01-01", "01-01"])}]},
         "plans[1]: Value error, seasons[1].start[0]: '01-01' is also the start of seasons[0]"),
        ({"seasons": None, "plans": [{"seasons": seasons(1)}, {"seasons": seasons(5)}]},
         "plans[1].seasons: Value error, 5 seasons; the meter holds 1–4"),
        ({"seasons": None, "plans": [{"seasons": seasons(1)}, {"seasons": [
            {"start": "01-01", "working": "p", "non_working": "p", "holiday": "x"}]}]},
         ": Value error, plans[1].seasons[0].holiday: day plan 'x' is not in day_plans (defined: 'p')"),
        ({"seasons": None, "plans": [{"seasons": seasons(1), "day_plans": {}}]},
         "plans[0].day_plans: Extra inputs are not permitted"),
    ],
)
def test_validation_errors_name_the_field(fields: dict[str, Any], error: str) -> None:
    base: dict[str, Any] = {"day_plans": {"p": {"00:00": 1}}, "seasons": seasons(1)}
    with pytest.raises(ValidationError) as info:
        calendar(**(base | fields))
    assert any(line.startswith(error) for line in where(info.value)), where(info.value)


def test_schedule_conversion_validates_the_schedule() -> None:
    with pytest.raises(ValidationError, match="11 switches; a day plan holds at most 10"):
        TariffCalendar.from_schedule({f"{h:02d}:00": 1 for h in range(11)})
    with pytest.raises(ValueError, match="switch time '7:00' is not HH:MM"):
        TariffSchedule({"7:00": 1})


# --- fuzz: any valid calendar, any time ---------------------------------------------------------------------------
@st.composite
def calendars(draw: st.DrawFn) -> TariffCalendar:
    n_plans = draw(st.integers(1, 6))
    plans = {
        f"p{i}": {f"{m // 60:02d}:{m % 60:02d}": draw(st.integers(1, 8))
                  for m in draw(st.sets(st.integers(0, 1439), min_size=1, max_size=10))}
        for i in range(n_plans)
    }
    start_days = draw(st.lists(st.dates(date(2001, 1, 1), date(2001, 12, 31)), min_size=1, max_size=8, unique=True))
    n_seasons = draw(st.integers(1, min(4, len(start_days))))
    season_list = []
    for i in range(n_seasons):
        mine = start_days[i::n_seasons]
        refs = [f"p{draw(st.integers(0, n_plans - 1))}" for _ in range(3)]
        season_list.append({"start": [d.strftime("%m-%d") for d in mine], "working": refs[0],
                            "non_working": refs[1], "holiday": refs[2]})
    used = {s[k] for s in season_list for k in ("working", "non_working", "holiday")}
    holidays = draw(st.lists(st.dates(date(2000, 1, 1), date(2040, 12, 31)), max_size=20, unique=True))
    recurring = draw(st.lists(st.dates(date(2000, 1, 1), date(2000, 12, 31)), max_size=5, unique=True))
    return calendar(
        day_plans={k: v for k, v in plans.items() if k in used},
        seasons=season_list,
        working_days=draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), unique=True)),
        exception_days=[d.isoformat() for d in holidays] + [d.strftime("%m-%d") for d in recurring],
    )


FIRST, LAST = datetime(1970, 1, 2), datetime(2100, 12, 31)
zones: st.SearchStrategy[tzinfo] = st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-12 * 60, 14 * 60))
local_times = st.datetimes(FIRST, LAST) | st.datetimes(FIRST, LAST, timezones=zones)


@settings(max_examples=300, deadline=None)
@given(cal=calendars(), local=local_times)
def test_update_always_gives_a_tariff_that_changes_only_at_switch_times(cal: TariffCalendar, local: datetime) -> None:
    selector = Tariffs(TABLE, 0, cal, z20=1)
    selector.update(local)
    tariff = selector.active
    assert 1 <= tariff <= 8
    assert tariff in {t for plan in cal.day_plans.values() for t in plan.values()}
    assert tariff == cal.tariff_at(local.replace(tzinfo=None))  # the wall-clock fields decide, not the zone
    hhmm = f"{local.hour:02d}:{local.minute:02d}"
    plan = cal.day_plans[cal.day_plan(local.date())]
    if hhmm in plan:
        assert tariff == plan[hhmm]
    else:  # no switch this minute: the tariff is the one of the minute before (yesterday's 23:59 at midnight)
        previous = local.replace(second=0, microsecond=0, tzinfo=None) - timedelta(minutes=1)
        assert tariff == cal.tariff_at(previous)
