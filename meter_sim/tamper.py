"""Tamper detection, spec §6.1 and the Tamper state machine of §13 (one machine per detector).

Detectors: "magnetic" (magnetic field) and "cover" (meter/terminal cover removed). Each start and end of a
cause is an event for the meter-status logger 1.1.99.98.2.255 and an optional push alarm.

States: NONE · ACTIVE_TEMP (cause present, temporary symbol mode) · LATCHED (permanent symbol mode: set by
the cause and kept after the cause has gone, until a head-end release command or PB2).
Symbol mode "temporary": the LCD tamper symbol clears with the cause. "permanent": it stays until released.

Modelling choices (inferred):
- In permanent mode the detector latches at the start of the cause (NONE → LATCHED); ACTIVE_TEMP is used
  only in temporary mode.
- A release while the cause is still present has no effect: the detector would latch again at once.
  A release in temporary mode, or of a detector that is not latched, has no effect either.
- Every change of the input is logged (start/end), also while latched; a release is logged as "released".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Detector = Literal["magnetic", "cover"]
DETECTORS: tuple[Detector, ...] = ("magnetic", "cover")
TamperState = Literal["NONE", "ACTIVE_TEMP", "LATCHED"]
NONE: TamperState = "NONE"
ACTIVE_TEMP: TamperState = "ACTIVE_TEMP"
LATCHED: TamperState = "LATCHED"
STATES: tuple[TamperState, ...] = (NONE, ACTIVE_TEMP, LATCHED)


@dataclass(frozen=True, slots=True)
class TamperEvent:
    time: int
    detector: Detector
    kind: Literal["start", "end", "released"]
    state: TamperState  # the detector's state after the event


class TamperSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol_mode: Literal["temporary", "permanent"] = Field(
        "temporary", description="temporary: symbol clears with the cause; permanent: latched until released"
    )


class TamperDetector:
    """One detector's state machine."""

    def __init__(self, detector: Detector, permanent: bool) -> None:
        self.detector: Detector = detector
        self.permanent = permanent
        self.input = False  # the cause is present now
        self.state: TamperState = NONE

    def set_input(self, t: int, active: bool) -> list[TamperEvent]:
        if active == self.input:
            return []
        self.input = active
        if active:
            self.state = LATCHED if self.permanent else ACTIVE_TEMP
            return [TamperEvent(t, self.detector, "start", self.state)]
        if not self.permanent:
            self.state = NONE
        return [TamperEvent(t, self.detector, "end", self.state)]

    def release(self, t: int) -> list[TamperEvent]:
        if self.state != LATCHED or self.input:
            return []
        self.state = NONE
        return [TamperEvent(t, self.detector, "released", self.state)]

    def normalize(self) -> None:
        """Make the state agree with the input and the symbol mode (after a restore under new settings)."""
        if self.permanent:
            if self.input or self.state != NONE:
                self.state = LATCHED
        else:
            self.state = ACTIVE_TEMP if self.input else NONE


class Tamper:
    """Both detectors, with the LCD tamper symbol."""

    def __init__(self, settings: TamperSettings | None = None) -> None:
        self.settings = settings or TamperSettings()
        permanent = self.settings.symbol_mode == "permanent"
        self.detectors: dict[Detector, TamperDetector] = {d: TamperDetector(d, permanent) for d in DETECTORS}

    def _get(self, detector: str) -> TamperDetector:
        for name, machine in self.detectors.items():
            if name == detector:
                return machine
        raise ValueError(f"tamper detector {detector!r} does not exist (detectors: {', '.join(DETECTORS)})")

    def set_input(self, t: int, detector: str, active: bool) -> list[TamperEvent]:
        """The detector's input at time t (simulation input: magnet applied, cover opened...)."""
        return self._get(detector).set_input(t, active)

    def release(self, t: int, detector: str | None = None) -> list[TamperEvent]:
        """Head-end release command (or PB2) for one detector, or for both when detector is None."""
        machines = list(self.detectors.values()) if detector is None else [self._get(detector)]
        return [event for m in machines for event in m.release(t)]

    def state(self, detector: str) -> TamperState:
        return self._get(detector).state

    @property
    def symbol_on(self) -> bool:
        """The LCD tamper symbol: on while any detector is active or latched."""
        return any(m.state != NONE for m in self.detectors.values())

    # --- permanent memory --------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {name: {"input": m.input, "state": m.state} for name, m in self.detectors.items()}

    def restore(self, state: dict[str, Any]) -> None:
        for name, saved in state.items():
            machine = self._get(name)
            if saved["state"] not in STATES:
                raise ValueError(f"tamper state {saved['state']!r} is not one of {', '.join(STATES)}")
            machine.input = bool(saved["input"])
            machine.state = saved["state"]
            machine.normalize()
