"""`PowerQuality`: the per-second step that feeds one 1-s sample to the detectors, keeps the meter's power state
(§1) and the occurrence counters, and saves and restores them all as one state.

Meter power (§1): powered while any phase is ≥ 160 V. When every phase is < 160 V for more than 1 s (the second
such sample) the meter is down: nothing but the outage bookkeeping runs, open excursions close at their last sample,
the overvoltage windows and RVC history restart. The first such sample is still measured normally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from meter_sim.metrology import PHASE_PRESENT_V
from meter_sim.power_quality.accumulator import ZERO3, Accumulator
from meter_sim.power_quality.counters import COUNTER_NAMES
from meter_sim.power_quality.events import NO_EVENTS, PqEvent
from meter_sim.power_quality.json_state import opt_int
from meter_sim.power_quality.neutral_fault import NeutralFault
from meter_sim.power_quality.outages import Outages
from meter_sim.power_quality.overvoltage import OvervoltageDisconnect
from meter_sim.power_quality.rvc import RapidVoltageChanges
from meter_sim.power_quality.sags_swells import SagsAndSwells
from meter_sim.power_quality.settings import PqSettings
from meter_sim.power_quality.single_value import SingleValueDeviations
from meter_sim.power_quality.windows import CounterWindow, FrequencyWindow, MeanWindow

STATE_VERSION: Final = 1


class PowerQuality:
    """EN 50160 voltage-quality detectors, occurrence counters, neutral-fault and overvoltage protection."""

    def __init__(self, settings: PqSettings | None = None, *, standard_offset: int = 0) -> None:
        s = settings if settings is not None else PqSettings()
        self.settings = s
        self.standard_offset = standard_offset
        self._ev: list[PqEvent] = []  # what the detectors emit during a step, in order
        self._c = [0] * len(COUNTER_NAMES)  # the occurrence counters, shared by the detectors
        self._outages = Outages(s, self._ev, self._c)
        self._sv = SingleValueDeviations(s, self._ev)
        self._rvc = RapidVoltageChanges(s, self._c)
        self._mean = MeanWindow(s, standard_offset, self._ev)
        self._counter = CounterWindow(s, standard_offset, self._c)
        self._freq = FrequencyWindow(s, standard_offset, self._c)
        self._neutral = NeutralFault(s, self._ev)
        self._ov = OvervoltageDisconnect(s, self._ev)
        self._sags = SagsAndSwells(s, self._c)
        self._acc = Accumulator(self._rvc, self._mean, self._counter, self._freq)
        self._level = s.outage_level
        # The quiet band of step()'s fast path: a sample in it is within the single-value limits, present (lo_sv ≥
        # 184 V > 160 V ≥ U_outage,level) and no neutral-fault candidate (≤ V_LhiTh).
        self._quiet_lo = max(s.u_low_sv, s.outage_level, PHASE_PRESENT_V)
        self._quiet_hi = min(s.u_high_sv, s.v_lhi)
        self._reset_state()

    # --- state ---------------------------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._last_t: int | None = None
        self._fast_until = 0  # step()'s fast path is open for t < this (0: closed until the next full step)
        self._low_run = 0  # consecutive samples with every phase < 160 V
        self._down = False
        for detector in (self._outages, self._sv, self._mean, self._counter, self._freq, self._neutral, self._ov):
            detector.reset()
        self._rvc.forget()
        self._c[:] = [0] * len(COUNTER_NAMES)
        self._freq.bands[:] = [0] * 8
        self._sags.restore(None, None)

    # --- read-only views ---------------------------------------------------------------------------------------
    @property
    def powered(self) -> bool:
        """False while the meter is down (every phase < 160 V for more than 1 s)."""
        return not self._down

    @property
    def phases_out(self) -> tuple[bool, bool, bool]:
        o = self._outages.since
        return (o[0] is not None, o[1] is not None, o[2] is not None)

    @property
    def neutral_fault_active(self) -> bool:
        return self._neutral.active

    @property
    def overvoltage_tripped(self) -> bool:
        """An overvoltage disconnect was requested and reconnection is not yet allowed."""
        return self._ov.tripped

    def counters(self) -> dict[str, int]:
        """Occurrence counters (running totals) in the [TD] §7.8 column order."""
        return dict(zip(COUNTER_NAMES, self._c, strict=True))

    def snapshot(self, t: int) -> dict[str, int]:
        """One occurrence-counter-logger row: RTC (UTC s) then the running totals; the head-end takes differences."""
        return {"RTC": t, **self.counters()}

    def frequency_bands(self) -> tuple[int, ...]:
        """[EM] frequency band counters 1.1.133.0.1–8.255 (10-s means), in [EM]'s n = 1…8 order."""
        return tuple(self._freq.bands)

    # --- the 1-second step -----------------------------------------------------------------------------------------
    def step(
        self,
        t: int,
        u: Sequence[float],
        f: float,
        thd_u: Sequence[float] = ZERO3,
        thd_i: Sequence[float] = ZERO3,
    ) -> list[PqEvent]:
        """Feed the 1-s RMS phase voltages (V), frequency (Hz) and THD (percent) of the second ending at t.

        Returns the entries and requests this sample completes (the shared empty list when there are none).
        """
        u1, u2, u3 = u
        lo, hi = self._quiet_lo, self._quiet_hi
        # Fast path for the usual second (31.5 million a simulated year): the previous step left nothing open (see
        # below), the sample follows it, every phase is in the quiet band and no long-term or counter window ends at
        # t. Then no detector can start or emit, and what remains is the accumulation, without the full step's checks.
        if (t < self._fast_until and t - 1 == self._last_t
                and lo <= u1 <= hi and lo <= u2 <= hi and lo <= u3 <= hi):
            self._last_t = t
            self._acc.add(u1, u2, u3, f, thd_u, thd_i)
            fw = self._freq  # the 10-s frequency window ends inside the fast path (it only counts), the longer never
            if t == fw.end:
                fw.finish()
            return NO_EVENTS
        events = self._full_step(t, u1, u2, u3, f, thd_u, thd_i)
        # Open the fast path up to the next end of a long-term or counter window, only if nothing is in progress: no
        # low or out phase, no single-value excursion, no neutral-fault timer, no overvoltage windows. Every step that
        # leaves this state runs here, and so does every end of those windows; all windows then satisfy start ≤ t
        # (the frequency window too, and the fast path keeps it so), so t + 1 lies inside them.
        nf = self._neutral
        if (self._low_run or self._down or self._outages.n_out or self._sv.open or nf.run or nf.active
                or self._ov.enabled):
            self._fast_until = 0
        else:
            self._fast_until = min(self._mean.end, self._counter.end)
        return events

    def reference_step(
        self,
        t: int,
        u: Sequence[float],
        f: float,
        thd_u: Sequence[float] = ZERO3,
        thd_i: Sequence[float] = ZERO3,
    ) -> list[PqEvent]:
        """step() the plain way, kept as its reference: every check, and the detectors' own per-phase code instead
        of the written-out accumulation and the fast path. Gives the same results bit for bit, at under half the speed
        (tests/test_fast_paths_reference.py holds the two together); a PowerQuality should be driven by one of the
        two only."""
        u1, u2, u3 = u
        return self._full_step(t, u1, u2, u3, f, thd_u, thd_i, plain=True)

    def _full_step(
        self, t: int, u1: float, u2: float, u3: float, f: float, thd_u: Sequence[float], thd_i: Sequence[float],
        plain: bool = False,
    ) -> list[PqEvent]:
        """step() with every check: any sample, any state."""
        last = self._last_t
        if last is None or t != last + 1:
            self._discontinuity()
        self._last_t = t
        if u1 < PHASE_PRESENT_V and u2 < PHASE_PRESENT_V and u3 < PHASE_PRESENT_V:
            self._low_run += 1
            if self._low_run > 1:
                if not self._down:
                    self._enter_down(t)
                return self._flush()
        else:
            self._low_run = 0
            if self._down:
                self._down = False  # power-up: the outage bookkeeping below restores the phases
        out = self._outages
        lvl = self._level
        if out.n_out or u1 < lvl or u2 < lvl or u3 < lvl:
            out.sample(t, u1, u2, u3)
        if out.n_out or plain:
            self._plain_sample(t, u1, u2, u3, f, thd_u, thd_i, out.present)
        else:
            sv = self._sv
            lo, hi = sv.lo, sv.hi
            if sv.open or u1 < lo or u1 > hi or u2 < lo or u2 > hi or u3 < lo or u3 > hi:
                sv.sample(t, u1, u2, u3, True, True, True)
            mean, counter, freq = self._mean, self._counter, self._freq
            if not mean.start < t <= mean.end:
                mean.roll(t)
            if not counter.start < t <= counter.end:
                counter.roll(t)
            if not freq.start < t <= freq.end:
                freq.roll(t)
            self._acc.add(u1, u2, u3, f, thd_u, thd_i)
            if t == mean.end:
                mean.finish()
            if t == counter.end:
                counter.finish()
            if t == freq.end:
                freq.finish()
        nf = self._neutral
        vh = nf.v_lhi
        if nf.run or nf.active or u1 > vh or u2 > vh or u3 > vh:
            nf.sample(t, u1, u2, u3)
        if self._ov.enabled:
            self._ov.sample(t, u1, u2, u3)
        return self._flush()

    def _plain_sample(self, t: int, u1: float, u2: float, u3: float, f: float, thd_u: Sequence[float],
                      thd_i: Sequence[float], ok: tuple[bool, bool, bool]) -> None:
        """A sample through each detector's own per-phase code; phases out (not ok) are left out of it."""
        us = (u1, u2, u3)
        self._sv.sample(t, u1, u2, u3, ok[0], ok[1], ok[2])
        self._rvc.add_plain(us, ok)
        mean, counter = self._mean, self._counter
        if not mean.start < t <= mean.end:
            mean.roll(t)
        if not counter.start < t <= counter.end:
            counter.roll(t)
        mean.add_plain(us, ok)
        counter.add_plain(us, ok, thd_u, thd_i)
        if t == mean.end:
            mean.finish()
        if t == counter.end:
            counter.finish()
        self._freq.add(t, f)

    def _flush(self) -> list[PqEvent]:
        ev = self._ev
        if not ev:
            return NO_EVENTS
        out = list(ev)
        ev.clear()  # the detectors keep appending to this same list
        return out

    # --- gaps and power -----------------------------------------------------------------------------------------------
    def _discontinuity(self) -> None:
        """Samples are no longer consecutive: restart what needs consecutive seconds."""
        if self._sv.open:
            self._sv.close_all()
        self._rvc.forget()
        self._neutral.forget()
        self._ov.forget()

    def _enter_down(self, t: int) -> None:
        """Every phase has been < 160 V for more than 1 s: the processor stops (§1)."""
        self._down = True
        self._discontinuity()
        self._outages.all_out(t)

    # --- sags and swells (sub-second, injected) ----------------------------------------------------------------------
    def inject_sag(self, t: int, phase: int, duration_ms: float, depth_v: float) -> bool:
        """A sub-second dip the 1-s model cannot see, in the second ending at t; True if it was counted.

        depth_v = how far the RMS voltage fell below Un (residual = Un − depth_v). Counted (VQ_Counter_Sags) when the
        residual is < Un − 20 % (184 V), the duration is 100 ms–1 s and no sag was counted for the same second.
        Shorter events are ignored (below the meter's resolution, inferred); longer ones are not sags for the meter:
        they show in the 1-s values and must be fed through step(), where they are single-value deviations (§7.5).
        Nothing is counted while the meter is down. `phase` is checked but not kept: the [TD] counter is meter-wide.
        """
        return self._sags.sag(t, phase, duration_ms, depth_v, down=self._down)

    def inject_swell(self, t: int, phase: int, duration_ms: float, depth_v: float) -> bool:
        """A sub-second rise (depth_v above Un) in the second ending at t; True if counted (> 276 V, as inject_sag)."""
        return self._sags.swell(t, phase, duration_ms, depth_v, down=self._down)

    # --- persistence ------------------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly, as plain JSON types (NaN and ±inf stored as null)."""
        out = self._outages.to_state()
        sv = self._sv.to_state()
        return {
            "version": STATE_VERSION,
            "window_s": self._mean.width,
            "standard_offset": self.standard_offset,
            "last_t": self._last_t,
            "low_run": self._low_run,
            "down": self._down,
            "out_since": out["out_since"],
            "out_logged": out["out_logged"],
            "union_since": out["union_since"],
            "mn": sv["mn"],
            "mx": sv["mx"],
            "prev": self._rvc.to_state(),
            "lt": self._mean.to_state(),
            "tm": self._counter.to_state(),
            "f": self._freq.to_state(),
            "nf": self._neutral.to_state(),
            "ov": self._ov.to_state(),
            "counters": list(self._c),
            "freq_bands": list(self._freq.bands),
            "last_sag_t": self._sags.last_sag_t,
            "last_swell_t": self._sags.last_swell_t,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from `to_state()`; partial windows are dropped if their length or alignment setting changed."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"power-quality state version {state.get('version')!r} is not {STATE_VERSION}")
        self._reset_state()
        self._last_t = opt_int(state["last_t"])
        self._low_run = int(state["low_run"])
        self._down = bool(state["down"])
        self._outages.restore(state)
        self._sv.restore(state["mn"], state["mx"])
        self._rvc.restore(state["prev"])
        same_grid = state["standard_offset"] == self.standard_offset
        if same_grid and state["window_s"] == self._mean.width:
            self._mean.restore(state["lt"])
        if same_grid:
            self._counter.restore(state["tm"])
            self._freq.restore(state["f"])
        self._neutral.restore(state["nf"])
        self._ov.restore(state["ov"])
        self._c[:] = [int(x) for x in state["counters"]]
        self._freq.bands[:] = [int(x) for x in state["freq_bands"]]
        self._sags.restore(state["last_sag_t"], state["last_swell_t"])
