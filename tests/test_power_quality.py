"""Power quality (EN 50160) and protection detectors: every threshold just below / just above, every timer at its
limit and one second past it, the [TD] worked examples, window alignment, and state round trips mid-event."""

from __future__ import annotations

import calendar
import cmath
import json
import math
import random
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meter_sim.power_quality import (
    COUNTER_NAMES,
    EVENT_TYPES,
    NO_EVENTS,
    PowerQuality,
    PqEvent,
    PqSettings,
    unbalance,
)

T0 = calendar.timegm((2024, 5, 14, 0, 0, 0))  # aligned to 10 s, 10 min and 1 h
NORMAL = (230.0, 230.0, 230.0)
U3 = tuple[float, float, float]


def feed(pq: PowerQuality, t: int, samples: Iterable[Sequence[float]], f: float = 50.0,
         thd_u: Sequence[float] = (0.0, 0.0, 0.0), thd_i: Sequence[float] = (0.0, 0.0, 0.0)) -> list[PqEvent]:
    """Step consecutive seconds t, t+1, … and collect every event."""
    out: list[PqEvent] = []
    for k, u in enumerate(samples):
        out.extend(pq.step(t + k, u, f, thd_u, thd_i))
    return out


def of(events: Iterable[PqEvent], *types: str) -> list[PqEvent]:
    return [e for e in events if e.type in types]


def hms(h: int, m: int, s: int, day: tuple[int, int, int] = (2015, 11, 2)) -> int:
    return calendar.timegm((*day, h, m, s))


# --- settings ---------------------------------------------------------------------------------------------------------
def test_settings_defaults_are_the_spec_values() -> None:
    s = PqSettings()
    assert (s.u_high_mean, s.u_low_mean, s.window_s) == (253, 207, 600)
    assert (s.u_high_sv, s.u_low_sv, s.outage_level, s.outage_time_threshold_s) == (253, 207, 50, 10)
    assert (s.v_lhi, s.v_nth, s.v_llo, s.neutral_fault_time_s, s.neutral_fault_disconnect) == (253, 40, 190, 60, False)
    assert (s.ov_disconnect_enabled, s.ov_threshold, s.ov_window_s) == (False, 285, 1)
    assert (s.ov_reconnect_threshold, s.ov_reconnect_window_s) == (265, 60)
    assert (s.un, s.fn) == (230, 50)


@pytest.mark.parametrize(("name", "ok", "bad"), [
    ("u_high_mean", [232.3, 276], [232.2, 276.1]),
    ("u_low_mean", [184, 227.7], [183.9, 227.8]),
    ("window_s", [10, 1800], [9, 1801]),
    ("u_high_sv", [232.3, 276], [232.2, 276.1]),
    ("u_low_sv", [184, 227.7], [183.9, 227.8]),
    ("outage_level", [50, 160], [49.9, 160.1]),
    ("outage_time_threshold_s", [0, 1800], [-1, 1801]),
    ("ov_threshold", [265, 320], [259, 321]),
    ("ov_window_s", [1, 3600], [0, 3601]),
    ("ov_reconnect_threshold", [250, 265], [249, 271]),
    ("ov_reconnect_window_s", [1, 3600], [0, 3601]),
])
def test_settings_ranges(name: str, ok: list[float], bad: list[float]) -> None:
    for value in ok:
        assert getattr(PqSettings(**{name: value}), name) == value
    for value in bad:
        with pytest.raises(ValueError, match=name):
            PqSettings(**{name: value})


def test_settings_reject_unknown_keys_fractional_volts_and_crossed_ov_thresholds() -> None:
    with pytest.raises(ValueError, match="bogus"):
        PqSettings(**{"bogus": 1})
    with pytest.raises(ValueError, match="ov_threshold"):
        PqSettings(ov_threshold=285.5)  # 1 V steps
    with pytest.raises(ValueError, match="ov_reconnect_threshold"):
        PqSettings(ov_threshold=260, ov_reconnect_threshold=261)
    assert PqSettings(ov_threshold=260, ov_reconnect_threshold=260).ov_threshold == 260
    with pytest.raises(ValueError):
        PqSettings(**{"fn": 55})
    with pytest.raises(ValueError):
        PqSettings().model_copy().__setattr__("window_s", 60)  # frozen


# --- frequency --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("f", "f1", "f2"), [(49.0, 0, 0), (48.99, 1, 0), (51.0, 0, 0), (51.01, 0, 1), (50.0, 0, 0)])
def test_frequency_counters_on_10s_means(f: float, f1: int, f2: int) -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [NORMAL] * 10, f=f)
    assert (pq.counters()["F1"], pq.counters()["F2"]) == (f1, f2)


