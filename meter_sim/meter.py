"""The simulated OMNIPOWER meter: one object that steps its physics and metrology in 1-second
steps on an injected clock, and answers commands.

Same settings, seed and clock → same registers: every random draw comes from generators seeded by
`settings.seed`, steps always fall on whole seconds, and advancing in small or large chunks runs
the very same steps.
"""

from __future__ import annotations

from typing import Any

from meter_sim.alarms import AlarmEvent, Alarms
from meter_sim.billing import is_debiting_stop, is_logger2_due
from meter_sim.breaker import Action, Breaker, BreakerChange, BreakerState
from meter_sim.clock import Clock
from meter_sim.config import MeterSimSettings
from meter_sim.demand import ENERGY_OF, Demand, Peak
from meter_sim.grid import Grid
from meter_sim.household import Household
from meter_sim.load_control import LoadControl, RelayChange, RelayState
from meter_sim.loggers import (
    OVERVOLTAGE_LIMIT_V,
    POWER_FAILURE,
    UNDERVOLTAGE_LIMIT_V,
    BillingLog,
    EventLogs,
    LoadProfile,
    lp_channels_for_energy_type,
    voltage_status,
)
from meter_sim.metrology import ENERGY_KEYS, INSTANT_KEYS, Metrology
from meter_sim.power_quality import NO_EVENTS, PowerQuality, PqEvent
from meter_sim.tariffs import Tariffs, TariffSchedule
from meter_sim.zcodes import z7_stop_months
from omnipower.registers import REGISTERS_BY_KEY, Register, registers_for
from omnipower.rtc import Rtc

STATE_VERSION = 1
MeterEvent = AlarmEvent | BreakerChange | RelayChange
_Z19_POSITION: dict[int, BreakerState] = {0: "connected", 1: "connected", 2: "disconnected"}


