"""One vectorised chunk of the time-warp: the per-second model of meter_sim/meter.py over a span of whole minutes,
computed with NumPy over time, then committed to the `Meter` as if it had stepped.

What a chunk computes, and from where (each must mirror the per-second code it stands for):
- minute level (the household's and grid's `minute()`, `Meter._harmonics`, the tariff): activity and appliance
  start rates (same float operations, so the same bits), fridges, PV (weather and cloud draws), EV (draws), the
  feeder's daily voltage profile and voltage THD, current THD, the active tariff at its switch points;
- the household's random stream (r, [duration when an appliance starts], jitter every second; the minute draws at
  their seconds), drawn in bulk (meter_sim/bulk_random.py) and assigned draw by draw as the per-second model
  would; appliance starts and stops replayed in Python in their order (so loads and the heap are exact);
- the load jitter, grid noise and frequency walk (meter_sim/recurrence.py: within ~1e-15 of the step-by-step sums);
- metrology (starting threshold, quadrants, tariffs, accuracy), the S0 output and its queue, demand periods and
  the load profile, power-quality windows and counters, the analysis logger's means, the hour counter.

The per-second part runs in blocks of two hours (`Chunk._seconds`), phases in rows, and keeps per-minute sums (and
the voltages' per-minute extremes) from which the commit takes the registers, demand, tariffs, windows and means.

Anything the chunk does not model stops it at that second (see `Chunk.run`); warp.py then steps exactly.
"""

from __future__ import annotations

import copy
import heapq
import math
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from meter_sim import bulk_random
from meter_sim.grid import (
    _FAST_STREAMS,
    GRID_OHMS,
    NOMINAL_HZ,
    NOMINAL_V,
    THD_U_DAY,
    THD_U_EVENING_RISE,
    THD_U_FAST,
    THD_U_NIGHT_DROP,
    THD_U_SLOW,
)
from meter_sim.harmonics import ELECTRONIC_THD_PCT, LINEAR_THD_PCT
from meter_sim.household import _FRIDGE, _WEEKDAY, _WEEKEND, APPLIANCES
from meter_sim.loggers import OVERVOLTAGE_LIMIT_V, UNDERVOLTAGE_LIMIT_V
from meter_sim.meter import _LP_CHANNELS, Meter
from meter_sim.metrology import ENERGY_KEYS, INSTANT_KEYS
from meter_sim.power_quality import NO_EVENTS
from meter_sim.power_quality.counters import F1, F2, HIGH, LOW1, LOW2, RVC, THD_I, THD_U, UNBALANCE
from meter_sim.power_quality.windows import THD_LIMIT_PCT, UNBALANCE_LIMIT
from meter_sim.recurrence import first_order

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_WH = 1.0 / 3600.0
_NEVER = -(2**62)  # ms: before any time
_BLOCK_S = 7200  # seconds per block of Chunk._seconds: a block's arrays stay in the CPU's cache
_MARGIN = 1e-7  # a value this close (relative) to a threshold could round the other way: leave it to the exact step
# max/min against a zero row run about twice as fast as against the scalar 0.0 (no vector loop for a scalar)
_ZEROS = np.zeros(_BLOCK_S)
_ZEROS.flags.writeable = False
_PER_DAY = np.array([a.per_day for a in APPLIANCES])
_WEEKDAY_A = np.array(_WEEKDAY)
_WEEKEND_A = np.array(_WEEKEND)
_DEMAND_KEYS = ("a_plus", "a_minus", "r_plus", "r_minus", "e_plus", "e_minus")
_TOTAL = {k: ENERGY_KEYS.index(k) for k in ("a_plus", "a_minus", "r_plus", "r_minus", "r1", "r2", "r3", "r4",
                                            "e_plus", "e_minus")}
# Per-second rows whose minute sums the chunk keeps (Chunk._metrology): the energy registers 0–15 (A+ A- R+ R- R1–R4 E+
# E-, A+ L1–L3, A- L1–L3; the minus ones summed as negative powers), then the voltages and the frequency.
_ROWS = ("a_plus", "a_minus", "r_plus", "r_minus", "r1", "r2", "r3", "r4", "e_plus", "e_minus",
         "a_plus_l1", "a_plus_l2", "a_plus_l3", "a_minus_l1", "a_minus_l2", "a_minus_l3", "u_l1", "u_l2", "u_l3",
         "frequency")
assert _ROWS[:16] == ENERGY_KEYS[:16]  # rows 0–15 add to the registers of the same index
_ROW_SIGN = np.array([1, -1, 1, -1, 1, 1, -1, -1, 1, 1, 1, 1, 1, -1, -1, -1], dtype=np.float64) * _WH
# Instantaneous values (INSTANT_KEYS) that are a row as it is or negated: (row, sign)
_ROW_OF = {"p_plus": (0, 1), "p_minus": (1, -1), "q_plus": (2, 1), "q_minus": (3, -1), "s_plus": (8, 1),
           "s_minus": (9, 1), "frequency": (19, 1),
           **{f"p_plus_l{i + 1}": (10 + i, 1) for i in range(3)},
           **{f"p_minus_l{i + 1}": (13 + i, -1) for i in range(3)},
           **{f"u_l{i + 1}": (16 + i, 1) for i in range(3)}}


def eligible(meter: Meter) -> bool:
    """Whether a chunk can start now: the meter is in a state the vectorised model covers (see warp.py)."""
    m = meter
    pq = m.pq
    nf = pq._neutral
    t1 = m.t + 1
    return not (
        m._clock_stopped_s or m.outage or m.neutral_lost or m.smart_disconnect.enabled or m.prepayment.enabled
        or m._restore_when_allowed or m.aron or any(v is not None for v in m.grid.override)
        or not m.metrology.powered or not m._powered or m.alarms._voltage_alarm
        or pq._low_run or pq._down or pq._outages.n_out or pq._sv.open or nf.run or nf.active or pq._ov.enabled
        or pq._last_t != m.t
        or not (pq._mean.start < t1 <= pq._mean.end and pq._counter.start < t1 <= pq._counter.end
                and pq._freq.start < t1 <= pq._freq.end)
        or any(out is not None for out in m.pulse_outputs)
        or len(m._an_inst) + len(m._an_thd) != len(m.analysis.channels)
        or m.analysis.interval_s % 60
    )


