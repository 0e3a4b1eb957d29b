"""The calculators of energy by period and capacity tariffs, without I/O: the hourly ledger, the periods of the
meter's local calendar (summer time included) and the capacity rules, by example and with hypothesis."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from gateway.capacity_settings import (
    GLITRE_NETT_2024,
    CapacityTariff,
    DenmarkTouRule,
    NorwayRule,
    Step,
    SwedenMaxRule,
    SwedenMeanRule,
    Window,
)
from gateway.capacity_tariff import Peak, capacity_fields, headroom, month_result, projection, top_peaks
from gateway.energy_periods import period_fields
from gateway.hourly_energy import HOUR_S, HourLedger
from gateway.meter_calendar import MeterCalendar
from gateway.period_tracker import PeriodStore, PeriodTracker
from omnipower.rtc import Rtc

CET = timezone(timedelta(hours=1))
CALENDAR = MeterCalendar(Rtc(1, 1))  # Norway, Sweden, Denmark: UTC+1 with EU summer time
RULES: TypeAdapter[NorwayRule | SwedenMaxRule | SwedenMeanRule | DenmarkTouRule] = TypeAdapter(CapacityTariff)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    """The instant of a Central European standard-time wall time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=CET).timestamp()


def hour_index(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(at(year, month, day, hour)) // HOUR_S


# --- the ledger ---------------------------------------------------------------------------------------------------

def test_readings_inside_an_hour_and_across_a_boundary_split_by_time() -> None:
    ledger = HourLedger()
    ledger.observe(at(2026, 11, 2, 12, 59, 50), 100.0, 10.0)
    ledger.observe(at(2026, 11, 2, 13, 0, 10), 100.2, 10.0)  # 0.2 kWh over 20 s: 10 s each side
    assert ledger.energy(hour_index(2026, 11, 2, 12)) == pytest.approx((0.1, 0.0))
    assert ledger.energy(hour_index(2026, 11, 2, 13)) == pytest.approx((0.1, 0.0))


def test_a_reading_on_the_boundary_closes_the_hour_it_ends() -> None:
    """HAN list 2: the totals of 13:00:00 close 12:00–13:00, whatever second they arrive."""
    ledger = HourLedger()
    ledger.observe(at(2026, 11, 2, 12), 100.0, 0.0)
    ledger.observe(at(2026, 11, 2, 13), 103.5, 0.25)
    assert ledger.energy(hour_index(2026, 11, 2, 12)) == pytest.approx((3.5, 0.25))
    assert hour_index(2026, 11, 2, 13) not in ledger.hours


def test_a_gap_of_days_is_spread_evenly_and_never_spikes() -> None:
    ledger = HourLedger()
    ledger.observe(at(2026, 11, 2, 6), 100.0, None)
    ledger.observe(at(2026, 11, 5, 6), 172.0, None)  # 72 kWh over 72 hours offline
    values = [ledger.energy(h)[0] for h in range(hour_index(2026, 11, 2, 6), hour_index(2026, 11, 5, 6))]
    assert len(values) == 72 and values == pytest.approx([1.0] * 72)


def test_a_total_that_goes_backwards_counts_nothing_and_restarts_from_the_new_value() -> None:
    ledger = HourLedger()
    ledger.observe(at(2026, 11, 2, 10), 5000.0, 0.0)
    ledger.observe(at(2026, 11, 2, 11), 3.0, 0.0)  # a replaced meter
    ledger.observe(at(2026, 11, 2, 12), 4.5, 0.0)
    assert ledger.energy(hour_index(2026, 11, 2, 10)) == (0.0, 0.0)
    assert ledger.energy(hour_index(2026, 11, 2, 11)) == pytest.approx((1.5, 0.0))


def test_a_clock_set_back_counts_what_was_seen_in_the_hour_it_is_seen() -> None:
    ledger = HourLedger()
    ledger.observe(at(2026, 11, 2, 12, 30), 10.0, 0.0)
    ledger.observe(at(2026, 11, 2, 11, 30), 10.4, 0.0)
    assert ledger.energy(hour_index(2026, 11, 2, 11)) == pytest.approx((0.4, 0.0))
    assert ledger.anchor is not None and ledger.anchor.t == at(2026, 11, 2, 11, 30)


readings = st.lists(st.tuples(st.integers(0, 40 * 24 * 3600), st.floats(0, 50), st.floats(0, 5)),
                    min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(readings)
def test_energy_is_never_negative_and_adds_up_to_what_the_totals_rose_by(steps: list[tuple[int, float, float]]
                                                                        ) -> None:
    """Totals that only rise, read at increasing instants: every hour ≥ 0 and the hours sum to the rise."""
    ledger, t, a_plus, a_minus = HourLedger(), at(2026, 10, 20), 1000.0, 50.0
    ledger.observe(t, a_plus, a_minus)
    for dt, d_plus, d_minus in steps:
        t, a_plus, a_minus = t + dt + 1, a_plus + d_plus, a_minus + d_minus
        ledger.observe(t, a_plus, a_minus)
    assert all(i >= 0 and e >= 0 for i, e in ledger.hours.values())
    assert sum(i for i, _ in ledger.hours.values()) == pytest.approx(a_plus - 1000.0, abs=1e-6)
    assert sum(e for _, e in ledger.hours.values()) == pytest.approx(a_minus - 50.0, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(-3 * 24 * 3600, 3 * 24 * 3600), st.floats(-100, 5000)), max_size=30))
