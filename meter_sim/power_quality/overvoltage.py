"""Overvoltage disconnect (§5.4): sliding means over the last `ov_window_s` samples; trip when any phase's mean >
the threshold (a full window is needed). After the trip, sliding means over the last `ov_reconnect_window_s`
samples since the trip: all phases < the reconnect threshold → `reconnect_allowed` and the disconnect window
restarts empty (so a long disconnect window cannot re-trip on old samples). One request per trip. The reconnect
threshold may not exceed the disconnect threshold (else the breaker would cycle), so e.g. ov_threshold 262 needs
ov_reconnect_threshold ≤ 262 as well. A gap or a power-down empties both windows.
"""

from __future__ import annotations

import math
from typing import Any

from meter_sim.power_quality.events import ACTION, PqEvent
from meter_sim.power_quality.settings import PqSettings


class Ring:
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


class OvervoltageDisconnect:
    __slots__ = ("enabled", "events", "reconnect", "reconnect_v", "threshold_v", "tripped", "window")

    def __init__(self, s: PqSettings, events: list[PqEvent]) -> None:
        self.enabled = s.ov_disconnect_enabled
        self.threshold_v, self.reconnect_v = float(s.ov_threshold), float(s.ov_reconnect_threshold)
        self.window = Ring(s.ov_window_s if self.enabled else 1)
        self.reconnect = Ring(s.ov_reconnect_window_s if self.enabled else 1)
        self.events = events
        self.tripped = False  # a disconnect was requested and reconnection is not yet allowed

    def reset(self) -> None:
        self.tripped = False
        self.forget()

    def forget(self) -> None:
        """The samples are no longer consecutive: both windows restart."""
        self.window.clear()
        self.reconnect.clear()

    def sample(self, t: int, u1: float, u2: float, u3: float) -> None:
        ov = self.window
        full = ov.push(u1, u2, u3)
        if not self.tripped:
            if full:
                w, thr = ov.width, self.threshold_v
                means = (ov.s1 / w, ov.s2 / w, ov.s3 / w)
                for i, m in enumerate(means):
                    if m > thr:
                        self.tripped = True
                        self.reconnect.clear()
                        self.events.append(PqEvent(t, ACTION, i + 1, {"action": "disconnect", "reason": "overvoltage",
                                                                      "mean": m, "window_s": w}))
                        return
            return
        rc = self.reconnect
        if rc.push(u1, u2, u3):
            w, thr = rc.width, self.reconnect_v
            if rc.s1 / w < thr and rc.s2 / w < thr and rc.s3 / w < thr:
                self.tripped = False
                ov.clear()
                self.events.append(PqEvent(t, ACTION, 0, {"action": "reconnect_allowed", "reason": "overvoltage",
                                                          "window_s": w}))

    def to_state(self) -> dict[str, Any]:
        return {"tripped": self.tripped, "dis": self.window.to_state(), "rec": self.reconnect.to_state()}

    def restore(self, state: dict[str, Any]) -> None:
        self.tripped = bool(state["tripped"])
        self.window.restore(state["dis"])
        self.reconnect.restore(state["rec"])