class Chunk:
    """Seconds meter.t + 1 … end (end − meter.t a multiple of 60), computed block by block up to the first second
    the chunk does not model, committed up to the minute before it."""

    def __init__(self, meter: Meter, end: int) -> None:
        self.m = meter
        self.t0 = meter.t
        self.n = end - meter.t
        self.minutes = self.n // 60
        self._noted: list[tuple[str, int, float]] = []  # minute draws: (kind, minute call, value)

    # --- driver ----------------------------------------------------------------------------------------------------
    def run(self) -> int:
        """Compute and commit; returns the seconds committed (a multiple of 60)."""
        self._minute_inputs()
        self._household()
        self._grid()
        self._tariffs()
        bad = self._seconds()
        s0 = self._s0_flags()
        if s0 is not None and s0 < bad:
            bad = s0
            if self.pq_minutes:  # the voltages' extremes of the block it stops in, per minute after all
                a = s0 - s0 % _BLOCK_S
                self._minute_extremes(a, min(self.n, a + _BLOCK_S))
        e = self.n if bad >= self.n else bad - bad % 60  # commit whole minutes before the first flagged second
        if e > 0:
            self._commit(e)
        return e

    # --- minute level ----------------------------------------------------------------------------------------------
    def _minute_inputs(self) -> None:
        m = self.m
        hh = m.household
        mins = self.minutes
        tm = self.t0 + 60 * np.arange(1, mins + 1, dtype=np.int64)  # minute calls j = 1 … M
        self.tm = tm
        off = m.rtc.utc_offset(self.t0 + 60)
        local = tm + off
        sod = local % 86400
        hours = sod // 3600
        minute = (sod % 3600) // 60
        hour = hours + minute / 60.0  # wall.hour + wall.minute / 60.0
        days = local // 86400
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
        first = int(days[0])
        yday_of = np.array([(date(1970, 1, 1) + timedelta(days=d)).timetuple().tm_yday
                            for d in range(first, int(days[-1]) + 1)])
        yday = yday_of[days - first]
        self.hour, self.weekday, self.yday, self.local_days = hour, weekday, yday, days
        # Appliance start rates (household.minute): the same float operations in the same order.
        h0 = hour.astype(np.int64) % 24
        frac = hour - np.floor(hour)
        weekend = weekday >= 5
        prof_a = np.where(weekend, _WEEKEND_A[h0], _WEEKDAY_A[h0])
        prof_b = np.where(weekend, _WEEKEND_A[(h0 + 1) % 24], _WEEKDAY_A[(h0 + 1) % 24])
        activity = prof_a * (1 - frac) + prof_b * frac
        rates = _PER_DAY[None, :] * activity[:, None] * hh.scale / 86400.0
        cum = np.cumsum(rates, axis=1)  # sequential, as `_accumulate`
        self.cum = np.vstack([np.array(hh._cum)[None, :], cum])  # minute states 0 (the meter's) … M
        self.rate = self.cum[:, -1]
        # Fridges
        fp = np.zeros((mins + 1, 3))
        fq = np.zeros((mins + 1, 3))
        fp[0], fq[0] = hh._fridge_p, hh._fridge_q
        tmf = tm.astype(np.float64)
        for (phase, w, var, cycle, duty), shift in zip(_FRIDGE, hh._fridge_phase, strict=True):
            on = np.remainder(tmf / cycle + shift, 1.0) < duty
            fp[1:, phase] += np.where(on, w * hh.scale, 0.0)
            fq[1:, phase] += np.where(on, var * hh.scale, 0.0)
        self.fp, self.fq = fp, fq
        # Grid: the daily voltage profile and the voltage THD
        evening = np.maximum(0.0, 1.0 - np.abs(hour - 19.0) / 3.0)
        night = np.maximum(0.0, 1.0 - np.abs(hour - 3.0) / 3.0)
        daily = np.empty(mins + 1)
        daily[0] = m.grid._daily
        daily[1:] = -3.0 * evening + 2.0 * night
        self.daily = daily
        self.thd_u = np.empty((mins + 1, 3))
        self.thd_u[0] = m._thd_u
        self.thd_u[1:] = _grid_thd(m, hour, tmf)

    # --- household -------------------------------------------------------------------------------------------------
    def _household(self) -> None:
        m = self.m
        hh = m.household
        s = hh.settings
        n, mins, t0 = self.n, self.minutes, self.t0
        pv_on = s.pv_kwp > 0
        ev_on = s.ev_charger_kw > 0
        # The r and jitter draws first (all used when the chunk runs to its end), then room for the others.
        self.hh_bulk = bulk = bulk_random.Bulk(hh.rng, 2 * n)
        draws = bulk.extend(4 * mins + 256)
        # Seconds (1 … n) whose minute call draws: known in advance, except the EV's second draw.
        minute_secs = 60 * np.arange(1, mins + 1)
        weather_at = set()
        cloud_at = set()
        if pv_on:
            weather_at = {int(x) for x in minute_secs[(self.tm % 86400) == 0]}
            cloud_at = {int(x) for x in minute_secs[(self.tm % 900) == 0]}
        ev_candidates = set()
        if ev_on:
            ev_candidates = {int(x) for x in minute_secs[(self.hour >= 17.0) & (self.hour < 17.02)]}
        stops = sorted(weather_at | cloud_at | ev_candidates)
        rate_s = np.repeat(self.rate[:-1], 60)  # second s (index s−1) uses minute state (s−1)//60
        starts: list[tuple[int, int, float]] = []  # (second, appliance, duration draw)
        extra = np.zeros(n + 1, dtype=np.int64)  # draws after the second's r and jitter (index = second)
        weather, cloud_target = hh._weather, hh._cloud_target
        ev_until, ev_day = hh._ev_until, hh._ev_day
        pos = 0
        i = 1
        stop_k = 0
        while i <= n:
            nxt = stops[stop_k] if stop_k < len(stops) else n
            while pos + 2 * (nxt - i + 1) + 8 > len(draws):  # many starts: draw more (the same numbers first)
                draws = bulk.extend(len(draws))
            seg = draws[pos:pos + 2 * (nxt - i + 1):2]
            hits = np.flatnonzero(seg < rate_s[i - 1:nxt])
            if len(hits):
                sec = i + int(hits[0])
                p = pos + 2 * (sec - i)
                r = float(draws[p])
                starts.append((sec, _pick(self.cum[(sec - 1) // 60], r), float(draws[p + 1])))
                extra[sec] += 1
                pos = p + 3
                if sec == nxt and stop_k < len(stops) and nxt == stops[stop_k]:
                    pos, weather, cloud_target, ev_until, ev_day = self._minute_draws(
                        nxt, draws, pos, extra, weather_at, cloud_at, ev_candidates, weather, cloud_target,
                        ev_until, ev_day)
                    stop_k += 1
                i = sec + 1
                continue
            pos += 2 * (nxt - i + 1)
            if stop_k < len(stops) and nxt == stops[stop_k]:
                pos, weather, cloud_target, ev_until, ev_day = self._minute_draws(
                    nxt, draws, pos, extra, weather_at, cloud_at, ev_candidates, weather, cloud_target, ev_until,
                    ev_day)
                stop_k += 1
            i = nxt + 1
        self.draws = draws
        # Draw positions: r of second s at 2(s−1) + the extra draws of the seconds before, its jitter next (after
        # the duration draw if an appliance started). The offset changes only at the seconds with extra draws: the
        # jitter draws are copied run by run between them.
        jit = np.empty(n)
        started = {sec for sec, _, _ in starts}
        off = 0
        s0 = 1
        for sec in np.flatnonzero(extra).tolist():
            p0 = 2 * (s0 - 1) + 1 + off
            jit[s0 - 1:sec - 1] = draws[p0:p0 + 2 * (sec - s0):2]
            jit[sec - 1] = draws[2 * (sec - 1) + 1 + off + (sec in started)]
            off += int(extra[sec])
            s0 = sec + 1
        p0 = 2 * (s0 - 1) + 1 + off
        jit[s0 - 1:] = draws[p0:p0 + 2 * (n - s0 + 1):2]
        self.extra = extra  # the draws used up to second s: 2s + extra[1 … s]
        # Minute-level state sequences: clouds (sequential, as the model), PV, EV
        self._minute_sequences(weather_at, cloud_at, ev_candidates)
        self.starts = starts
        # Load jitter: j += (r − 0.5)·0.006 − j·0.05
        self.jitter = first_order((jit - 0.5) * 0.006, 0.95, hh._jitter)
        # Appliances: exact replay of the heap; the loads of each segment hold over the seconds it is in force
        seg_t, seg_p, seg_q, seg_e, _, _ = _replay(hh, starts, t0, t0 + n)
        seg_ta = np.array(seg_t, dtype=np.int64)
        self.seg = (seg_ta, seg_p, seg_q, seg_e)
        lo = np.maximum(seg_ta, t0 + 1)
        hi = np.minimum(np.append(seg_ta[1:], t0 + n + 1), t0 + n + 1)
        lengths = np.maximum(hi - lo, 0)
        self.seg_end = np.cumsum(lengths)  # chunk second (index) after each segment's last
        self.seg_pq = np.array(seg_p).T.copy(), np.array(seg_q).T.copy()  # (3, segments)
        self.evw = s.ev_charger_kw * 1000.0 / 3.0

    def _minute_draws(self, sec: int, draws: Floats, pos: int, extra: Ints, weather_at: set[int],
                      cloud_at: set[int], ev_candidates: set[int], weather: float, cloud_target: float,
                      ev_until: float, ev_day: int) -> tuple[int, float, float, float, int]:
        """The minute call at second `sec` (chunk-relative) draws: weather, clouds, EV, in household.minute's
        order. Positions are noted for `_minute_sequences`."""
        j = sec // 60
        t = self.t0 + sec
        if sec in weather_at:
            self._noted.append(("weather", j, float(draws[pos])))
            pos += 1
            extra[sec] += 1
        if sec in cloud_at:
            self._noted.append(("cloud", j, float(draws[pos])))
            pos += 1
            extra[sec] += 1
        if sec in ev_candidates:
            yday = int(self.yday[j - 1])
            if ev_day != yday:
                ev_day = yday
                self._noted.append(("ev_day", j, float(yday)))
                r = float(draws[pos])
                pos += 1
                extra[sec] += 1
                weekday = int(self.weekday[j - 1])
                if r < (0.55 if weekday < 5 else 0.3):
                    ev_until = t + 3600 * (1 + 2 * float(draws[pos]))
                    self._noted.append(("ev_until", j, ev_until))
                    pos += 1
                    extra[sec] += 1
        return pos, weather, cloud_target, ev_until, ev_day

    def _minute_sequences(self, weather_at: set[int], cloud_at: set[int], ev_candidates: set[int]) -> None:
        m = self.m
        hh = m.household
        s = hh.settings
        mins = self.minutes
        # The states after each minute call (index 0: the meter's), held between the few calls that draw: filled
        # run by run, not minute by minute
        weather, target = hh._weather, hh._cloud_target
        ev_until, ev_day = hh._ev_until, hh._ev_day
        weather_m = np.empty(mins + 1)
        target_m = np.empty(mins + 1)
        ev_arr = np.empty(mins + 1)
        ev_day_m = np.empty(mins + 1, dtype=np.int64)
        since = 0
        for kind, j, value in self._noted:  # in time order
            if j > since:
                weather_m[since:j], target_m[since:j], ev_arr[since:j], ev_day_m[since:j] = (
                    weather, target, ev_until, ev_day)
                since = j
            if kind == "weather":
                weather = (1.0, 0.65, 0.25)[min(2, int(value * 3))]
            elif kind == "cloud":
                target = min(1.0, weather * (0.7 + 0.6 * value))
            elif kind == "ev_day":
                ev_day = int(value)
            else:
                ev_until = value
        weather_m[since:], target_m[since:], ev_arr[since:], ev_day_m[since:] = weather, target, ev_until, ev_day
        clouds = np.empty(mins + 1)
        clouds[0] = hh._cloud
        pv_w = np.empty(mins + 1)
        pv_w[0] = hh.pv_w
        if s.pv_kwp > 0:
            cloud = hh._cloud
            out = [0.0] * mins
            for j, tg in enumerate(target_m[1:].tolist()):  # sequential, the model's operations
                cloud += (tg - cloud) * 0.2
                out[j] = cloud
            clouds[1:] = out
            pv_w[1:] = _pv_clear(s, self.tm.astype(np.float64), self.yday) * clouds[1:]
        else:
            clouds[1:] = hh._cloud
            pv_w[1:] = 0.0
        self.post = (weather_m, target_m, clouds, ev_day_m)
        self.pv_w = pv_w
        self.ev_until = ev_arr

    # --- grid --------------------------------------------------------------------------------------------------------
    def _grid(self) -> None:
        g = self.m.grid
        n = self.n
        self.grid_bulk = bulk_random.Bulk(g.rng, 2 * n)
        d = self.grid_bulk.values
        self.noise = first_order((d[0::2] - 0.5) * 0.4, 0.98, g._noise)
        self.f = NOMINAL_HZ + first_order((d[1::2] - 0.5) * 0.004, 0.99, g.f - NOMINAL_HZ)
        self.grid_offset = np.array(g.offset)[:, None]

    def _tariffs(self) -> None:
        """The active tariff of each second: after the minute call before it (a copy of the tariffs follows the
        calendar, so the meter's own is untouched until the commit)."""
        m = self.m
        tr = copy.copy(m.tariffs)
        per_minute = np.empty(self.minutes + 1, dtype=np.int64)
        per_minute[0] = tr.active
        self.switch_minutes: list[int] = []
        # The tariff holds between candidates: fill those runs at once rather than minute by minute
        last, since = tr.active, 1
        for j in sorted(_switch_candidates(m, self.hour)):
            if j > self.minutes:
                break
            per_minute[since:j] = last
            tr.update(m.rtc.wall_time(int(self.tm[j - 1])))
            last, since = tr.active, j
            self.switch_minutes.append(j)
        per_minute[since:] = last
        self.tariff_minute = per_minute

    # --- the seconds -----------------------------------------------------------------------------------------------
    def _seconds(self) -> int:
        """Loads, voltages, metrology and the stop tests, block by block (a block's arrays stay in the CPU's
        cache through the many operations on them; day-long ones would not); per minute, the sums of the rows of
        `_ROWS` (W·s: the commit scales them to Wh), of the analysis channels that are not rows and of the
        unbalance, and the voltages' extremes. Stops after the block holding the first second the chunk cannot
        take; returns that second's index, or n."""
        m = self.m
        hh = m.household
        n, mins = self.n, self.minutes
        pq = m.pq
        t0 = self.t0
        # Power-quality windows on whole minutes (the usual case) take minute sums and extremes; others need the
        # seconds' voltages and unbalance
        self.pq_minutes = all((w.end - t0) % 60 == 0 and w.width % 60 == 0 for w in (pq._mean, pq._counter))
        self.u_s = np.empty((3, 0 if self.pq_minutes else n))
        self.ub_s = np.empty(0 if self.pq_minutes else n)
        # The voltages' extremes per piece of a block between the mean windows' ends (kept at the piece's first
        # minute; the others stay at ∓inf): the windows need no finer ones
        self.u_max = np.full((3, mins), -np.inf)
        self.u_min = np.full((3, mins), np.inf)
        w = pq._mean
        self.window_ends = np.arange((w.end - t0) % w.width, n, w.width) if self.pq_minutes else np.empty(0, np.int64)
        self.ub_min = np.empty(mins)
        self.u_eom = np.empty((3, mins))  # at each minute's last second
        self.rvc_hit = np.zeros(n, dtype=bool)
        self.minute_sums = np.zeros((len(_ROWS), mins))
        self.feed_wh = np.zeros(n // 10)  # A+ (W·s) per 10-s feed of the S0 output
        self.an_extra = {INSTANT_KEYS[idx]: np.zeros(mins) for _, idx in m._an_inst if INSTANT_KEYS[idx] not in _ROW_OF}
        # The fuse limit, tested once for the chunk on a bound of |p| + |q| (below it by far, as a rule)
        seg_p, seg_q = self.seg_pq
        k_max = float(np.abs(1.0 + self.jitter).max()) * abs(hh.load_scale)
        p_max = ((np.abs(seg_p).max() + np.abs(self.fp).max()) * k_max + abs(self.evw) + abs(hh.extra_w / 3.0)
                 + float(np.abs(self.pv_w).max()) * abs(hh.pv_scale) / 3.0)
        q_max = (np.abs(seg_q).max() + np.abs(self.fq).max()) * k_max
        self.fuse_clear = (p_max + q_max) * (1 + 1e-9) < m._fuse_check_va * (1 - _MARGIN)
        rvc = pq._rvc
        self.u_prev = np.array([[rvc.p1], [rvc.p2], [rvc.p3]])
        self.done = 0
        for a in range(0, n, _BLOCK_S):
            b = min(n, a + _BLOCK_S)
            bad = self._block(a, b)
            self.done = b
            if bad < b:
                return bad
        return n

    def _loads(self, a: int, b: int) -> tuple[Floats, Floats]:
        """The household's p and q per phase and second (3, b − a): (lp + fridge)·k + ev − pv and
        (lq + fridge)·k, the per-second model's operations. All but k hold over pieces of seconds (an appliance
        segment within a minute, split where the EV stops): they are computed per piece and repeated once, not
        repeated and added per second."""
        hh = self.m.household
        t0 = self.t0
        j0, j1 = a // 60, b // 60
        width = b - a
        seg_end = self.seg_end
        first_min = t0 + a + 1 + 60 * np.arange(width // 60)  # each minute's first second
        ev_cut = np.ceil(self.ev_until[j0:j1] - first_min).astype(np.int64)  # seconds of the minute with the EV on
        within = np.flatnonzero((ev_cut > 0) & (ev_cut < 60))
        is_start = np.zeros(width, dtype=np.bool_)
        is_start[::60] = True
        is_start[seg_end[(seg_end > a) & (seg_end < b)] - a] = True
        is_start[60 * within + ev_cut[within]] = True
        starts = np.flatnonzero(is_start)
        lengths = np.empty_like(starts)
        lengths[:-1] = starts[1:] - starts[:-1]
        lengths[-1] = width - starts[-1]
        at_min = j0 + starts // 60
        at_seg = np.searchsorted(seg_end, a + starts, side="right")
        seg_p, seg_q = self.seg_pq
        k = self.jitter[a:b] + 1.0
        k *= hh.load_scale
        p = np.repeat(seg_p[:, at_seg] + self.fp[at_min].T, lengths, axis=1)
        p *= k
        ev = np.where(t0 + a + 1 + starts < self.ev_until[at_min], self.evw, 0.0)
        ev += hh.extra_w / 3.0
        p += np.repeat(ev, lengths)
        p -= np.repeat(self.pv_w[at_min] * hh.pv_scale / 3.0, lengths)
        q = np.repeat(seg_q[:, at_seg] + self.fq[at_min].T, lengths, axis=1)
        q *= k
        return p, q

    def _voltages(self, a: int, b: int, p: Floats) -> Floats:
        """The phase voltages (3, b − a) under the loads p."""
        base = np.repeat(self.daily[a // 60:b // 60], 60)
        base += NOMINAL_V  # (NOMINAL_V + daily) + noise, as the model
        base += self.noise[a:b]
        u: Floats = base + self.grid_offset
        if self.m.breaker.closed:  # an open breaker draws nothing
            drop = GRID_OHMS * p
            drop /= NOMINAL_V
            u -= drop
        return u

    def _minute_extremes(self, a: int, b: int, u: Floats | None = None) -> None:
        """The voltages' extremes per minute over seconds a … b − 1 (for a chunk that stops inside the block:
        its last window may end inside a piece). Without u, the block's voltages are computed again."""
        if u is None:
            u = self._voltages(a, b, self._loads(a, b)[0])
        by_min = u.reshape(3, -1, 60)
        self.u_max[:, a // 60:b // 60] = by_min.max(axis=2)
        self.u_min[:, a // 60:b // 60] = by_min.min(axis=2)

    def _block(self, a: int, b: int) -> int:
        """Seconds a … b − 1 of the chunk (a, b multiples of 60); returns the first the chunk cannot take, or b."""
        m = self.m
        j0, j1 = a // 60, b // 60
        width = b - a
        p, q = self._loads(a, b)
        u = self._voltages(a, b, p)
        closed = m.breaker.closed
        # Metrology
        first = b
        pm, qm = p, q
        acc = m.accuracy
        if not acc.ideal:
            # sqrt(p² + q²) may differ from hypot in the last place: the margin below covers that
            ratio = np.sqrt(p * p + q * q) / u
            g = np.where((u > 1.0) & (ratio >= acc.itr), acc.gain_high, acc.gain_low)
            first = min(first, a + _first((np.abs(ratio - acc.itr) <= _MARGIN * acc.itr).any(axis=0), width))
            pm, qm = p * g, q * g
        if not closed:
            pm = np.zeros_like(p)
            qm = np.zeros_like(q)
        st = m.metrology.starting_threshold_w
        ap = np.abs(pm)
        live = ap >= st  # p ≥ st (import) or p ≤ −st (export): below the threshold a phase registers nothing
        pz = pm * live  # × False gives ±0.0: the same in every sum and sign test below as the model's 0.0
        qz = qm * live
        pt = pz[0] + pz[1]
        pt += pz[2]
        qt = qz[0] + qz[1]
        qt += qz[2]
        stot = pt * pt
        stot += qt * qt
        np.sqrt(stot, out=stot)
        pos_p = pt >= 0.0
        neg_p = ~pos_p
        rows = np.empty((16, width))
        zero = _ZEROS[:width]
        np.maximum(pt, zero, out=rows[0])
        np.minimum(pt, zero, out=rows[1])
        rp = np.maximum(qt, zero, out=rows[2])
        rm = np.minimum(qt, zero, out=rows[3])
        np.multiply(rp, pos_p, out=rows[4])
        np.multiply(rp, neg_p, out=rows[5])
        np.multiply(rm, neg_p, out=rows[6])
        np.multiply(rm, pos_p, out=rows[7])
        np.multiply(stot, pos_p, out=rows[8])
        np.multiply(stot, neg_p, out=rows[9])
        np.maximum(pz, zero, out=rows[10:13])
        np.minimum(pz, zero, out=rows[13:16])
        ms = self.minute_sums[:, j0:j1]
        ms[:16] = _minute_sums(rows)
        ms[16:19] = _minute_sums(u)
        ms[19] = _sums_of(self.f[a:b], 60)
        self.feed_wh[a // 10:b // 10] = _sums_of(rows[0], 10)
        if self.an_extra:
            self._instant_minutes(j0, j1, pm, qm, qz, pt, stot, u)
        # Power quality: unbalance per second (the model's operations, in its order), voltage extremes
        u1, u2, u3 = u[0], u[1], u[2]
        neg = u1 * u1
        neg += u2 * u2
        neg += u3 * u3
        neg -= u1 * u2
        neg -= u2 * u3
        neg -= u3 * u1
        ub = np.sqrt(np.maximum(neg, zero, out=neg), out=neg)  # 0 where neg ≤ 0, as unbalance()
        ub /= u1 + u2 + u3
        self.ub_min[j0:j1] = _sums_of(ub, 60)
        ends = self.window_ends
        cuts = np.concatenate([[a], ends[(ends > a) & (ends < b)]])
        u_max = np.maximum.reduceat(u, cuts - a, axis=1)
        u_min = np.minimum.reduceat(u, cuts - a, axis=1)
        self.u_max[:, cuts // 60] = u_max
        self.u_min[:, cuts // 60] = u_min
        self.u_eom[:, j0:j1] = u[:, 59::60]
        if not self.pq_minutes:
            self.u_s[:, a:b] = u
            self.ub_s[a:b] = ub
        # What the chunk does not model. Each test looks at the block's extreme first and finds the seconds only
        # when that fails.
        pq = m.pq
        lo = max(pq._quiet_lo, UNDERVOLTAGE_LIMIT_V) * (1 + _MARGIN)
        hi = min(pq._quiet_hi, OVERVOLTAGE_LIMIT_V) * (1 - _MARGIN)
        if u_min.min() < lo or u_max.max() > hi:
            first = min(first, a + _first(((u < lo) | (u > hi)).any(axis=0), width))
        if not self.fuse_clear:
            c = m._fuse_check_va * (1 - _MARGIN)
            first = min(first, a + _first(((np.abs(p) + np.abs(q)) > c).any(axis=0), width))
        ap -= st
        near = np.abs(ap, out=ap)
        if near.min() <= _MARGIN * st:
            first = min(first, a + _first((near <= _MARGIN * st).any(axis=0), width))
        # A sum within rounding of 0 (but not exactly 0, as when every phase is below the threshold) could change
        # quadrant the other way
        for tot in (pt, qt):
            t_abs = np.abs(tot)
            if t_abs.min() <= 1e-9:
                first = min(first, a + _first((t_abs <= 1e-9) & (tot != 0.0), width))
        # RVC: a step of at least the threshold (counted at the commit) near the threshold would be ambiguous
        th = self.m.pq._rvc.threshold
        # The steps within each phase's row, on the flat array (one contiguous pass; the two steps across rows
        # are not steps and are cleared), then into the block's first second
        flat = u.reshape(-1)
        steps = np.subtract(flat[1:], flat[:-1])
        np.abs(steps, out=steps)
        steps[width - 1::width] = 0.0
        into = np.abs(u[:, 0] - self.u_prev[:, 0])
        if max(steps.max(), np.fmax.reduce(into)) >= th * (1 - _MARGIN):  # fmax: a NaN history (no previous
            # sample) is no step, and must not hide the others
            d = np.empty_like(u)
            np.subtract(u[:, 1:], u[:, :-1], out=d[:, 1:])
            np.subtract(u[:, :1], self.u_prev, out=d[:, :1])
            np.abs(d, out=d)
            self.rvc_hit[a:b] = (d >= th).any(axis=0)
            first = min(first, a + _first((np.abs(d - th) <= _MARGIN * th).any(axis=0), width))
        self.u_prev = u[:, -1:]
        if first < b:  # the chunk stops in this block: the windows take its extremes per minute
            self._minute_extremes(a, b, u)
        return first

    def _instant_minutes(self, j0: int, j1: int, p: Floats, q: Floats, qz: Floats, pt: Floats, stot: Floats,
                         u: Floats) -> None:
        """Minute sums of the analysis channels that are not rows (as Metrology.step sets them each second), over
        a block: p, q the measured powers, qz the reactive ones registered, pt and stot the totals."""
        st = self.m.metrology.starting_threshold_w
        cache: dict[str, Floats] = {}

        def per_phase(name: str) -> Floats:  # (3, minutes) for all phases at once, each once
            if name in cache:
                return cache[name]
            if name == "q_plus":
                x = np.maximum(qz, 0.0)
            elif name == "q_minus":
                x = -np.minimum(qz, 0.0)
            elif name == "s":
                x = p * p
                x += q * q
                np.sqrt(x, out=x)
            elif name == "s_plus":
                x = per_phase("s") * (p >= st)
            elif name == "s_minus":
                x = per_phase("s") * (p <= -st)
            elif name == "i":  # u > 1 V at every second committed (the quiet band)
                x = per_phase("s") / u
            else:  # PF as metrology: |P|/S (1 without load)
                s = per_phase("s")
                s_div = np.where(s > 0.0, s, 1.0)
                x = np.where(p >= st, p / s_div, np.where(p <= -st, -p / s_div,
                                                          np.where(s > 0.0, np.abs(p) / s_div, 1.0)))
            cache[name] = x
            return x

        sums: dict[str, Floats] = {}
        for key, out in self.an_extra.items():
            if key == "pf":
                out[j0:j1] = _sums_of(np.where(stot > 0.0, np.abs(pt) / np.where(stot > 0.0, stot, 1.0), 1.0), 60)
                continue
            name, ph = key.rsplit("_l", 1)
            if name not in sums:
                sums[name] = _minute_sums(per_phase(name))
            out[j0:j1] = sums[name][int(ph) - 1]

    def _s0_flags(self) -> int | None:
        """The S0 output's pulses per feed; the first second of a feed whose count is in doubt (or None)."""
        m = self.m
        s0 = m.s0
        if s0 is None:
            return None
        # Feeds at seconds with t % 10 == 0: the chunk starts on a minute, so every 10th second.
        per_feed = self.feed_wh[:self.done // 10] * _WH  # Wh fed at each feed
        per_feed[0] += m._s0_wh
        x = per_feed * s0.imp_per_kwh / 1000.0
        fed = np.cumsum(x)
        due = float(s0.remainder) + fed
        whole_total = np.floor(due)
        frac = due - whole_total
        # Pulses due within rounding of a whole pulse could be counted a feed earlier or later (nothing fed yet in
        # the chunk leaves the remainder exact)
        near = ((frac <= 1e-9) | (frac >= 1 - 1e-9)) & (fed > 0.0)
        self.s0_whole = np.diff(whole_total, prepend=0.0)
        self.s0_due = due
        hits = np.flatnonzero(near)
        return 10 * int(hits[0]) if len(hits) else None

    # --- commit ----------------------------------------------------------------------------------------------------
    def _commit(self, e: int) -> None:
        m = self.m
        hh, grid, pq = m.household, m.grid, m.pq
        t0 = self.t0
        t_end = t0 + e
        mins = e // 60
        # Random streams: exactly the draws the per-second model makes up to t_end
        self.hh_bulk.consume(2 * e + int(self.extra[1:e + 1].sum()))
        self.grid_bulk.consume(2 * e)
        # Energies (Wh) per minute: the tariff and periods change on minutes
        c = self.minute_sums[:16, :mins] * _ROW_SIGN[:, None]
        energy = m.metrology.energy
        # Running sums minute by minute: the demand quantities' registers at each minute's end, and the totals as
        # their last values (the same additions, so a period without energy registers exactly none)
        cum = np.cumsum(c, axis=1)
        cum6 = cum[[0, 1, 2, 3, 8, 9]]
        e6_start = [energy[_TOTAL[k]] for k in _DEMAND_KEYS]
        totals = cum[:, -1].tolist()
        for row, total in enumerate(totals):
            energy[row] += total
        per_minute = self.tariff_minute[:mins]
        for tv in set(per_minute.tolist()):
            sums = c.T[per_minute == tv].sum(axis=0).tolist()
            k = int(tv) + 15
            energy[k] += sums[0]
            energy[k + 8] += sums[1]
            energy[k + 16] += sums[2]
            energy[k + 24] += sums[3]
            energy[k + 32] += sums[8]
            energy[k + 40] += sums[9]
        # Time-ordered bookkeeping at window, period, switch and interval ends
        thd_i_min = self._thd_i()
        self._pq_windows(e, self.thd_u, thd_i_min)
        period = m.period_s
        off = m.rtc.standard_offset
        ends = [t for t in range(t0 + period - t0 % period, t_end + 1, period)]
        switch = [j for j in self.switch_minutes if j < mins]
        an_int = m.analysis.interval_s
        an_ends = list(range(t0 + an_int - t0 % an_int, t_end + 1, an_int))
        events: list[tuple[int, int, Any]] = [(t, 0, None) for t in ends]
        events += [(t0 + 60 * j, 1, j) for j in switch]
        events += [(t, 2, None) for t in an_ends]
        events.sort()
        an_min = self._analysis_minutes(mins, thd_i_min)
        an_from = 0
        # Only the minutes that end a period or an analysis interval are read: take those, not every minute
        cum6_at = dict(zip(ends, cum6[:, [(t - t0) // 60 - 1 for t in ends]].T.tolist(), strict=True))
        an_parts = self._analysis_parts(an_min, [(t - t0) // 60 for t in an_ends])
        self.an_averaged = {j for j, _ in m._an_inst} | {j for j, _, _ in m._an_thd}
        tariff_at = per_minute.tolist()
        for t, kind, _ in events:
            j = (t - t0) // 60  # minutes since t0: the second t is in minute j − 1
            if kind == 0:
                at = cum6_at[t]
                energies = {k: e6_start[n] + at[n] for n, k in enumerate(_DEMAND_KEYS)}
                local_day = (t - period + off) // 86400
                m.demand.end_of_period(t, energies, int(tariff_at[j - 1]), local_day)
                registered = m.demand.period_energy
                values = {obis: registered[key] / 1000.0 for obis, key in _LP_CHANNELS.items()}
                m.load_profile.record(t, values, m._lp_status)
                m.logs_revision += 1
                m._lp_status = 0
            elif kind == 1:
                m.tariffs.update(m.rtc.wall_time(t))
                m._tariff_changed(t)
            else:
                self._analysis_record(t, an_parts[t], an_from, j)
                an_from = j
        # The analysis logger's running means
        if mins > an_from:
            part = an_min[:, an_from:mins].sum(axis=1).tolist()
            for j in range(len(m._an_sum)):
                m._an_sum[j] += part[j]
            m._an_n += 60 * (mins - an_from)
        # S0
        if m.s0 is not None:
            self._s0_commit(e)
        m._s0_wh = 0.0
        # Household, grid, metrology at t_end: state after the step at t_end, before its minute call
        last = mins  # minute state index in force during the last minute is mins − 1
        _seg_t, seg_p, seg_q, seg_e, heap, _ = _replay(hh, [s for s in self.starts if s[0] <= e], t0, t_end)
        hh._running = heap
        hh._load_p, hh._load_q, hh.electronic_p = list(seg_p[-1]), list(seg_q[-1]), list(seg_e[-1])
        hh._jitter = float(self.jitter[e - 1])
        hh._fridge_p, hh._fridge_q = list(self.fp[last - 1]), list(self.fq[last - 1])
        hh.pv_w = float(self.pv_w[last - 1])
        hh._ev_until = float(self.ev_until[last - 1])
        grid._noise = float(self.noise[e - 1])
        grid.f = float(self.f[e - 1])
        grid._daily = float(self.daily[last - 1])
        m.t = t_end
        m.mono += e
        m.powered_s += float(e)
        hh.compose(t_end)
        grid.compose(hh.p if m.breaker.closed else [0.0, 0.0, 0.0])
        m._metrology_step(0.0, grid.u, m.breaker.closed)
        weather_m, target_m, clouds, ev_day_m = self.post
        hh._weather, hh._cloud_target, hh._cloud = float(weather_m[mins]), float(target_m[mins]), float(clouds[mins])
        hh._ev_until, hh._ev_day = float(self.ev_until[mins]), int(ev_day_m[mins])
        # Power quality's per-second state
        pq._last_t = t_end
        pq._fast_until = min(pq._mean.end, pq._counter.end)
        rvc = pq._rvc
        rvc.p1, rvc.p2, rvc.p3 = self.u_eom[:, e // 60 - 1].tolist()
        pq._c[RVC] += int(np.count_nonzero(self.rvc_hit[:e]))
        # The minute call at t_end (its draws are counted above), then midnight
        m._minute(t_end, tick=False)
        if (t_end + off) % 86400 == 0:
            m._midnight(t_end)

    def _thd_i(self) -> Floats:
        """Current THD per minute state (Meter._harmonics at each minute call), state 0 from the meter."""
        m = self.m
        hh = m.household
        mins = self.minutes
        out = np.empty((mins + 1, 3))
        out[0] = m._thd_i
        seg_t, seg_p, _, seg_e = self.seg
        at = np.arange(1, mins + 1) * 60 - 1  # index of the minute call's second
        idx = np.searchsorted(seg_t, self.t0 + at + 1, side="right") - 1
        k = (1.0 + self.jitter[at]) * hh.load_scale
        ev_w = np.where(self.t0 + at + 1 < self.ev_until[:mins], self.evw, 0.0)
        lp = np.array(seg_p)[idx]
        ep = np.array(seg_e)[idx]
        electronic = ep * k[:, None]
        total = (lp + self.fp[1:]) * k[:, None] + hh.extra_w / 3.0 + ev_w[:, None]
        lin = np.maximum(total - electronic, 0.0)
        el = np.maximum(electronic, 0.0)
        fund = lin + el
        harm = np.hypot(ELECTRONIC_THD_PCT * el, LINEAR_THD_PCT * lin)
        thd = np.where(fund > 0.0, harm / np.where(fund > 0.0, fund, 1.0), 0.0)
        out[1:] = thd if m.breaker.closed else 0.0
        return out

    def _analysis_minutes(self, mins: int, thd_i: Floats) -> Floats:
        """Per channel of the analysis logger, the sums of its per-second values over each minute (J, mins)."""
        m = self.m
        out = np.zeros((len(m.analysis.channels), mins))
        for j, idx in m._an_inst:
            key = INSTANT_KEYS[idx]
            direct = _ROW_OF.get(key)
            if direct is None:
                out[j] = self.an_extra[key][:mins]
            else:
                row, sign = direct
                out[j] = self.minute_sums[row, :mins] * sign
        for j, arr, i in m._an_thd:  # constant within a minute (minute state j − 1 … for the seconds of minute j)
            out[j] = 60.0 * (self.thd_u if arr is m._thd_u else thd_i)[:mins, i]
        return out

    def _analysis_parts(self, values: Floats, ends: list[int]) -> dict[int, list[float]]:
        """Per analysis interval ending at minute j (of `ends`), its channels' sums over its minutes in the chunk
        (keyed by the interval's end time)."""
        if not ends:
            return {}
        starts = [0, *ends[:-1]]
        sums = np.add.reduceat(values[:, :ends[-1]], starts, axis=1).T.tolist() if len(values) else [[]] * len(ends)
        return {self.t0 + 60 * j: part for j, part in zip(ends, sums, strict=True)}

    def _analysis_record(self, t: int, part: list[float], a: int, b: int) -> None:
        m = self.m
        n = m._an_n + 60 * (b - a)
        averaged = self.an_averaged
        an_sum = m._an_sum
        record: dict[str, float | int | None] = {}
        for j, key in enumerate(m.analysis.channels):
            record[key] = (an_sum[j] + part[j]) / n if n and j in averaged else None
        m.analysis.record(t, record)
        m._an_sum = [0.0] * len(m._an_sum)
        m._an_n = 0
        m.logs_revision += 1

    def _pq_windows(self, e: int, thd_u: Floats, thd_i: Floats) -> None:
        """The mean and counter windows (sums over each window's minutes, or seconds, at once), the 10-s frequency
        windows; thd_u and thd_i per minute state (mins + 1, 3)."""
        m = self.m
        pq = m.pq
        t0 = self.t0
        t_end = t0 + e
        mins = e // 60
        if self.pq_minutes:  # every window on whole minutes: sums and extremes per minute, windows of minutes
            scale = 60
            u_sum, u_max, u_min = self.minute_sums[16:19, :mins], self.u_max[:, :mins], self.u_min[:, :mins]
            ub_sum = self.ub_min[:mins]
            thd_u_sum, thd_i_sum = thd_u[:mins] * 60.0, thd_i[:mins] * 60.0  # constant within a minute
        else:
            scale = 1
            u_sum = u_max = u_min = self.u_s[:, :e]
            ub_sum = self.ub_s[:e]
            thd_u_sum, thd_i_sum = np.repeat(thd_u[:mins], 60, axis=0), np.repeat(thd_i[:mins], 60, axis=0)
        size = mins if self.pq_minutes else e
        # Mean window(s). The whole windows inside the chunk (parts 1 … n_closed − 1) start from a reset window:
        # when none of their means is out of bounds they close without an event, and only move the window on.
        w = pq._mean
        starts, n_closed = _windows((w.end - t0) // scale, w.width // scale, size)
        part_sums = np.add.reduceat(u_sum, starts, axis=1)
        part_n = np.diff(starts, append=size) * scale
        inner = slice(1, max(1, n_closed))
        means = part_sums[:, inner] / part_n[inner]
        jump = n_closed - 1 if not ((means > w.hi) | (means < w.lo)).any() else 0
        sums = part_sums.T.tolist()
        mxs = np.maximum.reduceat(u_max, starts, axis=1).T.tolist()
        mns = np.minimum.reduceat(u_min, starts, axis=1).T.tolist()
        lengths = part_n.tolist()
        for k in _visited(len(lengths), jump):
            _add_seconds(w, lengths[k], sums[k])
            mx, mn = mxs[k], mns[k]
            for i in range(3):
                w.mx[i] = max(w.mx[i], mx[i])
                w.mn[i] = min(w.mn[i], mn[i])
            if k < n_closed:
                w.finish()
            if k == 0 and jump:
                w.start, w.end = w.start + jump * w.width, w.end + jump * w.width
        # Counter window(s): voltages, unbalance, THD. The whole windows inside the chunk are counted at once
        # (the same divisions and comparisons as CounterWindow.finish, from a reset window).
        c = pq._counter
        starts, n_closed = _windows((c.end - t0) // scale, c.width // scale, size)
        part_sums = np.add.reduceat(u_sum, starts, axis=1)
        part_ub = np.add.reduceat(ub_sum, starts)
        part_tu = np.add.reduceat(thd_u_sum, starts)
        part_ti = np.add.reduceat(thd_i_sum, starts)
        part_n = np.diff(starts, append=size) * scale
        jump = max(0, n_closed - 1)
        if jump:
            inner = slice(1, n_closed)
            k_n = part_n[inner]
            means = part_sums[:, inner] / k_n
            cnt = c.counters
            cnt[LOW1] += int(np.count_nonzero((means < c.low1_v).any(axis=0)))
            cnt[LOW2] += int(np.count_nonzero((means < c.low2_v).any(axis=0)))
            cnt[HIGH] += int(np.count_nonzero((means > c.high_v).any(axis=0)))
            thd_u_over = np.count_nonzero(part_tu[inner] / k_n[:, None] > THD_LIMIT_PCT, axis=0).tolist()
            thd_i_over = np.count_nonzero(part_ti[inner] / k_n[:, None] > THD_LIMIT_PCT, axis=0).tolist()
            for i in range(3):
                cnt[THD_U + i] += thd_u_over[i]
                cnt[THD_I + i] += thd_i_over[i]
            cnt[UNBALANCE] += int(np.count_nonzero(part_ub[inner] / k_n > UNBALANCE_LIMIT))
        sums = part_sums.T.tolist()
        ub_sums = part_ub.tolist()
        tu = part_tu.tolist()
        ti = part_ti.tolist()
        lengths = part_n.tolist()
        for k in _visited(len(lengths), jump):
            n = lengths[k]
            _add_seconds(c, n, sums[k])
            c.ub_sum += ub_sums[k]
            c.ub_n += n
            for i in range(3):
                c.thu[i] += tu[k][i]
                c.thi[i] += ti[k][i]
            if k < n_closed:
                c.finish()
            if k == 0 and jump:
                c.start, c.end = c.start + jump * c.width, c.end + jump * c.width
        events = pq._flush()
        if events is not NO_EVENTS:
            m._power_quality(events)
        # Frequency windows: 10-s means (the chunk starts on a minute, so its windows are whole)
        fw = pq._freq
        sums_f = _sums_of(self.f[:e], 10)
        sums_f[0] += fw.sum
        counts = np.full(len(sums_f), 10)
        counts[0] += fw.n
        mean = sums_f / counts
        cnt = pq._c
        cnt[F1] += int(np.count_nonzero(mean < fw.f1))
        cnt[F2] += int(np.count_nonzero(mean > fw.f2))
        e85, e94, e98, e99, e101, e102, e104, e115 = fw.edges
        # Below e99 the bands are closed below ([e85, e94) …), above e101 closed above ((e101, e102] …)
        low = np.searchsorted(np.array([e85, e94, e98, e99]), mean, side="right")
        high = np.searchsorted(np.array([e101, e102, e104, e115]), mean, side="left")
        band = np.where(low < 4, np.array([6, 2, 4, 0, -1])[low], np.array([-1, 1, 5, 3, 7])[high])
        counted = np.bincount(band + 1, minlength=9)
        for b_ in range(8):
            fw.bands[b_] += int(counted[b_ + 1])
        fw.sum = 0.0
        fw.n = 0
        fw.start, fw.end = t_end, t_end + 10

    def _s0_commit(self, e: int) -> None:
        s0 = self.m.s0
        assert s0 is not None
        feeds = e // 10
        whole = self.s0_whole[:feeds]
        due = float(self.s0_due[feeds - 1])
        s0._remainder = Fraction(due - math.floor(due))
        mono0 = self.m.mono
        period = 2 * s0.width_ms
        if s0.queued == 0 and whole.max(initial=0.0) <= -(-1000 // period):
            # No feed brings more pulses than its second can carry: every pulse leaves in its own feed's second.
            s0.count += int(whole.sum())
            last_feed = mono0 + e  # mono at the last feed (t_end is a multiple of 10)
            prev = s0._last_t if feeds == 1 else last_feed - 10
            gap_start = last_feed if prev is None else prev + 1
            s0.rate_hz = float(whole[-1]) / (last_feed + 1 - gap_start)
            nz = np.flatnonzero(whole > 0)
            if len(nz):
                k = int(nz[-1])
                s0._busy_until_ms = (mono0 + 10 * (k + 1)) * 1000 + int(whole[k]) * period
            s0._last_t = last_feed
            return
        # A queue (S0Output.feed, in integers): the windows feed after feed are contiguous, so every pulse starts
        # at max(its release, the previous pulse's start + period), the releases being the feed seconds (the queue
        # left over: the first window). Batch k's first pulse starts at s_k = max(R_k, end_k−1), and
        # end_k − W_k = max(R_k − W_k−1, end_k−1 − W_k−1) with W the running pulse time: a running maximum.
        t = mono0 + 10 * np.arange(1, feeds + 1, dtype=np.int64)
        last = s0._last_t
        gap0 = int(t[0]) if last is None else last + 1
        w = np.concatenate([[s0.queued], whole]).astype(np.int64)
        release = np.concatenate([[gap0 * 1000], t * 1000])
        span = w * period
        before = np.cumsum(span) - span
        z = np.where(w > 0, release - before, _NEVER)
        busy = s0._busy_until_ms
        z[0] = max(int(z[0]), _NEVER if busy is None else busy)
        np.maximum.accumulate(z, out=z)
        start = z + before

        def started_before(ms: int) -> Ints:  # pulses of each batch that start before ms
            out: Ints = np.clip(-((start - ms) // period), 0, w)
            return out

        end_ms = (int(t[-1]) + 1) * 1000
        gap = int(t[-2]) + 1 if feeds > 1 else gap0
        by_end = started_before(end_ms)
        n = int(by_end.sum())
        if n:
            k = int(np.flatnonzero(by_end)[-1])
            s0._busy_until_ms = int(start[k]) + int(by_end[k]) * period
        s0.rate_hz = (n - int(started_before(gap * 1000).sum())) / (int(t[-1]) + 1 - gap)
        s0.queued += int(w[1:].sum()) - n
        s0.count += n
        s0._last_t = int(t[-1])


def _first(mask: Bools | np.bool_, n: int) -> int:
    """The index of the first True, or n."""
    a = np.asarray(mask)
    i = int(a.argmax())
    return i if a[i] else n


def _sums_of(x: Floats, k: int) -> Floats:
    """Sums of consecutive runs of k values (len(x) a multiple of k). einsum: about 2.5× quicker than
    `np.add.reduce(…, axis=1)` on rows this short, and no BLAS (a matrix product with ones would spread over
    threads, which spin and stall when the other core is busy)."""
    out: Floats = np.einsum("ij->i", x.reshape(-1, k))
    return out


def _minute_sums(rows: Floats) -> Floats:
    """(K, n) per-second rows → (K, n / 60) sums per minute."""
    return _sums_of(rows.reshape(-1), 60).reshape(len(rows), -1)


def _windows(first_end: int, width: int, e: int) -> tuple[Ints, int]:
    """Windows of `width` seconds ending at first_end, first_end + width, … over the chunk's seconds 0 … e − 1:
    the index at which each part within the chunk starts, and how many of the parts end a window (the first
    ones; a last part that stops at e without reaching its window's end stays open)."""
    ends = np.arange(first_end, e + 1, width, dtype=np.int64)
    starts = np.concatenate([np.zeros(1, dtype=np.int64), ends[ends < e]])
    return starts, len(ends)


def _visited(parts: int, jump: int) -> list[int]:
    """The window parts added one by one: all of them, or without the `jump` whole windows after the first."""
    return [0, *range(1 + jump, parts)] if parts else []


def _pick(cumulative: Floats, r: float) -> int:
    for i, c in enumerate(cumulative):
        if r < c:
            return i
    return len(cumulative) - 1


def _replay(hh: Any, starts: list[tuple[int, int, float]], t0: int, t_end: int) -> tuple[
        list[int], list[list[float]], list[list[float]], list[list[float]], list[tuple[float, int]], int]:
    """Appliance starts and stops in the per-second model's order, on copies of the household's loads and heap:
    (times, loads P, loads Q, electronic P after each change — the first entry the loads at t0 —, heap, count)."""
    heap = list(hh._running)
    lp, lq, le = list(hh._load_p), list(hh._load_q), list(hh.electronic_p)
    seg_t, seg_p, seg_q, seg_e = [t0], [list(lp)], [list(lq)], [list(le)]

    def switch(idx: int, sign: float) -> None:
        app = APPLIANCES[idx]
        for ph in app.phases:
            lp[ph] += sign * app.watts
            lq[ph] += sign * app.var
            if not app.inductive:
                le[ph] += sign * app.watts

    k = 0
    count = 0
    while True:
        ts = t0 + starts[k][0] if k < len(starts) else t_end + 1
        tp = max(math.ceil(heap[0][0]), t0 + 1) if heap else t_end + 1
        t = min(ts, tp)
        if t > t_end:
            break
        while heap and heap[0][0] <= t:
            _, idx = heapq.heappop(heap)
            switch(idx, -1.0)
        if ts == t:
            _, idx, d = starts[k]
            app = APPLIANCES[idx]
            lo, hi = app.minutes
            heapq.heappush(heap, (t + 60.0 * (lo + (hi - lo) * d), idx))
            switch(idx, 1.0)
            k += 1
        count += 1
        seg_t.append(t)
        seg_p.append(list(lp))
        seg_q.append(list(lq))
        seg_e.append(list(le))
    return seg_t, seg_p, seg_q, seg_e, heap, count


def _switch_candidates(m: Meter, hour: Floats) -> set[int]:
    """Minute calls (1-based) at which the active tariff could change: the calendar's switch minutes and local
    midnight (a new day's plan); none when the tariff does not follow the calendar."""
    tr = m.tariffs
    if tr._mode != "table" or tr.override is not None:
        return set()
    minutes: set[int] = {0}
    for schedule in tr.calendar._schedules.values():
        minutes.update(minute for minute, _ in schedule._points)
    mod = np.rint(hour * 60.0).astype(np.int64) % 1440
    return {int(j) + 1 for j in np.flatnonzero(np.isin(mod, list(minutes)))}


def _pv_clear(s: Any, t: Floats, yday: Ints) -> Floats:
    """household._update_pv's clear-sky output (W) at UTC times t (NumPy's sin/cos: within an ulp of math's)."""
    decl = math.radians(23.44) * np.sin(2 * math.pi * (284 + yday) / 365.0)
    solar_hour = np.remainder(np.remainder(t, 86400) / 3600.0 + s.longitude / 15.0, 24)
    hour_angle = np.radians(15.0 * (solar_hour - 12.0))
    lat = math.radians(s.latitude)
    sin_el = math.sin(lat) * np.sin(decl) + math.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    out: Floats = s.pv_kwp * 850.0 * np.maximum(0.0, sin_el) ** 1.15
    return out


def _bump(hour: Floats, centre: float, half_width: float) -> Floats:
    d = np.remainder(np.abs(hour - centre), 24.0)
    out: Floats = np.maximum(0.0, 1.0 - np.minimum(d, 24.0 - d) / half_width)
    return out


def _grid_thd(m: Meter, hour: Floats, t: Floats) -> Floats:
    """grid.minute's voltage THD per minute call (value-noise knots from the grid's own cached generator)."""
    g = m.grid
    base = (THD_U_DAY + THD_U_EVENING_RISE * _bump(hour, 20.5, 3.5) - THD_U_NIGHT_DROP * _bump(hour, 4.0, 4.0))
    base = base + _noise(g, "slow", t, *THD_U_SLOW)
    out = np.empty((len(t), 3))
    for i, stream in enumerate(_FAST_STREAMS):
        out[:, i] = (base + g._thd_offset[i]) + _noise(g, stream, t, *THD_U_FAST)
    return out


def _noise(g: Any, stream: str, t: Floats, spacing: int, amplitude: float) -> Floats:
    k = np.floor(t / spacing).astype(np.int64)
    first = int(k[0])
    knots = np.array([g._knot(stream, x) for x in range(first, int(k[-1]) + 2)])
    k0 = knots[k - first]
    k1 = knots[k - first + 1]
    w = (1.0 - np.cos(math.pi * (t / spacing - k))) / 2.0
    out: Floats = amplitude * (k0 + (k1 - k0) * w)
    return out


def _add_seconds(window: Any, n: int, sums: list[float]) -> None:
    """n seconds and their per-phase voltage sums into a power-quality window (mean or counter: they share
    the bookkeeping, power_quality/windows.py), in the order the per-second model adds them."""
    window.n += n
    s1, s2, s3 = sums
    window.s1 += s1
    window.s2 += s2
    window.s3 += s3