def test_any_readings_at_all_give_no_negative_hour(steps: list[tuple[int, float]]) -> None:
    """Clocks jumping both ways and totals going backwards: never a negative hour, day or month."""
    ledger = HourLedger()
    for dt, total in steps:
        ledger.observe(at(2026, 11, 10) + dt, total, total / 10)
    assert all(i >= 0 and e >= 0 for i, e in ledger.hours.values())
    fields = period_fields(ledger, CALENDAR, export=True)
    assert all(v >= 0 for v in fields.values() if isinstance(v, float))


def test_the_ledger_survives_its_file(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    store = PeriodStore(tmp_path / "periods" / "m1.json")
    ledger = HourLedger()
    ledger.observe(at(2026, 11, 2, 12), 100.0, 1.0)
    ledger.observe(at(2026, 11, 2, 14), 104.0, 1.5)
    store.save(ledger)
    again = store.load()
    assert again is not None and again.hours == ledger.hours and again.anchor == ledger.anchor
    (tmp_path / "periods" / "m1.json").write_text("{not json")
    assert store.load() is None  # a damaged file: a new ledger, not a crash


# --- periods of the local calendar ------------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25),
                                             (date(2026, 11, 1), 24)])
def test_days_begin_at_local_midnight_and_last_23_or_25_hours_when_summer_time_switches(day: date,
                                                                                         hours: int) -> None:
    first, end = CALENDAR.day_bounds(day)
    assert end - first == hours
    assert CALENDAR.hour_start(first).replace(tzinfo=None) == datetime(day.year, day.month, day.day)


def test_the_day_that_summer_time_ends_counts_its_25_hours() -> None:
    ledger = HourLedger()
    start = CALENDAR.midnight(date(2026, 10, 25))
    for n in range(26):  # a reading on each hour boundary, 1 kWh an hour, from midnight to the next midnight
        ledger.observe(start + n * HOUR_S, 10.0 + n, 0.0)
    fields = period_fields(ledger, CALENDAR, export=True)
    assert fields["energy_day_start"] == "2026-10-25T00:00:00+02:00"  # the horizon closes the 25-hour day
    assert fields["energy_import_day"] == 25.0 and fields["energy_hour_start"] == "2026-10-25T23:00:00+01:00"