def test_frequency_window_is_the_mean_of_an_aligned_10s_block() -> None:
    pq = PowerQuality()
    # Window (T0, T0+10]: five seconds at 48.0 and five at 50.0 → mean 49.0, not below 49.0.
    for k in range(10):
        pq.step(T0 + 1 + k, NORMAL, 48.0 if k < 5 else 50.0)
    assert pq.counters()["F1"] == 0
    # Five low seconds at the end of one window and five at the start of the next: two means of 49.0 → no count.
    for k in range(20):
        pq.step(T0 + 11 + k, NORMAL, 48.0 if 5 <= k < 15 else 50.0)
    assert pq.counters()["F1"] == 0
    # The same ten low seconds inside one window: mean 48.0 → one count, at the window end only.
    for k in range(9):
        pq.step(T0 + 31 + k, NORMAL, 48.0)
    assert pq.counters()["F1"] == 0
    pq.step(T0 + 40, NORMAL, 48.0)
    assert pq.counters()["F1"] == 1


@pytest.mark.parametrize(("f", "band"), [
    (49.0, 1), (49.49, 1), (49.5, None), (50.51, 2), (51.0, 2), (47.0, 5), (48.99, 5), (46.99, 3), (42.5, 3),
    (42.49, 7), (51.01, 6), (52.0, 6), (52.01, 4), (57.5, 4), (57.51, 8),
])
def test_em_frequency_bands(f: float, band: int | None) -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [NORMAL] * 10, f=f)
    expected = [0] * 8
    if band is not None:
        expected[band - 1] = 1
    assert list(pq.frequency_bands()) == expected


# --- long-term (window mean) ------------------------------------------------------------------------------------------
def test_td_long_term_examples() -> None:
    """[TD]: 13:50:10 L1 under 215/230/204; 13:50:30 L1 over 244/260/220 (Mean/Max/Min), with a 10-s window."""
    pq = PowerQuality(PqSettings(window_s=10, u_low_mean=220, u_high_mean=240))
    start = hms(13, 50, 0)
    events = feed(pq, start + 1, [NORMAL] * 10)  # window starting 13:50:00: fine
    under = [230.0, 204.0] + [214.5] * 8  # mean 215
    events += feed(pq, start + 11, [(x, 230.0, 230.0) for x in under])
    events += feed(pq, start + 21, [NORMAL] * 10)
    over = [260.0, 220.0] + [245.0] * 8  # mean 244
    events += feed(pq, start + 31, [(x, 230.0, 230.0) for x in over])
    got = of(events, "mean_under", "mean_over")
    assert [(e.t, e.type, e.phase, e.detail["code"], e.detail["mean"], e.detail["max"], e.detail["min"])
            for e in got] == [
        (hms(13, 50, 10), "mean_under", 1, 0, 215.0, 230.0, 204.0),
        (hms(13, 50, 30), "mean_over", 1, 1, 244.0, 260.0, 220.0),
    ]


@pytest.mark.parametrize(("u", "kind"), [(207.0, None), (206.9, "mean_under"), (253.0, None), (253.1, "mean_over")])
def test_long_term_limits_default_window(u: float, kind: str | None) -> None:
    pq = PowerQuality()
    events = feed(pq, T0 + 1, [(230.0, u, 230.0)] * 600)
    got = of(events, "mean_under", "mean_over")
    if kind is None:
        assert got == []
    else:
        assert [(e.t, e.type, e.phase) for e in got] == [(T0, kind, 2)]
        assert got[0].detail["window_s"] == 600


def test_long_term_entry_only_when_the_window_closes_and_aligned_to_the_grid() -> None:
    pq = PowerQuality()
    start = T0 + 300  # half-way through a 10-min window
    events = feed(pq, start + 1, [(200.0, 230.0, 230.0)] * 299)
    assert of(events, "mean_under") == []
    events = list(pq.step(start + 300, (200.0, 230.0, 230.0), 50.0))  # T0 + 600: window end
    assert [(e.t, e.type) for e in events if e.type == "mean_under"] == [(T0, "mean_under")]


def test_window_alignment_follows_local_standard_time() -> None:
    # A 7-min window in UTC+1 standard time: boundaries where (t + 3600) % 420 == 0.
    pq = PowerQuality(PqSettings(window_s=420), standard_offset=3600)
    events = feed(pq, T0 + 1, [(200.0, 230.0, 230.0)] * 1300)
    starts = [e.t for e in of(events, "mean_under")]
    assert starts and all((s + 3600) % 420 == 0 for s in starts)
    assert (starts[1] + 3600) % 420 == 0 and starts[1] - starts[0] == 420


