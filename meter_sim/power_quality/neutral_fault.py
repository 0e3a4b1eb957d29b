"""Neutral fault (§7.9 defaults): exactly two phases > V_LhiTh and the third < Un − V_NTh, held on consecutive
samples for longer than NeutralFaultTime (the 61st second at 60 s); it ends on the first sample without the
condition (a fault still active at a power-down ends on the first powered sample without it). On the end a
`reconnect_allowed` action follows a requested disconnect; the meter decides. Setting ranges are unpublished:
V_LhiTh 240–300 V, V_NTh 10–180 V, NeutralFaultTime 1–900 s are assumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meter_sim.power_quality.events import ACTION, NEUTRAL_FAULT_END, NEUTRAL_FAULT_START, PqEvent
from meter_sim.power_quality.json_state import opt_int
from meter_sim.power_quality.settings import PqSettings


class NeutralFault:
    __slots__ = ("active", "disconnect", "events", "run", "since", "time_s", "tripped", "v_lhi", "v_llo")

    def __init__(self, s: PqSettings, events: list[PqEvent]) -> None:
        self.v_lhi, self.v_llo, self.time_s = s.v_lhi, s.v_llo, s.neutral_fault_time_s
        self.disconnect = s.neutral_fault_disconnect
        self.events = events
        self.reset()

    def reset(self) -> None:
        self.run = 0  # consecutive samples with the condition
        self.since: int | None = None
        self.active = False
        self.tripped = False  # a disconnect was requested for the active fault

    def forget(self) -> None:
        """The samples are no longer consecutive: the timer restarts."""
        self.run = 0
        self.since = None

    def sample(self, t: int, u1: float, u2: float, u3: float) -> None:
        vh, vl = self.v_lhi, self.v_llo
        emit = self.events.append
        low_phase = 0
        if u1 > vh and u2 > vh and u3 < vl:
            low_phase = 3
        elif u1 > vh and u3 > vh and u2 < vl:
            low_phase = 2
        elif u2 > vh and u3 > vh and u1 < vl:
            low_phase = 1
        if low_phase:
            if self.run == 0:
                self.since = t
            self.run += 1
            if not self.active and self.run > self.time_s:
                self.active = True
                since = self.since if self.since is not None else t
                emit(PqEvent(t, NEUTRAL_FAULT_START, low_phase, {"since": since, "u": [u1, u2, u3]}))
                if self.disconnect:
                    self.tripped = True
                    emit(PqEvent(t, ACTION, 0, {"action": "disconnect", "reason": "neutral_fault"}))
            return
        self.run = 0
        self.since = None
        if self.active:
            self.active = False
            emit(PqEvent(t, NEUTRAL_FAULT_END, 0, {"u": [u1, u2, u3]}))
            if self.tripped:
                self.tripped = False
                emit(PqEvent(t, ACTION, 0, {"action": "reconnect_allowed", "reason": "neutral_fault"}))

    def to_state(self) -> list[Any]:
        return [self.run, self.since, self.active, self.tripped]

    def restore(self, state: Sequence[Any]) -> None:
        run, since, active, tripped = state
        self.run, self.since = int(run), opt_int(since)
        self.active, self.tripped = bool(active), bool(tripped)