def test_the_totals_of_midnight_close_the_day_and_the_month_that_ended() -> None:
    """HAN's push at 00:00:05 on 1 December brings the last hour of November: it is November's."""
    ledger = HourLedger()
    ledger.observe(at(2026, 11, 30, 22), 500.0, 0.0)
    ledger.observe(at(2026, 11, 30, 23), 501.0, 0.0)
    ledger.observe(at(2026, 12, 1, 0), 503.0, 0.0)
    fields = period_fields(ledger, CALENDAR, export=False)
    assert fields == {
        "energy_import_hour": 2.0, "energy_hour_start": "2026-11-30T23:00:00+01:00",
        "energy_import_day": 3.0, "energy_day_start": "2026-11-30T00:00:00+01:00",
        "energy_import_month": 3.0, "energy_month_start": "2026-11-01T00:00:00+01:00",
    }
    ledger.observe(at(2026, 12, 1, 1), 504.25, 0.0)  # the next push opens the new day with its first hour
    fields = period_fields(ledger, CALENDAR, export=False)
    assert (fields["energy_import_day"], fields["energy_day_start"]) == (1.25, "2026-12-01T00:00:00+01:00")
    assert (fields["energy_import_month"], fields["energy_month_start"]) == (1.25, "2026-12-01T00:00:00+01:00")


# --- the capacity rules -------------------------------------------------------------------------------------------

def peak(day: int, hour: int, kwh: float) -> Peak:
    return Peak(hour_index(2026, 11, day, hour), kwh, date(2026, 11, day))


def test_norway_takes_each_days_highest_hour_and_the_three_highest_days() -> None:
    hours = [peak(3, 17, 10.8), peak(3, 18, 11.2), peak(10, 8, 7.3), peak(24, 23, 10.4), peak(30, 23, 9.9)]
    assert [(p.day.day, p.kwh) for p in top_peaks(hours, 3, distinct_days=True)] == [(3, 11.2), (24, 10.4),
                                                                                     (30, 9.9)]
    assert [p.kwh for p in top_peaks(hours, 3, distinct_days=False)] == [11.2, 10.8, 10.4]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.integers(0, 23), st.floats(0, 30)), max_size=60,
                unique_by=lambda x: (x[0], x[1])), st.integers(1, 5), st.booleans(), st.randoms())
