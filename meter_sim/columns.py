"""Many meters' quiet seconds at once: the array engine (docs/design-notes.md, "The array engine, built").

`Columns(meters)` holds what a quiet second changes, for every member, as NumPy arrays with one row per meter, and
`advance_to(t)` steps all members to t, leaving each `Meter` as `Meter.advance_to(t)` would. A member's second runs in
the columns when nothing discrete can happen in it:

- the meter is in a state the columns cover (`covered`: the time-warp's `eligible`, an ideal meter, nothing
  scheduled);
- no appliance starts or stops, no phase comes near the fuse, every voltage is within the power-quality quiet band,
  the alarm limits and the load profile's limits, no rapid voltage change, the power-quality fast path is open.

Any other second of a member runs `Meter.step` exactly: its row is written back to its objects first, and read in
again after if the meter is still covered. At a minute's end (demand periods, analysis intervals and days end on
one too) the columns compute every member's second, and each member's `Meter._second_end` (tariffs, demand, load
profile, loggers …) runs on its written-back objects when the member is next read or before the next second
(`finish`). Every value is computed by the same float operations in the same order as the per-second model
(household.py, grid.py, metrology.py, power_quality/accumulator.py), and the random draws by the same generator
(meter_sim/random_columns.py), so the registers, the generators and everything saved are the same bit for bit:
tests/test_columns_reference.py runs both on the same fleets and compares each meter's saved state.

Between write-backs a member's objects hold the state of its last write-back: `write_back()` (`write_back_one(i)`)
brings them up to date (before reading a register, saving, or a command) and `read_in()` (`read_in_one(i)`) takes
them in again after something changed them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from meter_sim.grid import GRID_OHMS, NOMINAL_HZ, NOMINAL_V
from meter_sim.loggers import ANALYSIS_MAX_CHANNELS, OVERVOLTAGE_LIMIT_V, UNDERVOLTAGE_LIMIT_V
from meter_sim.meter import Meter
from meter_sim.metrology import ENERGY_KEYS, INSTANT_KEYS
from meter_sim.random_columns import RandomColumns
from meter_sim.warp_chunk import eligible

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

_WH = 1.0 / 3600.0  # Wh per W over one second, as Meter._metrology_step(1.0, …) computes it
_NI = len(INSTANT_KEYS)
_THD_AT = _NI  # the analysis sources: instant values, then THD U L1–L3, THD I L1–L3, then a zero
_ZERO_AT = _NI + 6
_S0_FEED_S = 10  # Meter's: the seconds whose end feeds the S0 output (meter.py)


def covered(m: Meter) -> bool:
    """Whether the meter's next second can run in the columns if it is quiet."""
    return (eligible(m) and m.accuracy.ideal and m.scheduled is None and not m._clock_stopped_s
            and m.period_s % 60 == 0 and len(m._an_sum) == len(m.analysis.channels))


