"""Smart disconnect (load limiting), spec §5.3: a pure state machine the meter advances once per second.

Trip rule (X = I or P, X_d = the limit object 1.1.128.0.13.255):
    trip if X > X_d·k1 for > t1, or X > X_d·k2 for > t1+t2, or X > X_d·k3 for > t1+t2+t3.
A large overload therefore trips fast and a small one slowly.

Modelling choices (the spec is silent, all (inferred)):
- One hold timer per band, counted in whole seconds: each `step` is one 1-s RMS value, and a band whose
  threshold is exceeded for n consecutive steps has been exceeded "for n s". It trips on the first step
  where n > its hold time, i.e. the (t1+1)-th consecutive second for band 1. The timer resets to 0 on
  the first second at or below the band's threshold.
- Current mode: X is the largest of the three phase currents, so any phase can trip; one timer per band
  (not per phase) — the two readings differ only when an overload moves from one phase to another.
- Power mode: X is the total active import P+ (W) of all phases.
- k = 0 or X_d = 0 is taken literally: the threshold is 0, so any load trips after the band's hold time.
- Automatic reconnection: while the breaker is open no current flows, so the meter cannot see whether
  the household would still overload ("once X < limit" cannot be measured). The model retries:
  `reconnect_delay_s` after the trip it asks for a reconnection; if the load is still too high, the
  ordinary trip rule opens the breaker again (after t1 s at the k1 level at the earliest), and the next
  attempt follows `reconnect_delay_s` after that trip. Unlimited retries. The delay is at least 5 s, the
  spec's minimum reconnection time (§5.2). Without auto_reconnect the breaker stays open until another
  reconnect path (button, remote) closes it.
- The machine believes the breaker follows its own actions. The meter may pass `closed=` (the real
  breaker position) to override that belief, e.g. when another path opened or closed the breaker or the
  breaker refused a reconnection (a refused attempt is retried `reconnect_delay_s` later).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Basis = Literal["none", "current", "power"]
ActionKind = Literal["disconnect", "reconnect"]

LIMIT_MAX_A = 80.0  # 1.1.128.0.13.255: 0–80 A in current mode
LIMIT_MAX_W = 80_000.0  # ... or 0–80 kW in power mode
K_MAX = 9.9  # 1.1.128.0.2/.3/.4.255
T_MAX_S = 65_535  # 1.1.128.0.5/.6/.7.255
MIN_RECONNECT_S = 5  # §5.2 minimum reconnection time, whatever the path


@dataclass(frozen=True, slots=True)
class Action:
    """A breaker operation a state machine asks the meter to carry out."""

    kind: ActionKind
    reason: str  # "smart_disconnect" | "prepayment"
    detail: str = ""  # human-readable why, for the disconnect/connect logger


class SmartDisconnectSettings(BaseModel):
    """Smart-disconnect parameters. Z9 = 000 is basis "none" (the factory default, function off)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis: Basis = Field("none", description="none (Z9 000), current (per phase, A) or power (total P+, W)")
    limit: float | None = Field(
        None, description="X_d: 0–80 A (basis current) or 0–80,000 W (basis power); required unless basis is none"
    )
    # Defaults are illustrative (inferred): the Z9 001 "default" set is unpublished order-form data.
    k1: float = Field(1.5, ge=0.0, le=K_MAX, description="band 1 factor, 0–9.9")
    k2: float = Field(1.2, ge=0.0, le=K_MAX, description="band 2 factor, 0–9.9")
    k3: float = Field(1.0, ge=0.0, le=K_MAX, description="band 3 factor, 0–9.9")
    t1: int = Field(10, ge=0, le=T_MAX_S, description="band 1 hold time, 0–65535 s")
    t2: int = Field(50, ge=0, le=T_MAX_S, description="band 2 extra hold time, 0–65535 s")
    t3: int = Field(240, ge=0, le=T_MAX_S, description="band 3 extra hold time, 0–65535 s")
    auto_reconnect: bool = Field(False, description="retry the reconnection automatically after a trip")
    reconnect_delay_s: int = Field(
        60, ge=MIN_RECONNECT_S, le=T_MAX_S, description="seconds from a trip to the automatic reconnection attempt"
    )

    @model_validator(mode="after")
    def _check(self) -> SmartDisconnectSettings:
        if self.basis != "none":
            unit, top = ("A", LIMIT_MAX_A) if self.basis == "current" else ("W", LIMIT_MAX_W)
            if self.limit is None:
                raise ValueError(f"limit (X_d) is required when basis is {self.basis!r}: 0–{top:g} {unit}")
            if not 0.0 <= self.limit <= top:
                raise ValueError(f"limit (X_d) must be 0–{top:g} {unit} when basis is {self.basis!r}, got {self.limit}")
        if not self.t1 <= self.t2 <= self.t3:
            raise ValueError(f"hold times must satisfy t1 ≤ t2 ≤ t3, got t1={self.t1}, t2={self.t2}, t3={self.t3}")
        if not self.k3 <= self.k2 <= self.k1:
            raise ValueError(f"factors must satisfy k3 ≤ k2 ≤ k1, got k1={self.k1}, k2={self.k2}, k3={self.k3}")
        return self

    @property
    def thresholds(self) -> tuple[float, float, float]:
        """X_d·k1, X_d·k2, X_d·k3 in A or W."""
        x_d = self.limit or 0.0
        return (x_d * self.k1, x_d * self.k2, x_d * self.k3)

    @property
    def hold_times(self) -> tuple[int, int, int]:
        """Cumulative hold times of the bands: t1, t1+t2, t1+t2+t3 (s)."""
        return (self.t1, self.t1 + self.t2, self.t1 + self.t2 + self.t3)


