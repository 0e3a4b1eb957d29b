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

One module per detector, each with its modelling choices (all (inferred) unless the spec is quoted):
`outages.py` (phase outages, supply interruptions), `single_value.py` (single-value deviations), `rvc.py` (rapid
voltage changes), `windows.py` (the long-term mean, the 10-min counter window with voltage variation, unbalance
and THD, the 10-s frequency window), `neutral_fault.py`, `overvoltage.py` (disconnect), `sags_swells.py` (injected
sub-second events). `monitor.py` runs them each second (and holds the meter's power state, §1); `accumulator.py`
is the one written-out accumulation of a sample with every phase present, which its fast path and full step share.
"""

from meter_sim.power_quality.counters import COUNTER_NAMES
from meter_sim.power_quality.events import (
    ACTION,
    EVENT_TYPES,
    MEAN_OVER,
    MEAN_UNDER,
    NEUTRAL_FAULT_END,
    NEUTRAL_FAULT_START,
    NO_EVENTS,
    OUTAGE_END,
    OUTAGE_START,
    SV_MAX_PEAK,
    SV_MAX_START,
    SV_MAX_STOP,
    SV_MIN_PEAK,
    SV_MIN_START,
    SV_MIN_STOP,
    VQ_CODE,
    PqEvent,
)
from meter_sim.power_quality.monitor import STATE_VERSION, PowerQuality
from meter_sim.power_quality.outages import SHORT_INTERRUPTION_S
from meter_sim.power_quality.sags_swells import SAG_MAX_MS, SAG_MIN_MS
from meter_sim.power_quality.settings import PqSettings
from meter_sim.power_quality.windows import (
    COUNTER_WINDOW_S,
    FREQ_WINDOW_S,
    THD_LIMIT_PCT,
    UNBALANCE_LIMIT,
    unbalance,
)

__all__ = [
    "ACTION",
    "COUNTER_NAMES",
    "COUNTER_WINDOW_S",
    "EVENT_TYPES",
    "FREQ_WINDOW_S",
    "MEAN_OVER",
    "MEAN_UNDER",
    "NEUTRAL_FAULT_END",
    "NEUTRAL_FAULT_START",
    "NO_EVENTS",
    "OUTAGE_END",
    "OUTAGE_START",
    "SAG_MAX_MS",
    "SAG_MIN_MS",
    "SHORT_INTERRUPTION_S",
    "STATE_VERSION",
    "SV_MAX_PEAK",
    "SV_MAX_START",
    "SV_MAX_STOP",
    "SV_MIN_PEAK",
    "SV_MIN_START",
    "SV_MIN_STOP",
    "THD_LIMIT_PCT",
    "UNBALANCE_LIMIT",
    "VQ_CODE",
    "PowerQuality",
    "PqEvent",
    "PqSettings",
    "unbalance",
]
