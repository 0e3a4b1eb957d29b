"""The load-control module's two relays (data sheet: "2-relay module, driven by stored plans … or by
remote on/off"; configuration code Z14: 000 off · 001 register · xxx table).

Modelled: Z14 = 000 (no load control: the relays stay open and commands are refused) and
Z14 = 001 (the relays follow the on/off register, set by remote command). The load-control tables
(xxx) are order-form contents Kamstrup does not publish, so the configuration refuses them.
The relays are latching like the breaker: their position survives a power loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from meter_sim.refusals import MeterRefused

RelayState = Literal["off", "on"]
RELAY_STATES: tuple[RelayState, RelayState] = ("off", "on")
RELAYS = (1, 2)


class LoadControlRefused(MeterRefused):
    """A load-control command the meter's configuration does not allow."""


@dataclass(frozen=True, slots=True)
class RelayChange:
    time: float
    relay: int  # 1 or 2
    old: RelayState
    new: RelayState


class LoadControl:
    def __init__(self, z14: int) -> None:
        self.z14 = z14
        self.relays: list[RelayState] = ["off", "off"]

    @property
    def enabled(self) -> bool:
        return self.z14 == 1

    def command(self, relay: int, state: RelayState, t: float) -> RelayChange:
        """Switch one relay; raises LoadControlRefused when load control is off or the relay unknown."""
        if not self.enabled:
            raise LoadControlRefused("load control is switched off in this meter (Z14 = 000)")
        if relay not in RELAYS:
            raise LoadControlRefused(f"relay {relay} does not exist (the module has relays 1 and 2)")
        if state not in RELAY_STATES:
            raise LoadControlRefused(f"relay state {state!r} is not 'on' or 'off'")
        change = RelayChange(t, relay, self.relays[relay - 1], state)
        self.relays[relay - 1] = state
        return change

    def to_state(self) -> list[str]:
        return list(self.relays)

    def restore(self, state: list[str]) -> None:
        self.relays = ["on" if s == "on" else "off" for s in state[:2]]