def test_the_peaks_are_on_different_days_and_do_not_depend_on_order(
        rows: list[tuple[int, int, float]], n: int, distinct: bool, rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    hours = [peak(d, h, kwh) for d, h, kwh in rows]
    chosen = top_peaks(hours, n, distinct)
    shuffled = hours[:]
    rnd.shuffle(shuffled)
    assert top_peaks(shuffled, n, distinct) == chosen
    assert len(chosen) == min(n, len({p.day for p in hours}) if distinct else len(hours))
    if distinct:
        assert len({p.day for p in chosen}) == len(chosen)
        for p in chosen:  # each chosen hour is the highest of its day
            assert p.kwh == max(q.kwh for q in hours if q.day == p.day)
    left_out = [p for p in hours if p not in chosen and (not distinct or p.day not in {c.day for c in chosen})]
    assert all(q.kwh <= min(c.kwh for c in chosen) for q in left_out)


def test_the_steps_default_to_glitre_nett_and_a_bound_starts_its_step() -> None:
    rule = RULES.validate_python({"rule": "norway"})
    assert isinstance(rule, NorwayRule) and rule.steps == GLITRE_NETT_2024
    ledger = HourLedger()
    for day, kwh in ((2, 5.0), (3, 5.0), (4, 5.0)):  # exactly 5.00 kW: step 3 ("fra og med")
        ledger.hours[hour_index(2026, 11, day, 12)] = [kwh, 0.0]
    assert month_result(rule, ledger, CALENDAR, 2026, 11).step == "3"
    ledger.hours[hour_index(2026, 11, 4, 12)] = [4.99, 0.0]
    assert month_result(rule, ledger, CALENDAR, 2026, 11).step == "2"


def test_rules_refuse_what_makes_no_sense() -> None:
    with pytest.raises(ValidationError, match="first step must start at from_kw 0"):
        RULES.validate_python({"rule": "norway", "steps": [{"from_kw": 2}]})
    with pytest.raises(ValidationError, match="must rise"):
        RULES.validate_python({"rule": "sweden_max", "steps": [{"from_kw": 0}, {"from_kw": 5}, {"from_kw": 5}]})
    with pytest.raises(ValidationError, match="no period covers hour 6"):
        RULES.validate_python({"rule": "denmark_tou", "periods": [{"label": "lav", "hours": [0, 6]}]})
    with pytest.raises(ValidationError, match="rule"):
        RULES.validate_python({"rule": "finland"})


def test_a_swedish_window_counts_only_weekday_daytime_hours_in_winter() -> None:
    rule = RULES.validate_python({"rule": "sweden_mean", "hours": 2, "window": {
        "weekdays": [1, 2, 3, 4, 5], "hours": [7, 19], "months": [11, 12, 1, 2, 3]}})
    ledger = HourLedger()
    ledger.hours[hour_index(2026, 11, 7, 12)] = [20.0, 0.0]  # a Saturday
    ledger.hours[hour_index(2026, 11, 9, 19)] = [15.0, 0.0]  # Monday 19:00–20:00: outside
    ledger.hours[hour_index(2026, 11, 9, 18)] = [4.0, 0.0]  # Monday 18:00–19:00: inside
    ledger.hours[hour_index(2026, 11, 10, 7)] = [3.0, 0.0]  # Tuesday 07:00: inside
    ledger.hours[hour_index(2026, 11, 10, 8)] = [2.0, 0.0]  # Tuesday: same day as a higher one
    result = month_result(rule, ledger, CALENDAR, 2026, 11)
    assert [p.kwh for p in result.peaks] == [4.0, 3.0] and result.value == 3.5 and result.step is None
    outside = capacity_fields(rule, ledger, CALENDAR, at(2026, 11, 7, 12, 30), 1.0, None)
    assert outside["capacity_headroom"] is None and "capacity_step" not in outside  # Saturday: nothing counts


def test_sweden_max_and_the_danish_periods() -> None:
    ledger = HourLedger()
    ledger.hours[hour_index(2026, 11, 9, 18)] = [4.0, 0.0]
    ledger.hours[hour_index(2026, 11, 9, 19)] = [6.0, 0.0]
    top = RULES.validate_python({"rule": "sweden_max"})
    assert month_result(top, ledger, CALENDAR, 2026, 11).value == 6.0
    tou = RULES.validate_python({"rule": "denmark_tou"})
    labels = [capacity_fields(tou, ledger, CALENDAR, at(2026, 11, 9, h, 30), 0.0, None)["capacity_step"]
              for h in (3, 6, 16, 17, 20, 21, 23)]
    assert labels == ["lavlast", "højlast", "højlast", "spidslast", "spidslast", "højlast", "højlast"]


def test_headroom_by_example() -> None:
    """Other days' maxima 7, 6 and 4 kWh, today's highest other hour 3, this hour 1.5 so far: the mean is 17/3 ≈
    5.67 (step 3 of Glitre Nett's, from 5 kW); step 4 starts at 10 kW, reached when this hour makes today's entry
    3·10 − (7 + 6) = 17 kWh: 15.5 kWh to go. Priced per kW (no steps): the mean rises once this hour beats 4."""
    assert headroom([7.0, 6.0, 4.0], 3.0, 1.5, 3, GLITRE_NETT_2024) == pytest.approx(15.5)
    assert headroom([7.0, 6.0, 4.0], 3.0, 1.5, 3, None) == pytest.approx(2.5)
    assert headroom([], 0.0, 1.5, 3, None) == 0.0  # the first hour of the month: every kWh raises the mean
    assert headroom([130.0, 110.0], 0.0, 70.0, 3, GLITRE_NETT_2024) is None  # 103.3 kW: already the top step


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.integers(0, 23), st.floats(0, 40)), max_size=40,
                unique_by=lambda x: (x[0], x[1])),
       st.floats(0, 20), st.booleans(), st.sampled_from(["norway", "sweden_mean", "sweden_max"]))