class Meter:
    def __init__(
        self,
        meter_id: str,
        settings: MeterSimSettings,
        clock: Clock,
        state: dict[str, Any] | None = None,
        energy_type: int | None = None,
        logs: dict[str, Any] | None = None,
    ) -> None:
        self.id = meter_id
        self.settings = settings
        self.clock = clock
        energy_type = settings.type.energy_type if energy_type is None else energy_type  # X9
        self.energy_type = energy_type
        self.registers: tuple[Register, ...] = registers_for(energy_type)
        self.rtc = Rtc(settings.z11, settings.z15)
        self.household = Household(settings.household, settings.seed)
        self.grid = Grid(settings.seed)
        self.tariffs = Tariffs(TariffSchedule(settings.tariff_schedule))
        self.metrology = Metrology()
        self.alarms = Alarms()
        b = settings.breaker
        self.breaker = Breaker(
            _Z19_POSITION[settings.z19],
            reason="delivery",
            push_button_requires_release=b.push_button_requires_release,
            min_reconnect_delay_s=b.min_reconnect_delay_s,
        )
        self.load_control = LoadControl(settings.z14)
        self.period_s = settings.integration_period_s
        self.demand = Demand(self.period_s, settings.power_threshold_w)
        self.debiting_periods = 0
        self.stop_months = z7_stop_months(settings.z7)
        self.load_profile = LoadProfile(self.period_s, lp_channels_for_energy_type(energy_type))
        self.billing = BillingLog.monthly()  # 1.1.98.1.0.255, at each debiting stop
        self.billing2 = BillingLog.debiting2()  # 1.1.98.2.0.255, daily/weekly/monthly (Z25)
        self.logs = EventLogs()
        self.logs_revision = 0  # rises whenever a logger is written (so the logs are saved only then)
        self.pq = PowerQuality(settings.power_quality, standard_offset=self.rtc.standard_offset)
        self._restore_when_allowed: set[str] = set()  # protection trips cleared, waiting for the 5 s minimum
        self._lp_status = 0
        self.powered_s = 0.0
        self.events: list[MeterEvent] = []
        self.t = int(clock.now())
        if logs is not None:
            self._restore_logs(logs)
        if state is not None:
            self._restore(state)
        self.breaker.changed_at = self.breaker.changed_at or float(self.t)
        self._minute(self.t - self.t % 60, tick=False)
        self.demand.start(self._energies())
        self._measure()

    def _measure(self) -> None:
        """Instantaneous values of the present second, without registering energy."""
        hh = self.household
        hh.compose(self.t)
        self.grid.compose(hh.p if self.breaker.closed else _ZERO3)
        self.metrology.step(0.0, self.grid.u, hh.p, hh.q, self.breaker.closed, self.grid.f, self.tariffs.active)

    # --- time --------------------------------------------------------------------------------
    def update(self) -> None:
        """Advance to the clock's present time."""
        self.advance_to(self.clock.now())

    def advance_to(self, t: float) -> None:
        while self.t + 1 <= t:
            self.step()

    def step(self) -> None:
        """One 1-second measurement interval, ending at self.t + 1."""
        t = self.t + 1
        self.t = t
        hh = self.household
        hh.step(t)
        self.grid.step(hh.p if self.breaker.closed else _ZERO3)
        m = self.metrology
        m.step(1.0, self.grid.u, hh.p, hh.q, self.breaker.closed, self.grid.f, self.tariffs.active)
        if m.powered:
            self.powered_s += 1.0
        else:
            self._lp_status |= POWER_FAILURE
        u = self.grid.u
        if m.powered and not (min(u) >= UNDERVOLTAGE_LIMIT_V and max(u) <= OVERVOLTAGE_LIMIT_V):
            self._lp_status |= voltage_status(max(u)) | voltage_status(min(u))
        self.alarms.check_voltages(t, u, self.events)  # type: ignore[arg-type]
        pq_events = self.pq.step(t, u, self.grid.f)
        if pq_events is not NO_EVENTS:
            self._power_quality(pq_events)
        if self._restore_when_allowed:
            self._retry_restore()
        if t % self.period_s == 0:
            self._end_of_period(t)
        if t % 60 == 0:  # switch points take effect for the seconds after them
            self._minute(t)
            if (t + self.rtc.standard_offset) % 86400 == 0:
                self._midnight(t)

    def _minute(self, t: int, tick: bool = True) -> None:
        wall = self.rtc.wall_time(t)
        hour = wall.hour + wall.minute / 60.0
        self.tariffs.update(wall.hour * 60 + wall.minute)
        self.household.minute(t, hour, wall.weekday(), wall.timetuple().tm_yday, tick)
        self.grid.minute(hour)

    def _end_of_period(self, t: int) -> None:
        local_day = (t - self.period_s + self.rtc.standard_offset) // 86400  # the day the period ran in
        self.demand.end_of_period(t, self._energies(), self.tariffs.active, local_day)
        # Each entry holds the energy registered in its period (kWh / kvarh), so the entries sum to
        # the register's growth over the span the profile still holds.
        registered = self.demand.period_energy
        values = {obis: registered[key] / 1000.0 for obis, key in _LP_CHANNELS.items()}
        self.load_profile.record(t, values, self._lp_status)
        self.logs_revision += 1
        self._lp_status = 0

    def _power_quality(self, events: list[PqEvent]) -> None:
        """Log EN 50160 events; act on the protection functions' requests (§5.4, §7.9)."""
        for e in events:
            if e.type == "action":
                self._protection(e)
                continue
            log = "neutral_fault" if e.type.startswith("neutral_fault") else "voltage_quality"
            self._log(log, e.t, e.type, phase=e.phase, **e.detail)
            if log == "neutral_fault":
                self.events.append(AlarmEvent(float(e.t), "neutral_fault", e.type.endswith("start")))

    def _protection(self, e: PqEvent) -> None:
        reason = str(e.detail.get("reason"))
        if e.detail.get("action") == "disconnect":
            self._restore_when_allowed.discard(reason)
            self._breaker_change(self.breaker.trip(reason, float(self.t)))
        else:
            self._restore_when_allowed.add(reason)
            self._retry_restore()

    def _retry_restore(self) -> None:
        for reason in sorted(self._restore_when_allowed):
            if self.breaker.state != "disconnected" or self.breaker.reason != reason:
                self._restore_when_allowed.discard(reason)  # closed (or opened again) some other way
                continue
            change = self.breaker.restore_after(reason, float(self.t))
            if change is not None:
                self._restore_when_allowed.discard(reason)
                self._breaker_change(change)

    def _breaker_change(self, change: BreakerChange | None) -> None:
        if change is not None:
            self.events.append(change)
            self._log("disconnect", self.t, change.new, reason=change.reason, previous=change.old)

    def _log(self, name: str, t: int, type: str, /, **detail: Any) -> None:
        """Write an event logger entry (and mark the logs for saving)."""
        self.logs.log(name, t, type, **detail)
        self.logs_revision += 1

    def _midnight(self, t: int) -> None:
        """00:00 local standard time: the scheduled debiting stop (Z6/Z7) and debiting logger 2 (Z25)."""
        day = self.rtc.standard_time(t).replace(tzinfo=None)
        if is_debiting_stop(day, self.settings.z6, self.stop_months):
            self.debiting_stop("schedule")
        self._log("occurrence_counters", t, "snapshot", **self.pq.counters())  # (inferred) daily at midnight
        if is_logger2_due(day, self.settings.z25):
            self.billing2.snapshot(t, self._snapshot(_LOGGER2_KEYS))
            self.logs_revision += 1

    def _energies(self) -> dict[str, float]:
        return dict(zip(ENERGY_KEYS, self.metrology.energy, strict=True))

    def debiting_stop(self, reason: str = "command") -> None:
        """Close a debiting period (spec §4.2): count it, add the peaks to the accumulated registers,
        write the snapshot to the monthly debiting logger, reset the peaks."""
        self.debiting_periods += 1
        self.demand.debiting_stop()
        self.billing.snapshot(self.t, self._snapshot(_BILLING_KEYS))
        self.demand.reset_peaks()
        self._log("meter_status", self.t, "debiting_stop", reason=reason, period=self.debiting_periods)

    def _snapshot(self, keys: tuple[str, ...]) -> dict[str, float | int | str | None]:
        """Registers by OBIS display code, in published units (peak times included as `C.D.E.t`)."""
        readings = self.readings()
        return {REGISTERS_BY_KEY[k].obis: readings[k] for k in keys if k in readings}

    # --- commands ----------------------------------------------------------------------------
    def breaker_command(self, action: Action) -> BreakerChange:
        """Operate the breaker now; raises BreakerRefused when the state does not allow it."""
        change = self.breaker.command(action, float(self.t))
        self._breaker_change(change)
        self._measure()  # currents and powers follow the contacts at once
        return change

    def set_tariff(self, tariff: int | None) -> None:
        self.tariffs.set_override(tariff)

    def set_phase_voltage(self, phase: int, volts: float | None) -> None:
        """Simulation input: force a phase voltage (None = back to the grid model)."""
        self.grid.override[phase - 1] = volts

    def load_control_command(self, relay: int, state: RelayState) -> RelayChange:
        """Switch a load-control relay; raises LoadControlRefused when Z14 does not allow it."""
        change = self.load_control.command(relay, state, float(self.t))
        self.events.append(change)
        self._log("meter_status", self.t, f"load_control_{relay}_{state}")
        return change

    def drain_events(self) -> list[MeterEvent]:
        events, self.events = self.events, []
        return events

    # --- readings ----------------------------------------------------------------------------
    def base_values(self) -> dict[str, float | int | str | None]:
        """Every reading in model units (Wh, W, V, A, s...), unrounded."""
        values: dict[str, float | int | str | None] = dict(zip(ENERGY_KEYS, self.metrology.energy, strict=True))
        values.update(zip(INSTANT_KEYS, self.metrology.instant, strict=True))
        d = self.demand
        for q in ENERGY_OF:
            peak = d.peak(q)
            values[f"{q}_max"] = peak.value
            values[f"{q}_max_time"] = self._iso(peak.time)
        for key in ("p_plus_t1", "p_plus_t2", "p_plus_t3", "p_plus_t4", "p_minus_t1", "p_minus_t2",
                    "q_plus_t1", "q_plus_t2"):
            q, tariff = key.rsplit("_", 1)
            values[f"{q}_max_{tariff}"] = d.peak(key).value
        for key, total in d.accumulated.items():  # p_plus → p_plus_max_acc, p_plus_t1 → p_plus_max_acc_t1
            q, _, tariff = key.partition("_t")
            values[f"{q}_max_acc" + (f"_t{tariff}" if tariff else "")] = total
        values["p_plus_mean"] = d.means["p_plus"]
        values["p_plus_daily_max"] = d.daily_max.value
        values["p_plus_daily_max_time"] = self._iso(d.daily_max.time)
        values["p_plus_daily_min"] = d.daily_min.value if d.daily_min is not None else 0.0
        values["p_plus_daily_min_time"] = self._iso(d.daily_min.time if d.daily_min is not None else None)
        values["power_threshold_counter"] = d.pth_counter
        values["debiting_periods"] = self.debiting_periods
        values["hour_counter"] = self.powered_s
        values["tariff"] = self.tariffs.active
        values["breaker"] = self.breaker.state
        values["load_control_1"], values["load_control_2"] = self.load_control.relays
        return values

    def _iso(self, t: float | None) -> str | None:
        return None if t is None else self.rtc.iso(t)

    def readings(self) -> dict[str, float | int | str | None]:
        """The state the gateway publishes: `time` plus one key per register, in published units."""
        base = self.base_values()
        out: dict[str, float | int | str | None] = {"time": self.rtc.iso(self.t)}
        for reg in self.registers:
            value = base[reg.key]
            if isinstance(value, float):
                out[reg.key] = int(reg.publish(value)) if reg.key == "hour_counter" else reg.publish(value)
            else:
                out[reg.key] = value
        return out

    def register(self, key: str) -> float:
        """One energy register in its published unit (e.g. kWh), unrounded."""
        reg = REGISTERS_BY_KEY[key]
        return self.metrology.energy[ENERGY_KEYS.index(key)] / reg.kind.spec.base_per_unit

    # --- permanent memory --------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        b = self.breaker
        return {
            "version": STATE_VERSION,
            "t": self.t,
            "energy": dict(zip(ENERGY_KEYS, self.metrology.energy, strict=True)),
            "demand": self.demand.to_state(),
            "debiting_periods": self.debiting_periods,
            "powered_s": self.powered_s,
            "breaker": {"state": b.state, "reason": b.reason, "changed_at": b.changed_at,
                        "last_disconnect_at": b.last_disconnect_at},
            "tariff_override": self.tariffs.override,
            "load_control": self.load_control.to_state(),
            "alarms": self.alarms.to_state(),
            "power_quality": self.pq.to_state(),
            "restore_when_allowed": sorted(self._restore_when_allowed),
            "household": self.household.to_state(),
            "grid": self.grid.to_state(),
        }

    def logs_state(self) -> dict[str, Any]:
        """The loggers, kept apart from `to_state` because they are large and change only at period
        ends and events, while the registers are saved before every publication."""
        return {
            "version": STATE_VERSION,
            "load_profile": self.load_profile.to_state(),
            "billing": self.billing.to_state(),
            "billing2": self.billing2.to_state(),
            "events": self.logs.to_state(),
            "lp_status": self._lp_status,
        }

    def _restore_logs(self, logs: dict[str, Any]) -> None:
        if logs.get("version") != STATE_VERSION:
            raise ValueError(f"meter log version {logs.get('version')!r} is not {STATE_VERSION}")
        self.load_profile.restore(logs["load_profile"])
        self.billing.restore(logs["billing"])
        self.billing2.restore(logs["billing2"])
        self.logs.restore(logs["events"])
        self._lp_status = int(logs["lp_status"])

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"meter state version {state.get('version')!r} is not {STATE_VERSION}")
        saved_t = int(state["t"])
        energy = state["energy"]
        self.metrology.energy = [float(energy.get(k, 0.0)) for k in ENERGY_KEYS]
        if "demand" in state:
            self.demand.restore(state["demand"])
        else:  # saved before the demand registers existed: keep the P+ peak
            value, when = state["peak"]
            self.demand.peaks["p_plus"] = Peak(float(value), None if when is None else int(when))
        self.debiting_periods = int(state.get("debiting_periods", 0))
        self.powered_s = float(state["powered_s"])
        b = state["breaker"]
        self.breaker.state = b["state"]
        self.breaker.reason = b["reason"]
        self.breaker.changed_at = float(b["changed_at"])
        self.breaker.last_disconnect_at = b["last_disconnect_at"]
        self.tariffs.override = state["tariff_override"]
        self.load_control.restore(state.get("load_control", ["off", "off"]))  # absent in early saves
        self.alarms.restore(state["alarms"])
        if "power_quality" in state:
            self.pq.restore(state["power_quality"])
        self._restore_when_allowed = set(state.get("restore_when_allowed", ()))
        self.household.restore(state["household"])
        self.grid.restore(state["grid"])
        # The meter was off between the save and now: nothing registers in the gap.
        if self.t > saved_t and self.t // self.period_s != saved_t // self.period_s:
            self.demand.restart(self._energies())
            self._lp_status |= POWER_FAILURE
        self.t = max(self.t, saved_t)