def test_outage_samples_are_left_out_of_the_window_mean() -> None:
    pq = PowerQuality()
    events = feed(pq, T0 + 1, [(230.0, 0.0, 230.0)] * 100 + [(230.0, 230.0, 230.0)] * 500)
    assert of(events, "mean_under") == []  # the 100 s at 0 V is an outage, not an undervoltage


# --- 10-min counters: voltage variation, unbalance, THD ----------------------------------------------------------
@pytest.mark.parametrize(("u", "low1", "low2", "high"), [
    (207.0, 0, 0, 0), (206.9, 1, 0, 0), (195.5, 1, 0, 0), (195.4, 1, 1, 0), (253.0, 0, 0, 0), (253.1, 0, 0, 1),
])
def test_voltage_variation_counters(u: float, low1: int, low2: int, high: int) -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [(u, u, 230.0)] * 600)  # two phases out of range: still one window → one count
    c = pq.counters()
    assert (c["VoltageVariation_Low1"], c["VoltageVariation_Low2"], c["VoltageVariation_High"]) == (low1, low2, high)


def test_unbalance_formula_matches_symmetrical_components() -> None:
    a = cmath.exp(2j * math.pi / 3)
    for ua, ub, uc in [(230, 230, 230), (230, 230, 0), (240, 220, 225), (10, 300, 150)]:
        va, vb, vc = ua, ub * a**-1, uc * a  # 120° apart
        pos = (va + a * vb + a * a * vc) / 3
        neg = (va + a * a * vb + a * vc) / 3
        assert unbalance(ua, ub, uc) == pytest.approx(abs(neg) / abs(pos), abs=1e-12)
    assert unbalance(230, 230, 0) == pytest.approx(0.5)


@pytest.mark.parametrize(("u3", "count"), [(217.0, 0), (216.0, 1)])
def test_unbalance_counter(u3: float, count: int) -> None:
    # With Ua = Ub = 230 V: u2 = |230 − Uc| / (460 + Uc): 13/677 = 1.92 %, 14/676 = 2.07 %.
    pq = PowerQuality()
    feed(pq, T0 + 1, [(230.0, 230.0, u3)] * 600)
    assert pq.counters()["Voltage_Unbalance"] == count


def test_thd_counters_per_phase() -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [NORMAL] * 600, thd_u=(8.0, 8.01, 3.0), thd_i=(12.0, 8.0, 8.5))
    c = pq.counters()
    assert [c[f"THD_U_L{k}"] for k in (1, 2, 3)] == [0, 1, 0]
    assert [c[f"THD_I_L{k}"] for k in (1, 2, 3)] == [1, 0, 1]


# --- single-value deviations -----------------------------------------------------------------------------------------
def test_td_single_value_example() -> None:
    """[TD]: 14:32:17 min-start 210 → :19 min-peak 204 → :20 min-stop 208; :27 min-start 204;
    :34 max-start 253 → :39 max-peak 262 → :40 max-stop 252. The start and stop values are outside the limits,
    so the example's limits were U_low,sv > 210 V and U_high,sv < 252 V; here 212 V and 250 V."""
    pq = PowerQuality(PqSettings(u_low_sv=212, u_high_sv=250))
    values: dict[int, float] = {17: 210, 18: 206, 19: 204, 20: 208, 21: 215, 27: 204, 28: 230,
                                34: 253, 35: 256, 36: 258, 37: 260, 38: 261, 39: 262, 40: 252, 41: 240}
    events: list[PqEvent] = []
    emitted_at: dict[str, int] = {}
    for s in range(1, 50):
        t = hms(14, 32, s)
        new = pq.step(t, (values.get(s, 230.0), 230.0, 230.0), 50.0)
        for e in new:
            emitted_at.setdefault(e.type, s)
        events.extend(new)
    rows = [(e.t, e.type, e.detail["code"], e.detail["mean"], e.detail["max"], e.detail["min"]) for e in events]
    assert rows == [
        (hms(14, 32, 17), "sv_min_start", 6, 0, 0, 210),
        (hms(14, 32, 19), "sv_min_peak", 2, 0, 0, 204),
        (hms(14, 32, 20), "sv_min_stop", 7, 0, 0, 208),
        (hms(14, 32, 27), "sv_min_start", 6, 0, 0, 204),
        (hms(14, 32, 27), "sv_min_peak", 2, 0, 0, 204),
        (hms(14, 32, 27), "sv_min_stop", 7, 0, 0, 204),
        (hms(14, 32, 34), "sv_max_start", 8, 0, 253, 0),
        (hms(14, 32, 39), "sv_max_peak", 3, 0, 262, 0),
        (hms(14, 32, 40), "sv_max_stop", 9, 0, 252, 0),
    ]
    assert all(e.phase == 1 for e in events)
    # The Stop (last value outside) is known, and emitted, with the first value back inside.
    assert emitted_at["sv_min_stop"] == 21 and emitted_at["sv_max_stop"] == 41


