"""The time-warp engine: `warp_to(meter, t)` leaves a `Meter` as `meter.advance_to(t)` would, many times faster.

The per-second model (`Meter.step`) stays the reference. This engine runs long chunks (up to a local standard day,
ending on a minute boundary) vectorised over time with NumPy (meter_sim/warp_chunk.py) whenever the meter is in a
state the vectorised model covers, and hands every other span to the exact `Meter.step`:

- the chunk must start quiet: supply present and within the power-quality quiet band, no voltage alarm, no open
  power-quality excursion, breaker and inputs steady, no outage, no broken neutral, no clock stop; and features
  the chunk does not model are off (smart disconnect, prepayment, module pulse outputs, Aron connection, forced
  phase voltages, analysis channels that are not means);
- a reconfiguration scheduled for a time (`Meter.schedule_change`) ends the chunk before its minute;
- inside a chunk, any second at which something discrete would happen that the chunk does not model (a voltage
  outside the quiet band, a fuse limit, a value within rounding distance of a threshold …) ends the
  chunk: it is committed up to the minute before, and the exact step runs through that minute.

tests/test_warp_reference.py runs both engines side by side and wants the same registers (1e-9 relative), load
profile, billing entries, event logs, alarm and breaker events and random-generator states.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass

from meter_sim.meter import Meter
from meter_sim.warp_chunk import Chunk, eligible

_DAY = 86400
_MIN_CHUNK_S = 600  # shorter spans are not worth NumPy's per-call overhead: step them exactly
_RETRY_S = 900  # after a chunk stopped early, the next one tries this long first, doubling on success
_HEAP_PAD = 32 << 20  # bytes: see _keep_heap


@dataclass
class WarpStats:
    """Where the simulated seconds went (for the benchmark and the tests)."""

    fast_s: int = 0
    exact_s: int = 0
    chunks: int = 0
    stopped_early: int = 0


def warp_to(meter: Meter, t: float, stats: WarpStats | None = None,
            on_chunk: Callable[[Meter], None] | None = None) -> None:
    """Step the meter to meter time t (as `Meter.advance_to`), vectorised where the meter's state allows;
    `on_chunk(meter)` after each vectorised chunk (up to a day: for a progress display that does not split the
    run into shorter calls, each of which ends a chunk)."""
    _keep_heap()
    st = stats if stats is not None else WarpStats()
    limit = _DAY
    while meter.t + 1 <= t:
        target = int(t)
        if meter.t % 60 or not eligible(meter):
            _exact(meter, min(t, _next_minute(meter.t)), st)
            continue
        end = min(_chunk_end(meter, meter.t + limit), target - target % 60)
        if end - meter.t < _MIN_CHUNK_S:
            _exact(meter, min(t, max(end, _next_minute(meter.t))), st)
            continue
        chunk = Chunk(meter, end)
        done = chunk.run()
        st.chunks += 1
        st.fast_s += done
        if meter.t < end:  # stopped at a second the chunk does not model: step through its minute exactly
            st.stopped_early += 1
            _exact(meter, min(t, _next_minute(meter.t + 1) if meter.t % 60 else meter.t + 60), st)
            limit = _RETRY_S
        else:
            limit = min(_DAY, limit * 2)
        if on_chunk is not None:
            on_chunk(meter)


@functools.cache  # once per process
def _keep_heap() -> None:
    """On glibc: keep freed heap memory (up to 32 MB at the top, arrays up to 32 MB on the heap)
    instead of handing it back to the system. A chunk allocates and frees arrays of 0.1–2 MB by the hundred; with
    glibc's defaults, depending on the order of those, the heap's top was trimmed and grown again over and over:
    up to 400,000 page faults (a quarter of the run time) over 120 simulated days, against 15,000 with the heap
    kept. The cost: the process's freed memory up to those sizes stays mapped."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    mallopt(-3, _HEAP_PAD)  # M_MMAP_THRESHOLD
    mallopt(-2, _HEAP_PAD)  # M_TOP_PAD


def _exact(meter: Meter, t: float, st: WarpStats) -> None:
    before = meter.t
    meter.advance_to(t)
    st.exact_s += meter.t - before


def _next_minute(t: int) -> int:
    return t - t % 60 + 60


def _chunk_end(meter: Meter, t: int) -> int:
    """The latest minute boundary ≤ t that keeps a chunk within one local standard day and one UTC offset."""
    off = meter.rtc.standard_offset
    midnight = (meter.t + off) // _DAY * _DAY - off + _DAY
    end = min(t - t % 60, midnight)
    if meter.scheduled is not None:  # a scheduled reconfiguration: its minute (and the one before) run exactly
        due = meter.scheduled.at + (-meter.scheduled.at) % 60
        end = min(end, max(meter.t, due - 60))
    # A DST change (on a whole hour) ends the chunk: inside one the wall clock's offset is constant.
    base = meter.rtc.utc_offset(meter.t + 60)
    if meter.rtc.utc_offset(end) != base:
        lo, hi = meter.t + 60, end  # offset(lo) == base != offset(hi): find the first minute with the new offset
        while hi - lo > 60:
            mid = (lo + hi) // 2
            mid -= mid % 60
            if meter.rtc.utc_offset(mid) == base:
                lo = mid
            else:
                hi = mid
        end = hi - 60  # the minute call at `hi` already sees the new offset: leave it to the next chunk
    return end
