"""The bi-stable breaker and its DLMS disconnect-control states.

States (IEC 62056-6-2 class 70): connected, disconnected, ready_for_reconnection.
Transitions:
  remote disconnect  connected | ready_for_reconnection → disconnected
  remote connect     disconnected | ready_for_reconnection → connected
  remote release     disconnected → ready_for_reconnection
  push-button hold   connected → disconnected (manual);
                     ready_for_reconnection → connected;
                     disconnected → connected only when reconnection is not tied to a release
No reconnection within `min_reconnect_delay_s` of the last disconnection (data sheet: 5 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from meter_sim.refusals import MeterRefused

BreakerState = Literal["connected", "disconnected", "ready_for_reconnection"]
Action = Literal["connect", "disconnect", "release", "push_button"]

CONNECTED: BreakerState = "connected"
DISCONNECTED: BreakerState = "disconnected"
READY: BreakerState = "ready_for_reconnection"


class BreakerRefused(MeterRefused):
    """A command the breaker cannot carry out in its present state."""

    def __init__(self, action: str, state: str, reason: str) -> None:
        super().__init__(f"'{action}' is not allowed while the breaker is {state}: {reason}")
        self.action = action
        self.state = state
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BreakerChange:
    time: float
    old: BreakerState
    new: BreakerState
    reason: str  # remote | manual | ...


class Breaker:
    def __init__(
        self,
        state: BreakerState = CONNECTED,
        *,
        reason: str = "initial",
        changed_at: float = 0.0,
        push_button_requires_release: bool = True,
        min_reconnect_delay_s: float = 5.0,
    ) -> None:
        self.state: BreakerState = state
        self.reason = reason
        self.changed_at = changed_at
        self.push_button_requires_release = push_button_requires_release
        self.min_reconnect_delay_s = min_reconnect_delay_s
        self.last_disconnect_at: float | None = changed_at if state != CONNECTED else None

    @property
    def closed(self) -> bool:
        return self.state == CONNECTED

    def command(self, action: Action, t: float) -> BreakerChange:
        """Carry out an action at time t, or raise BreakerRefused naming the reason."""
        state = self.state
        if action == "disconnect":
            if state == DISCONNECTED:
                raise BreakerRefused(action, state, "it is already disconnected")
            return self._move(DISCONNECTED, "remote", t)
        if action == "connect":
            if state == CONNECTED:
                raise BreakerRefused(action, state, "it is already connected")
            return self._reconnect(action, "remote", t)
        if action == "release":
            if state != DISCONNECTED:
                raise BreakerRefused(action, state, "only a disconnected breaker can be released")
            return self._move(READY, "remote_release", t)
        if action == "push_button":
            if state == CONNECTED:
                return self._move(DISCONNECTED, "manual", t)
            if state == DISCONNECTED and self.push_button_requires_release:
                raise BreakerRefused(
                    action, state, "push-button reconnection needs a prior remote release command"
                )
            return self._reconnect(action, "manual", t)
        raise BreakerRefused(str(action), state, "unknown action")

    def trip(self, reason: str, t: float) -> BreakerChange | None:
        """A protection function opens the breaker (overvoltage, neutral fault …); None if already open."""
        if self.state == DISCONNECTED:
            return None
        return self._move(DISCONNECTED, reason, t)

    def restore_after(self, reason: str, t: float) -> BreakerChange | None:
        """Automatic reconnection once the cause `reason` has cleared: only when the breaker is still
        open for that reason and the minimum reconnection time has passed (else None: retried later)."""
        if self.state != DISCONNECTED or self.reason != reason:
            return None
        if self.last_disconnect_at is not None and t < self.last_disconnect_at + self.min_reconnect_delay_s:
            return None
        return self._move(CONNECTED, f"{reason}_cleared", t)

    def _reconnect(self, action: str, reason: str, t: float) -> BreakerChange:
        if self.last_disconnect_at is not None:
            wait = self.last_disconnect_at + self.min_reconnect_delay_s - t
            if wait > 0:
                raise BreakerRefused(
                    action, self.state, f"minimum reconnection time not reached, wait {wait:.0f} s more"
                )
        return self._move(CONNECTED, reason, t)

    def _move(self, new: BreakerState, reason: str, t: float) -> BreakerChange:
        change = BreakerChange(t, self.state, new, reason)
        if new == DISCONNECTED:
            self.last_disconnect_at = t
        self.state, self.reason, self.changed_at = new, reason, t
        return change

    # --- permanent memory: bi-stable, the position survives a restart ----------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "changed_at": self.changed_at,
                "last_disconnect_at": self.last_disconnect_at}

    def restore(self, state: dict[str, Any]) -> None:
        self.state = state["state"]
        self.reason = state["reason"]
        self.changed_at = float(state["changed_at"])
        self.last_disconnect_at = state["last_disconnect_at"]