def test_td_example_values_are_inside_the_default_limits() -> None:
    pq = PowerQuality()
    assert feed(pq, T0 + 1, [(x, 230.0, 230.0) for x in (230, 210, 208, 253, 252, 230)]) == []


@pytest.mark.parametrize(("u", "kinds"), [
    (207.0, []), (206.9, ["sv_min_start", "sv_min_peak", "sv_min_stop"]),
    (253.0, []), (253.1, ["sv_max_start", "sv_max_peak", "sv_max_stop"]),
])
def test_single_value_limits_one_second_is_enough(u: float, kinds: list[str]) -> None:
    pq = PowerQuality()
    events = feed(pq, T0 + 1, [NORMAL, (230.0, 230.0, u), NORMAL])
    assert [(e.type, e.t, e.phase) for e in events] == [(k, T0 + 2, 3) for k in kinds]


def test_single_value_excursion_must_be_shorter_than_the_window() -> None:
    pq = PowerQuality(PqSettings(window_s=10))
    t = T0 + 1
    nine = feed(pq, t, [NORMAL] + [(200.0, 230.0, 230.0)] * 9 + [NORMAL])
    assert len(of(nine, "sv_min_start", "sv_min_peak", "sv_min_stop")) == 3
    ten = feed(pq, t + 11, [(200.0, 230.0, 230.0)] * 10 + [NORMAL])
    assert of(ten, "sv_min_start", "sv_min_peak", "sv_min_stop") == []


def test_excursion_closes_at_a_gap_and_at_an_outage() -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [NORMAL, (200.0, 230.0, 230.0)])
    events = pq.step(T0 + 10, NORMAL, 50.0)  # samples T0+3…T0+9 missing
    assert [(e.type, e.t) for e in events] == [("sv_min_start", T0 + 2), ("sv_min_peak", T0 + 2),
                                               ("sv_min_stop", T0 + 2)]
    events = feed(pq, T0 + 11, [(200.0, 230.0, 230.0), (10.0, 230.0, 230.0)])
    assert [e.type for e in events] == ["sv_min_start", "sv_min_peak", "sv_min_stop"]


# --- outages ----------------------------------------------------------------------------------------------------------
def phase2_outage(pq: PowerQuality, seconds: int, u_out: float = 0.0) -> list[PqEvent]:
    return feed(pq, T0 + 1, [NORMAL] + [(230.0, u_out, 230.0)] * seconds + [NORMAL])


def test_outage_of_10s_is_not_logged_but_counted() -> None:
    pq = PowerQuality()
    assert of(phase2_outage(pq, 10), "outage_start", "outage_end") == []
    assert (pq.counters()["Interupts_Short"], pq.counters()["Interupts_Long"]) == (1, 0)


def test_outage_of_11s_logs_start_and_end() -> None:
    pq = PowerQuality()
    events: list[PqEvent] = []
    for k, u in enumerate([NORMAL] + [(230.0, 0.0, 230.0)] * 11 + [NORMAL]):
        new = pq.step(T0 + 1 + k, u, 50.0)
        if k == 11:  # the 11th out second: the outage now lasts longer than 10 s
            assert [(e.type, e.t, e.phase) for e in new] == [("outage_start", T0 + 2, 2)]
        events.extend(new)
    got = of(events, "outage_start", "outage_end")
    assert [(e.type, e.t, e.phase, e.detail["code"]) for e in got] == [
        ("outage_start", T0 + 2, 2, 4), ("outage_end", T0 + 13, 2, 5)]
    assert got[1].detail["duration_s"] == 11


def test_outage_level_boundary_and_zero_threshold() -> None:
    pq = PowerQuality(PqSettings(outage_time_threshold_s=0))
    assert of(phase2_outage(pq, 1, u_out=50.0), "outage_start") == []
    events = phase2_outage(pq, 1, u_out=49.9)
    assert [e.type for e in of(events, "outage_start", "outage_end")] == ["outage_start", "outage_end"]


@pytest.mark.parametrize(("seconds", "short", "long"), [(180, 1, 0), (181, 0, 1)])
def test_interruption_short_up_to_3_min(seconds: int, short: int, long: int) -> None:
    pq = PowerQuality()
    phase2_outage(pq, seconds)
    assert (pq.counters()["Interupts_Short"], pq.counters()["Interupts_Long"]) == (short, long)


def test_overlapping_phase_outages_count_as_one_interruption() -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [NORMAL] + [(0.0, 230.0, 230.0)] * 100 + [(0.0, 0.0, 230.0)] * 100
         + [(230.0, 0.0, 230.0)] * 100 + [NORMAL])
    assert (pq.counters()["Interupts_Short"], pq.counters()["Interupts_Long"]) == (0, 1)  # 300 s in all