def test_the_headroom_is_exactly_what_the_hour_may_take(rows: list[tuple[int, int, float]], so_far: float,
                                                       steps: bool, name: str) -> None:
    """Judged by recomputing the month: with the headroom taken the step (or value) stays; a little more and it
    rises."""
    spec: dict[str, object] = {"rule": name}
    if name != "norway" and steps:
        spec["steps"] = [{"from_kw": 0}, {"from_kw": 3}, {"from_kw": 8}, {"from_kw": 20}]
    rule = RULES.validate_python(spec)
    assert not isinstance(rule, DenmarkTouRule)
    ledger = HourLedger()
    for day, hour, kwh in rows:
        ledger.hours[hour_index(2026, 11, day, hour)] = [kwh, 0.0]
    now = at(2026, 11, 21, 15, 20)  # a day after every row: today has only the current hour
    current = int(now) // HOUR_S
    ledger.hours[current] = [so_far, 0.0]
    room = capacity_fields(rule, ledger, CALENDAR, now, so_far, None)["capacity_headroom"]

    def judged(extra: float) -> tuple[str | None, float | None]:
        ledger.hours[current] = [so_far + extra, 0.0]
        result = month_result(rule, ledger, CALENDAR, 2026, 11)
        return result.step, result.value

    before = judged(0.0)
    if room is None:
        assert rule.steps is not None and judged(1e6)[0] == before[0]
        return
    eps = 0.002  # the headroom is published to the Wh
    below, above = judged(max(0.0, room - eps)), judged(room + eps)
    if rule.steps is not None:
        assert below[0] == before[0] and above[0] != before[0]
    else:
        assert below[1] == pytest.approx(before[1], abs=1e-9) and above[1] is not None and before[1] is not None
        assert above[1] > before[1]


def test_the_projection_runs_the_present_power_to_the_end_of_the_hour() -> None:
    assert projection(1.0, at(2026, 11, 2, 12, 15), 4.0) == pytest.approx(4.0)  # 1 + 4 kW × 45 min
    assert projection(1.0, at(2026, 11, 2, 12, 15), None) == pytest.approx(4.0)  # the hour's mean rate so far
    assert projection(0.0, at(2026, 11, 2, 12, 0, 30), None) == 0.0  # too early to tell


def test_the_tracker_estimates_this_hour_from_p_plus_while_the_totals_lag() -> None:
    """HAN: the totals come at the hour, P+ every 10 s; the estimate is replaced by the metered hour."""
    tracker = PeriodTracker(Rtc(1, 1), rule=NorwayRule(rule="norway"))
    tracker.update({"time": "2026-11-02T13:00:05+01:00", "a_plus": 100.0, "p_plus": 6000},
                   "2026-11-02T13:00:00+01:00")
    for second in range(10, 1801, 10):  # list 1 every 10 s, 6 kW, until 13:30:00
        when = datetime(2026, 11, 2, 13, 0, 0, tzinfo=CET) + timedelta(seconds=second)
        fields = tracker.update({"time": when.isoformat(), "a_plus": 100.0, "p_plus": 6000},
                                "2026-11-02T13:00:00+01:00")
    assert fields["capacity_hour_import"] == pytest.approx(6 * (1800 - 5) / 3600, abs=1e-3)
    assert fields["capacity_hour_projection"] == pytest.approx(6 * (3600 - 5) / 3600, abs=1e-3)
    fields = tracker.update({"time": "2026-11-02T14:00:05+01:00", "a_plus": 105.5, "p_plus": 0},
                            "2026-11-02T14:00:00+01:00")
    assert fields["capacity_month_peaks"] == [{"time": "2026-11-02T13:00:00+01:00", "kwh": 5.5}]
    assert fields["capacity_hour_import"] == 0.0


