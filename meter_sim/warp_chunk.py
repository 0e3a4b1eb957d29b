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

Anything the chunk does not model stops it at that second (see `Chunk.run`); warp.py then steps exactly.
"""

from __future__ import annotations

import copy
import heapq
import math
from collections.abc import Callable
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
from meter_sim.power_quality.counters import F1, F2, RVC
from meter_sim.recurrence import first_order

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_WH = 1.0 / 3600.0
_MARGIN = 1e-7  # a value this close (relative) to a threshold could round the other way: leave it to the exact step
_PER_DAY = np.array([a.per_day for a in APPLIANCES])
_WEEKDAY_A = np.array(_WEEKDAY)
_WEEKEND_A = np.array(_WEEKEND)
_DEMAND_KEYS = ("a_plus", "a_minus", "r_plus", "r_minus", "e_plus", "e_minus")
_TOTAL = {k: ENERGY_KEYS.index(k) for k in ("a_plus", "a_minus", "r_plus", "r_minus", "r1", "r2", "r3", "r4",
                                            "e_plus", "e_minus")}


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
    """Seconds meter.t + 1 … end (end − meter.t a multiple of 60), computed at once, committed up to the first
    second the chunk does not model."""

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
        self._metrology()
        bad = self._flags()
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
        yday_of = {d: (date(1970, 1, 1) + timedelta(days=d)).timetuple().tm_yday
                   for d in range(first, int(days[-1]) + 1)}
        yday = np.array([yday_of[int(d)] for d in days])
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
        # Draw positions: r of second s at 2(s−1) + extra draws of the seconds before.
        before = np.concatenate([[0], np.cumsum(extra[1:-1])])
        r_pos = 2 * np.arange(n) + before
        started = np.zeros(n, dtype=np.int64)
        for sec, _, _ in starts:
            started[sec - 1] = 1
        jit = draws[r_pos + 1 + started]
        self.consumed = r_pos + 2 + extra[1:]  # draws used up to and including second s (index s−1)
        # Minute-level state sequences: clouds (sequential, as the model), PV, EV
        self._minute_sequences(weather_at, cloud_at, ev_candidates, draws, r_pos, started)
        self.starts = starts
        # Load jitter: j += (r − 0.5)·0.006 − j·0.05
        self.jitter = first_order((jit - 0.5) * 0.006, 0.95, hh._jitter)
        # Appliances: exact replay of the heap
        seg_t, seg_p, seg_q, seg_e, _, _ = _replay(hh, starts, t0, t0 + n)
        idx = np.searchsorted(np.array(seg_t, dtype=np.int64), t0 + np.arange(1, n + 1), side="right") - 1
        self.seg = (seg_t, seg_p, seg_q, seg_e, idx)
        lp = np.array(seg_p)[idx]
        lq = np.array(seg_q)[idx]
        ms = np.repeat(np.arange(mins), 60)  # minute state index of each second
        self.ms = ms
        k = (1.0 + self.jitter) * hh.load_scale
        evw = s.ev_charger_kw * 1000.0 / 3.0
        secs_t = t0 + np.arange(1, n + 1)
        ev = np.where(secs_t < self.ev_until[ms], evw, 0.0)
        self.ev_w = ev
        ev_tot = ev + hh.extra_w / 3.0
        pv = self.pv_w[ms] * hh.pv_scale / 3.0
        self.p = (lp + self.fp[ms]) * k[:, None] + ev_tot[:, None] - pv[:, None]
        self.q = (lq + self.fq[ms]) * k[:, None]
        self.k = k

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

    def _minute_sequences(self, weather_at: set[int], cloud_at: set[int], ev_candidates: set[int],
                          draws: Floats, r_pos: Ints, started: Ints) -> None:
        m = self.m
        hh = m.household
        s = hh.settings
        mins = self.minutes
        by_minute: dict[int, list[tuple[str, float]]] = {}
        for kind, j, value in self._noted:
            by_minute.setdefault(j, []).append((kind, value))
        weather, target, cloud = hh._weather, hh._cloud_target, hh._cloud
        ev_until, ev_day = hh._ev_until, hh._ev_day
        pv_w = np.empty(mins + 1)
        pv_w[0] = hh.pv_w
        ev_arr = np.empty(mins + 1)
        ev_arr[0] = ev_until
        clouds = np.empty(mins + 1)
        clouds[0] = cloud
        self.post: list[tuple[float, float, float, float, int]] = [(weather, target, cloud, ev_until, ev_day)]
        pv_on = s.pv_kwp > 0
        for j in range(1, mins + 1):
            for kind, value in by_minute.get(j, ()):
                if kind == "weather":
                    weather = (1.0, 0.65, 0.25)[min(2, int(value * 3))]
                elif kind == "cloud":
                    target = min(1.0, weather * (0.7 + 0.6 * value))
                elif kind == "ev_day":
                    ev_day = int(value)
                else:
                    ev_until = value
            if pv_on:
                cloud += (target - cloud) * 0.2
            clouds[j] = cloud
            ev_arr[j] = ev_until
            self.post.append((weather, target, cloud, ev_until, ev_day))
        if pv_on:
            pv_w[1:] = _pv_clear(s, self.tm.astype(np.float64), self.yday) * clouds[1:]
        else:
            pv_w[1:] = 0.0
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
        base = NOMINAL_V + self.daily[self.ms] + self.noise
        off = np.array(g.offset)
        load = self.p if self.m.breaker.closed else np.zeros_like(self.p)  # an open breaker draws nothing
        self.u = (base[:, None] + off[None, :]) - GRID_OHMS * load / NOMINAL_V

    # --- metrology ---------------------------------------------------------------------------------------------------
    def _metrology(self) -> None:
        m = self.m
        p, q, u = self.p, self.q, self.u
        acc = m.accuracy
        if not acc.ideal:
            s_true = np.hypot(p, q)
            ratio = s_true / u
            g = np.where((u > 1.0) & (ratio >= acc.itr), acc.gain_high, acc.gain_low)
            self.near_gain = np.abs(ratio - acc.itr) <= _MARGIN * acc.itr
            p, q = p * g, q * g
        else:
            self.near_gain = np.zeros_like(p, dtype=bool)
        closed = m.breaker.closed
        if not closed:
            p = np.zeros_like(p)
            q = np.zeros_like(q)
        st = m.metrology.starting_threshold_w
        s = np.sqrt(p * p + q * q)
        self.p_meas, self.s_meas = p, s  # for the per-phase current and PF, computed only if the analysis logs them
        imp = p >= st
        exp = p <= -st
        live = imp | exp
        self.near_st = np.abs(np.abs(p) - st) <= _MARGIN * st
        pz = np.where(live, p, 0.0)
        qz = np.where(live, q, 0.0)
        sz = np.where(live, s, 0.0)
        self.pz, self.qz, self.sz, self.imp, self.exp = pz, qz, sz, imp, exp
        pt = 0.0 + pz[:, 0] + pz[:, 1] + pz[:, 2]
        qt = 0.0 + qz[:, 0] + qz[:, 1] + qz[:, 2]
        stot = np.sqrt(pt * pt + qt * qt)
        self.pt, self.qt, self.st = pt, qt, stot
        pos_p = pt >= 0.0
        pos_q = qt >= 0.0
        ap = np.where(pos_p, pt * _WH, 0.0)
        am = np.where(pos_p, 0.0, -(pt * _WH))
        qw = qt * _WH
        rp = np.where(pos_q, qw, 0.0)
        rm = np.where(pos_q, 0.0, -qw)
        ew = stot * _WH
        # Columns: A+ A- R+ R- R1 R2 R3 R4 E+ E- (totals, ENERGY_KEYS 0–9)
        c = np.empty((self.n, 10))
        c[:, 0], c[:, 1], c[:, 2], c[:, 3] = ap, am, rp, rm
        c[:, 4] = np.where(pos_p & pos_q, qw, 0.0)
        c[:, 5] = np.where(~pos_p & pos_q, qw, 0.0)
        c[:, 6] = np.where(~pos_p & ~pos_q, -qw, 0.0)
        c[:, 7] = np.where(pos_p & ~pos_q, -qw, 0.0)
        c[:, 8] = np.where(pos_p, ew, 0.0)
        c[:, 9] = np.where(pos_p, 0.0, ew)
        self.c = c
        ph = np.empty((self.n, 6))  # A+ L1–L3, A- L1–L3
        ph[:, 0:3] = np.where(imp, p * _WH, 0.0)
        ph[:, 3:6] = np.where(exp, -(p * _WH), 0.0)
        self.ph = ph
        # A sum within rounding of 0 (but not exactly 0, as when every phase is below the threshold) could change
        # quadrant the other way
        self.near_zero = ((np.abs(pt) <= 1e-9) & (pt != 0.0)) | ((np.abs(qt) <= 1e-9) & (qt != 0.0))
        self.tariff = self._tariffs()

    def _tariffs(self) -> Ints:
        """The active tariff of each second: after the minute call before it (a copy of the tariffs follows the
        calendar, so the meter's own is untouched until the commit)."""
        m = self.m
        tr = copy.copy(m.tariffs)
        per_minute = np.empty(self.minutes + 1, dtype=np.int64)
        per_minute[0] = tr.active
        self.switch_minutes: list[int] = []
        candidates = _switch_candidates(m, self.hour)
        last = tr.active
        for j in range(1, self.minutes + 1):
            if j in candidates:
                tr.update(m.rtc.wall_time(int(self.tm[j - 1])))
                last = tr.active
                self.switch_minutes.append(j)
            per_minute[j] = last
        self.tariff_minute = per_minute
        return np.repeat(per_minute[:-1], 60)

    # --- what the chunk does not model -----------------------------------------------------------------------------
    def _flags(self) -> int:
        """Index (0-based second) of the first second the chunk cannot take, or n."""
        m = self.m
        pq = m.pq
        u = self.u
        lo, hi = pq._quiet_lo, pq._quiet_hi
        lo = max(lo, UNDERVOLTAGE_LIMIT_V)
        hi = min(hi, OVERVOLTAGE_LIMIT_V)
        band = (u < lo * (1 + _MARGIN)) | (u > hi * (1 - _MARGIN))
        c = m._fuse_check_va
        fuse = (np.abs(self.p) + np.abs(self.q)) > c * (1 - _MARGIN)
        bad = (band | fuse | self.near_st | self.near_gain).any(axis=1) | self.near_zero
        # RVC: a step of at least the threshold (counted at the commit) near the threshold would be ambiguous
        rvc = pq._rvc
        prev = np.vstack([[rvc.p1, rvc.p2, rvc.p3], u[:-1]])
        d = np.abs(u - prev)
        bad |= (np.abs(d - rvc.threshold) <= _MARGIN * rvc.threshold).any(axis=1)
        self.rvc_hit = (d >= rvc.threshold).any(axis=1)
        bad |= self._s0_flags()
        hits = np.flatnonzero(bad)
        return int(hits[0]) if len(hits) else self.n

    def _s0_flags(self) -> Bools:
        m = self.m
        out = np.zeros(self.n, dtype=bool)
        s0 = m.s0
        if s0 is None:
            return out
        # Feeds at seconds with t % 10 == 0: the chunk starts on a minute, so every 10th second.
        a = self.c[:, 0]
        per_feed = a.reshape(-1, 10).sum(axis=1)  # Wh fed at each feed
        first = m._s0_wh
        per_feed[0] += first
        x = per_feed * s0.imp_per_kwh / 1000.0
        fed = np.cumsum(x)
        due = float(s0.remainder) + fed
        whole_total = np.floor(due)
        frac = due - whole_total
        # Pulses due within rounding of a whole pulse could be counted a feed earlier or later (nothing fed yet in
        # the chunk leaves the remainder exact)
        near = ((frac <= 1e-9) | (frac >= 1 - 1e-9)) & (fed > 0.0)
        whole = np.diff(np.concatenate([[0.0], whole_total]))
        self.s0_whole = whole
        self.s0_due = due
        bad = np.repeat(near, 10)
        return bad

    # --- commit ----------------------------------------------------------------------------------------------------
    def _commit(self, e: int) -> None:
        m = self.m
        hh, grid, pq = m.household, m.grid, m.pq
        t0 = self.t0
        t_end = t0 + e
        mins = e // 60
        # Random streams: exactly the draws the per-second model makes up to t_end
        self.hh_bulk.consume(int(self.consumed[e - 1]))
        self.grid_bulk.consume(2 * e)
        # Energies: per tariff and per phase
        c = self.c[:e].reshape(mins, 60, 10).sum(axis=1)  # per minute: the tariff and periods change on minutes
        energy = m.metrology.energy
        cum6 = np.cumsum(c[:, [0, 1, 2, 3, 8, 9]], axis=0)  # demand quantities: registers at each minute's end
        e6_start = [energy[_TOTAL[k]] for k in _DEMAND_KEYS]
        totals = c.sum(axis=0)
        for col, key in enumerate(("a_plus", "a_minus", "r_plus", "r_minus", "r1", "r2", "r3", "r4", "e_plus",
                                   "e_minus")):
            energy[_TOTAL[key]] += float(totals[col])
        phs = self.ph[:e].sum(axis=0)
        for i in range(3):
            energy[10 + i] += float(phs[i])
            energy[13 + i] += float(phs[3 + i])
        tariff = self.tariff[:e]
        per_minute = self.tariff_minute[:mins]
        for tv in set(per_minute.tolist()):
            sel = per_minute == tv
            sums = c[sel].sum(axis=0)
            k = int(tv) + 15
            energy[k] += float(sums[0])
            energy[k + 8] += float(sums[1])
            energy[k + 16] += float(sums[2])
            energy[k + 24] += float(sums[3])
            energy[k + 32] += float(sums[8])
            energy[k + 40] += float(sums[9])
        # Time-ordered bookkeeping at window, period, switch and interval ends
        u = self.u[:e]
        f = self.f[:e]
        thd_u = self.thd_u[self.ms[:e]]
        thd_i_min = self._thd_i()
        thd_i = thd_i_min[self.ms[:e]]
        self._pq_windows(e, u, f, thd_u, thd_i)
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
        an_values = self._analysis_values(e, thd_u, thd_i)
        an_from = 0
        for t, kind, _ in events:
            i = t - t0  # seconds since t0: the second t is index i − 1
            if kind == 0:
                energies = {k: float(e6_start[n] + cum6[i // 60 - 1, n]) for n, k in enumerate(_DEMAND_KEYS)}
                local_day = (t - period + off) // 86400
                m.demand.end_of_period(t, energies, int(tariff[i - 1]), local_day)
                registered = m.demand.period_energy
                values = {obis: registered[key] / 1000.0 for obis, key in _LP_CHANNELS.items()}
                m.load_profile.record(t, values, m._lp_status)
                m.logs_revision += 1
                m._lp_status = 0
            elif kind == 1:
                m.tariffs.update(m.rtc.wall_time(t))
                m._tariff_changed(t)
            else:
                self._analysis_record(t, an_values, an_from, i)
                an_from = i
        # The analysis logger's running means
        n_an = e - an_from
        if n_an:
            part = an_values[an_from:e].sum(axis=0)
            for j in range(len(m._an_sum)):
                m._an_sum[j] += float(part[j])
            m._an_n += n_an
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
        weather, target, cloud, ev_until, ev_day = self.post[mins]
        hh._weather, hh._cloud_target, hh._cloud, hh._ev_until, hh._ev_day = weather, target, cloud, ev_until, ev_day
        # Power quality's per-second state
        pq._last_t = t_end
        pq._fast_until = min(pq._mean.end, pq._counter.end)
        rvc = pq._rvc
        rvc.p1, rvc.p2, rvc.p3 = (float(x) for x in u[-1])
        pq._c[RVC] += int(self.rvc_hit[:e].sum())
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
        _seg_t, seg_p, _, seg_e, idx = self.seg
        at = np.arange(1, mins + 1) * 60 - 1  # index of the minute call's second
        k = self.k[at]
        lp = np.array(seg_p)[idx[at]]
        ep = np.array(seg_e)[idx[at]]
        electronic = ep * k[:, None]
        total = (lp + self.fp[1:]) * k[:, None] + hh.extra_w / 3.0 + self.ev_w[at][:, None]
        lin = np.maximum(total - electronic, 0.0)
        el = np.maximum(electronic, 0.0)
        fund = lin + el
        harm = np.hypot(ELECTRONIC_THD_PCT * el, LINEAR_THD_PCT * lin)
        thd = np.where(fund > 0.0, harm / np.where(fund > 0.0, fund, 1.0), 0.0)
        out[1:] = thd if m.breaker.closed else 0.0
        return out

    def _analysis_values(self, e: int, thd_u: Floats, thd_i: Floats) -> Floats:
        m = self.m
        cols = np.zeros((e, len(m.analysis.channels)))
        inst = self._instant_source(e)
        for j, idx in m._an_inst:
            cols[:, j] = inst(INSTANT_KEYS[idx])
        for j, arr, i in m._an_thd:
            cols[:, j] = (thd_u if arr is m._thd_u else thd_i)[:, i]
        return cols

    def _instant_source(self, e: int) -> Callable[[str], Floats]:
        pt, qt, stot = self.pt[:e], self.qt[:e], self.st[:e]
        pz, qz, sz, imp, exp = self.pz[:e], self.qz[:e], self.sz[:e], self.imp[:e], self.exp[:e]

        def value(key: str) -> Any:  # each branch an array of the chunk's seconds
            if key == "p_plus":
                return np.where(pt > 0.0, pt, 0.0)
            if key == "p_minus":
                return np.where(pt < 0.0, -pt, 0.0)
            if key == "q_plus":
                return np.where(qt > 0.0, qt, 0.0)
            if key == "q_minus":
                return np.where(qt < 0.0, -qt, 0.0)
            if key == "s_plus":
                return np.where(pt >= 0.0, stot, 0.0)
            if key == "s_minus":
                return np.where(pt < 0.0, stot, 0.0)
            if key == "pf":
                return np.where(stot > 0.0, np.abs(pt) / np.where(stot > 0.0, stot, 1.0), 1.0)
            if key == "frequency":
                return self.f[:e]
            name, ph = key.rsplit("_l", 1)
            i = int(ph) - 1
            if name == "p_plus":
                return np.where(imp[:, i], pz[:, i], 0.0)
            if name == "p_minus":
                return np.where(exp[:, i], -pz[:, i], 0.0)
            if name == "s_plus":
                return np.where(imp[:, i], sz[:, i], 0.0)
            if name == "s_minus":
                return np.where(exp[:, i], sz[:, i], 0.0)
            if name == "q_plus":
                return np.where(qz[:, i] > 0.0, qz[:, i], 0.0)
            if name == "q_minus":
                return np.where(qz[:, i] < 0.0, -qz[:, i], 0.0)
            if name == "u":
                return self.u[:e, i]
            s, p, u = self.s_meas[:e, i], self.p_meas[:e, i], self.u[:e, i]
            if name == "i":
                return np.where(u > 1.0, s / u, 0.0)
            s_div = np.where(s > 0.0, s, 1.0)  # PF as metrology: |P|/S (1 without load)
            return np.where(imp[:, i], p / s_div, np.where(exp[:, i], -p / s_div,
                                                           np.where(s > 0.0, np.abs(p) / s_div, 1.0)))

        return value

    def _analysis_record(self, t: int, values: Floats, a: int, b: int) -> None:
        m = self.m
        n = m._an_n + (b - a)
        part = values[a:b].sum(axis=0)
        averaged = {j for j, _ in m._an_inst} | {j for j, _, _ in m._an_thd}
        record: dict[str, float | int | None] = {}
        for j, key in enumerate(m.analysis.channels):
            record[key] = (m._an_sum[j] + float(part[j])) / n if n and j in averaged else None
        m.analysis.record(t, record)
        m._an_sum = [0.0] * len(m._an_sum)
        m._an_n = 0
        m.logs_revision += 1

    def _pq_windows(self, e: int, u: Floats, f: Floats, thd_u: Floats, thd_i: Floats) -> None:
        m = self.m
        pq = m.pq
        t0 = self.t0
        t_end = t0 + e
        u1, u2, u3 = u[:, 0], u[:, 1], u[:, 2]
        neg = u1 * u1 + u2 * u2 + u3 * u3 - u1 * u2 - u2 * u3 - u3 * u1
        ub = np.where(neg > 0.0, np.sqrt(np.maximum(neg, 0.0)) / (u1 + u2 + u3), 0.0)
        # Mean window(s)
        w = pq._mean
        a = 0
        while True:
            end = min(w.end, t_end)
            b = end - t0
            seg = u[a:b]
            if b > a:
                w.n += b - a
                w.s1 += float(seg[:, 0].sum())
                w.s2 += float(seg[:, 1].sum())
                w.s3 += float(seg[:, 2].sum())
                mx, mn = seg.max(axis=0), seg.min(axis=0)
                for i in range(3):
                    w.mx[i] = max(w.mx[i], float(mx[i]))
                    w.mn[i] = min(w.mn[i], float(mn[i]))
            if w.end > t_end:
                break
            w.finish()
            a = b
        c = pq._counter
        a = 0
        while True:
            end = min(c.end, t_end)
            b = end - t0
            if b > a:
                seg = u[a:b]
                c.n += b - a
                c.s1 += float(seg[:, 0].sum())
                c.s2 += float(seg[:, 1].sum())
                c.s3 += float(seg[:, 2].sum())
                c.ub_sum += float(ub[a:b].sum())
                c.ub_n += b - a
                tu = thd_u[a:b].sum(axis=0)
                ti = thd_i[a:b].sum(axis=0)
                for i in range(3):
                    c.thu[i] += float(tu[i])
                    c.thi[i] += float(ti[i])
            if c.end > t_end:
                break
            c.finish()
            a = b
        events = pq._flush()
        if events is not NO_EVENTS:
            m._power_quality(events)
        # Frequency windows: 10-s means (the chunk starts on a minute, so its windows are whole)
        fw = pq._freq
        sums = f.reshape(-1, 10).sum(axis=1)
        sums[0] += fw.sum
        counts = np.full(len(sums), 10)
        counts[0] += fw.n
        mean = sums / counts
        cnt = pq._c
        cnt[F1] += int((mean < fw.f1).sum())
        cnt[F2] += int((mean > fw.f2).sum())
        e85, e94, e98, e99, e101, e102, e104, e115 = fw.edges
        band = np.full(len(mean), -1)
        low = mean < e99
        band = np.where(low & (mean < e85), 6, band)
        band = np.where(low & (mean >= e85) & (mean < e94), 2, band)
        band = np.where(low & (mean >= e94) & (mean < e98), 4, band)
        band = np.where(low & (mean >= e98), 0, band)
        high = ~low & (mean > e101)
        band = np.where(high & (mean > e115), 7, band)
        band = np.where(high & (mean <= e115) & (mean > e104), 3, band)
        band = np.where(high & (mean <= e104) & (mean > e102), 5, band)
        band = np.where(high & (mean <= e102), 1, band)
        for b_ in range(8):
            fw.bands[b_] += int((band == b_).sum())
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
        # A queue: S0Output.feed's bookkeeping, feed by feed, in integers (the pulses due come from above).
        queued, busy, last, count = s0.queued, s0._busy_until_ms, s0._last_t, s0.count
        emitted = 0
        gap_start = 0
        t = mono0
        for k, w in enumerate(whole.astype(np.int64).tolist()):
            t = mono0 + 10 * (k + 1)
            gap_start = t if last is None else last + 1
            emitted = 0
            for a, b, add in ((gap_start * 1000, t * 1000, 0), (t * 1000, (t + 1) * 1000, w)):
                queued += add
                if queued == 0 or b <= a:
                    continue
                free = a if busy is None else max(a, busy)
                if free >= b:
                    continue
                n = min(queued, (b - free + period - 1) // period)
                busy = free + n * period
                queued -= n
                count += n
                emitted += n
            last = t
        s0.queued, s0._busy_until_ms, s0._last_t, s0.count = queued, busy, last, count
        s0.rate_hz = emitted / (t + 1 - gap_start)


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
    knots = {int(x): g._knot(stream, int(x)) for x in range(int(k[0]), int(k[-1]) + 2)}
    k0 = np.array([knots[int(x)] for x in k])
    k1 = np.array([knots[int(x) + 1] for x in k])
    w = (1.0 - np.cos(math.pi * (t / spacing - k))) / 2.0
    out: Floats = amplitude * (k0 + (k1 - k0) * w)
    return out