class Columns:
    """Meters stepped together: every member at the same second, its quiet seconds as rows of arrays."""

    def __init__(self, meters: Sequence[Meter]) -> None:
        self.meters = list(meters)
        self.t = 0
        n = len(self.meters)
        self.exact_s = 0  # member-seconds stepped by Meter.step (for the benchmark and the tests)
        self.column_s = 0

        def z(*shape: int) -> Floats:
            return np.zeros((n, *shape))

        # household
        self.jitter, self.load_scale, self.extra3, self.pv3 = z(), z(), z(), z()
        self.ev_until, self.ev_kw3, self.rate, self.next_end = z(), z(), z(), z()
        self.lpf, self.lqf, self.p, self.q, self.ev_w = z(3), z(3), z(3), z(3), z()
        # grid
        self.noise, self.f, self.gbase, self.offset, self.u = z(), z(), z(), z(3), z(3)
        self.closed = np.zeros(n, dtype=bool)
        # metrology
        self.energy, self.instant = z(len(ENERGY_KEYS)), z(_NI)
        self.st, self.fuse = z(), z()
        self.k = np.zeros(n, dtype=np.int64)  # the active tariff's A+ register: tariff + 15
        # limits: power quality's quiet band, the alarms', the load profile's
        self.quiet_lo, self.quiet_hi, self.alarm_lo, self.alarm_hi = z(), z(), z(), z()
        # power quality: fast path, RVC, the mean, counter and frequency windows' sums
        self.fast_until = np.zeros(n, dtype=np.int64)
        self.rvc_prev, self.rvc_th = z(3), z()
        self.mean_n = np.zeros(n, dtype=np.int64)
        self.mean_s, self.mean_mx, self.mean_mn = z(3), z(3), z(3)
        self.cnt_n, self.ub_n = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        self.cnt_s, self.ub_sum, self.thu, self.thi = z(3), z(), z(3), z(3)
        self.f_sum, self.f_n, self.f_end = z(), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        self.thd = z(6)  # the meter's THD U and THD I, refreshed each minute
        # the meter's own: seconds, S0, analysis sums
        self.mono = np.zeros(n, dtype=np.int64)
        self.powered_s, self.s0_wh = z(), z()
        # As wide as the logger can be: a reconfigured member may log more channels than any had at the start.
        self.an_sum, self.an_src = z(ANALYSIS_MAX_CHANNELS), np.full((n, ANALYSIS_MAX_CHANNELS), _ZERO_AT)
        self.an_n = np.zeros(n, dtype=np.int64)
        self._an_sources = z(_ZERO_AT + 1)
        self.has_s0 = np.zeros(n, dtype=bool)

        self.hh_rng = RandomColumns([m.household.rng for m in self.meters])
        self.grid_rng = RandomColumns([m.grid.rng for m in self.meters])
        self.inside = np.zeros(n, dtype=bool)  # the row holds the member's state (its objects may lag)
        self.active = np.ones(n, dtype=bool)  # stepped by the columns (see `leave`)
        self._tails: set[int] = set()  # members whose minute end waits (see `finish`)
        self.read_in()

    # --- members in and out ------------------------------------------------------------------------------------------
    def read_in(self) -> None:
        """Take every covered member's state from its objects (after a change made to them from outside, which may
        have stepped them: all must be at the same second)."""
        seconds = {m.t for i, m in enumerate(self.meters) if self.active[i]}
        if len(seconds) > 1:
            raise ValueError(f"the members are at different seconds ({min(seconds)} … {max(seconds)})")
        self.t = seconds.pop() if seconds else self.t
        for i, m in enumerate(self.meters):
            if self.active[i] and covered(m):
                self._read(i)
            else:
                self.inside[i] = False

    def write_back(self) -> None:
        """Bring every member's objects up to date (to read them, save them or change them)."""
        self.finish()
        for i in np.flatnonzero(self.inside).tolist():
            self._write(i)

    def write_back_one(self, i: int) -> None:
        """Member i's objects up to date (its row stays the state)."""
        self.finish(i)
        if self.inside[i]:
            self._write(i)

    def read_in_one(self, i: int) -> None:
        """Member i's state from its objects, which something outside changed (a command)."""
        m = self.meters[i]
        if m.t != self.t:
            raise ValueError(f"member {i} is at {m.t}, the columns at {self.t}")
        if i in self._tails:
            raise RuntimeError(f"member {i}'s minute end is still due: write_back_one({i}) before changing it")
        if self.active[i] and covered(m):
            self._read(i)
        else:
            self.inside[i] = False

    def leave(self, i: int) -> None:
        """Member i steps on its own from now on (its clock no longer runs with the others'). Its objects are taken
        as they are: `write_back_one` first, unless they were changed since."""
        if i in self._tails:
            raise RuntimeError(f"member {i}'s minute end is still due: write_back_one({i}) before it leaves")
        self.inside[i] = False
        self.active[i] = False

    def holds(self, i: int) -> bool:
        return bool(self.active[i])

    def base_vector(self, i: int) -> list[float | int | str | None]:
        """Member i's `Meter.base_vector()`, its registers taken from its row when the row holds its state."""
        self.finish(i)
        m = self.meters[i]
        if not self.inside[i]:
            return m.base_vector()
        return m.vector_with(self.energy[i].tolist(), self.instant[i].tolist(), float(self.powered_s[i]))

    def _read(self, i: int, rngs: bool = True) -> None:
        m = self.meters[i]
        hh, g, mt, pq = m.household, m.grid, m.metrology, m.pq
        self.jitter[i] = hh._jitter
        self.p[i] = hh.p
        self.q[i] = hh.q
        self.ev_w[i] = hh.ev_w
        self.u[i] = g.u
        self.load_scale[i] = hh.load_scale
        self.extra3[i] = hh.extra_w / 3.0
        self.pv3[i] = hh.pv_w * hh.pv_scale / 3.0
        self.ev_until[i] = hh._ev_until
        self.ev_kw3[i] = hh.settings.ev_charger_kw * 1000.0 / 3.0
        lp, fp, lq, fq = hh._load_p, hh._fridge_p, hh._load_q, hh._fridge_q
        self.lpf[i] = (lp[0] + fp[0], lp[1] + fp[1], lp[2] + fp[2])
        self.lqf[i] = (lq[0] + fq[0], lq[1] + fq[1], lq[2] + fq[2])
        self.rate[i] = hh._rate
        self.next_end[i] = hh._running[0][0] if hh._running else math.inf
        self.noise[i] = g._noise
        self.f[i] = g.f
        self.gbase[i] = NOMINAL_V + g._daily
        self.offset[i] = g.offset
        self.closed[i] = m.breaker.closed
        self.energy[i] = mt.energy
        self.instant[i] = mt.instant
        self.st[i] = mt.starting_threshold_w
        self.fuse[i] = m._fuse_check_va
        self.k[i] = m.tariffs.active + 15
        self.quiet_lo[i], self.quiet_hi[i] = pq._quiet_lo, pq._quiet_hi
        self.alarm_lo[i], self.alarm_hi[i] = m.alarms._low_v, m.alarms._high_v
        self.fast_until[i] = pq._fast_until
        acc = pq._acc
        r, w, c, fw = acc.rvc, acc.mean, acc.counter, acc.freq
        self.rvc_prev[i] = (r.p1, r.p2, r.p3)
        self.rvc_th[i] = r.threshold
        self.mean_n[i] = w.n
        self.mean_s[i] = (w.s1, w.s2, w.s3)
        self.mean_mx[i] = w.mx
        self.mean_mn[i] = w.mn
        self.cnt_n[i] = c.n
        self.cnt_s[i] = (c.s1, c.s2, c.s3)
        self.ub_sum[i], self.ub_n[i] = c.ub_sum, c.ub_n
        self.thu[i] = c.thu
        self.thi[i] = c.thi
        self.f_sum[i], self.f_n[i], self.f_end[i] = fw.sum, fw.n, fw.end
        self.thd[i] = (*m._thd_u, *m._thd_i)
        self.mono[i] = m.mono
        self.powered_s[i] = m.powered_s
        self.s0_wh[i] = m._s0_wh
        self.has_s0[i] = m.s0 is not None
        width = len(m._an_sum)
        self.an_sum[i, :width] = m._an_sum
        self.an_sum[i, width:] = 0.0
        src = self.an_src[i]
        src[:] = _ZERO_AT
        for j, idx in m._an_inst:
            src[j] = idx
        for j, arr, k in m._an_thd:
            src[j] = _THD_AT + k + (0 if arr is m._thd_u else 3)
        self.an_n[i] = m._an_n
        if rngs:
            self.hh_rng.read(i, hh.rng)
            self.grid_rng.read(i, g.rng)
        self.inside[i] = True

    def _write(self, i: int, rngs: bool = True) -> None:
        """Member i's objects as its row says (the row then still holds the state)."""
        m = self.meters[i]
        hh, g, mt, pq = m.household, m.grid, m.metrology, m.pq
        m.t = self.t
        hh._jitter = float(self.jitter[i])
        hh.p[:] = self.p[i].tolist()
        hh.q[:] = self.q[i].tolist()
        hh.ev_w = float(self.ev_w[i])
        g._noise = float(self.noise[i])
        g.f = float(self.f[i])
        g.u[:] = self.u[i].tolist()
        mt.energy[:] = self.energy[i].tolist()
        mt.instant[:] = self.instant[i].tolist()
        pq._last_t = self.t
        acc = pq._acc
        r, w, c, fw = acc.rvc, acc.mean, acc.counter, acc.freq
        r.p1, r.p2, r.p3 = self.rvc_prev[i].tolist()
        w.n = int(self.mean_n[i])
        w.s1, w.s2, w.s3 = self.mean_s[i].tolist()
        w.mx[:] = self.mean_mx[i].tolist()
        w.mn[:] = self.mean_mn[i].tolist()
        c.n = int(self.cnt_n[i])
        c.s1, c.s2, c.s3 = self.cnt_s[i].tolist()
        c.ub_sum, c.ub_n = float(self.ub_sum[i]), int(self.ub_n[i])
        c.thu[:] = self.thu[i].tolist()
        c.thi[:] = self.thi[i].tolist()
        fw.sum, fw.n = float(self.f_sum[i]), int(self.f_n[i])
        m.mono = int(self.mono[i])
        m.powered_s = float(self.powered_s[i])
        m._s0_wh = float(self.s0_wh[i])
        m._an_sum[:] = self.an_sum[i, :len(m._an_sum)].tolist()
        m._an_n = int(self.an_n[i])
        if rngs:
            self.hh_rng.write_back(i, hh.rng)
            self.grid_rng.write_back(i, g.rng)

    # --- time --------------------------------------------------------------------------------------------------------
    def advance_to(self, t: float) -> None:
        """Every member to second int(t), as `Meter.advance_to` would leave it (objects up to date only after
        `write_back`)."""
        while self.t + 1 <= t:
            self._second(self.t + 1)

    def _second(self, t: int) -> None:
        self.finish()
        ins = self.inside
        hr, gr = self.hh_rng, self.grid_rng
        hr.keep()
        gr.keep()
        with np.errstate(all="ignore"):  # rows outside the columns hold anything; their results are never used
            r_start, r_jitter = hr.random(), hr.random()
            r_noise, r_f = gr.random(), gr.random()
            # household.step + compose
            jitter = self.jitter + ((r_jitter - 0.5) * 0.006 - self.jitter * 0.05)
            k = (1.0 + jitter) * self.load_scale
            ev_w = np.where(t < self.ev_until, self.ev_kw3, 0.0)
            p = self.lpf * k[:, None] + (ev_w + self.extra3)[:, None] - self.pv3[:, None]
            q = self.lqf * k[:, None]
            # grid.step + compose
            noise = self.noise + ((r_noise - 0.5) * 0.4 - self.noise * 0.02)
            f = self.f + ((r_f - 0.5) * 0.004 - (self.f - NOMINAL_HZ) * 0.01)
            closed = self.closed[:, None]
            u = (self.gbase + noise)[:, None] + self.offset - GRID_OHMS * np.where(closed, p, 0.0) / NOMINAL_V
            d = u - self.rvc_prev
            quiet = (ins & (self.next_end > t) & (r_start >= self.rate) & (self.fast_until > t)
                     & (np.abs(p) + np.abs(q) <= self.fuse[:, None]).all(axis=1)
                     & (u >= self.quiet_lo[:, None]).all(axis=1) & (u <= self.quiet_hi[:, None]).all(axis=1)
                     & (u >= self.alarm_lo[:, None]).all(axis=1) & (u <= self.alarm_hi[:, None]).all(axis=1)
                     & (u >= UNDERVOLTAGE_LIMIT_V).all(axis=1) & (u <= OVERVOLTAGE_LIMIT_V).all(axis=1)
                     & (d < self.rvc_th[:, None]).all(axis=1) & (d > -self.rvc_th[:, None]).all(axis=1))
        loud = np.flatnonzero(ins & ~quiet).tolist()
        for i in loud:  # back to the objects as they were before this second, which Meter.step then runs
            hr.undo(i)
            gr.undo(i)
            self._write(i)
            self.inside[i] = False
        self.jitter, self.ev_w, self.p, self.q, self.noise, self.f, self.u = jitter, ev_w, p, q, noise, f, u
        with np.errstate(all="ignore"):
            wh = self._metrology(np.where(closed, p, 0.0), np.where(closed, q, 0.0), u, f)
            self._power_quality(u, f)
        self.mono += 1
        self.powered_s += 1.0
        self.s0_wh += wh
        sources = self._an_sources  # instant values, THD, a zero: where each analysis channel reads
        sources[:, :_NI] = self.instant
        sources[:, _THD_AT:_ZERO_AT] = self.thd
        self.an_sum += np.take_along_axis(sources, self.an_src, axis=1)
        self.an_n += 1
        self.t = t
        members = self.inside.copy()
        self.column_s += int(members.sum())
        self._end(t, members)
        # A member loud this second may be covered again at once; one not covered is asked again at a minute's end
        # only (`covered` costs ~10 µs: asked every second, a fleet of non-ideal meters would pay it for nothing).
        again = set(loud) if t % 60 else None
        for i in np.flatnonzero(self.active & ~members).tolist():  # loud this second, or not covered
            m = self.meters[i]
            offset = m.clock_offset
            m.step()
            self.exact_s += 1
            if m.clock_offset != offset:  # its clock stopped (an outage outlasted the supercap): its own time now
                self.active[i] = False
            elif (again is None or i in again) and covered(m):
                self._read(i)

    def _metrology(self, p: Floats, q: Floats, u: Floats, f: Floats) -> Floats:
        """Metrology.step over the rows, every phase present and powered (the quiet band sees to both); returns
        the A+ energy registered (Wh)."""
        e, inst, st = self.energy, self.instant, self.st
        p_tot = np.zeros(len(p))
        q_tot = np.zeros(len(p))
        for j in (0, 1, 2):
            pj, qj, uj = p[:, j], q[:, j], u[:, j]
            s = np.sqrt(pj * pj + qj * qj)
            imp, exp = pj >= st, pj <= -st
            below = ~(imp | exp)
            inst[:, 26 + j] = uj
            inst[:, 29 + j] = s / uj
            inst[:, 32 + j] = np.where(imp, pj / s, np.where(exp, -pj / s, np.where(s > 0.0, np.abs(pj) / s, 1.0)))
            inst[:, 8 + j] = np.where(imp, pj, 0.0)
            inst[:, 11 + j] = np.where(exp, -pj, 0.0)
            inst[:, 20 + j] = np.where(imp, s, 0.0)
            inst[:, 23 + j] = np.where(exp, s, 0.0)
            e[:, 10 + j] += np.where(imp, pj * _WH, 0.0)
            e[:, 13 + j] -= np.where(exp, pj * _WH, 0.0)
            pj = np.where(below, 0.0, pj)
            qj = np.where(below, 0.0, qj)
            inst[:, 14 + j] = np.where(qj > 0.0, qj, 0.0)
            inst[:, 17 + j] = np.where(qj < 0.0, -qj, 0.0)
            p_tot = p_tot + pj
            q_tot = q_tot + qj
        s_tot = np.sqrt(p_tot * p_tot + q_tot * q_tot)
        inst[:, 0] = np.where(p_tot > 0.0, p_tot, 0.0)
        inst[:, 1] = np.where(p_tot < 0.0, -p_tot, 0.0)
        inst[:, 2] = np.where(q_tot > 0.0, q_tot, 0.0)
        inst[:, 3] = np.where(q_tot < 0.0, -q_tot, 0.0)
        inst[:, 4] = np.where(p_tot >= 0.0, s_tot, 0.0)
        inst[:, 5] = np.where(p_tot < 0.0, s_tot, 0.0)
        inst[:, 6] = np.where(s_tot > 0.0, np.abs(p_tot) / s_tot, 1.0)
        inst[:, 7] = f
        rows = np.arange(len(p))
        k = self.k
        imp = p_tot >= 0.0
        q_up = q_tot >= 0.0
        a_plus = np.where(imp, p_tot * _WH, 0.0)
        apparent = s_tot * _WH
        a_minus = np.where(imp, 0.0, p_tot * _WH)
        q_wh = q_tot * _WH
        e[:, 0] += a_plus
        e[rows, k] += a_plus
        e[:, 8] += np.where(imp, apparent, 0.0)
        e[rows, k + 32] += np.where(imp, apparent, 0.0)
        e[:, 4] += np.where(imp & q_up, q_wh, 0.0)
        e[:, 7] -= np.where(imp & ~q_up, q_wh, 0.0)
        e[:, 1] -= a_minus
        e[rows, k + 8] -= a_minus
        e[:, 9] += np.where(imp, 0.0, apparent)
        e[rows, k + 40] += np.where(imp, 0.0, apparent)
        e[:, 5] += np.where(~imp & q_up, q_wh, 0.0)
        e[:, 6] -= np.where(~imp & ~q_up, q_wh, 0.0)
        e[:, 2] += np.where(q_up, q_wh, 0.0)
        e[rows, k + 16] += np.where(q_up, q_wh, 0.0)
        e[:, 3] -= np.where(q_up, 0.0, q_wh)
        e[rows, k + 24] -= np.where(q_up, 0.0, q_wh)
        return a_plus

    def _power_quality(self, u: Floats, f: Floats) -> None:
        """Accumulator.add over the rows (its RVC counting cannot happen: such a second is loud)."""
        self.rvc_prev = u.copy()
        self.mean_n += 1
        self.mean_s += u
        self.mean_mx = np.where(u > self.mean_mx, u, self.mean_mx)
        self.mean_mn = np.where(u < self.mean_mn, u, self.mean_mn)
        self.cnt_n += 1
        self.cnt_s += u
        u1, u2, u3 = u[:, 0], u[:, 1], u[:, 2]
        neg = u1 * u1 + u2 * u2 + u3 * u3 - u1 * u2 - u2 * u3 - u3 * u1
        self.ub_sum += np.where(neg > 0.0, np.sqrt(neg) / (u1 + u2 + u3), 0.0)
        self.ub_n += 1
        self.thu += self.thd[:, :3]
        self.thi += self.thd[:, 3:]
        self.f_sum += f
        self.f_n += 1

    def _end(self, t: int, inside: Bools) -> None:
        """The end of second t for the members in the columns: the frequency windows that end and the S0 feed; at a
        minute's end (demand periods, analysis intervals and days end on one too) everything, deferred per member
        (`finish`)."""
        if t % 60 == 0:
            self._tails = set(np.flatnonzero(inside).tolist())
            return
        for i in np.flatnonzero(inside & (self.f_end == t)).tolist():
            fw = self.meters[i].pq._acc.freq
            fw.sum, fw.n = float(self.f_sum[i]), int(self.f_n[i])
            fw.finish()
            self.f_sum[i], self.f_n[i], self.f_end[i] = fw.sum, fw.n, fw.end
        if t % _S0_FEED_S == 0:
            for i in np.flatnonzero(inside & self.has_s0).tolist():
                m = self.meters[i]
                m.mono, m._s0_wh = int(self.mono[i]), float(self.s0_wh[i])
                m._feed_s0()
            self.s0_wh[inside] = 0.0

    def finish(self, i: int | None = None) -> None:
        """The minute's end for member i (None: all) if it still waits: at a minute end the columns compute every
        member's second at once but leave each member's `Meter._second_end` (tariffs, demand, loggers: ~100 µs)
        until the member is read or the next second, so that a fleet's members do it at their own moments in the
        round, not all at once in front of the requests."""
        tails = self._tails
        if not tails:
            return
        if i is None:
            rows = sorted(tails)
            tails.clear()
        elif i in tails:
            tails.discard(i)
            rows = [i]
        else:
            return
        for row in rows:
            self._tail(row)

    def _tail(self, i: int) -> None:
        t = self.t
        self._write(i, rngs=False)
        m = self.meters[i]
        fw = m.pq._acc.freq
        if t == fw.end:
            fw.finish()
        hh = m.household
        rng = hh.rng
        hh.rng = _RowDraws(self.hh_rng, i)  # type: ignore[assignment]  # the minute's draws (PV, EV)
        try:
            m._second_end(t)
        finally:
            hh.rng = rng
        if covered(m):
            self._read(i, rngs=False)
        else:
            self.hh_rng.write_back(i, rng)
            self.grid_rng.write_back(i, m.grid.rng)
            self.inside[i] = False


class _RowDraws:
    """A member's household generator while its state is a row of `RandomColumns`: what the exact minute code
    draws (the weather, the clouds, the EV's evening) comes from the row, so the generator need not be written back
    and read in again every minute."""

    __slots__ = ("_columns", "_row")

    def __init__(self, columns: RandomColumns, row: int) -> None:
        self._columns, self._row = columns, np.array([row], dtype=np.int64)

    def random(self) -> float:
        return float(self._columns.random(self._row)[0])