_ZERO3 = [0.0, 0.0, 0.0]
_LP_CHANNELS = {"1.8.0": "a_plus", "2.8.0": "a_minus", "3.8.0": "r_plus", "4.8.0": "r_minus"}
# Captured objects of the monthly debiting logger (spec §4.2) and of debiting logger 2 (§4.3)
_BILLING_KEYS = (
    "hour_counter", "debiting_periods", "power_threshold_counter",
    "a_plus", "a_minus", "r_plus", "r_minus", *(f"a_plus_t{t}" for t in (1, 2, 3, 4)),
    *(f"r_plus_t{t}" for t in (1, 2, 3, 4)), "e_plus", "e_minus",
    "p_plus_max", "p_plus_max_time", "p_plus_max_acc", "p_plus_max_acc_t1", "p_plus_max_acc_t2",
    "q_plus_max", "q_plus_max_time", "q_plus_max_acc", "p_plus_max_t1", "p_plus_max_t2",
    "q_plus_max_t1", "q_plus_max_t2", "s_plus_max", "s_plus_max_time", "s_minus_max", "s_minus_max_time",
)
_LOGGER2_KEYS = (
    "hour_counter", "a_plus", "a_minus", "r_plus", "r_minus",
    *(f"{q}_t{t}" for q in ("a_plus", "a_minus", "r_plus", "r_minus") for t in (1, 2, 3, 4)),
)
