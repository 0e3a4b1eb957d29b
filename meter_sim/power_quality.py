"""Power quality (EN 50160) and protection detectors: a pure, per-second state machine.

Spec: facts digest §7 (power quality), §7.9 (neutral fault), §5.4 (overvoltage disconnect), §1 (phase present,
power-down) and §13 (thresholds with timers). `PowerQuality.step()` is fed one 1-second sample at a time; it
returns the voltage-quality / neutral-fault log entries and the breaker requests that the sample completes, and
keeps the §7.8 occurrence counters. It records by exception: nothing is emitted while everything is within limits.

Time convention: `t` is the *end* of the sampled second (UTC s), so the sample covers [t−1, t). Every log entry
carries the time stamp of the sample it describes; an entry may be emitted some steps after that time (for example
a Stop is known only when the next sample is back within limits, a window entry when the window closes), so
`PqEvent.t` can be earlier than the `t` of the step that returned it. Steps are expected to advance by exactly 1 s;
any other step is treated as a gap: detectors that need consecutive samples (single-value excursions, RVC, neutral
fault timer, overvoltage windows) restart, windows close on their grid, outage durations use the time stamps.

Event types (`PqEvent.type`) and the voltage-quality log code in `detail["code"]` (§7.4):

| type | code | phase | detail |
|---|---|---|---|
| `mean_under` / `mean_over` | 0 / 1 | 1–3 | t = window start; mean, max, min, window_s |
| `sv_min_start` / `sv_min_peak` / `sv_min_stop` | 6 / 2 / 7 | 1–3 | mean 0, max 0, min = the 1-s value |
| `sv_max_start` / `sv_max_peak` / `sv_max_stop` | 8 / 3 / 9 | 1–3 | mean 0, max = the 1-s value, min 0 |
| `outage_start` / `outage_end` | 4 / 5 (inferred) | 1–3 | mean, max, min 0; end also duration_s |
| `neutral_fault_start` / `neutral_fault_end` | – | low phase | neutral-fault logger 1.1.99.98.12.255; since, u |
| `action` | – | 0 or 1–3 | action `disconnect` / `reconnect_allowed`, reason `overvoltage` / `neutral_fault` |

Modelling choices (all (inferred) unless the spec is quoted):
- Meter power (§1): powered while any phase is ≥ 160 V. When every phase is < 160 V for more than 1 s (the second
  such sample) the meter is down: nothing but the outage bookkeeping runs, open excursions close at their last
  sample, the overvoltage windows and RVC history restart. The first such sample is still measured normally.
- A phase is *out* while it is < U_outage,level, and every phase is out while the meter is down ("about 160 V").
  Out samples are not voltage-quality samples: they end a single-value excursion, take no part in RVC, and are left
  out of the window means (IEC 61000-4-30 flags such intervals); unbalance skips any second with a phase out.
- Outage log (§7.6): two entries per phase outage (start and restoration), both only when the outage lasted longer
  than U_outage,timethreshold; the start entry is emitted as soon as that is known, back-dated to the first out
  sample. During an all-phase outage the meter is off, so its entries are written at power-up (§7.6 inferred rule).
  Duration = time stamp of the first sample back − time stamp of the first out sample.
- Interruption counters: one count per *supply interruption*, the span from the first phase going out until every
  phase is back (so a three-phase cut counts once); ≤ 180 s → Interupts_Short, else Interupts_Long; counted when
  it ends; not filtered by the time threshold.
- Single-value deviations (§7.4): Start = first 1-s value outside, Peak = the most extreme (first one on a tie),
  Stop = the *last value still outside*. The [TD] example fixes this rule: its Start 210 and Stop 208 (min) and
  Start 253 and Stop 252 (max) must all be outside the limits, so the example's limits were U_low,sv > 210 V and
  U_high,sv < 252 V, and the Stop is the last outside sample (14:32:20), not the first one back. All three entries
  are emitted when the excursion ends, and only if it lasted less than the averaging window ("excursions of at least
  1 s that are shorter than the averaging window"); longer ones are left to the window mean.
- Windows are tumbling and aligned to the grid of local standard time (t + standard_offset), e.g. 10-min windows
  end at :00, :10, …; a window left by a gap or a power-down is evaluated over the samples it has.
- VoltageVariation, unbalance: one count per 10-min window in which *any* phase meets the condition; THD: per phase.
  THD inputs are in percent. Unbalance u2 = |U_neg|/|U_pos| with magnitudes only, assuming 120° displacement:
  u2 = √(Ua²+Ub²+Uc²−UaUb−UbUc−UcUa) / (Ua+Ub+Uc); its 10-min mean of the per-second values is compared with 2 %.
- RVC: |ΔU| ≥ 11.5 V between consecutive samples of a phase, both within [U_low,sv, U_high,sv]; at most one count
  per second (a polyphase event).
- Neutral fault (§7.9 defaults): exactly two phases > V_LhiTh and the third < Un − V_NTh, held on consecutive
  samples for longer than NeutralFaultTime (the 61st second at 60 s); it ends on the first sample without the
  condition (a fault still active at a power-down ends on the first powered sample without it). On the end a
  `reconnect_allowed` action follows a requested disconnect; the meter decides. Setting ranges are unpublished:
  V_LhiTh 240–300 V, V_NTh 10–180 V, NeutralFaultTime 1–900 s are assumed.
- Overvoltage disconnect (§5.4): sliding means over the last `ov_window_s` samples; trip when any phase's mean >
  the threshold (a full window is needed). After the trip, sliding means over the last `ov_reconnect_window_s`
  samples since the trip: all phases < the reconnect threshold → `reconnect_allowed` and the disconnect window
  restarts empty (so a long disconnect window cannot re-trip on old samples). One request per trip. The reconnect
  threshold may not exceed the disconnect threshold (else the breaker would cycle), so e.g. ov_threshold 262 needs
  ov_reconnect_threshold ≤ 262 as well.
- Sags/swells come only from `inject_sag` / `inject_swell` (see there).
- Occurrence counters are running totals; the head-end takes differences (§7.8 inferred).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, NoReturn, Self, SupportsIndex

from pydantic import BaseModel, ConfigDict, Field, model_validator

from meter_sim.metrology import PHASE_PRESENT_V

SHORT_INTERRUPTION_S: Final = 180  # §7.6: ≤ 3 min short, > 3 min long
FREQ_WINDOW_S: Final = 10  # §7.1
COUNTER_WINDOW_S: Final = 600  # §7.3/§7.7: 10-min means for the counters
UNBALANCE_LIMIT: Final = 0.02  # §7.7: > 2 %
THD_LIMIT_PCT: Final = 8.0  # §7.7: > 8 %
SAG_MIN_MS: Final = 100  # §7.5: only 100 ms–1 s events count
SAG_MAX_MS: Final = 1000
STATE_VERSION: Final = 1

# Event types.
MEAN_UNDER: Final = "mean_under"
MEAN_OVER: Final = "mean_over"
SV_MIN_START: Final = "sv_min_start"
SV_MIN_PEAK: Final = "sv_min_peak"
SV_MIN_STOP: Final = "sv_min_stop"
SV_MAX_START: Final = "sv_max_start"
SV_MAX_PEAK: Final = "sv_max_peak"
SV_MAX_STOP: Final = "sv_max_stop"
OUTAGE_START: Final = "outage_start"
OUTAGE_END: Final = "outage_end"
NEUTRAL_FAULT_START: Final = "neutral_fault_start"
NEUTRAL_FAULT_END: Final = "neutral_fault_end"
ACTION: Final = "action"
EVENT_TYPES: Final = (
    MEAN_UNDER, MEAN_OVER, SV_MIN_START, SV_MIN_PEAK, SV_MIN_STOP, SV_MAX_START, SV_MAX_PEAK, SV_MAX_STOP,
    OUTAGE_START, OUTAGE_END, NEUTRAL_FAULT_START, NEUTRAL_FAULT_END, ACTION,
)
# Voltage-quality logger codes (§7.4; 4 and 5 inferred).
VQ_CODE: Final[dict[str, int]] = {
    MEAN_UNDER: 0, MEAN_OVER: 1, SV_MIN_PEAK: 2, SV_MAX_PEAK: 3, OUTAGE_START: 4, OUTAGE_END: 5,
    SV_MIN_START: 6, SV_MIN_STOP: 7, SV_MAX_START: 8, SV_MAX_STOP: 9,
}

# Occurrence counters in the [TD] column order of logger 1.1.99.98.17.255 (after RTC). Spelling as in [TD].
COUNTER_NAMES: Final = (
    "F1", "F2", "VoltageVariation_Low1", "VoltageVariation_Low2", "VoltageVariation_High",
    "RapidVoltageChanges", "Voltage_Unbalance", "Interupts_Long", "Interupts_Short",
    "THD_U_L1", "THD_U_L2", "THD_U_L3", "THD_I_L1", "THD_I_L2", "THD_I_L3", "Sags", "Swells",
)
_F1, _F2, _LOW1, _LOW2, _HIGH, _RVC, _UNB, _ILONG, _ISHORT = range(9)
_THDU = 9  # + phase index
_THDI = 12
_SAGS, _SWELLS = 15, 16

_NAN: Final = math.nan
_ZERO3: Final = (0.0, 0.0, 0.0)


class PqSettings(BaseModel):
    """Configurable power-quality and protection limits (§7.2, §7.9, §5.4). Volts, seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    un: Literal[230] = Field(230, description="nominal voltage Un (§1: 230 V)")
    fn: Literal[50, 60] = Field(50, description="nominal frequency fn")
    u_high_mean: Annotated[float, Field(ge=232.3, le=276)] = Field(253.0, description="U_high,mean (+1…+20 %)")
    u_low_mean: Annotated[float, Field(ge=184, le=227.7)] = Field(207.0, description="U_low,mean (−20…−1 %)")
    window_s: Annotated[int, Field(ge=10, le=1800)] = Field(600, description="U_time-period,mean, 10 s–30 min")
    u_high_sv: Annotated[float, Field(ge=232.3, le=276)] = Field(253.0, description="U_high,sv")
    u_low_sv: Annotated[float, Field(ge=184, le=227.7)] = Field(207.0, description="U_low,sv")
    outage_level: Annotated[float, Field(ge=50, le=160)] = Field(50.0, description="U_outage,level")
    outage_time_threshold_s: Annotated[int, Field(ge=0, le=1800)] = Field(
        10, description="U_outage,timethreshold: outages must last longer than this to be logged"
    )
    # §7.9: ranges unpublished; these ranges are (inferred), wide enough for [EM]'s values too.
    v_lhi: Annotated[float, Field(ge=240, le=300)] = Field(253.0, description="neutral fault V_LhiTh")
    v_nth: Annotated[float, Field(ge=10, le=180)] = Field(40.0, description="neutral fault V_NTh; V_LloTh = Un − V_NTh")
    neutral_fault_time_s: Annotated[int, Field(ge=1, le=900)] = Field(60, description="NeutralFaultTime")
    neutral_fault_disconnect: bool = Field(False, description="open the breaker on a neutral fault")
    ov_disconnect_enabled: bool = Field(False, description="overvoltage disconnect (1.1.128.0.19–22.255)")
    ov_threshold: Annotated[int, Field(ge=260, le=320)] = Field(285, description="disconnect threshold, 1 V steps")
    ov_window_s: Annotated[int, Field(ge=1, le=3600)] = Field(1, description="averaging window for disconnect")
    ov_reconnect_threshold: Annotated[int, Field(ge=250, le=270)] = Field(265, description="reconnect threshold")
    ov_reconnect_window_s: Annotated[int, Field(ge=1, le=3600)] = Field(60, description="averaging window, reconnect")

    @model_validator(mode="after")
    def _check_ov_pair(self) -> PqSettings:
        # (inferred) a reconnect threshold above the disconnect threshold would make the breaker cycle.
        if self.ov_reconnect_threshold > self.ov_threshold:
            raise ValueError(
                f"ov_reconnect_threshold ({self.ov_reconnect_threshold} V) must not exceed "
                f"ov_threshold ({self.ov_threshold} V)"
            )
        return self

    @property
    def v_llo(self) -> float:
        """V_LloTh = Un − V_NTh (190 V by default)."""
        return self.un - self.v_nth