def test_power_down_needs_more_than_one_second_below_160v() -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [NORMAL, (150.0, 150.0, 150.0)])
    assert pq.powered
    pq.step(T0 + 3, (150.0, 150.0, 150.0), 50.0)
    assert not pq.powered
    pq.step(T0 + 4, (160.0, 0.0, 0.0), 50.0)
    assert pq.powered and pq.phases_out == (False, True, True)


def test_all_phase_outage_is_written_at_power_up() -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [NORMAL])
    during = feed(pq, T0 + 2, [(0.0, 0.0, 0.0)] * 30)
    assert during == []  # the meter is off: nothing is written
    events = pq.step(T0 + 32, NORMAL, 50.0)
    got = [(e.type, e.phase, e.t) for e in events]
    assert got == [("outage_start", 1, T0 + 2), ("outage_end", 1, T0 + 32), ("outage_start", 2, T0 + 2),
                   ("outage_end", 2, T0 + 32), ("outage_start", 3, T0 + 2), ("outage_end", 3, T0 + 32)]
    assert pq.counters()["Interupts_Short"] == 1


def test_all_phase_outage_at_about_160v_starts_with_the_power_down() -> None:
    # 100 V on every phase is above U_outage,level but below 160 V: an outage from the second low second on.
    pq = PowerQuality(PqSettings(outage_time_threshold_s=0))
    events = feed(pq, T0 + 1, [NORMAL] + [(100.0, 100.0, 100.0)] * 5 + [NORMAL])
    starts = of(events, "outage_start")
    assert [e.t for e in starts] == [T0 + 3] * 3
    assert [e.detail["duration_s"] for e in of(events, "outage_end")] == [4] * 3
    # The first low second was measured while the meter still ran: a single-value dip on each phase.
    assert [(e.type, e.t) for e in of(events, "sv_min_stop")] == [("sv_min_stop", T0 + 2)] * 3


def test_phase_still_out_after_power_up_keeps_its_outage() -> None:
    pq = PowerQuality()
    events = feed(pq, T0 + 1, [NORMAL] + [(0.0, 0.0, 0.0)] * 20 + [(230.0, 0.0, 230.0)] * 20 + [NORMAL])
    ends = {e.phase: e for e in of(events, "outage_end")}
    assert ends[1].detail["duration_s"] == 20 and ends[3].detail["duration_s"] == 20
    assert ends[2].detail["duration_s"] == 40 and ends[2].t == T0 + 42
    assert pq.counters()["Interupts_Short"] == 1


# --- rapid voltage change ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("a", "b", "count"), [
    (230.0, 218.6, 0), (230.0, 218.5, 1), (218.5, 230.0, 1), (230.0, 207.0, 1), (230.0, 206.9, 0),
    (241.5, 253.0, 1), (241.5, 253.1, 0),
])
def test_rapid_voltage_change(a: float, b: float, count: int) -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [(a, 230.0, 230.0), (b, 230.0, 230.0)])
    assert pq.counters()["RapidVoltageChanges"] == count


def test_rvc_counts_once_per_second_and_only_between_consecutive_samples() -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [NORMAL, (218.0, 218.0, 218.0)])
    assert pq.counters()["RapidVoltageChanges"] == 1
    pq.step(T0 + 5, NORMAL, 50.0)  # a gap: not consecutive
    assert pq.counters()["RapidVoltageChanges"] == 1


# --- sags and swells --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("ms", "depth", "counted"), [
    (99, 60.0, False), (100, 60.0, True), (1000, 60.0, True), (1001, 60.0, False), (500, 46.0, False),
    (500, 46.1, True),
])
def test_sag_window_and_depth(ms: int, depth: float, counted: bool) -> None:
    pq = PowerQuality()
    pq.step(T0 + 1, NORMAL, 50.0)
    assert pq.inject_sag(T0 + 1, 2, ms, depth) is counted
    assert pq.inject_swell(T0 + 1, 2, ms, depth) is counted
    assert (pq.counters()["Sags"], pq.counters()["Swells"]) == (int(counted), int(counted))


def test_at_most_one_sag_and_one_swell_per_second() -> None:
    pq = PowerQuality()
    pq.step(T0 + 1, NORMAL, 50.0)
    assert pq.inject_sag(T0 + 1, 1, 200, 100)
    assert not pq.inject_sag(T0 + 1, 3, 200, 100)
    assert pq.inject_swell(T0 + 1, 3, 200, 100)
    assert pq.inject_sag(T0 + 2, 1, 200, 100)
    assert (pq.counters()["Sags"], pq.counters()["Swells"]) == (2, 1)


