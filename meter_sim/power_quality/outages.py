"""Phase outages and supply interruptions (§7.6).

- A phase is *out* while it is < U_outage,level, and every phase is out while the meter is down ("about 160 V").
  Out samples are not voltage-quality samples: they end a single-value excursion, take no part in RVC, and are left
  out of the window means.
- Outage log: two entries per phase outage (start and restoration), both only when the outage lasted longer than
  U_outage,timethreshold; the start entry is emitted as soon as that is known, back-dated to the first out sample.
  During an all-phase outage the meter is off, so its entries are written at power-up (§7.6 inferred rule).
  Duration = time stamp of the first sample back − time stamp of the first out sample.
- Interruption counters: one count per *supply interruption*, the span from the first phase going out until every
  phase is back (so a three-phase cut counts once); ≤ 180 s → Interupts_Short, else Interupts_Long; counted when
  it ends; not filtered by the time threshold.
"""

from __future__ import annotations

from typing import Any, Final

from meter_sim.power_quality.counters import INTERRUPTS_LONG, INTERRUPTS_SHORT
from meter_sim.power_quality.events import OUTAGE_END, OUTAGE_START, PqEvent
from meter_sim.power_quality.json_state import opt_int
from meter_sim.power_quality.settings import PqSettings

SHORT_INTERRUPTION_S: Final = 180  # §7.6: ≤ 3 min short, > 3 min long


class Outages:
    __slots__ = ("counters", "events", "level", "logged", "n_out", "since", "threshold_s", "union_since")

    def __init__(self, s: PqSettings, events: list[PqEvent], counters: list[int]) -> None:
        self.level, self.threshold_s = s.outage_level, s.outage_time_threshold_s
        self.events, self.counters = events, counters
        self.reset()

    def reset(self) -> None:
        self.since: list[int | None] = [None, None, None]  # first out sample per phase
        self.logged = [False, False, False]  # its start entry is written
        self.n_out = 0
        self.union_since: int | None = None  # first out sample of the supply interruption in progress

    def all_out(self, t: int) -> None:
        """The meter went down at t: every phase not yet out is out from t."""
        for i in (0, 1, 2):
            if self.since[i] is None:
                self.since[i] = t
                self.logged[i] = False
        self.n_out = 3
        if self.union_since is None:
            self.union_since = t

    def sample(self, t: int, u1: float, u2: float, u3: float) -> None:
        lvl, thr = self.level, self.threshold_s
        since_l, logged, emit = self.since, self.logged, self.events.append
        for i, ui in enumerate((u1, u2, u3)):
            since = since_l[i]
            if ui < lvl:
                if since is None:
                    since_l[i] = since = t
                    logged[i] = False
                    self.n_out += 1
                    if self.union_since is None:
                        self.union_since = t
                if not logged[i] and t - since + 1 > thr:
                    logged[i] = True
                    emit(PqEvent(since, OUTAGE_START, i + 1, {"code": 4, "mean": 0.0, "max": 0.0, "min": 0.0}))
            elif since is not None:
                duration = max(0, t - since)
                if not logged[i] and duration > thr:  # start deferred by a power-down (or a gap)
                    logged[i] = True
                    emit(PqEvent(since, OUTAGE_START, i + 1, {"code": 4, "mean": 0.0, "max": 0.0, "min": 0.0}))
                if logged[i]:
                    emit(PqEvent(t, OUTAGE_END, i + 1, {"code": 5, "mean": 0.0, "max": 0.0, "min": 0.0,
                                                        "duration_s": duration}))
                since_l[i] = None
                logged[i] = False
                self.n_out -= 1
        if self.n_out == 0 and self.union_since is not None:
            span = max(0, t - self.union_since)
            self.counters[INTERRUPTS_SHORT if span <= SHORT_INTERRUPTION_S else INTERRUPTS_LONG] += 1
            self.union_since = None

    @property
    def present(self) -> tuple[bool, bool, bool]:
        """Per phase: not out (its samples count)."""
        o = self.since
        return (o[0] is None, o[1] is None, o[2] is None)

    def to_state(self) -> dict[str, Any]:
        return {"out_since": list(self.since), "out_logged": list(self.logged), "union_since": self.union_since}

    def restore(self, state: dict[str, Any]) -> None:
        self.since = [opt_int(x) for x in state["out_since"]]
        self.logged = [bool(x) for x in state["out_logged"]]
        self.n_out = sum(x is not None for x in self.since)
        self.union_since = opt_int(state["union_since"])