@dataclass(frozen=True, slots=True)
class PqEvent:
    """One log entry or breaker request. `t` is the entry's time stamp (UTC s); phase 0 = not phase-specific."""

    t: int
    type: str
    phase: int
    detail: dict[str, Any] = field(default_factory=dict)


class _NoEvents(list[PqEvent]):
    """The shared, read-only empty result of a quiet step (saves an allocation per second)."""

    def _refuse(self, *_: object) -> NoReturn:
        raise TypeError("the empty result of PowerQuality.step() is shared and read-only; copy it with list() first")

    def append(self, item: PqEvent) -> None:
        self._refuse()

    def extend(self, items: Any) -> None:
        self._refuse()

    def insert(self, index: Any, item: PqEvent) -> None:
        self._refuse()

    def __setitem__(self, key: Any, value: Any) -> None:
        self._refuse()

    def __delitem__(self, key: Any) -> None:
        self._refuse()

    # typeshed's list.__iadd__ itself fails mypy's __add__ consistency check; the signature is list's own.
    def __iadd__(self, other: Iterable[PqEvent]) -> Self:  # type: ignore[override,misc]
        self._refuse()

    def __imul__(self, other: SupportsIndex) -> Self:
        self._refuse()


NO_EVENTS: Final[list[PqEvent]] = _NoEvents()