def test_no_sag_while_down_and_bad_arguments() -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [(0.0, 0.0, 0.0)] * 3)
    assert not pq.inject_sag(T0 + 3, 1, 200, 100)
    for args in [(0, 200, 100), (4, 200, 100), (1, -1, 100), (1, 200, -5)]:
        with pytest.raises(ValueError):
            pq.inject_sag(T0 + 3, *args)


# --- neutral fault ----------------------------------------------------------------------------------------------------
FAULT = (260.0, 260.0, 150.0)


@pytest.mark.parametrize(("seconds", "detected"), [(60, False), (61, True)])
def test_neutral_fault_needs_more_than_60s(seconds: int, detected: bool) -> None:
    pq = PowerQuality()
    events = of(feed(pq, T0 + 1, [NORMAL] + [FAULT] * seconds), "neutral_fault_start")
    if detected:
        assert [(e.t, e.phase, e.detail["since"]) for e in events] == [(T0 + 62, 3, T0 + 2)]
    else:
        assert events == []
    assert pq.neutral_fault_active is detected


@pytest.mark.parametrize("u", [(253.0, 260.0, 150.0), (260.0, 260.0, 190.0), (260.0, 260.0, 260.0)])
def test_neutral_fault_thresholds_are_strict(u: U3) -> None:
    pq = PowerQuality()
    assert of(feed(pq, T0 + 1, [u] * 100), "neutral_fault_start") == []


def test_neutral_fault_timer_restarts_when_the_condition_breaks() -> None:
    pq = PowerQuality()
    events = feed(pq, T0 + 1, [FAULT] * 60 + [NORMAL] + [FAULT] * 60)
    assert of(events, "neutral_fault_start") == []


def test_neutral_fault_end_and_breaker_actions() -> None:
    pq = PowerQuality(PqSettings(neutral_fault_disconnect=True))
    events = feed(pq, T0 + 1, [(150.0, 260.0, 254.0)] * 61 + [NORMAL])
    got = [(e.type, e.t, e.phase, e.detail.get("action"), e.detail.get("reason"))
           for e in of(events, "neutral_fault_start", "neutral_fault_end", "action")]
    assert got == [
        ("neutral_fault_start", T0 + 61, 1, None, None),
        ("action", T0 + 61, 0, "disconnect", "neutral_fault"),
        ("neutral_fault_end", T0 + 62, 0, None, None),
        ("action", T0 + 62, 0, "reconnect_allowed", "neutral_fault"),
    ]
    plain = PowerQuality()
    assert of(feed(plain, T0 + 1, [(150.0, 260.0, 254.0)] * 61 + [NORMAL]), "action") == []


# --- overvoltage disconnect -------------------------------------------------------------------------------------------
TD_OV = PqSettings(ov_disconnect_enabled=True, ov_threshold=270, ov_window_s=2, ov_reconnect_threshold=260,
                   ov_reconnect_window_s=5)


def actions(events: Iterable[PqEvent]) -> list[tuple[int, str, int]]:
    return [(e.t, e.detail["action"], e.phase) for e in of(events, "action")]


def test_td_overvoltage_example_disconnect_on_the_2s_mean() -> None:
    """[TD]: 270 V / 2 s to disconnect, 260 V / 5 s to reconnect."""
    pq = PowerQuality(TD_OV)
    events = feed(pq, T0 + 1, [NORMAL] * 3 + [(270.0, 230.0, 230.0)] * 2)  # mean 270.0: not above
    assert actions(events) == []
    events = feed(pq, T0 + 6, [(230.0, 230.0, 300.0)])  # one second of 300 V: 2-s mean 265
    assert actions(events) == []
    events = feed(pq, T0 + 7, [(230.0, 230.0, 241.0)])  # [300, 241] → 270.5
    assert actions(events) == [(T0 + 7, "disconnect", 3)]
    assert of(events, "action")[0].detail["reason"] == "overvoltage" and pq.overvoltage_tripped


def test_td_overvoltage_example_reconnect_after_5s_below_260() -> None:
    pq = PowerQuality(TD_OV)
    assert actions(feed(pq, T0 + 1, [(275.0, 230.0, 230.0)] * 2)) == [(T0 + 2, "disconnect", 1)]
    assert actions(feed(pq, T0 + 3, [(275.0, 230.0, 230.0)] * 10)) == []  # one request per trip
    # The 5-s reconnect window still holds one 275 V second: (275 + 4·259.9)/5 = 262.9 V, not below 260 V.
    assert actions(feed(pq, T0 + 13, [(259.9, 259.9, 259.9)] * 4)) == []
    assert actions(feed(pq, T0 + 17, [(259.9, 259.9, 259.9)])) == [(T0 + 17, "reconnect_allowed", 0)]
    assert not pq.overvoltage_tripped


