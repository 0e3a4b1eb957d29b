"""Data loggers (facts digest §3, §4, §13): ring-buffer behaviour, the data sheet's load-profile depth table,
the analysis logger's 2.5–520-day span, event-log capacities, paging and persistence."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_sim.loggers import (
    CLOCK_ADJUSTED,
    DATA_FILLED,
    OVERVOLTAGE,
    POWER_FAILURE,
    UNDERVOLTAGE,
    AnalysisLogger,
    BillingLog,
    EventLogs,
    LoadProfile,
    LoadProfileEntry,
    RingLog,
    Snapshot,
    dataclass_codec,
    fromdict_entry,
    load_profile_capacity,
    load_profile_depth_days,
    lp_channels_for_energy_type,
    lp_entry_bytes,
    voltage_status,
)
from omnipower.loggers import LOGGER_OBIS
from omnipower.rtc import Rtc

T0 = 1_767_225_600  # 2026-01-01 00:00:00 UTC
A4 = ("1.8.0", "2.8.0", "3.8.0", "4.8.0")


@dataclass(frozen=True, slots=True)
class Tick:
    t: int
    n: int = 0


TICK = dataclass_codec(Tick)


def ring(capacity: int, times: list[int]) -> RingLog[Tick]:
    log: RingLog[Tick] = RingLog(capacity, TICK)
    for i, t in enumerate(times):
        log.append(Tick(t, i))
    return log


def json_round(state: dict[str, Any]) -> dict[str, Any]:
    """What the permanent memory gives back: the state after a trip through JSON text."""
    out: dict[str, Any] = json.loads(json.dumps(state))
    return out


# --- ring buffer ---------------------------------------------------------------------------------
def test_ring_overwrites_oldest_and_keeps_order() -> None:
    log = ring(5, [100 + i for i in range(12)])
    assert len(log) == 5
    assert log.capacity == 5
    assert [e.t for e in log.entries()] == [107, 108, 109, 110, 111]
    assert [e.t for e in log] == [107, 108, 109, 110, 111]
    last = log.last()
    assert last is not None and last.t == 111


@given(st.integers(1, 40), st.lists(st.integers(-(10**9), 10**9), max_size=120))
def test_ring_keeps_newest_capacity_entries(capacity: int, times: list[int]) -> None:
    log = ring(capacity, times)
    expected = list(enumerate(times))[-capacity:] if times else []
    assert [(e.n, e.t) for e in log.entries()] == expected
    assert len(log) == min(capacity, len(times))


def test_ring_last_when_empty_and_partly_filled() -> None:
    log = ring(4, [])
    assert log.last() is None
    log.append(Tick(7))
    log.append(Tick(9))
    last = log.last()
    assert last is not None and last.t == 9


@pytest.mark.parametrize("capacity", [0, -1, True, 2.5])
def test_ring_capacity_validated(capacity: Any) -> None:
    with pytest.raises(ValueError, match="capacity"):
        RingLog(capacity, TICK)


def test_ring_resize_keeps_newest() -> None:
    log = ring(6, list(range(10)))  # holds 4..9, wrapped
    log.resize(3)
    assert [e.t for e in log.entries()] == [7, 8, 9]
    log.append(Tick(10))
    assert [e.t for e in log.entries()] == [8, 9, 10]
    log.resize(5)
    log.append(Tick(11))
    log.append(Tick(12))
    assert [e.t for e in log.entries()] == [8, 9, 10, 11, 12]
    log.append(Tick(13))
    assert [e.t for e in log.entries()] == [9, 10, 11, 12, 13]


# --- queries -------------------------------------------------------------------------------------
def test_query_time_range_is_inclusive_exclusive() -> None:
    log = ring(100, [0, 10, 20, 30, 40, 50, 60])
    page, total = log.query(20, 50)
    assert [e.t for e in page] == [20, 30, 40]
    assert total == 3
    page, total = log.query(19, 51)
    assert [e.t for e in page] == [20, 30, 40, 50]
    page, total = log.query(21, 50)
    assert [e.t for e in page] == [30, 40]
    assert log.query(20, 20) == ([], 0)
    page, total = log.query(None, 20)
    assert [e.t for e in page] == [0, 10]
    page, total = log.query(50, None)
    assert [e.t for e in page] == [50, 60]
    page, total = log.query()
    assert total == 7 and len(page) == 7


def test_query_paging() -> None:
    log = ring(1000, list(range(250)))
    page, total = log.query(0, 250, offset=0, limit=100)
    assert total == 250 and [e.t for e in page] == list(range(100))
    page, total = log.query(0, 250, offset=200, limit=100)
    assert total == 250 and [e.t for e in page] == list(range(200, 250))
    page, total = log.query(0, 250, offset=250, limit=100)
    assert page == [] and total == 250
    page, total = log.query(10, 20, offset=3, limit=2)
    assert [e.t for e in page] == [13, 14] and total == 10


def test_query_after_wrap_sees_only_kept_entries() -> None:
    log = ring(5, list(range(0, 120, 10)))  # keeps 70..110
    page, total = log.query(0, 90)
    assert [e.t for e in page] == [70, 80]
    assert total == 2


def test_query_does_not_assume_time_order() -> None:
    """After the clock was set back, write order and time order differ; the range still selects by t."""
    log = ring(10, [100, 200, 300, 150, 250])
    page, total = log.query(150, 260)
    assert [e.t for e in page] == [200, 150, 250]
    assert total == 3


@pytest.mark.parametrize("limit", [1, 1000])
def test_query_limit_bounds_accepted(limit: int) -> None:
    log = ring(2000, list(range(1500)))
    page, total = log.query(limit=limit)
    assert len(page) == limit and total == 1500


@pytest.mark.parametrize("limit", [0, 1001, -5])
def test_query_limit_out_of_range(limit: int) -> None:
    with pytest.raises(ValueError, match="limit must be 1–1000"):
        ring(3, [1]).query(limit=limit)


def test_query_rejects_negative_offset_and_reversed_range() -> None:
    log = ring(3, [1])
    with pytest.raises(ValueError, match="offset"):
        log.query(offset=-1)
    with pytest.raises(ValueError, match="start"):
        log.query(10, 9)


# --- ring state ----------------------------------------------------------------------------------
def test_ring_state_round_trip_continues_identically() -> None:
    a = ring(5, list(range(8)))  # wrapped, head in the middle
    b = RingLog.from_state(json_round(a.to_state()), TICK)
    assert b.capacity == 5
    assert b.entries() == a.entries()
    for t in range(8, 14):
        a.append(Tick(t))
        b.append(Tick(t))
        assert b.entries() == a.entries()


def test_ring_restore_rejects_bad_state() -> None:
    log = ring(3, [])
    with pytest.raises(ValueError, match="more than its capacity"):
        log.restore({"capacity": 1, "entries": [{"t": 1, "n": 0}, {"t": 2, "n": 0}]})
    with pytest.raises(ValueError, match="unknown field"):
        log.restore({"capacity": 3, "entries": [{"t": 1, "n": 0, "x": 1}]})
    with pytest.raises(ValueError, match="missing field"):
        fromdict_entry(Snapshot, {"t": 1})


# --- load profile: the data sheet depth table -----------------------------------------------------
DEPTH_TABLE = [  # (channels, period min, days) from the data sheet
    (1, 5, 92), (1, 15, 275), (1, 30, 550), (1, 60, 1100),
    (2, 5, 77), (2, 15, 231), (2, 30, 462), (2, 60, 924),
    (4, 5, 58), (4, 15, 175), (4, 30, 350), (4, 60, 700),
]  # fmt: skip


@pytest.mark.parametrize(("channels", "period_min", "days"), DEPTH_TABLE)
def test_lp_depth_table_exact(channels: int, period_min: int, days: int) -> None:
    assert load_profile_depth_days(period_min, channels) == days
    assert load_profile_capacity(period_min, channels) == days * (1440 // period_min)
    chans = {1: ("1.8.0",), 2: ("1.8.0", "2.8.0"), 4: A4}[channels]
    lp = LoadProfile(period_min * 60, chans)
    assert lp.depth_days == days
    assert lp.capacity == days * 1440 // period_min


def test_lp_variant2_four_channels_fifteen_minutes() -> None:
    assert load_profile_depth_days(15, 4, variant2=True) == 180
    assert load_profile_depth_days(15, 4) == 175
    assert load_profile_depth_days(60, 4, variant2=True) == 700
    assert LoadProfile(900, A4, variant2=True).capacity == 180 * 96


@pytest.mark.parametrize(("channels", "entries"), [(1, 26_400), (2, 22_176), (4, 16_800)])
def test_lp_capacities_fit_the_inferred_byte_pool(channels: int, entries: int) -> None:
    """§4.1 (inferred): a 554,400-byte pool of (17 + 4·n)-byte entries gives 26,400 / 22,176 / 16,800 entries."""
    assert 554_400 // lp_entry_bytes(channels) == entries
    assert 554_400 % lp_entry_bytes(channels) == 0
    for period_min in (15, 30, 60):
        assert load_profile_capacity(period_min, channels) == entries


def test_lp_five_minute_capacities_differ_from_the_pool_by_rounding() -> None:
    """Discrepancy noted: at 5 min the data sheet's whole days give 26,496 (1 ch, 96 above the pool) and
    16,704 (4 ch, 96 below); 2 channels match exactly. We follow the table."""
    assert load_profile_capacity(5, 1) == 26_400 + 96
    assert load_profile_capacity(5, 2) == 22_176
    assert load_profile_capacity(5, 4) == 16_800 - 96


@pytest.mark.parametrize(("period_min", "channels"), [(10, 1), (45, 2), (15, 3), (15, 0), (60, 8)])
def test_lp_depth_rejects_combinations_outside_the_table(period_min: int, channels: int) -> None:
    with pytest.raises(ValueError, match="load-profile"):
        load_profile_depth_days(period_min, channels)


def test_lp_channels_by_energy_type() -> None:
    assert lp_channels_for_energy_type(1) == ("1.8.0",)
    assert lp_channels_for_energy_type(2) == ("1.8.0", "2.8.0")
    assert lp_channels_for_energy_type(3) == ("1.8.0", "3.8.0")
    assert lp_channels_for_energy_type(4) == ("1.8.0", "2.8.0", "3.8.0", "4.8.0")
    with pytest.raises(ValueError, match="X9"):
        lp_channels_for_energy_type(5)


def test_lp_settings_validated() -> None:
    with pytest.raises(ValueError, match="period_s"):
        LoadProfile(600, ("1.8.0",))
    with pytest.raises(ValueError, match="period_s"):
        LoadProfile(900.0, ("1.8.0",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channels"):
        LoadProfile(900, ("1.8.0", "2.8.0", "3.8.0"))
    with pytest.raises(ValueError, match="channels"):
        LoadProfile(900, ("2.8.0",))
    assert LoadProfile(900, ("1.8.0", "5.8.0")).capacity == 22_176  # A+/R1 counts as two channels


# --- load profile: recording and status -----------------------------------------------------------
def test_lp_record_keeps_channel_values_and_consumes_flags() -> None:
    lp = LoadProfile(900, ("1.8.0", "2.8.0"))
    lp.flag(POWER_FAILURE)
    lp.flag(CLOCK_ADJUSTED)
    assert lp.pending_status == POWER_FAILURE | CLOCK_ADJUSTED
    e1 = lp.record(T0 + 900, {"1.8.0": 1.5, "2.8.0": 0.25, "3.8.0": 9.0}, OVERVOLTAGE)
    assert e1.values == {"1.8.0": 1.5, "2.8.0": 0.25}
    assert e1.status == POWER_FAILURE | CLOCK_ADJUSTED | OVERVOLTAGE
    assert e1.has(POWER_FAILURE) and e1.has(CLOCK_ADJUSTED) and not e1.has(UNDERVOLTAGE)
    e2 = lp.record(T0 + 1800, {"1.8.0": 1.75, "2.8.0": 0.25})
    assert e2.status == 0
    assert lp.pending_status == 0
    with pytest.raises(ValueError, match=r"lacks channel\(s\) \['2.8.0'\]"):
        lp.record(T0 + 2700, {"1.8.0": 2.0})
    with pytest.raises(ValueError, match="status"):
        lp.record(T0 + 2700, {"1.8.0": 2.0, "2.8.0": 0.0}, -1)
    with pytest.raises(ValueError, match="time"):
        lp.record(T0 + 2700.5, {"1.8.0": 2.0, "2.8.0": 0.0})  # type: ignore[arg-type]


def test_lp_record_copies_caller_values() -> None:
    lp = LoadProfile(900, ("1.8.0",))
    values = {"1.8.0": 1.0}
    entry = lp.record(T0, values)
    values["1.8.0"] = 99.0
    assert entry.values == {"1.8.0": 1.0}


def test_status_flags_are_distinct_bits() -> None:
    flags = [POWER_FAILURE, OVERVOLTAGE, UNDERVOLTAGE, CLOCK_ADJUSTED, DATA_FILLED]
    for f in flags:
        assert f > 0 and f & (f - 1) == 0
    assert len(set(flags)) == len(flags)


def test_voltage_status_thresholds() -> None:
    """[EM] limits adopted for the LP flags: strictly above 265 V, strictly below 184 V."""
    assert voltage_status(265.0) == 0
    assert voltage_status(265.1) == OVERVOLTAGE
    assert voltage_status(184.0) == 0
    assert voltage_status(183.9) == UNDERVOLTAGE
    assert voltage_status(230.0) == 0


def test_lp_full_profile_wraps_after_1100_days_of_hours() -> None:
    lp = LoadProfile(3600, ("1.8.0",))
    n = 26_400 + 500
    for k in range(1, n + 1):
        lp.record(T0 + k * 3600, {"1.8.0": k * 0.5})
    assert len(lp) == 26_400
    entries = lp.entries()
    assert entries[0].t == T0 + 501 * 3600
    assert entries[-1].t == T0 + n * 3600
    assert entries[-1].values["1.8.0"] == n * 0.5
    page, total = lp.query(T0 + 501 * 3600, T0 + 525 * 3600)
    assert total == 24 and page[0].t == T0 + 501 * 3600


def test_lp_next_period_end() -> None:
    lp = LoadProfile(900, ("1.8.0",))
    assert lp.next_period_end(T0) == T0 + 900
    assert lp.next_period_end(T0 + 899) == T0 + 900
    assert lp.next_period_end(T0 + 900) == T0 + 1800


def test_lp_set_period_keeps_entries_and_recomputes_capacity() -> None:
    lp = LoadProfile(900, A4)
    assert lp.capacity == 16_800
    for k in range(1, 16_801):
        lp.record(T0 + k * 900, dict.fromkeys(A4, float(k)))
    lp.flag(CLOCK_ADJUSTED)
    lp.set_period(300)  # 58 days × 288 = 16,704: the 96 oldest entries go
    assert lp.period_s == 300
    assert lp.capacity == 16_704
    assert len(lp) == 16_704
    assert lp.entries()[0].t == T0 + 97 * 900
    assert lp.entries()[-1].t == T0 + 16_800 * 900
    assert lp.pending_status == CLOCK_ADJUSTED  # the period in progress keeps its flags
    lp.set_period(3600)  # grows back to 700 × 24 = 16,800; nothing is invented
    assert lp.capacity == 16_800 and len(lp) == 16_704
    e = lp.record(T0 + 16_801 * 900, dict.fromkeys(A4, 0.0))
    assert e.status == CLOCK_ADJUSTED
    with pytest.raises(ValueError, match="period_s"):
        lp.set_period(120)


def test_lp_fill_gap() -> None:
    lp = LoadProfile(900, ("1.8.0",))
    assert lp.fill_gap(T0 + 9000) == 0  # empty log: nothing to copy
    lp.record(T0, {"1.8.0": 3.0})
    lp.flag(POWER_FAILURE)
    assert lp.fill_gap(T0 + 4 * 900) == 3  # period ends T0+900, +1800, +2700 were missed
    assert [e.t for e in lp.entries()] == [T0, T0 + 900, T0 + 1800, T0 + 2700]
    assert all(e.values == {"1.8.0": 3.0} and e.status == DATA_FILLED for e in lp.entries()[1:])
    assert lp.pending_status == POWER_FAILURE  # left for the real entry
    assert lp.fill_gap(T0 + 2700 + 900) == 0  # no period end missed
    assert lp.fill_gap(T0 + 2700 + 901) == 1
    assert lp.fill_gap(T0 + 100 * 900, clock_valid=False) == 0


def test_lp_fill_gap_limit_3024() -> None:
    lp = LoadProfile(900, ("1.8.0",))
    lp.record(T0, {"1.8.0": 1.0})
    assert lp.fill_gap(T0 + 3026 * 900) == 0  # 3025 entries needed: too many
    assert len(lp) == 1
    assert lp.fill_gap(T0 + 3025 * 900) == 3024
    assert len(lp) == 3025


def test_lp_state_round_trip() -> None:
    lp = LoadProfile(1800, ("1.8.0", "3.8.0"))
    for k in range(1, 30):
        lp.record(T0 + k * 1800, {"1.8.0": k * 1.25, "3.8.0": k * 0.5}, POWER_FAILURE if k % 7 == 0 else 0)
    lp.flag(UNDERVOLTAGE)
    back = LoadProfile.from_state(json_round(lp.to_state()))
    assert back.period_s == 1800 and back.channels == ("1.8.0", "3.8.0")
    assert back.capacity == 22_176
    assert back.pending_status == UNDERVOLTAGE
    assert back.entries() == lp.entries()
    e = back.record(T0 + 30 * 1800, {"1.8.0": 40.0, "3.8.0": 16.0})
    assert e.status == UNDERVOLTAGE


# --- analysis logger -----------------------------------------------------------------------------
def test_analysis_depth_one_channel_hourly_is_520_days() -> None:
    al = AnalysisLogger(("1.7.0",), 3600)
    assert al.depth_days == 520
    assert al.capacity == 520 * 24


def test_analysis_depth_sixteen_channels_five_minutes_at_least_two_and_a_half_days() -> None:
    al = AnalysisLogger([f"ch{i}" for i in range(16)], 300)
    assert al.depth_days >= 2.5
    assert al.capacity * 16 <= 520 * 24  # the same value pool
    assert al.capacity * 300 >= 2.5 * 86400


def test_analysis_default_interval_is_15_min() -> None:
    assert AnalysisLogger(("1.7.0",)).interval_s == 900


@pytest.mark.parametrize(
    ("channels", "interval_s", "match"),
    [
        ((), 900, "1–16"),
        (tuple(f"c{i}" for i in range(17)), 900, "1–16"),
        (("a", "a"), 900, "distinct"),
        (("",), 900, "non-empty"),
        (("a",), 600, "interval_s"),
        (("a",), 0, "interval_s"),
    ],
)
def test_analysis_validation(channels: tuple[str, ...], interval_s: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AnalysisLogger(channels, interval_s)


def test_analysis_accepts_sixteen_channels() -> None:
    assert len(AnalysisLogger(tuple(f"c{i}" for i in range(16)), 900).channels) == 16


def test_analysis_record_and_reconfigure() -> None:
    al = AnalysisLogger(("1.7.0", "32.25.0", "31.71.24.124"), 900)
    e = al.record(T0 + 900, {"1.7.0": 2.5, "32.25.0": 231.2, "99.9.9": 1.0})
    assert e.values == {"1.7.0": 2.5, "32.25.0": 231.2, "31.71.24.124": None}
    al.record(T0 + 1800, {"1.7.0": 2.0, "32.25.0": 230.0})
    al.reconfigure(("1.7.0", "32.25.0", "31.71.24.124"), 900)  # same settings: kept
    assert len(al) == 2
    al.reconfigure(("1.7.0", "32.25.0", "31.71.24.124"), 1800)  # interval change: cleared
    assert len(al) == 0
    al.record(T0 + 3600, {"1.7.0": 1.0})
    al.reconfigure(("1.7.0",), 1800)  # channel change: cleared, capacity from the pool
    assert len(al) == 0 and al.capacity == 12_480
    with pytest.raises(ValueError, match="interval_s"):
        al.reconfigure(("1.7.0",), 7200)
    assert al.channels == ("1.7.0",) and al.interval_s == 1800


def test_analysis_wraps_at_pool_capacity() -> None:
    al = AnalysisLogger(tuple(f"c{i}" for i in range(16)), 300)
    cap = al.capacity
    for k in range(cap + 10):
        al.record(T0 + k * 300, {"c0": k})
    assert len(al) == cap
    assert al.entries()[0].t == T0 + 10 * 300


def test_analysis_state_round_trip() -> None:
    al = AnalysisLogger(("1.7.0", "14.25.0"), 300)
    for k in range(20):
        al.record(T0 + k * 300, {"1.7.0": k / 4, "14.25.0": 50.0 if k % 3 else None})
    back = AnalysisLogger.from_state(json_round(al.to_state()))
    assert back.channels == al.channels and back.interval_s == 300
    assert back.capacity == 12_480 // 2
    assert back.entries() == al.entries()


# --- debiting loggers ----------------------------------------------------------------------------
def test_billing_capacities_and_overwrite() -> None:
    monthly, daily = BillingLog.monthly(), BillingLog.debiting2()
    assert monthly.capacity == 36
    assert daily.capacity == 175
    assert BillingLog().capacity == 36
    for m in range(37):
        monthly.snapshot(T0 + m * 2_592_000, {"1.8.0": m * 100.0, "0.1.96.8.0.255": m, "rtc_quality": "ok"})
    assert len(monthly) == 36
    first = monthly.entries()[0]
    assert first.t == T0 + 2_592_000 and first.registers["1.8.0"] == 100.0


def test_billing_state_round_trip() -> None:
    log = BillingLog.debiting2()
    for d in range(180):
        log.snapshot(T0 + d * 86400, {"1.8.0": d * 7.5, "2.8.0": None})
    back = BillingLog.from_state(json_round(log.to_state()))
    assert isinstance(back, BillingLog)
    assert back.capacity == 175
    assert back.entries() == log.entries()
    assert back.entries()[0].t == T0 + 5 * 86400


# --- event loggers -------------------------------------------------------------------------------
def test_event_log_capacities_from_the_spec() -> None:
    logs = EventLogs()
    assert logs["meter_status"].capacity == 200
    assert logs["disconnect"].capacity == 200
    assert logs["neutral_fault"].capacity == 45
    assert logs["occurrence_counters"].capacity == 60  # [EM]
    assert logs["rtc_adjustment"].capacity >= 1 and logs["voltage_quality"].capacity >= 1  # (inferred) values
    assert set(logs.names) - {"tariff", "prepayment"} <= set(LOGGER_OBIS)  # those two are ours: no OBIS


def test_event_log_overwrites_and_queries() -> None:
    logs = EventLogs()
    for i in range(50):
        logs.log("neutral_fault", T0 + i * 60, "neutral_fault", phase=1 + i % 3, voltage=[250.0, 255.0, 180.0])
    assert len(logs["neutral_fault"]) == 45
    page, total = logs.query("neutral_fault", T0 + 5 * 60, T0 + 10 * 60)
    assert total == 5 and [e.t for e in page] == [T0 + k * 60 for k in range(5, 10)]
    assert page[0].detail == {"phase": 3, "voltage": [250.0, 255.0, 180.0]}
    with pytest.raises(ValueError, match="unknown event logger"):
        logs.log("nope", T0, "x")
    with pytest.raises(ValueError, match="unknown event logger"):
        logs.query("nope")


def test_event_detail_may_use_parameter_names() -> None:
    e = EventLogs().log("disconnect", T0, "disconnect", name="remote", t=1, type="x")
    assert e.type == "disconnect" and e.t == T0
    assert e.detail == {"name": "remote", "t": 1, "type": "x"}


def test_rtc_adjustment_filter_seven_seconds() -> None:
    logs = EventLogs()
    assert logs.log_rtc_adjustment(T0, T0 + 6, source="head-end") is None
    assert logs.log_rtc_adjustment(T0, T0 - 6, source="head-end") is None
    e = logs.log_rtc_adjustment(T0, T0 + 7, source="head-end")
    assert e is not None and e.t == T0 + 7
    assert e.detail == {"old": T0, "new": T0 + 7, "delta_s": 7, "source": "head-end"}
    back = logs.log_rtc_adjustment(T0, T0 - 7, source="button")
    assert back is not None and back.detail["delta_s"] == -7
    assert logs.log_rtc_adjustment(T0, T0 + 1, source="optical", filter_s=None) is not None
    assert len(logs["rtc_adjustment"]) == 3


def test_event_logs_state_round_trip() -> None:
    logs = EventLogs()
    for i in range(210):
        logs.log("meter_status", T0 + i, "cover_tamper" if i % 2 else "magnetic_field", active=bool(i % 3))
    logs.log("disconnect", T0, "disconnect", state="disconnected", cause="remote", feedback=True)
    logs.log("occurrence_counters", T0 + 86400, "snapshot", F1=0, Sags=3, THD_U_L2=68)
    back = EventLogs.from_state(json_round(logs.to_state()))
    for name in logs.names:
        assert back[name].entries() == logs[name].entries()
        assert back[name].capacity == logs[name].capacity
    assert len(back["meter_status"]) == 200
    assert back["meter_status"].entries()[0].t == T0 + 10


def test_event_logs_restore_partial_and_unknown() -> None:
    logs = EventLogs()
    logs.log("neutral_fault", T0, "neutral_fault")
    logs.restore({"disconnect": {"capacity": 200, "entries": [{"t": T0, "type": "connect", "detail": {}}]}})
    assert len(logs["neutral_fault"]) == 0
    assert len(logs["disconnect"]) == 1
    with pytest.raises(ValueError, match="unknown event logger"):
        logs.restore({"bogus": {"capacity": 1, "entries": []}})


def test_logger_obis_codes() -> None:
    assert LOGGER_OBIS == {
        "load_profile": "1.1.99.1.0.255",
        "analysis": "1.1.99.1.1.255",
        "billing": "1.1.98.1.0.255",
        "debiting_logger_2": "1.1.98.2.0.255",
        "meter_status": "1.1.99.98.2.255",
        "rtc_adjustment": "1.1.99.98.3.255",
        "disconnect": "1.1.99.98.5.255",
        "neutral_fault": "1.1.99.98.12.255",
        "voltage_quality": "1.1.99.98.16.255",
        "occurrence_counters": "1.1.99.98.17.255",
    }


def test_rtc_times_are_formatted_per_offset_and_dst_even_when_meters_share_a_second() -> None:
    """Rtc.iso shares its formatting between meters of the same settings (a fleet asks for the same second
    thousands of times): meters of other settings, asking for the same instant, still get their own wall time."""
    t = int(datetime(2026, 7, 1, 12, tzinfo=UTC).timestamp())  # summer: DST applies where Z15 = 1
    for _ in range(2):  # the second pass is answered from the memos
        assert Rtc(z11=1, z15=1).iso(t) == "2026-07-01T14:00:00+02:00"
        assert Rtc(z11=1, z15=0).iso(t) == "2026-07-01T13:00:00+01:00"
        assert Rtc(z11=2, z15=1).iso(t) == "2026-07-01T15:00:00+03:00"
        assert Rtc(z11=0, z15=0).iso(t) == "2026-07-01T12:00:00+00:00"


@given(st.integers(1, 9), st.lists(st.sampled_from(["append", "mark", "clear", "resize"]), max_size=60))
def test_since_gives_what_was_appended_after_a_mark(capacity: int, ops: list[str]) -> None:
    """`since` (what meter_sim/log_journal.py saves) against a plain list of the appends, wrapped rings included:
    the entries appended after the mark, or None once anything else changed the ring or it lost some of them."""
    log: RingLog[Tick] = RingLog(capacity, TICK)
    mark, appended, other = log.mark(), [], False
    for n, op in enumerate(ops):
        if op == "append":
            log.append(Tick(n))
            appended.append(Tick(n))
        elif op == "mark":
            mark, appended, other = log.mark(), [], False
        elif op == "clear":
            log.clear()
            other = True
        else:
            log.resize(capacity + n % 3)
            other = True
        expected = None if other or len(appended) > len(log) else appended
        assert log.since(mark) == expected


@given(st.lists(st.one_of(
    st.tuples(st.just("append"), st.integers(0, 2**40), st.floats(allow_nan=False), st.booleans()),
    st.tuples(st.just("clear"), st.just(0), st.just(0.0), st.just(False)),
    st.tuples(st.just("resize"), st.integers(1, 12), st.just(0.0), st.just(False)),
    st.tuples(st.just("restore"), st.just(0), st.just(0.0), st.just(False))), max_size=80))
def test_packed_rows_hold_the_same_entries_as_a_list(ops: list[tuple[str, int, float, bool]]) -> None:
    """The load profile's packed ring against the plain list ring it stands in for (the reference): the same
    entries, oldest first, the same newest, the same `since`, queries and saved state, whatever is appended — an
    entry that does not fit the packing (another channel set here) is kept as it is."""
    packed = LoadProfile(900, ("1.8.0", "2.8.0"))
    plain: RingLog[Any] = RingLog(packed.log.capacity, packed.log._codec)  # a list
    for ring in (packed.log, plain):
        ring.resize(5)
    mark = plain.mark()
    for op, number, value, odd in ops:
        if op == "append":
            values = {"1.8.0": value, "3.8.0": -value} if odd else {"1.8.0": value, "2.8.0": -value}
            entry = LoadProfileEntry(number, values, number % 256)
            packed.log.append(entry)
            plain.append(entry)
        elif op == "clear":
            packed.log.clear()
            plain.clear()
        elif op == "resize":
            packed.log.resize(number)
            plain.resize(number)
        else:
            state = plain.to_state()
            packed.log.restore(state)
            plain.restore(state)
        assert packed.log.entries() == plain.entries()
        assert packed.log.last() == plain.last()
        assert packed.log.since(mark) == plain.since(mark)
        assert json.dumps(packed.log.to_state()) == json.dumps(plain.to_state())  # keys in the same order too
        for start, end, offset in ((None, None, 0), (None, None, 2), (2**39, None, 0), (None, 2**39, 1)):
            assert packed.log.query(start, end, offset, 3) == plain.query(start, end, offset, 3)
        mark = plain.mark()
    assert type(packed.log._buf).__name__ == "PackedRows"


@settings(max_examples=300)
@given(st.sampled_from(["list", "packed"]), st.lists(st.one_of(
    *[st.tuples(st.just("append"), st.integers(0, 6))] * 8,  # mostly appends: rings wrap between saves and spills
    *[st.tuples(st.just("save"), st.just(0)), st.tuples(st.just("spill"), st.integers(1, 4))] * 2,
    st.tuples(st.just("restart"), st.integers(0, 4)),
    st.one_of(st.tuples(st.just("clear"), st.just(0)), st.tuples(st.just("resize"), st.integers(1, 14)),
              st.tuples(st.just("restore"), st.just(0)))), min_size=30, max_size=90))
def test_a_spilled_ring_holds_the_same_entries_as_one_in_memory(rows: str, ops: list[tuple[str, int]]) -> None:
    """A ring that spills its older entries to "disk" (here the saved form of the ring at a save, with its mark,
    as meter_sim/log_journal.py keeps it) against the same ring kept whole in memory (the reference): the same
    length, entries, newest, `since`, queries and saved state after every step, through wraps, appends beyond
    the capacity, several spills between saves and the changes that end an epoch."""
    def build() -> RingLog[Any]:
        if rows == "packed":
            return LoadProfile(900, ("1.8.0",)).log
        return RingLog(10, LoadProfile(900, ("1.8.0",)).log._codec)

    spilled, whole = build(), build()
    for ring in (spilled, whole):
        ring.resize(10)
    disk: tuple[list[dict[str, Any]], tuple[int, int]] = ([], spilled.mark())
    mark = whole.mark()
    for n, (op, number) in enumerate(ops):
        if op == "append":
            entry = LoadProfileEntry(T0 + 900 * (n % 7), {"1.8.0": n + number / 8}, number)
            spilled.append(entry)
            whole.append(entry)
        elif op == "save":
            disk = (json_round(spilled.to_state())["entries"], spilled.mark())
        elif op == "spill":
            saved, before = disk, spilled.in_memory
            spilled.spill(saved[1], number, lambda saved=saved: saved)  # type: ignore[misc]
            assert spilled.in_memory >= min(before, number)
        elif op == "restart":  # built again from the newest `number` saved entries, the rest left on disk
            state = json_round(spilled.to_state())
            kept = state["entries"][len(state["entries"]) - number:] if number else []
            spilled.restore({**state, "entries": kept})
            whole.restore(state)
            disk = (state["entries"], spilled.mark())
            spilled.spilled_before(len(state["entries"]) - len(kept), lambda disk=disk: disk)  # type: ignore[misc]
        elif op == "clear":
            spilled.clear()
            whole.clear()
        elif op == "resize":
            spilled.resize(number)
            whole.resize(number)
        else:
            state = json_round(whole.to_state())
            spilled.restore(state)
            whole.restore(state)
        assert len(spilled) == len(whole)
        assert spilled.entries() == whole.entries() == list(spilled)
        assert spilled.last() == whole.last()
        assert spilled.since(mark) == (whole.since(mark) if whole.since(mark) is None or
                                       len(whole.since(mark) or []) <= spilled.in_memory else None)
        assert json.dumps(spilled.to_state()) == json.dumps(whole.to_state())
        for start, end, offset in ((None, None, 0), (None, None, 2), (T0 + 1800, None, 0), (None, T0 + 2700, 1)):
            assert spilled.query(start, end, offset, 3) == whole.query(start, end, offset, 3)
        mark = whole.mark()


def test_a_ring_spills_only_what_is_on_disk() -> None:
    """Entries appended after the save stay in memory whatever `keep` says; a spill of fewer than `keep` entries
    is put off (each rebuild of the buffer is paid for by as many appends); a mark of another epoch spills nothing."""
    log = ring(100, list(range(50)))
    saved = log.mark()
    disk = (json_round(log.to_state())["entries"], saved)
    for t in range(50, 60):
        log.append(Tick(t))
    assert log.spill(saved, 31, lambda: disk) == 0  # 60 in memory, 31 kept: fewer than 31 would go
    assert log.spill(saved, 20, lambda: disk) == 40
    assert (log.in_memory, len(log)) == (20, 60)
    assert log.spill(saved, 5, lambda: disk) == 10  # the 10 appended after the save are not on disk: they stay
    assert (log.in_memory, len(log)) == (10, 60)
    assert [e.t for e in log.entries()] == list(range(60))
    log.clear()
    assert log.spill(saved, 1, lambda: disk) == 0  # the disk's mark is of the epoch before the clear