def test_window_hours_wrap_past_midnight() -> None:
    night = Window(hours=(22, 6))
    assert [night.contains(datetime(2026, 11, 2, h, tzinfo=CET)) for h in (21, 22, 23, 0, 5, 6)] == [
        False, True, True, True, True, False]
    assert Step(from_kw=0).label is None


def test_a_tracker_without_time_or_totals_gives_nulls_not_a_crash() -> None:
    tracker = PeriodTracker(Rtc(1, 1), rule=NorwayRule(rule="norway"))
    fields = tracker.update({"time": None, "a_plus": "x"})
    assert fields["energy_import_day"] is None and fields["capacity_hour_import"] is None
    assert fields["capacity_step"] == "1"  # an enum is never null: Home Assistant refuses a state not in options


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6 * 3600), st.floats(0, 30), st.lists(st.floats(0.01, 0.99), max_size=8))
def test_more_readings_along_the_same_steady_import_change_no_hour(span: int, rise: float,
                                                                  cuts: list[float]) -> None:
    """Readings taken more often (a 10 s poll instead of a HAN hour) attribute the same energy to each hour, when
    the import is steady between them: spreading by time is consistent with itself."""
    t0 = at(2026, 11, 2, 9, 17, 3)
    coarse, fine = HourLedger(), HourLedger()
    for ledger in (coarse, fine):
        ledger.observe(t0, 100.0, None)
    for fraction in sorted(cuts):
        fine.observe(t0 + span * fraction, 100.0 + rise * fraction, None)
    for ledger in (coarse, fine):
        ledger.observe(t0 + span, 100.0 + rise, None)
    assert coarse.hours.keys() == fine.hours.keys() or rise == 0.0
    for hour in coarse.hours:
        assert fine.energy(hour)[0] == pytest.approx(coarse.energy(hour)[0], abs=1e-6)


def test_a_wrong_capacity_tariff_stops_start_up_naming_the_key() -> None:
    from gateway.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=r"meters\[0\]\.capacity_tariff = .*does not match any of the expected "
                                          r"tags: 'norway', 'sweden_max', 'sweden_mean', 'denmark_tou'"):
        load_settings(None, meters=[{"id": "m1", "capacity_tariff": {"rule": "finland"}}])
    with pytest.raises(ConfigError, match=r"capacity_tariff\.norway\.steps .*first step must start at from_kw 0"):
        load_settings(None, meters=[{"id": "m1", "capacity_tariff": {"rule": "norway", "steps": [{"from_kw": 3}]}}])


async def test_the_ledger_is_written_by_a_worker_thread_at_a_save_point_not_by_update(tmp_path: Path) -> None:
    """An fsync on the event loop holds every request for its duration: `update` only takes the ledger's bytes at
    a save point; `flush` writes them in a worker thread, and a save point's bytes, not later ones."""
    threads: list[int] = []

    class Recording(PeriodStore):
        def write(self, data: bytes) -> None:
            threads.append(threading.get_ident())
            super().write(data)

    store = Recording(tmp_path / "periods" / "m1.json")
    tracker = PeriodTracker(Rtc(1, 1), store=store)
    tracker.update({"time": "2026-11-02T13:00:05+01:00", "a_plus": 100.0})
    tracker.update({"time": "2026-11-02T14:00:05+01:00", "a_plus": 103.0})  # a new hour: a save point
    assert not store.path.exists()  # nothing written on the loop
    await tracker.flush()
    assert threads and threads[0] != threading.get_ident()
    saved = store.load()
    assert saved is not None and saved.to_dict() == tracker.ledger.to_dict()
    await tracker.flush()
    assert len(threads) == 1  # nothing new to write