def test_overvoltage_reconnect_needs_all_phases_strictly_below() -> None:
    pq = PowerQuality(TD_OV)
    feed(pq, T0 + 1, [(275.0, 230.0, 230.0)] * 2)
    assert actions(feed(pq, T0 + 3, [(230.0, 260.0, 230.0)] * 50)) == []  # L2 mean 260.0: not below
    # Sliding 5-s mean: (4·260 + 259)/5 = 259.8 < 260 with the first second at 259 V.
    assert actions(feed(pq, T0 + 53, [(230.0, 259.0, 230.0)] * 5)) == [(T0 + 53, "reconnect_allowed", 0)]


def test_overvoltage_defaults_off_and_default_window_is_1s() -> None:
    assert actions(feed(PowerQuality(), T0 + 1, [(300.0, 300.0, 300.0)] * 5)) == []
    pq = PowerQuality(PqSettings(ov_disconnect_enabled=True))
    assert actions(feed(pq, T0 + 1, [(285.0, 230.0, 230.0)] * 5)) == []
    assert actions(feed(pq, T0 + 6, [(285.5, 230.0, 230.0)])) == [(T0 + 6, "disconnect", 1)]


# --- counters, snapshot, results -------------------------------------------------------------------------------------
def test_counters_in_td_column_order() -> None:
    pq = PowerQuality()
    assert list(pq.counters()) == [
        "F1", "F2", "VoltageVariation_Low1", "VoltageVariation_Low2", "VoltageVariation_High",
        "RapidVoltageChanges", "Voltage_Unbalance", "Interupts_Long", "Interupts_Short",
        "THD_U_L1", "THD_U_L2", "THD_U_L3", "THD_I_L1", "THD_I_L2", "THD_I_L3", "Sags", "Swells",
    ]
    snap = pq.snapshot(T0)
    assert list(snap) == ["RTC", *COUNTER_NAMES] and snap["RTC"] == T0


def test_snapshot_keeps_running_totals() -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [NORMAL] * 10, f=48.0)
    first = pq.snapshot(T0 + 10)
    feed(pq, T0 + 11, [NORMAL] * 10, f=48.0)
    assert (first["F1"], pq.snapshot(T0 + 20)["F1"]) == (1, 2)


def test_quiet_steps_return_the_shared_read_only_empty_list() -> None:
    pq = PowerQuality()
    result = pq.step(T0 + 1, NORMAL, 50.0)
    assert result is NO_EVENTS and result == []
    with pytest.raises(TypeError):
        result.append(PqEvent(T0, "action", 0))
    with pytest.raises(TypeError):
        result += [PqEvent(T0, "action", 0)]
    assert NO_EVENTS == [] and list(result) == []


# --- state round trip -------------------------------------------------------------------------------------------------
def scenario(seed: int, n: int) -> list[tuple[U3, float]]:
    """Piecewise voltages that visit every detector: faults, outages, dips, overvoltage, frequency excursions."""
    rng = random.Random(seed)
    shapes: list[U3] = [NORMAL, (260.0, 260.0, 150.0), (0.0, 230.0, 230.0), (0.0, 0.0, 0.0), (200.0, 230.0, 240.0),
                        (275.0, 275.0, 230.0), (120.0, 120.0, 120.0), (230.0, 210.0, 196.0), (255.0, 230.0, 230.0)]
    out: list[tuple[U3, float]] = []
    while len(out) < n:
        base = rng.choice(shapes)
        f = rng.choice([50.0, 50.0, 48.5, 51.5])
        for _ in range(rng.choice([1, 2, 5, 12, 70, 200])):
            noise = rng.uniform(-6, 6)
            out.append(((max(0.0, base[0] + noise), base[1], max(0.0, base[2] - noise)), f))
    return out[:n]


RT_SETTINGS = PqSettings(window_s=60, neutral_fault_disconnect=True, ov_disconnect_enabled=True, ov_threshold=270,
                         ov_window_s=3, ov_reconnect_threshold=260, ov_reconnect_window_s=7, outage_time_threshold_s=5)


def run_with_restarts(samples: list[tuple[U3, float]], cut_every: int | None) -> tuple[list[PqEvent], dict[str, Any]]:
    pq = PowerQuality(RT_SETTINGS, standard_offset=3600)
    events: list[PqEvent] = []
    for k, (u, f) in enumerate(samples):
        if cut_every and k and k % cut_every == 0:
            state = json.loads(json.dumps(pq.to_state(), allow_nan=False))
            pq = PowerQuality(RT_SETTINGS, standard_offset=3600)
            pq.restore(state)
        events.extend(pq.step(T0 + 1 + k, u, f, (k % 11, 9.0, 0.0), (0.0, 8.5, k % 13)))
        if k % 97 == 0:
            pq.inject_sag(T0 + 1 + k, 1, 300, 60)
    return events, pq.to_state()