def unbalance(u1: float, u2: float, u3: float) -> float:
    """u2 = |U_neg|/|U_pos| (fraction) from RMS magnitudes, assuming the phases are 120° apart (inferred)."""
    total = u1 + u2 + u3
    if total <= 0.0:
        return 0.0
    s = u1 * u1 + u2 * u2 + u3 * u3 - u1 * u2 - u2 * u3 - u3 * u1
    return math.sqrt(s) / total if s > 0.0 else 0.0


def _grid_window(t: int, width: int, offset: int) -> tuple[int, int]:
    """(start, end) of the window of length `width` holding the sample that ends at t, aligned on t + offset."""
    start = (t - 1 + offset) // width * width - offset
    return start, start + width


class _Ring:
    """Sliding sums of the last `width` samples of the three phases (a preallocated ring, no per-step lists)."""

    __slots__ = ("b1", "b2", "b3", "idx", "n", "s1", "s2", "s3", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.b1 = [0.0] * width
        self.b2 = [0.0] * width
        self.b3 = [0.0] * width
        self.idx = 0
        self.n = 0
        self.s1 = self.s2 = self.s3 = 0.0

    def clear(self) -> None:
        if self.n:
            w = self.width
            self.b1[:] = [0.0] * w
            self.b2[:] = [0.0] * w
            self.b3[:] = [0.0] * w
        self.idx = self.n = 0
        self.s1 = self.s2 = self.s3 = 0.0

    def push(self, u1: float, u2: float, u3: float) -> bool:
        """Add a sample; True once the ring holds a full window."""
        i = self.idx
        b1, b2, b3 = self.b1, self.b2, self.b3
        self.s1 += u1 - b1[i]
        self.s2 += u2 - b2[i]
        self.s3 += u3 - b3[i]
        b1[i] = u1
        b2[i] = u2
        b3[i] = u3
        i += 1
        if i == self.width:
            i = 0
            # Re-sum once per lap so that 31 million add/subtract steps cannot drift past a threshold.
            self.s1 = math.fsum(b1)
            self.s2 = math.fsum(b2)
            self.s3 = math.fsum(b3)
        self.idx = i
        if self.n < self.width:
            self.n += 1
        return self.n == self.width

    def to_state(self) -> dict[str, Any]:
        # Only the filled part, oldest first; the running sums are kept as they are so that a restart is exact.
        n, w, i = self.n, self.width, self.idx
        order = [(i - n + k) % w for k in range(n)]
        return {"width": w, "idx": i, "sums": [self.s1, self.s2, self.s3],
                "u": [[b[j] for j in order] for b in (self.b1, self.b2, self.b3)]}

    def restore(self, state: dict[str, Any]) -> None:
        self.clear()
        w = self.width
        if int(state["width"]) != w:
            return  # the window setting changed: start an empty window
        rows = state["u"]
        n, i = len(rows[0]), int(state["idx"])
        for b, row in zip((self.b1, self.b2, self.b3), rows, strict=True):
            for k in range(n):
                b[(i - n + k) % w] = float(row[k])
        self.idx, self.n = i, n
        self.s1, self.s2, self.s3 = (float(x) for x in state["sums"])


class PowerQuality:
    """EN 50160 voltage-quality detectors, occurrence counters, neutral-fault and overvoltage protection."""

    def __init__(self, settings: PqSettings | None = None, *, standard_offset: int = 0) -> None:
        s = settings if settings is not None else PqSettings()
        self.settings = s
        self.standard_offset = standard_offset
        un, fn = float(s.un), float(s.fn)
        # Thresholds computed with integer percentages so that 230 V ± 10 % is exactly 207/253 V.
        self._lo_sv = s.u_low_sv
        self._hi_sv = s.u_high_sv
        self._lo_mean = s.u_low_mean
        self._hi_mean = s.u_high_mean
        self._rvc_v = un * 5 / 100
        self._low1_v = un * 90 / 100
        self._low2_v = un * 85 / 100
        self._high_v = un * 110 / 100
        self._sag_v = un * 80 / 100
        self._swell_v = un * 120 / 100
        self._f1 = fn * 98 / 100
        self._f2 = fn * 102 / 100
        # [EM] band edges (§ Appendix A), fn ± 1/2/4/6/15 %.
        self._fb_edges = tuple(fn * p / 100 for p in (85, 94, 98, 99, 101, 102, 104, 115))
        self._level = s.outage_level
        self._out_thr = s.outage_time_threshold_s
        self._lt_w = s.window_s
        self._v_lhi = s.v_lhi
        self._v_llo = s.v_llo
        self._nf_time = s.neutral_fault_time_s
        self._ov_on = s.ov_disconnect_enabled
        self._ov_thr = float(s.ov_threshold)
        self._rc_thr = float(s.ov_reconnect_threshold)
        self._ov = _Ring(s.ov_window_s if self._ov_on else 1)
        self._rc = _Ring(s.ov_reconnect_window_s if self._ov_on else 1)
        # The quiet band of step()'s fast path: a sample in it is within the single-value limits, present (lo_sv ≥
        # 184 V > 160 V ≥ U_outage,level) and no neutral-fault candidate (≤ V_LhiTh).
        self._quiet_lo = max(self._lo_sv, self._level, PHASE_PRESENT_V)
        self._quiet_hi = min(self._hi_sv, self._v_lhi)
        self._ev: list[PqEvent] = []
        self._reset_state()

    # --- state ---------------------------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._last_t: int | None = None
        self._fast_until = 0  # step()'s fast path is open for t < this (0: closed until the next full step)
        self._low_run = 0  # consecutive samples with every phase < 160 V
        self._down = False
        # Outages.
        self._out_since: list[int | None] = [None, None, None]
        self._out_logged = [False, False, False]
        self._n_out = 0
        self._union_since: int | None = None
        # Single-value excursions: [start_t, start_u, peak_t, peak_u, last_t, last_u] or None, per phase.
        self._mn: list[list[float] | None] = [None, None, None]
        self._mx: list[list[float] | None] = [None, None, None]
        self._sv_open = 0
        # RVC: previous valid sample per phase (NaN = none).
        self._p1 = self._p2 = self._p3 = _NAN
        # Long-term window (configurable): shared count n, per-phase missing counts.
        self._lt_start = self._lt_end = 0
        self._lt_n = 0
        self._lt_miss = [0, 0, 0]
        self._lt_s1 = self._lt_s2 = self._lt_s3 = 0.0
        self._lt_mx = [-math.inf, -math.inf, -math.inf]
        self._lt_mn = [math.inf, math.inf, math.inf]
        # 10-min counter window.
        self._tm_start = self._tm_end = 0
        self._tm_n = 0
        self._tm_miss = [0, 0, 0]
        self._tm_s1 = self._tm_s2 = self._tm_s3 = 0.0
        self._ub_sum = 0.0
        self._ub_n = 0
        self._thu = [0.0, 0.0, 0.0]
        self._thi = [0.0, 0.0, 0.0]
        # 10-s frequency window.
        self._f_start = self._f_end = 0
        self._f_sum = 0.0
        self._f_n = 0
        # Neutral fault.
        self._nf_run = 0
        self._nf_since: int | None = None
        self._nf_active = False
        self._nf_tripped = False
        # Overvoltage disconnect.
        self._ov_tripped = False
        self._ov.clear()
        self._rc.clear()
        # Counters and sag/swell once-per-second guards.
        self._c = [0] * len(COUNTER_NAMES)
        self._fb = [0] * 8
        self._last_sag_t: int | None = None
        self._last_swell_t: int | None = None

    # --- read-only views ---------------------------------------------------------------------------------------
    @property
    def powered(self) -> bool:
        """False while the meter is down (every phase < 160 V for more than 1 s)."""
        return not self._down

    @property
    def phases_out(self) -> tuple[bool, bool, bool]:
        o = self._out_since
        return (o[0] is not None, o[1] is not None, o[2] is not None)

    @property
    def neutral_fault_active(self) -> bool:
        return self._nf_active

    @property
    def overvoltage_tripped(self) -> bool:
        """An overvoltage disconnect was requested and reconnection is not yet allowed."""
        return self._ov_tripped

    def counters(self) -> dict[str, int]:
        """Occurrence counters (running totals) in the [TD] §7.8 column order."""
        return dict(zip(COUNTER_NAMES, self._c, strict=True))

    def snapshot(self, t: int) -> dict[str, int]:
        """One occurrence-counter-logger row: RTC (UTC s) then the running totals; the head-end takes differences."""
        return {"RTC": t, **self.counters()}

    def frequency_bands(self) -> tuple[int, ...]:
        """[EM] frequency band counters 1.1.133.0.1–8.255 (10-s means), in [EM]'s n = 1…8 order."""
        return tuple(self._fb)

    # --- the 1-second step -----------------------------------------------------------------------------------------
    def step(
        self,
        t: int,
        u: Sequence[float],
        f: float,
        thd_u: Sequence[float] = _ZERO3,
        thd_i: Sequence[float] = _ZERO3,
    ) -> list[PqEvent]:
        """Feed the 1-s RMS phase voltages (V), frequency (Hz) and THD (percent) of the second ending at t.

        Returns the entries and requests this sample completes (the shared empty list when there are none).
        """
        u1, u2, u3 = u
        lo, hi = self._quiet_lo, self._quiet_hi
        # Fast path for the usual second (31.5 million a simulated year): the previous step left nothing open (see
        # below), the sample follows it, every phase is in the quiet band and no long-term or counter window ends at
        # t. Then no detector can start or emit, and what remains is _full_step's within-limits branch without its
        # checks.
        if (t < self._fast_until and t - 1 == self._last_t
                and lo <= u1 <= hi and lo <= u2 <= hi and lo <= u3 <= hi):
            self._last_t = t
            th = self._rvc_v
            d1, d2, d3 = u1 - self._p1, u2 - self._p2, u3 - self._p3
            if d1 >= th or d1 <= -th or d2 >= th or d2 <= -th or d3 >= th or d3 <= -th:
                self._rvc(u1, u2, u3)
            self._p1, self._p2, self._p3 = u1, u2, u3
            self._lt_n += 1
            self._lt_s1 += u1
            self._lt_s2 += u2
            self._lt_s3 += u3
            mx, mn = self._lt_mx, self._lt_mn
            if u1 > mx[0]:
                mx[0] = u1
            if u1 < mn[0]:
                mn[0] = u1
            if u2 > mx[1]:
                mx[1] = u2
            if u2 < mn[1]:
                mn[1] = u2
            if u3 > mx[2]:
                mx[2] = u3
            if u3 < mn[2]:
                mn[2] = u3
            self._tm_n += 1
            self._tm_s1 += u1
            self._tm_s2 += u2
            self._tm_s3 += u3
            neg = u1 * u1 + u2 * u2 + u3 * u3 - u1 * u2 - u2 * u3 - u3 * u1
            if neg > 0.0:
                self._ub_sum += math.sqrt(neg) / (u1 + u2 + u3)
            self._ub_n += 1
            if thd_u is not _ZERO3 or thd_i is not _ZERO3:
                a, b = self._thu, self._thi
                a[0] += thd_u[0]
                a[1] += thd_u[1]
                a[2] += thd_u[2]
                b[0] += thd_i[0]
                b[1] += thd_i[1]
                b[2] += thd_i[2]
            # The 10-s frequency window ends inside the fast path (it only counts), the longer windows never do.
            self._f_sum += f
            self._f_n += 1
            if t == self._f_end:
                self._f_finish()
            return NO_EVENTS
        events = self._full_step(t, u1, u2, u3, f, thd_u, thd_i)
        # Open the fast path up to the next end of a long-term or counter window, only if nothing is in progress: no
        # low or out phase, no single-value excursion, no neutral-fault timer, no overvoltage windows. Every step that
        # leaves this state runs here, and so does every end of those windows; all windows then satisfy start ≤ t
        # (the frequency window too, and the fast path keeps it so), so t + 1 lies inside them.
        if (self._low_run or self._down or self._n_out or self._sv_open or self._nf_run or self._nf_active
                or self._ov_on):
            self._fast_until = 0
        else:
            self._fast_until = min(self._lt_end, self._tm_end)
        return events

    def _full_step(
        self, t: int, u1: float, u2: float, u3: float, f: float, thd_u: Sequence[float], thd_i: Sequence[float]
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
        lvl = self._level
        if self._n_out or u1 < lvl or u2 < lvl or u3 < lvl:
            self._outage_sample(t, u1, u2, u3)
        if self._n_out:
            self._partial_sample(t, u1, u2, u3, f, thd_u, thd_i)
        else:
            lo, hi = self._lo_sv, self._hi_sv
            # Single-value deviations.
            if self._sv_open or u1 < lo or u1 > hi or u2 < lo or u2 > hi or u3 < lo or u3 > hi:
                self._sv_sample(t, u1, u2, u3, True, True, True)
            # Rapid voltage change (NaN history never matches).
            th = self._rvc_v
            d1, d2, d3 = u1 - self._p1, u2 - self._p2, u3 - self._p3
            if d1 >= th or d1 <= -th or d2 >= th or d2 <= -th or d3 >= th or d3 <= -th:
                self._rvc(u1, u2, u3)
            self._p1, self._p2, self._p3 = u1, u2, u3
            # Long-term window.
            if not self._lt_start < t <= self._lt_end:
                self._lt_roll(t)
            self._lt_n += 1
            self._lt_s1 += u1
            self._lt_s2 += u2
            self._lt_s3 += u3
            mx, mn = self._lt_mx, self._lt_mn
            if u1 > mx[0]:
                mx[0] = u1
            if u1 < mn[0]:
                mn[0] = u1
            if u2 > mx[1]:
                mx[1] = u2
            if u2 < mn[1]:
                mn[1] = u2
            if u3 > mx[2]:
                mx[2] = u3
            if u3 < mn[2]:
                mn[2] = u3
            if t == self._lt_end:
                self._lt_finish()
            # 10-min counter window.
            if not self._tm_start < t <= self._tm_end:
                self._tm_roll(t)
            self._tm_n += 1
            self._tm_s1 += u1
            self._tm_s2 += u2
            self._tm_s3 += u3
            # Unbalance u2 (see unbalance()), inlined: this line runs 31.5 million times a simulated year.
            neg = u1 * u1 + u2 * u2 + u3 * u3 - u1 * u2 - u2 * u3 - u3 * u1
            if neg > 0.0:
                self._ub_sum += math.sqrt(neg) / (u1 + u2 + u3)
            self._ub_n += 1
            if thd_u is not _ZERO3 or thd_i is not _ZERO3:
                a, b = self._thu, self._thi
                a[0] += thd_u[0]
                a[1] += thd_u[1]
                a[2] += thd_u[2]
                b[0] += thd_i[0]
                b[1] += thd_i[1]
                b[2] += thd_i[2]
            if t == self._tm_end:
                self._tm_finish()
            # 10-s frequency window (as _freq(), inlined).
            if not self._f_start < t <= self._f_end:
                self._f_roll(t)
            self._f_sum += f
            self._f_n += 1
            if t == self._f_end:
                self._f_finish()
        vh = self._v_lhi
        if self._nf_run or self._nf_active or u1 > vh or u2 > vh or u3 > vh:
            self._neutral(t, u1, u2, u3)
        if self._ov_on:
            self._overvoltage(t, u1, u2, u3)
        return self._flush()

    def _flush(self) -> list[PqEvent]:
        if not self._ev:
            return NO_EVENTS
        out = self._ev
        self._ev = []
        return out

    def _emit(self, t: int, kind: str, phase: int, detail: dict[str, Any]) -> None:
        self._ev.append(PqEvent(t, kind, phase, detail))

    # --- gaps and power -----------------------------------------------------------------------------------------------
    def _discontinuity(self) -> None:
        """Samples are no longer consecutive: restart what needs consecutive seconds."""
        if self._sv_open:
            self._close_all_sv()
        self._p1 = self._p2 = self._p3 = _NAN
        self._nf_run = 0
        self._nf_since = None
        self._ov.clear()
        self._rc.clear()

    def _enter_down(self, t: int) -> None:
        """Every phase has been < 160 V for more than 1 s: the processor stops (§1)."""
        self._down = True
        self._discontinuity()
        for i in (0, 1, 2):
            if self._out_since[i] is None:
                self._out_since[i] = t
                self._out_logged[i] = False
        self._n_out = 3
        if self._union_since is None:
            self._union_since = t

    # --- outages ------------------------------------------------------------------------------------------------------
    def _outage_sample(self, t: int, u1: float, u2: float, u3: float) -> None:
        lvl, thr = self._level, self._out_thr
        since_l, logged = self._out_since, self._out_logged
        for i, ui in enumerate((u1, u2, u3)):
            since = since_l[i]
            if ui < lvl:
                if since is None:
                    since_l[i] = since = t
                    logged[i] = False
                    self._n_out += 1
                    if self._union_since is None:
                        self._union_since = t
                if not logged[i] and t - since + 1 > thr:
                    logged[i] = True
                    self._emit(since, OUTAGE_START, i + 1, {"code": 4, "mean": 0.0, "max": 0.0, "min": 0.0})
            elif since is not None:
                duration = max(0, t - since)
                if not logged[i] and duration > thr:  # start deferred by a power-down (or a gap)
                    logged[i] = True
                    self._emit(since, OUTAGE_START, i + 1, {"code": 4, "mean": 0.0, "max": 0.0, "min": 0.0})
                if logged[i]:
                    self._emit(t, OUTAGE_END, i + 1, {"code": 5, "mean": 0.0, "max": 0.0, "min": 0.0,
                                                     "duration_s": duration})
                since_l[i] = None
                logged[i] = False
                self._n_out -= 1
        if self._n_out == 0 and self._union_since is not None:
            span = max(0, t - self._union_since)
            self._c[_ISHORT if span <= SHORT_INTERRUPTION_S else _ILONG] += 1
            self._union_since = None

    # --- the slow path: at least one phase is out while the meter runs -----------------------------------------------
    def _partial_sample(
        self, t: int, u1: float, u2: float, u3: float, f: float, thd_u: Sequence[float], thd_i: Sequence[float]
    ) -> None:
        us = (u1, u2, u3)
        ok = (self._out_since[0] is None, self._out_since[1] is None, self._out_since[2] is None)
        self._sv_sample(t, u1, u2, u3, ok[0], ok[1], ok[2])
        th, lo, hi = self._rvc_v, self._lo_sv, self._hi_sv
        prev = [self._p1, self._p2, self._p3]
        hit = False
        for i in (0, 1, 2):
            if ok[i]:
                d = us[i] - prev[i]
                if (d >= th or d <= -th) and lo <= us[i] <= hi and lo <= prev[i] <= hi:
                    hit = True
                prev[i] = us[i]
            else:
                prev[i] = _NAN
        if hit:
            self._c[_RVC] += 1
        self._p1, self._p2, self._p3 = prev
        if not self._lt_start < t <= self._lt_end:
            self._lt_roll(t)
        if not self._tm_start < t <= self._tm_end:
            self._tm_roll(t)
        self._lt_n += 1
        self._tm_n += 1
        for i in (0, 1, 2):
            ui = us[i]
            if not ok[i]:
                self._lt_miss[i] += 1
                self._tm_miss[i] += 1
                continue
            if ui > self._lt_mx[i]:
                self._lt_mx[i] = ui
            if ui < self._lt_mn[i]:
                self._lt_mn[i] = ui
            self._thu[i] += thd_u[i]
            self._thi[i] += thd_i[i]
        if ok[0]:
            self._lt_s1 += u1
            self._tm_s1 += u1
        if ok[1]:
            self._lt_s2 += u2
            self._tm_s2 += u2
        if ok[2]:
            self._lt_s3 += u3
            self._tm_s3 += u3
        # Unbalance is undefined with a phase missing: the second is skipped.
        if t == self._lt_end:
            self._lt_finish()
        if t == self._tm_end:
            self._tm_finish()
        self._freq(t, f)

    # --- single-value deviations -----------------------------------------------------------------------------------
    def _sv_sample(self, t: int, u1: float, u2: float, u3: float, ok1: bool, ok2: bool, ok3: bool) -> None:
        lo, hi = self._lo_sv, self._hi_sv
        for i, ui, ok in ((0, u1, ok1), (1, u2, ok2), (2, u3, ok3)):
            ex = self._mn[i]
            if ok and ui < lo:
                if ex is None:
                    self._mn[i] = [t, ui, t, ui, t, ui]
                    self._sv_open += 1
                else:
                    if ui < ex[3]:
                        ex[2], ex[3] = t, ui
                    ex[4], ex[5] = t, ui
            elif ex is not None:
                self._close_sv(i, low=True)
            ex = self._mx[i]
            if ok and ui > hi:
                if ex is None:
                    self._mx[i] = [t, ui, t, ui, t, ui]
                    self._sv_open += 1
                else:
                    if ui > ex[3]:
                        ex[2], ex[3] = t, ui
                    ex[4], ex[5] = t, ui
            elif ex is not None:
                self._close_sv(i, low=False)

    def _close_sv(self, i: int, *, low: bool) -> None:
        ex = self._mn[i] if low else self._mx[i]
        assert ex is not None
        if low:
            self._mn[i] = None
        else:
            self._mx[i] = None
        self._sv_open -= 1
        start_t, start_u, peak_t, peak_u, stop_t, stop_u = ex
        if stop_t - start_t + 1 >= self._lt_w:
            return  # not shorter than the averaging window: left to the long-term check (§7.4)
        phase = i + 1
        if low:
            for kind, tt, uu in ((SV_MIN_START, start_t, start_u), (SV_MIN_PEAK, peak_t, peak_u),
                                 (SV_MIN_STOP, stop_t, stop_u)):
                self._emit(int(tt), kind, phase, {"code": VQ_CODE[kind], "mean": 0.0, "max": 0.0, "min": uu})
        else:
            for kind, tt, uu in ((SV_MAX_START, start_t, start_u), (SV_MAX_PEAK, peak_t, peak_u),
                                 (SV_MAX_STOP, stop_t, stop_u)):
                self._emit(int(tt), kind, phase, {"code": VQ_CODE[kind], "mean": 0.0, "max": uu, "min": 0.0})

    def _close_all_sv(self) -> None:
        for i in (0, 1, 2):
            if self._mn[i] is not None:
                self._close_sv(i, low=True)
            if self._mx[i] is not None:
                self._close_sv(i, low=False)

    # --- RVC ----------------------------------------------------------------------------------------------------------
    def _rvc(self, u1: float, u2: float, u3: float) -> None:
        th, lo, hi = self._rvc_v, self._lo_sv, self._hi_sv
        for ui, pi in ((u1, self._p1), (u2, self._p2), (u3, self._p3)):
            d = ui - pi
            if (d >= th or d <= -th) and lo <= ui <= hi and lo <= pi <= hi:
                self._c[_RVC] += 1  # one polyphase event per second
                return

    # --- windows ----------------------------------------------------------------------------------------------------
    def _lt_roll(self, t: int) -> None:
        if self._lt_n:
            self._lt_finish()
        self._lt_start, self._lt_end = _grid_window(t, self._lt_w, self.standard_offset)

    def _lt_finish(self) -> None:
        n, start, w = self._lt_n, self._lt_start, self._lt_w
        for i, s in enumerate((self._lt_s1, self._lt_s2, self._lt_s3)):
            k = n - self._lt_miss[i]
            if k <= 0:
                continue
            mean = s / k
            if mean > self._hi_mean:
                kind = MEAN_OVER
            elif mean < self._lo_mean:
                kind = MEAN_UNDER
            else:
                continue
            self._emit(start, kind, i + 1, {"code": VQ_CODE[kind], "mean": mean, "max": self._lt_mx[i],
                                             "min": self._lt_mn[i], "window_s": w})
        self._lt_n = 0
        self._lt_miss[:] = (0, 0, 0)
        self._lt_s1 = self._lt_s2 = self._lt_s3 = 0.0
        self._lt_mx[:] = (-math.inf, -math.inf, -math.inf)
        self._lt_mn[:] = (math.inf, math.inf, math.inf)
        self._lt_start, self._lt_end = self._lt_end, self._lt_end + w

    def _tm_roll(self, t: int) -> None:
        if self._tm_n:
            self._tm_finish()
        self._tm_start, self._tm_end = _grid_window(t, COUNTER_WINDOW_S, self.standard_offset)

    def _tm_finish(self) -> None:
        n, c = self._tm_n, self._c
        low1 = low2 = high = False
        for i, s in enumerate((self._tm_s1, self._tm_s2, self._tm_s3)):
            k = n - self._tm_miss[i]
            if k <= 0:
                continue
            mean = s / k
            low1 = low1 or mean < self._low1_v
            low2 = low2 or mean < self._low2_v
            high = high or mean > self._high_v
            if self._thu[i] / k > THD_LIMIT_PCT:
                c[_THDU + i] += 1
            if self._thi[i] / k > THD_LIMIT_PCT:
                c[_THDI + i] += 1
        c[_LOW1] += low1
        c[_LOW2] += low2
        c[_HIGH] += high
        if self._ub_n and self._ub_sum / self._ub_n > UNBALANCE_LIMIT:
            c[_UNB] += 1
        self._tm_n = 0
        self._tm_miss[:] = (0, 0, 0)
        self._tm_s1 = self._tm_s2 = self._tm_s3 = 0.0
        self._ub_sum = 0.0
        self._ub_n = 0
        self._thu[:] = _ZERO3
        self._thi[:] = _ZERO3
        self._tm_start, self._tm_end = self._tm_end, self._tm_end + COUNTER_WINDOW_S

    def _f_roll(self, t: int) -> None:
        if self._f_n:
            self._f_finish()
        self._f_start, self._f_end = _grid_window(t, FREQ_WINDOW_S, self.standard_offset)

    def _freq(self, t: int, f: float) -> None:
        if not self._f_start < t <= self._f_end:
            self._f_roll(t)
        self._f_sum += f
        self._f_n += 1
        if t == self._f_end:
            self._f_finish()

    def _f_finish(self) -> None:
        mean = self._f_sum / self._f_n
        if mean < self._f1:
            self._c[_F1] += 1
        elif mean > self._f2:
            self._c[_F2] += 1
        e85, e94, e98, e99, e101, e102, e104, e115 = self._fb_edges
        band = -1
        if mean < e99:
            if mean < e85:
                band = 6
            elif mean < e94:
                band = 2
            elif mean < e98:
                band = 4
            else:
                band = 0
        elif mean > e101:
            if mean > e115:
                band = 7
            elif mean > e104:
                band = 3
            elif mean > e102:
                band = 5
            else:
                band = 1
        if band >= 0:
            self._fb[band] += 1
        self._f_sum = 0.0
        self._f_n = 0
        self._f_start, self._f_end = self._f_end, self._f_end + FREQ_WINDOW_S

    # --- protection ---------------------------------------------------------------------------------------------------
    def _neutral(self, t: int, u1: float, u2: float, u3: float) -> None:
        vh, vl = self._v_lhi, self._v_llo
        low_phase = 0
        if u1 > vh and u2 > vh and u3 < vl:
            low_phase = 3
        elif u1 > vh and u3 > vh and u2 < vl:
            low_phase = 2
        elif u2 > vh and u3 > vh and u1 < vl:
            low_phase = 1
        if low_phase:
            if self._nf_run == 0:
                self._nf_since = t
            self._nf_run += 1
            if not self._nf_active and self._nf_run > self._nf_time:
                self._nf_active = True
                since = self._nf_since if self._nf_since is not None else t
                self._emit(t, NEUTRAL_FAULT_START, low_phase, {"since": since, "u": [u1, u2, u3]})
                if self.settings.neutral_fault_disconnect:
                    self._nf_tripped = True
                    self._emit(t, ACTION, 0, {"action": "disconnect", "reason": "neutral_fault"})
            return
        self._nf_run = 0
        self._nf_since = None
        if self._nf_active:
            self._nf_active = False
            self._emit(t, NEUTRAL_FAULT_END, 0, {"u": [u1, u2, u3]})
            if self._nf_tripped:
                self._nf_tripped = False
                self._emit(t, ACTION, 0, {"action": "reconnect_allowed", "reason": "neutral_fault"})

    def _overvoltage(self, t: int, u1: float, u2: float, u3: float) -> None:
        ov = self._ov
        full = ov.push(u1, u2, u3)
        if not self._ov_tripped:
            if full:
                w, thr = ov.width, self._ov_thr
                means = (ov.s1 / w, ov.s2 / w, ov.s3 / w)
                for i, m in enumerate(means):
                    if m > thr:
                        self._ov_tripped = True
                        self._rc.clear()
                        self._emit(t, ACTION, i + 1, {"action": "disconnect", "reason": "overvoltage", "mean": m,
                                                      "window_s": w})
                        return
            return
        rc = self._rc
        if rc.push(u1, u2, u3):
            w, thr = rc.width, self._rc_thr
            if rc.s1 / w < thr and rc.s2 / w < thr and rc.s3 / w < thr:
                self._ov_tripped = False
                ov.clear()
                self._emit(t, ACTION, 0, {"action": "reconnect_allowed", "reason": "overvoltage", "window_s": w})

    # --- sags and swells (sub-second, injected) ----------------------------------------------------------------------
    def inject_sag(self, t: int, phase: int, duration_ms: float, depth_v: float) -> bool:
        """A sub-second dip the 1-s model cannot see, in the second ending at t; True if it was counted.

        depth_v = how far the RMS voltage fell below Un (residual = Un − depth_v). Counted (VQ_Counter_Sags) when the
        residual is < Un − 20 % (184 V), the duration is 100 ms–1 s and no sag was counted for the same second.
        Shorter events are ignored (below the meter's resolution, inferred); longer ones are not sags for the meter:
        they show in the 1-s values and must be fed through step(), where they are single-value deviations (§7.5).
        Nothing is counted while the meter is down. `phase` is checked but not kept: the [TD] counter is meter-wide.
        """
        _check_injection(phase, duration_ms, depth_v)
        if (self._down or t == self._last_sag_t or not SAG_MIN_MS <= duration_ms <= SAG_MAX_MS
                or float(self.settings.un) - depth_v >= self._sag_v):
            return False
        self._last_sag_t = t
        self._c[_SAGS] += 1
        return True

    def inject_swell(self, t: int, phase: int, duration_ms: float, depth_v: float) -> bool:
        """A sub-second rise (depth_v above Un) in the second ending at t; True if counted (> 276 V, as inject_sag)."""
        _check_injection(phase, duration_ms, depth_v)
        if (self._down or t == self._last_swell_t or not SAG_MIN_MS <= duration_ms <= SAG_MAX_MS
                or float(self.settings.un) + depth_v <= self._swell_v):
            return False
        self._last_swell_t = t
        self._c[_SWELLS] += 1
        return True

    # --- persistence ------------------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly, as plain JSON types (NaN and ±inf stored as null)."""
        return {
            "version": STATE_VERSION,
            "window_s": self._lt_w,
            "standard_offset": self.standard_offset,
            "last_t": self._last_t,
            "low_run": self._low_run,
            "down": self._down,
            "out_since": list(self._out_since),
            "out_logged": list(self._out_logged),
            "union_since": self._union_since,
            "mn": [None if e is None else list(e) for e in self._mn],
            "mx": [None if e is None else list(e) for e in self._mx],
            "prev": [_num(self._p1), _num(self._p2), _num(self._p3)],
            "lt": [self._lt_start, self._lt_end, self._lt_n, list(self._lt_miss),
                   [self._lt_s1, self._lt_s2, self._lt_s3], [_num(x) for x in self._lt_mx],
                   [_num(x) for x in self._lt_mn]],
            "tm": [self._tm_start, self._tm_end, self._tm_n, list(self._tm_miss),
                   [self._tm_s1, self._tm_s2, self._tm_s3], self._ub_sum, self._ub_n, list(self._thu),
                   list(self._thi)],
            "f": [self._f_start, self._f_end, self._f_sum, self._f_n],
            "nf": [self._nf_run, self._nf_since, self._nf_active, self._nf_tripped],
            "ov": {"tripped": self._ov_tripped, "dis": self._ov.to_state(), "rec": self._rc.to_state()},
            "counters": list(self._c),
            "freq_bands": list(self._fb),
            "last_sag_t": self._last_sag_t,
            "last_swell_t": self._last_swell_t,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from `to_state()`; partial windows are dropped if their length or alignment setting changed."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"power-quality state version {state.get('version')!r} is not {STATE_VERSION}")
        self._reset_state()
        self._last_t = _opt_int(state["last_t"])
        self._low_run = int(state["low_run"])
        self._down = bool(state["down"])
        self._out_since = [_opt_int(x) for x in state["out_since"]]
        self._out_logged = [bool(x) for x in state["out_logged"]]
        self._n_out = sum(x is not None for x in self._out_since)
        self._union_since = _opt_int(state["union_since"])
        self._mn = [None if e is None else [float(x) for x in e] for e in state["mn"]]
        self._mx = [None if e is None else [float(x) for x in e] for e in state["mx"]]
        self._sv_open = sum(e is not None for e in self._mn) + sum(e is not None for e in self._mx)
        self._p1, self._p2, self._p3 = (_flt(x, _NAN) for x in state["prev"])
        same_grid = state["standard_offset"] == self.standard_offset
        if same_grid and state["window_s"] == self._lt_w:
            start, end, n, miss, sums, mx, mn = state["lt"]
            self._lt_start, self._lt_end, self._lt_n = int(start), int(end), int(n)
            self._lt_miss = [int(x) for x in miss]
            self._lt_s1, self._lt_s2, self._lt_s3 = (float(x) for x in sums)
            self._lt_mx = [_flt(x, -math.inf) for x in mx]
            self._lt_mn = [_flt(x, math.inf) for x in mn]
        if same_grid:
            start, end, n, miss, sums, ub_sum, ub_n, thu, thi = state["tm"]
            self._tm_start, self._tm_end, self._tm_n = int(start), int(end), int(n)
            self._tm_miss = [int(x) for x in miss]
            self._tm_s1, self._tm_s2, self._tm_s3 = (float(x) for x in sums)
            self._ub_sum, self._ub_n = float(ub_sum), int(ub_n)
            self._thu = [float(x) for x in thu]
            self._thi = [float(x) for x in thi]
            fs, fe, fsum, fn = state["f"]
            self._f_start, self._f_end, self._f_sum, self._f_n = int(fs), int(fe), float(fsum), int(fn)
        run, since, active, tripped = state["nf"]
        self._nf_run, self._nf_since = int(run), _opt_int(since)
        self._nf_active, self._nf_tripped = bool(active), bool(tripped)
        ov = state["ov"]
        self._ov_tripped = bool(ov["tripped"])
        self._ov.restore(ov["dis"])
        self._rc.restore(ov["rec"])
        self._c = [int(x) for x in state["counters"]]
        self._fb = [int(x) for x in state["freq_bands"]]
        self._last_sag_t = _opt_int(state["last_sag_t"])
        self._last_swell_t = _opt_int(state["last_swell_t"])


def _check_injection(phase: int, duration_ms: float, depth_v: float) -> None:
    if phase not in (1, 2, 3):
        raise ValueError(f"phase must be 1, 2 or 3, got {phase!r}")
    if not duration_ms >= 0:
        raise ValueError(f"duration_ms must be ≥ 0, got {duration_ms!r}")
    if not depth_v >= 0:
        raise ValueError(f"depth_v must be ≥ 0 (the deviation from Un), got {depth_v!r}")


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _flt(x: Any, default: float) -> float:
    return default if x is None else float(x)


def _opt_int(x: Any) -> int | None:
    return None if x is None else int(x)