class SmartDisconnect:
    """Tracks the three band timers and the trip/retry cycle; see the module docstring for the rules."""

    def __init__(self, settings: SmartDisconnectSettings) -> None:
        self.settings = settings
        self.held: list[int] = [0, 0, 0]  # consecutive seconds above each band's threshold
        self.tripped = False  # the breaker is open because of this function
        self.tripped_at: int | None = None
        self.next_attempt: int | None = None  # time of the next automatic reconnection attempt
        self.closed = True  # what this machine believes about the breaker

    @property
    def enabled(self) -> bool:
        return self.settings.basis != "none"

    def step(
        self, t: int, currents: tuple[float, float, float], p_plus: float, *, closed: bool | None = None
    ) -> Action | None:
        """One second ending at t, with the 1-s RMS phase currents (A) and total P+ (W) of that second."""
        if closed is not None:
            self.closed = closed
        if not self.enabled:
            self.held = [0, 0, 0]
            return None
        s = self.settings
        if not self.closed:
            self.held = [0, 0, 0]  # no current flows through an open breaker
            if self.tripped and s.auto_reconnect and self.next_attempt is not None and t >= self.next_attempt:
                self.next_attempt = t + s.reconnect_delay_s  # in case the breaker refuses this attempt
                self.closed = True
                waited = t - (self.tripped_at if self.tripped_at is not None else t)
                return Action("reconnect", "smart_disconnect", f"automatic retry {waited} s after the trip")
            return None
        if self.tripped:  # closed again, by our retry or by another reconnect path
            self.tripped = False
            self.next_attempt = None
        x = max(currents) if s.basis == "current" else p_plus
        unit = "A" if s.basis == "current" else "W"
        trip: Action | None = None
        for band, (threshold, hold) in enumerate(zip(s.thresholds, s.hold_times, strict=True)):
            self.held[band] = self.held[band] + 1 if x > threshold else 0
            if trip is None and self.held[band] > hold:
                trip = Action(
                    "disconnect",
                    "smart_disconnect",
                    f"band {band + 1}: {x:g} {unit} > {threshold:g} {unit} for {self.held[band]} s (> {hold} s)",
                )
        if trip is not None:
            self.tripped, self.tripped_at, self.closed = True, t, False
            self.next_attempt = t + s.reconnect_delay_s if s.auto_reconnect else None
            self.held = [0, 0, 0]
        return trip

    # --- permanent memory --------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "held": list(self.held),
            "tripped": self.tripped,
            "tripped_at": self.tripped_at,
            "next_attempt": self.next_attempt,
            "closed": self.closed,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.held = [int(x) for x in state["held"]][:3]
        self.tripped = bool(state["tripped"])
        self.tripped_at = None if state["tripped_at"] is None else int(state["tripped_at"])
        self.next_attempt = None if state["next_attempt"] is None else int(state["next_attempt"])
        self.closed = bool(state["closed"])
        if self.tripped and self.settings.auto_reconnect and self.next_attempt is None and self.tripped_at is not None:
            # saved under settings without auto_reconnect: first attempt counts from the trip (inferred)
            self.next_attempt = self.tripped_at + self.settings.reconnect_delay_s