@pytest.mark.parametrize("cut_every", [1, 7, 137])
def test_state_round_trip_continues_exactly(cut_every: int) -> None:
    samples = scenario(3, 4000)
    whole, final = run_with_restarts(samples, None)
    kinds = {e.type for e in whole}
    assert {"neutral_fault_start", "outage_start", "sv_min_stop", "sv_max_stop", "mean_under", "action"} <= kinds
    cut, cut_final = run_with_restarts(samples, cut_every)
    assert cut == whole
    assert cut_final == final


def test_state_round_trip_mid_event() -> None:
    s = RT_SETTINGS.model_copy(update={"window_s": 120, "outage_time_threshold_s": 40})
    pq = PowerQuality(s)
    # 30 s in: an outage not yet logged, a neutral-fault timer running, an open sv-max excursion, an ov trip.
    before = feed(pq, T0 + 1, [NORMAL] * 5 + [(0.0, 272.0, 272.0)] * 30)
    assert actions(before) == [(T0 + 8, "disconnect", 2)]
    assert pq.phases_out == (True, False, False) and pq.overvoltage_tripped and not pq.neutral_fault_active
    state = json.loads(json.dumps(pq.to_state(), allow_nan=False))
    twin = PowerQuality(s)
    twin.restore(state)
    rest: list[U3] = [(0.0, 272.0, 272.0)] * 40 + [NORMAL] * 30
    a, b = feed(pq, T0 + 36, rest), feed(twin, T0 + 36, rest)
    assert a == b
    kinds = [e.type for e in a]
    for kind in ("neutral_fault_start", "neutral_fault_end", "outage_start", "outage_end", "sv_max_stop", "action"):
        assert kind in kinds
    assert [e.detail["duration_s"] for e in of(a, "outage_end")] == [70]
    assert twin.counters() == pq.counters() and twin.to_state() == pq.to_state()


def test_restore_with_other_window_settings_drops_only_the_partial_windows() -> None:
    pq = PowerQuality()
    feed(pq, T0 + 1, [NORMAL] * 10, f=48.0)
    feed(pq, T0 + 11, [(200.0, 230.0, 230.0)] * 300)
    other = PowerQuality(PqSettings(window_s=60))
    other.restore(pq.to_state())
    assert other.counters() == pq.counters()
    events = feed(other, T0 + 311, [NORMAL] * 60)
    assert of(events, "mean_under") == []  # the 10-min partial window was not carried into the 60-s one
    with pytest.raises(ValueError, match="version"):
        other.restore({"version": 99})


# --- fuzz ------------------------------------------------------------------------------------------------------------
volts = st.floats(min_value=0, max_value=450, allow_nan=False)
sample = st.tuples(
    st.sampled_from([1, 1, 1, 1, 1, 1, 2, 0, -5, 700]),
    st.one_of(st.tuples(volts, volts, volts), st.sampled_from([NORMAL, (0.0, 0.0, 0.0), (260.0, 260.0, 150.0)])),
    st.floats(min_value=40, max_value=70, allow_nan=False),
    st.tuples(st.floats(0, 40), st.floats(0, 40), st.floats(0, 40)),
    st.booleans(),
)
FUZZ_SETTINGS = [
    PqSettings(),
    PqSettings(window_s=10, outage_time_threshold_s=0, neutral_fault_time_s=1, neutral_fault_disconnect=True,
               ov_disconnect_enabled=True, ov_threshold=260, ov_window_s=2, ov_reconnect_threshold=255,
               ov_reconnect_window_s=3),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FUZZ_SETTINGS), st.lists(sample, min_size=1, max_size=400))
def test_fuzz_step_never_raises_and_counters_never_decrease(
    s: PqSettings, steps: list[tuple[int, U3, float, U3, bool]]
) -> None:
    pq = PowerQuality(s)
    t = latest = T0
    before = pq.counters()
    for dt, u, f, thd, sag in steps:
        t += dt
        latest = max(latest, t)
        events = pq.step(t, u, f, thd, thd)
        if sag:
            pq.inject_sag(t, 2, 500, 100)
            pq.inject_swell(t, 3, 500, 100)
        for e in events:
            assert e.type in EVENT_TYPES and 0 <= e.phase <= 3
            assert e.t <= latest  # entries describe samples already seen
        now = pq.counters()
        assert all(now[k] >= before[k] for k in COUNTER_NAMES)
        before = now
    state = json.loads(json.dumps(pq.to_state(), allow_nan=False))
    twin = PowerQuality(s)
    twin.restore(state)
    assert twin.to_state() == pq.to_state()
