"""Software prepayment, spec §5.5 and the Prepayment state machine of §13.

States: OFF · CREDIT_OK · ZERO_DEFERRED (at 0, disconnection deferred by a friendly period, breaker still
closed) · ZERO_DISCONNECTED (at 0, breaker opened, cause prepayment) · EMERGENCY_LIMITED (emergency supply
after 0: reconnected while the load stays below I_exception / P_exception, for at most t_prepayment days)
· EXPIRED (emergency time used up: off until a top-up).

Registers (display 130.0.0 / 130.0.1; OBIS 0.130.0 / 0.130.1, see §12 on the conflict):
- A14prepayment (`remaining`): loaded by top-ups, counts down with A+ consumption, never below 0.
- A14prepayment,credit (`credit`): consumption while at 0 (deferred, emergency); cleared only by a top-up.
Both are kept as one signed `balance` = remaining − credit, so remaining = max(balance, 0) and
credit = max(−balance, 0): neither can go negative and at most one of them is non-zero.

Modelling choices (all (inferred) unless the spec is quoted):
- Units. The OMNIPOWER holds kWh only ("total energy only; mutually exclusive with tariffs"): unit "kWh",
  the default, is the meter. unit "currency" is a simulator extension (the project issue asks for
  "credit (currency or energy), consumption priced by tariff"): both registers then hold money and each
  second's A+ energy is priced at `prices[tariff]` per kWh. Because pricing per tariff needs the tariffs,
  `check_compatible` lets tariff control coexist with prepayment only in currency mode.
- Top-up: new value = added − credit (spec). When the top-up does not cover the credit, the register shows
  0 and the unpaid rest stays in the credit register (rather than a negative A14prepayment): the result
  is ≤ 0 and the meter stays off (spec). Top-ups while prepayment is OFF are refused.
- The crossing to 0 happens inside a second: the part of that second's consumption beyond the remaining
  value goes to the credit register, so remaining − credit always falls by exactly the consumption.
- Friendly periods defer only the zero-credit disconnection. The disconnection is allowed when (working
  days only is off, or today is a working day) and (there is no daily window, or local time is outside
  it). The window [start, end) is in local wall time with 1-min resolution and may cross midnight
  (22:00–08:00); at `end` the disconnection happens. `consume` must be called every second, also with
  0 Wh, so a deferred disconnection happens at the first allowed second.
- Emergency supply is configured when emergency_limit > 0 and t_prepayment_days > 0. Its load cannot be
  measured while the breaker is open, so it starts on request (`request_emergency`: the consumer's button
  or the head-end) from ZERO_DISCONNECTED. The t_prepayment-day timer starts at the first request after
  the balance reached 0 and is not restarted by later requests; only a top-up that restores the balance
  to > 0 resets it. While EMERGENCY_LIMITED the 1-s load (max phase current in A, or total P+ in W, by
  `emergency_basis`) must stay below the limit: at or above it the breaker opens at once
  (ZERO_DISCONNECTED; a new request may reconnect while time is left). When the time is up the state
  becomes EXPIRED and the breaker opens at once — friendly periods do not defer this second cut-off.
- Low-credit alarm: on when `remaining` falls below `low_credit` (strictly), off when a top-up lifts it to
  ≥ `low_credit`. low_credit = 0 disables it.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meter_sim.disconnect import LIMIT_MAX_A, LIMIT_MAX_W, Action
from meter_sim.refusals import MeterRefused

PrepaymentState = Literal["OFF", "CREDIT_OK", "ZERO_DEFERRED", "ZERO_DISCONNECTED", "EMERGENCY_LIMITED", "EXPIRED"]
OFF: PrepaymentState = "OFF"
CREDIT_OK: PrepaymentState = "CREDIT_OK"
ZERO_DEFERRED: PrepaymentState = "ZERO_DEFERRED"
ZERO_DISCONNECTED: PrepaymentState = "ZERO_DISCONNECTED"
EMERGENCY_LIMITED: PrepaymentState = "EMERGENCY_LIMITED"
EXPIRED: PrepaymentState = "EXPIRED"
STATES: tuple[PrepaymentState, ...] = (OFF, CREDIT_OK, ZERO_DEFERRED, ZERO_DISCONNECTED, EMERGENCY_LIMITED, EXPIRED)
_OPEN_STATES = (ZERO_DISCONNECTED, EXPIRED)  # the breaker is (to be) open because of prepayment

T_PREPAYMENT_MAX_DAYS = 255  # 1.1.128.0.9.255
TARIFFS = range(1, 9)  # T1..T8
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class PrepaymentRefused(MeterRefused):
    """A prepayment request the present state or configuration does not allow."""


@dataclass(frozen=True, slots=True)
class PrepaymentEvent:
    """A state change or a low-credit alarm edge, for the event log and the alarm push."""

    time: int
    kind: Literal["state", "low_credit"]
    state: PrepaymentState  # the state after the event
    active: bool | None = None  # low_credit: alarm on (True) / off (False)
    remaining: float = 0.0
    credit: float = 0.0


class PrepaymentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="prepayment on (default off, switched by a supporting head-end)")
    unit: Literal["kWh", "currency"] = Field("kWh", description="kWh (the meter) or currency (simulator extension)")
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code shown with unit 'currency'")
    prices: dict[int, float] = Field(
        default_factory=dict, description="currency per kWh for each tariff 1–8; only with unit 'currency'"
    )
    initial_value: float = Field(0.0, ge=0.0, description="A14prepayment when the meter starts, in `unit`")
    low_credit: float = Field(5.0, ge=0.0, description="low-credit alarm below this remaining value, in `unit`")
    emergency_basis: Literal["current", "power"] = Field("current", description="meaning of emergency_limit")
    emergency_limit: float = Field(
        0.0, description="I_exception 0–80 A or P_exception 0–80,000 W (1.1.128.0.12.255); 0 = no emergency supply"
    )
    t_prepayment_days: int = Field(
        0, ge=0, le=T_PREPAYMENT_MAX_DAYS, description="emergency supply at most this many days (0–255; 0 = none)"
    )
    friendly_working_days_only: bool = Field(False, description="disconnect on working days only")
    friendly_start: str | None = Field(None, description="start of the daily no-disconnection window, local HH:MM")
    friendly_end: str | None = Field(None, description="end of the daily no-disconnection window, local HH:MM")

    @field_validator("friendly_start", "friendly_end")
    @classmethod
    def _check_hhmm(cls, value: str | None) -> str | None:
        if value is not None and not _HHMM.match(value):
            raise ValueError(f"friendly window time {value!r} is not HH:MM (00:00–23:59)")
        return value

    @model_validator(mode="after")
    def _check(self) -> PrepaymentSettings:
        if (self.friendly_start is None) != (self.friendly_end is None):
            raise ValueError("friendly_start and friendly_end must be given together (e.g. '22:00' and '08:00')")
        if self.friendly_start is not None and self.friendly_start == self.friendly_end:
            raise ValueError(f"friendly_start and friendly_end must differ, both are {self.friendly_start!r}")
        unit, top = ("A", LIMIT_MAX_A) if self.emergency_basis == "current" else ("W", LIMIT_MAX_W)
        if not 0.0 <= self.emergency_limit <= top:
            raise ValueError(
                f"emergency_limit must be 0–{top:g} {unit} when emergency_basis is {self.emergency_basis!r}, "
                f"got {self.emergency_limit}"
            )
        if self.unit == "currency":
            if not self.prices:
                raise ValueError("prices (currency per kWh for each tariff 1–8) are required when unit is 'currency'")
            for tariff, price in self.prices.items():
                if tariff not in TARIFFS:
                    raise ValueError(f"prices: tariff {tariff} is not 1–8")
                if not (math.isfinite(price) and price >= 0.0):
                    raise ValueError(f"prices: tariff {tariff} price must be a finite number ≥ 0, got {price}")
        elif self.prices:
            raise ValueError("prices apply only when unit is 'currency'; the kWh unit counts energy")
        for name in ("initial_value", "low_credit"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number ≥ 0")
        return self

    @property
    def emergency_configured(self) -> bool:
        return self.emergency_limit > 0.0 and self.t_prepayment_days > 0

    @property
    def window(self) -> tuple[int, int] | None:
        """The friendly window as (start, end) minutes of the local day, or None."""
        if self.friendly_start is None or self.friendly_end is None:
            return None
        return _minutes(self.friendly_start), _minutes(self.friendly_end)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class Prepayment:
    def __init__(self, settings: PrepaymentSettings) -> None:
        self.settings = settings
        self.balance = settings.initial_value  # remaining − credit, in settings.unit
        self.state: PrepaymentState = self._idle_state()
        self.low_credit_alarm = False
        self.emergency_since: int | None = None
        self.events: list[PrepaymentEvent] = []

    # --- registers ---------------------------------------------------------------------------
    @property
    def remaining(self) -> float:
        """A14prepayment (display 130.0.0): counts down to 0, in settings.unit."""
        return max(self.balance, 0.0)

    @property
    def credit(self) -> float:
        """A14prepayment,credit (display 130.0.1): consumed while at 0, in settings.unit."""
        return max(-self.balance, 0.0)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def holds_breaker_open(self) -> bool:
        """True while prepayment keeps the breaker open: other reconnect paths should be refused."""
        return self.state in _OPEN_STATES

    @property
    def emergency_until(self) -> int | None:
        if self.emergency_since is None:
            return None
        return self.emergency_since + self.settings.t_prepayment_days * 86_400

    def check_compatible(self, has_breaker: bool, is_ct: bool, tariff_control_on: bool) -> None:
        """Raise ValueError when prepayment is on in a meter that cannot have it (§5.5, §2.8)."""
        if not self.enabled:
            return
        if not has_breaker:
            raise ValueError("prepayment needs a meter with a breaker (X10 = 2 or 3)")
        if is_ct:
            raise ValueError("prepayment is for direct meters only, not CT meters")
        if tariff_control_on and self.settings.unit == "kWh":
            raise ValueError(
                "prepayment and tariffs are mutually exclusive: switch tariff control off (Z13 = 000), "
                "or use the simulator's currency unit, which prices consumption per tariff"
            )

    # --- inputs ------------------------------------------------------------------------------
    def consume(
        self,
        t: int,
        wh: float,
        local: datetime,
        working_day: bool,
        load_a: float,
        load_w: float,
        tariff: int = 1,
    ) -> list[Action]:
        """One second ending at t: `wh` of A+ energy, the local wall time, whether today is a working day,
        the 1-s load (max phase current A, total P+ W) and the active tariff."""
        if not (math.isfinite(wh) and wh >= 0.0):
            raise ValueError(f"consumed energy must be a finite number of Wh ≥ 0, got {wh}")
        if self.state == OFF:
            return []
        self.balance -= self._price(wh, tariff)
        actions: list[Action] = []
        state = self.state
        if state in (CREDIT_OK, ZERO_DEFERRED) and self.balance <= 0.0:
            if self._disconnect_allowed(local, working_day):
                self._move(t, ZERO_DISCONNECTED)
                actions.append(Action("disconnect", "prepayment", "credit is 0"))
            elif state == CREDIT_OK:
                self._move(t, ZERO_DEFERRED)
        elif state == EMERGENCY_LIMITED:
            until = self.emergency_until
            load, limit, unit = self._emergency_load(load_a, load_w)
            if until is not None and t >= until:
                self._move(t, EXPIRED)
                days = self.settings.t_prepayment_days
                actions.append(Action("disconnect", "prepayment", f"emergency supply used up ({days} days)"))
            elif load >= limit:
                self._move(t, ZERO_DISCONNECTED)
                actions.append(
                    Action("disconnect", "prepayment", f"emergency load {load:g} {unit} ≥ {limit:g} {unit}")
                )
        elif state in _OPEN_STATES:
            until = self.emergency_until
            if state == ZERO_DISCONNECTED and until is not None and t >= until:
                self._move(t, EXPIRED)
            if wh > 0.0:  # energy flows although prepayment holds the breaker open: open it again
                actions.append(Action("disconnect", "prepayment", "load while credit is 0"))
        self._check_low_credit(t)
        return actions

    def top_up(self, t: int, amount: float) -> list[Action]:
        """Add `amount` (in settings.unit): new value = amount − credit. Reconnects when restored > 0."""
        if not (math.isfinite(amount) and amount >= 0.0):
            raise ValueError(f"top-up amount must be a finite number ≥ 0, got {amount}")
        if self.state == OFF:
            raise PrepaymentRefused("prepayment is off: a top-up has nothing to load")
        self.balance += amount
        actions: list[Action] = []
        if self.balance > 0.0:
            self.emergency_since = None
            if self.state in _OPEN_STATES:
                actions.append(Action("reconnect", "prepayment", "credit restored by top-up"))
            if self.state != CREDIT_OK:
                self._move(t, CREDIT_OK)
        if self.low_credit_alarm and self.remaining >= self.settings.low_credit:
            self.low_credit_alarm = False
            self._event(t, "low_credit", False)
        return actions

    def request_emergency(self, t: int) -> list[Action]:
        """Emergency supply after 0 (consumer's button or head-end): reconnect, load-limited."""
        s = self.settings
        if not s.emergency_configured:
            raise PrepaymentRefused("no emergency supply is configured (emergency_limit and t_prepayment_days > 0)")
        if self.state == EXPIRED:
            raise PrepaymentRefused(f"the emergency supply of {s.t_prepayment_days} days is used up: top up first")
        if self.state != ZERO_DISCONNECTED:
            raise PrepaymentRefused(f"emergency supply is only for a meter disconnected at 0 credit (now {self.state})")
        if self.emergency_since is None:
            self.emergency_since = t
        until = self.emergency_until
        if until is not None and t >= until:
            self._move(t, EXPIRED)
            raise PrepaymentRefused(f"the emergency supply of {s.t_prepayment_days} days is used up: top up first")
        self._move(t, EMERGENCY_LIMITED)
        return [Action("reconnect", "prepayment", "emergency supply")]

    def drain_events(self) -> list[PrepaymentEvent]:
        events, self.events = self.events, []
        return events

    # --- internals ---------------------------------------------------------------------------
    def _idle_state(self) -> PrepaymentState:
        if not self.settings.enabled:
            return OFF
        return CREDIT_OK if self.balance > 0.0 else ZERO_DEFERRED  # at 0: disconnect at the first allowed second

    def _price(self, wh: float, tariff: int) -> float:
        kwh = wh / 1000.0
        if self.settings.unit == "kWh":
            return kwh
        price = self.settings.prices.get(tariff)
        if price is None:
            raise ValueError(f"no price for tariff {tariff}: prices cover tariffs {sorted(self.settings.prices)}")
        return kwh * price

    def _disconnect_allowed(self, local: datetime, working_day: bool) -> bool:
        s = self.settings
        if s.friendly_working_days_only and not working_day:
            return False
        window = s.window
        if window is None:
            return True
        start, end = window
        minute = local.hour * 60 + local.minute
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        return not inside

    def _emergency_load(self, load_a: float, load_w: float) -> tuple[float, float, str]:
        s = self.settings
        if s.emergency_basis == "current":
            return load_a, s.emergency_limit, "A"
        return load_w, s.emergency_limit, "W"

    def _check_low_credit(self, t: int) -> None:
        if not self.low_credit_alarm and self.remaining < self.settings.low_credit:
            self.low_credit_alarm = True
            self._event(t, "low_credit", True)

    def _move(self, t: int, new: PrepaymentState) -> None:
        self.state = new
        self._event(t, "state", None)

    def _event(self, t: int, kind: Literal["state", "low_credit"], active: bool | None) -> None:
        self.events.append(PrepaymentEvent(t, kind, self.state, active, self.remaining, self.credit))

    # --- permanent memory --------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "balance": self.balance,
            "state": self.state,
            "low_credit_alarm": self.low_credit_alarm,
            "emergency_since": self.emergency_since,
            "events": [asdict(e) for e in self.events],
        }

    def restore(self, state: dict[str, Any]) -> None:
        balance = float(state["balance"])
        if not math.isfinite(balance):
            raise ValueError(f"prepayment balance in the saved state is not a finite number: {balance}")
        self.balance = balance
        saved = state["state"]
        if saved not in STATES:
            raise ValueError(f"prepayment state {saved!r} is not one of {', '.join(STATES)}")
        # Settings may have changed between save and restart: switched off → OFF; switched on → from the balance.
        self.state = saved if self.settings.enabled and saved != OFF else self._idle_state()
        self.low_credit_alarm = bool(state["low_credit_alarm"])
        self.emergency_since = None if state["emergency_since"] is None else int(state["emergency_since"])
        self.events = [PrepaymentEvent(**e) for e in state.get("events", [])]
