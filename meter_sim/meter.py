"""The simulated OMNIPOWER meter: one object that steps its physics and metrology in 1-second
steps on an injected clock, and answers commands.

Same settings, seed and clock → same registers: every random draw comes from generators seeded by
`settings.seed`, steps always fall on whole seconds, and advancing in small or large chunks runs
the very same steps.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from meter_sim.alarms import AlarmEvent, Alarms
from meter_sim.billing import is_debiting_stop, is_logger2_due
from meter_sim.breaker import Action, Breaker, BreakerChange, BreakerRefused, BreakerState
from meter_sim.clock import Clock
from meter_sim.config import MeterSimSettings
from meter_sim.demand import Demand
from meter_sim.disconnect import Action as CutAction
from meter_sim.disconnect import SmartDisconnect
from meter_sim.display import ROM_ITEM, SW_ITEM, Display, LcdText, Symbols, render
from meter_sim.firmware import Firmware, FirmwareIdentity, factory_version
from meter_sim.grid import Grid
from meter_sim.harmonics import current_thd
from meter_sim.household import Household
from meter_sim.load_control import LoadControl, RelayChange, RelayState
from meter_sim.loggers import (
    CLOCK_ADJUSTED,
    OVERVOLTAGE_LIMIT_V,
    POWER_FAILURE,
    UNDERVOLTAGE_LIMIT_V,
    AnalysisLogger,
    BillingLog,
    EventLogs,
    LoadProfile,
    RingLog,
    lp_channels_for_energy_type,
    voltage_status,
)
from meter_sim.metrology import ENERGY_KEYS, INSTANT_KEYS, Metrology
from meter_sim.persistence import Field, Fields, Persistent, SavedOnly, optional_int
from meter_sim.power_quality import NO_EVENTS, PowerQuality, PqEvent
from meter_sim.prepayment import Prepayment, PrepaymentEvent
from meter_sim.pulse_outputs import PulseOutputs
from meter_sim.s0 import S0Output, z8_width_ms
from meter_sim.tamper import NONE as TAMPER_NONE
from meter_sim.tamper import Tamper, TamperEvent
from meter_sim.tariffs import Tariffs
from meter_sim.wiring import Accuracy, aron, fuse_limit
from meter_sim.zcodes import (
    z3_alarm_inverted,
    z3_has_alarm_input,
    z3_has_pulse_input,
    z3_pulse_outputs,
    z7_stop_months,
    z12_pulse_unit,
)
from omnipower.alarms import ALARMS_BY_TYPE, LOW_CREDIT, MODULE_ALARM_INPUT, NEUTRAL_FAULT, POWER_OUTAGE, Alarm
from omnipower.firmware_image import target_of_meter
from omnipower.registers import ALL_REGISTERS, REGISTERS_BY_KEY, REGISTERS_BY_OBIS, Register, meter_registers
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
        self.pulse_unit = z12_pulse_unit(settings.z12)
        self.has_pulse_input = z3_has_pulse_input(settings.z3)
        self.prepayment = _new_prepayment(self, settings)
        self.tariffs = _new_tariffs(self, settings)
        self.registers: tuple[Register, ...] = ()
        self._rebuild_registers()
        self.rtc = Rtc(settings.z11, settings.z15)
        self.household = Household(settings.household, settings.seed)
        self.grid = Grid(settings.seed)
        self.metrology = Metrology(settings.type.starting_threshold_w)
        kind = settings.type
        self.aron = kind.is_aron  # X4 = 2: two measuring systems on a 3-wire supply
        self.accuracy = Accuracy(kind.accuracy_class, kind.current, settings.accuracy.error_fraction, settings.seed)
        self._imax = kind.current.imax
        # A CT meter's Imax is the transformer's secondary current; the simulator has no CT ratio, so no fuse.
        self._fuse_check_va = math.inf if kind.is_ct else self._imax * _FUSE_CHECK_V
        self.alarms = Alarms(settings.power_quality)  # the voltage alarms supervise power quality's limits
        b = settings.breaker
        self.breaker = Breaker(
            _Z19_POSITION[settings.z19],
            reason="delivery",
            push_button_requires_release=b.push_button_requires_release,
            min_reconnect_delay_s=b.min_reconnect_delay_s,
        )
        self.load_control = LoadControl(settings.z14)
        self.smart_disconnect = _new_smart_disconnect(self, settings)
        self.tamper = _new_tamper(self, settings)
        self.display = _new_display(self, settings)
        self.firmware = _new_firmware(self, settings)
        s0_constant = settings.type.s0_imp_per_kwh
        self.s0 = S0Output(s0_constant, z8_width_ms(settings.z8)) if s0_constant is not None else None
        self._s0_wh = 0.0  # A+ energy not yet fed to the S0 output (fed every S0_FEED_S seconds)
        # Module pulse outputs, fed with the S0 output.
        self.pulse_outputs = PulseOutputs(settings.z3, settings.module_pulse_output_imp_per_kwh, settings.z8,
                                          self.metrology.energy)
        self.pulse_count = 0  # module pulse input
        self._pulse_second = (0, 0)  # (second, pulses counted in it): the input follows at most 25 Hz
        self.module_inputs = (False, False)
        a = settings.analysis_setup
        self.analysis = AnalysisLogger(a.channels, a.interval_s)
        self.clock_offset = 0  # meter clock − the injected clock, changed by set_time
        self.mono = 0  # seconds stepped since manufacture: a clock that never jumps (display, S0)
        self.neutral_lost = False  # simulation inputs: a broken neutral, an all-phase power cut
        self.outage = False
        self._powered = True
        self._down_since: int | None = None  # when the meter lost all phases (for the supercap's 7 days)
        self._clock_stopped_s = 0
        self._last_midnight = -1  # local day of the last midnight processed (a clock set back repeats none)
        self._thd_u = [0.0, 0.0, 0.0]
        self._wall = datetime.fromtimestamp(0)  # local wall time of the present minute (prepayment only)
        self._working_day = True
        self._thd_i = [0.0, 0.0, 0.0]  # before the analysis channels, which may average it (thd_i_lN)
        self._analysis_channels()
        self.period_s = settings.integration_period_s
        self.demand = Demand(self.period_s, settings.power_threshold_w)
        # base_vector's demand part, for (demand, its revision, rtc): see `_demand_vector`
        self._demand_kept: tuple[Demand | None, int, Rtc | None, tuple[float | int | str | None, ...]] = (
            None, -1, None, ())
        self.debiting_periods = 0
        self.stop_months = z7_stop_months(settings.z7)
        self.load_profile = LoadProfile(self.period_s, lp_channels_for_energy_type(energy_type))
        self.billing = BillingLog.monthly()  # the billing logger (§4.2), at each debiting stop
        self.billing2 = BillingLog.debiting2()  # debiting_logger_2 (§4.3), daily/weekly/monthly (Z25)
        self.logs = EventLogs()
        self.logs_revision = 0  # rises whenever a logger is written (so the logs are saved only then)
        self.scheduled: ScheduledChange | None = None  # a reconfiguration that waits for its time (schedule_change)
        self.pq = _new_power_quality(self, settings)
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
        if state is None:
            self.display.power_on(self.mono)
            if z3_has_alarm_input(settings.z3) and z3_alarm_inverted(settings.z3):
                self._alarm(MODULE_ALARM_INPUT, True)  # an inverted input alarms while no voltage is on it
        self._minute(self.t - self.t % 60, tick=False)
        self.demand.start(self._energies())
        self._measure()

    def _measure(self) -> None:
        """Instantaneous values of the present second, without registering energy."""
        hh = self.household
        hh.compose(self.t)
        self.grid.compose(hh.p if self.breaker.closed else _ZERO3)
        self._metrology_step(0.0, self._supply(), self.breaker.closed)

    def _metrology_step(self, dt: float, u: list[float], closed: bool) -> tuple[float, list[float]]:
        """Measure dt seconds of the household at supply voltages u as the measuring systems see it (see
        meter_sim/wiring.py): loads within the fuse (Imax), the Aron connection's line quantities (I2 calculated),
        the meter's error. Returns the A+ energy registered (Wh) and the voltages measured (Aron: line voltages),
        which the alarms and power quality supervise."""
        hh = self.household
        p, q = hh.p, hh.q
        c = self._fuse_check_va  # cheap screen first: almost every second no phase comes near Imax
        if (abs(p[0]) + abs(q[0]) > c or abs(p[1]) + abs(q[1]) > c or abs(p[2]) + abs(q[2]) > c):
            p, q = fuse_limit(u, p, q, self._imax)
        i2 = None
        if self.aron:
            u, p, q, i2 = aron(u, p, q)
        if not self.accuracy.ideal:
            p, q = self.accuracy.apply(u, p, q)
        m = self.metrology
        wh = m.step(dt, u, p, q, closed, self.grid.f, self.tariffs.active)
        if i2 is not None:
            m.instant[_I_L1 + 1] = i2 if closed and m.powered else 0.0
        return wh, u

    def _supply(self) -> list[float]:
        """The phase voltages at the meter: the grid's, unless a simulated fault changes them."""
        u = self.grid.u
        if self.outage:
            return [0.0, 0.0, 0.0]
        if self.neutral_lost:
            return floating_star_voltages(u, self.household.p if self.breaker.closed else _ZERO3)
        return u

    # --- time --------------------------------------------------------------------------------
    def update(self) -> None:
        """Advance to the clock's present time."""
        self.advance_to(self.clock.now() + self.clock_offset)

    def advance_to(self, t: float) -> None:
        """Step to meter time t (the injected clock plus `clock_offset`)."""
        offset = self.clock_offset
        while self.t + 1 <= t:
            self.step()
            if self.clock_offset != offset:  # the meter's clock stopped in an outage: t is that much nearer
                t += self.clock_offset - offset
                offset = self.clock_offset

    def step(self) -> None:
        """One 1-second measurement interval, ending at self.t + 1."""
        if self._clock_stopped_s:
            self._supercap_ran_out()
        t = self.t + 1
        self.t = t
        self.mono += 1
        hh = self.household
        hh.step(t)
        closed = self.breaker.closed
        self.grid.step(hh.p if closed else _ZERO3)
        wh, u = self._metrology_step(1.0, self._supply() if self.outage or self.neutral_lost else self.grid.u, closed)
        m = self.metrology
        if m.powered:
            self.powered_s += 1.0
        else:
            self._lp_status |= POWER_FAILURE
        if m.powered and not (min(u) >= UNDERVOLTAGE_LIMIT_V and max(u) <= OVERVOLTAGE_LIMIT_V):
            self._lp_status |= voltage_status(max(u)) | voltage_status(min(u))
        self.alarms.check_voltages(t, u, self.events)  # type: ignore[arg-type]
        pq_events = self.pq.step(t, u, self.grid.f, self._thd_u, self._thd_i)
        if pq_events is not NO_EVENTS:
            self._power_quality(pq_events)
        if self.pq.powered != self._powered:
            self._power_change(self.pq.powered)
        self._s0_wh += wh
        acc = self._an_sum  # analysis logger: interval means of its instantaneous channels
        for j, idx in self._an_inst:
            acc[j] += m.instant[idx]
        for j, arr, i in self._an_thd:
            acc[j] += arr[i]
        self._an_n += 1
        if self.smart_disconnect.enabled:
            inst = m.instant
            self._cut(self.smart_disconnect.step(
                t, (inst[_I_L1], inst[_I_L1 + 1], inst[_I_L1 + 2]), inst[_P_PLUS], closed=self.breaker.closed))
        if self.prepayment.enabled:
            self._prepayment_second(t, wh)
        if self._restore_when_allowed:
            self._retry_restore()
        self._second_end(t)

    def _second_end(self, t: int) -> None:
        """What the end of second t brings besides its measurement: the S0 feed, the end of a demand period, of a
        minute, of an analysis interval, of the day (meter_sim/columns.py runs it after a second in the columns)."""
        if t % _S0_FEED_S == 0:
            self._feed_s0()
        if t % self.period_s == 0:
            self._end_of_period(t)
        if t % 60 == 0:  # switch points take effect for the seconds after them
            self._minute(t)
            if t % self.analysis.interval_s == 0:
                self._analysis(t)
            if (t + self.rtc.standard_offset) % 86400 == 0:
                self._midnight(t)

    def _minute(self, t: int, tick: bool = True) -> None:
        if self.scheduled is not None and t >= self.scheduled.at:
            self._carry_out_scheduled(t)
        wall = self.rtc.wall_time(t)
        if self.prepayment.enabled:
            self._wall = wall
            self._working_day = self.tariffs.calendar.day_type(wall.date()) == "working"
        hour = wall.hour + wall.minute / 60.0
        self.tariffs.update(wall)
        self._tariff_changed(t)
        self.household.minute(t, hour, wall.weekday(), wall.timetuple().tm_yday, tick)
        self.grid.minute(hour, t)
        self._harmonics()

    def _harmonics(self) -> None:
        """Voltage THD from the feeder, current THD from the mix of linear loads and electronics behind the
        meter; refreshed every minute (in place: the analysis logger averages these lists)."""
        u = self._supply()
        closed = self.breaker.closed
        for i in (0, 1, 2):
            present = u[i] >= 50.0  # no voltage, no harmonics to measure
            self._thd_u[i] = self.grid.thd_u[i] if present else 0.0
            linear, electronic = self.household.linear_and_electronic(i)
            self._thd_i[i] = current_thd(linear, electronic) if closed and present else 0.0

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
                self.events.append(AlarmEvent(float(e.t), NEUTRAL_FAULT.type, e.type.endswith("start")))

    def _protection(self, e: PqEvent) -> None:
        reason = str(e.detail.get("reason"))
        if e.detail.get("action") == "disconnect":
            self._restore_when_allowed.discard(reason)
            self._breaker_change(self.breaker.trip(reason, float(self.t)))
        elif reason in AUTO_RECLOSE:
            self._restore_when_allowed.add(reason)
            self._retry_restore()
        # A neutral fault is not reclosed automatically (§5.2 names automatic reconnection only for the I/P limits,
        # credit and, §5.4, overvoltage): with the breaker open the star point re-centres, so the fault always looks
        # cleared while the neutral is still broken; a person (button, remote connect) recloses it.

    def _retry_restore(self) -> None:
        for reason in sorted(self._restore_when_allowed):
            if self.breaker.state != "disconnected" or self.breaker.reason != reason:
                self._restore_when_allowed.discard(reason)  # closed (or opened again) some other way
                continue
            change = self.breaker.restore_after(reason, float(self.t))
            if change is not None:
                self._restore_when_allowed.discard(reason)
                self._breaker_change(change)

    def _breaker_change(self, change: BreakerChange | None, detail: str = "") -> None:
        if change is not None:
            self.events.append(change)
            extra = {"detail": detail} if detail else {}
            self._log("disconnect", self.t, change.new, reason=change.reason, previous=change.old, **extra)

    def _log(self, name: str, t: int, type: str, /, **detail: Any) -> None:
        """Write an event logger entry (and mark the logs for saving)."""
        self.logs.log(name, t, type, **detail)
        self.logs_revision += 1

    def _midnight(self, t: int) -> None:
        """00:00 local standard time: the scheduled debiting stop (Z6/Z7) and debiting logger 2 (Z25)."""
        day = self.rtc.standard_time(t).replace(tzinfo=None)
        ordinal = day.toordinal()
        if ordinal <= self._last_midnight:  # the clock was set back over a midnight already processed
            return
        self._last_midnight = ordinal
        if is_debiting_stop(day, self.settings.z6, self.stop_months):
            self.debiting_stop("schedule")
        self._log("occurrence_counters", t, "snapshot", **self.pq.counters())  # (inferred) daily at midnight
        if is_logger2_due(day, self.settings.z25):
            self.billing2.snapshot(t, self._snapshot(LOGGER2_KEYS))
            self.logs_revision += 1

    def _power_change(self, powered: bool) -> None:
        """All-phase power loss (the meter goes down) and its return: the last-gasp alarm (Variant 2 with a
        radio only, §8), the display, and a clock the supercap could not keep running."""
        self._powered = powered
        if self.settings.type.has_last_gasp:
            self._alarm(POWER_OUTAGE, not powered)
        if powered:
            self.display.power_on(self.mono)
            down_s = self.t - self._down_since if self._down_since is not None else 0
            if down_s > SUPERCAP_HOLD_S and not self.settings.type.has_battery:
                self._clock_stopped_s = down_s - SUPERCAP_HOLD_S  # set back at the start of the next step
            self._down_since = None
        else:
            self.display.power_off(self.mono)
            self._down_since = self.t

    def _supercap_ran_out(self) -> None:
        """Without a battery the RTC ran on the supercap, which lasts 7 days (§1): it stopped when the supercap
        ran dry, so after a longer outage the meter's clock is behind by the rest of the outage."""
        lost, self._clock_stopped_s = self._clock_stopped_s, 0
        self._log("meter_status", self.t, "clock_stopped", seconds=lost)
        self.set_time(self.t - lost, source="supercap_empty")

    def _alarm(self, alarm: Alarm, active: bool, **detail: Any) -> None:
        """A meter-wide alarm (not per phase) switching on or off."""
        key = (alarm.type, None)
        if active == (key in self.alarms.active):
            return
        if active:
            self.alarms.active[key] = float(self.t)
        else:
            del self.alarms.active[key]
        self.events.append(AlarmEvent(float(self.t), alarm.type, active, None, detail))

    def _cut(self, action: CutAction | None) -> None:
        """Carry out a smart-disconnect or prepayment request on the breaker."""
        if action is None:
            return
        if action.kind == "disconnect":
            self._restore_when_allowed.discard(action.reason)
            self._breaker_change(self.breaker.trip(action.reason, float(self.t)), action.detail)
        else:
            self._restore_when_allowed.add(action.reason)  # waits for the 5 s minimum when needed
            self._retry_restore()
        self._measure()

    def _prepayment_second(self, t: int, wh: float) -> None:
        pp = self.prepayment
        inst = self.metrology.instant
        load_a = max(inst[_I_L1], inst[_I_L1 + 1], inst[_I_L1 + 2])
        # Friendly periods have 1-min resolution: the wall time and day type of the minute (set in _minute)
        for action in pp.consume(t, wh, self._wall, self._working_day, load_a, inst[_P_PLUS], self.tariffs.active):
            self._cut(action)
        if pp.events:
            self._prepayment_events(pp.drain_events())

    def _prepayment_events(self, events: list[PrepaymentEvent]) -> None:
        for e in events:
            if e.kind == "low_credit":
                self._alarm(LOW_CREDIT, bool(e.active), remaining=round(e.remaining, 3))
            else:
                self._log("prepayment", e.time, f"prepayment_{e.state.lower()}",
                          remaining=round(e.remaining, 3), credit=round(e.credit, 3))

    def _feed_s0(self) -> None:
        if self.s0 is not None:
            self.s0.feed(self.mono, self._s0_wh)
        self._s0_wh = 0.0
        self.pulse_outputs.feed(self.mono)

    def _analysis_channels(self) -> None:
        """Which analysis-logger channels are averaged over the interval (instantaneous quantities, THD) and
        where each second's value comes from; the others (peaks, tariff …) are logged as they stand at its end."""
        self._an_inst: list[tuple[int, int]] = []
        self._an_thd: list[tuple[int, list[float], int]] = []
        for j, key in enumerate(self.analysis.channels):
            if key in INSTANT_KEYS:
                self._an_inst.append((j, INSTANT_KEYS.index(key)))
            elif key.startswith(("thd_u_l", "thd_i_l")):
                self._an_thd.append((j, self._thd_u if key.startswith("thd_u") else self._thd_i, int(key[-1]) - 1))
        self._an_sum = [0.0] * len(self.analysis.channels)
        self._an_n = 0

    def _analysis(self, t: int) -> None:
        """Close an analysis interval: the means of the seconds it saw (§2.5 averages, §7.7 THD averages)."""
        values = self.base_values()
        n = self._an_n
        record: dict[str, float | int | None] = {}
        averaged = {j for j, _ in self._an_inst} | {j for j, _, _ in self._an_thd}
        for j, key in enumerate(self.analysis.channels):
            if j in averaged:
                record[key] = self._an_sum[j] / n if n else None
            else:
                value = values.get(key)
                record[key] = value if isinstance(value, int | float) else None
        self.analysis.record(t, record)
        self._an_sum = [0.0] * len(self._an_sum)
        self._an_n = 0
        self.logs_revision += 1

    def _tamper_events(self, events: list[TamperEvent]) -> None:
        for e in events:
            self._log("meter_status", e.time, f"tamper_{e.detector}_{e.kind}", state=e.state.lower())
            self._alarm(ALARMS_BY_TYPE[f"tamper_{e.detector}"], e.state != TAMPER_NONE, state=e.state.lower())

    def _energies(self) -> dict[str, float]:
        return dict(zip(ENERGY_KEYS, self.metrology.energy, strict=True))

    def debiting_stop(self, reason: str = "command") -> None:
        """Close a debiting period (spec §4.2): count it, add the peaks to the accumulated registers,
        write the snapshot to the monthly debiting logger, reset the peaks."""
        self.debiting_periods += 1
        self.demand.debiting_stop()
        self.billing.snapshot(self.t, self._snapshot(BILLING_KEYS))
        self.demand.reset_peaks()
        self._log("meter_status", self.t, "debiting_stop", reason=reason, period=self.debiting_periods)

    def _snapshot(self, keys: tuple[str, ...]) -> dict[str, float | int | str | None]:
        """Registers by OBIS display code, in published units (peak times included as `C.D.E.t`)."""
        readings = self.readings()
        return {REGISTERS_BY_KEY[k].obis: readings[k] for k in keys if k in readings}

    # --- commands ----------------------------------------------------------------------------
    def breaker_command(self, action: Action) -> BreakerChange:
        """Operate the breaker now; raises BreakerRefused when the state does not allow it."""
        b = self.breaker
        reconnect = action == "connect" or (action == "push_button" and b.state != "connected")
        if reconnect and self.prepayment.holds_breaker_open:
            raise BreakerRefused(action, b.state, "prepayment credit is 0 (top up first, or ask for emergency credit)")
        change = b.command(action, float(self.t))
        self._breaker_change(change)
        self._measure()  # currents and powers follow the contacts at once
        return change

    def set_tariff(self, tariff: int | None) -> None:
        """The tariff command (raises TariffRefused when Z13 does not take tariffs by command)."""
        self.tariffs.set_override(tariff)
        self._tariff_changed(self.t)

    def set_tariff_plan(self, plan: int) -> None:
        """Choose the internal tariff plan 1–3 (remote command; raises TariffRefused for a plan the calendar does
        not hold or when Z13 is not a table). Logged in the tariff log; the tariff follows at once."""
        old = self.tariffs.plan
        self.tariffs.set_plan(plan)
        if plan != old:
            self._log("tariff", self.t, "tariff_plan_change", old=old, new=plan)
        self._tariff_changed(self.t)

    def _tariff_changed(self, t: int) -> None:
        change = self.tariffs.take_change()
        if change is not None:
            self._log("tariff", t, "tariff_change", old=change[0], new=change[1], source=self.tariffs.source)

    def set_phase_voltage(self, phase: int, volts: float | None) -> None:
        """Simulation input: force a phase voltage (None = back to the grid model)."""
        self.grid.override[phase - 1] = volts

    def load_control_command(self, relay: int, state: RelayState) -> RelayChange:
        """Switch a load-control relay; raises LoadControlRefused when Z14 does not allow it."""
        change = self.load_control.command(relay, state, float(self.t))
        self.events.append(change)
        self._log("meter_status", self.t, f"load_control_{relay}_{state}")
        return change

    # --- simulation inputs (the physical world around the meter) --------------------------------
    def set_load(self, scale: float = 1.0, extra_w: float = 0.0) -> None:
        """Household consumption × scale, plus a constant resistive load spread evenly over the phases."""
        if not (math.isfinite(scale) and 0.0 <= scale <= 100.0):
            raise ValueError(f"load scale must be 0–100, got {scale}")
        if not (math.isfinite(extra_w) and 0.0 <= extra_w <= 100_000.0):
            raise ValueError(f"extra load must be 0–100000 W, got {extra_w}")
        self.household.load_scale, self.household.extra_w = float(scale), float(extra_w)
        self._measure()

    def set_pv(self, scale: float) -> None:
        """PV production × scale (0 = none, e.g. under snow)."""
        if not (math.isfinite(scale) and 0.0 <= scale <= 10.0):
            raise ValueError(f"PV scale must be 0–10, got {scale}")
        self.household.pv_scale = float(scale)
        self._measure()

    def set_outage(self, active: bool) -> None:
        """An all-phase power cut at the supply (and its end)."""
        self.outage = bool(active)
        self._measure()

    def set_neutral_loss(self, active: bool) -> None:
        """A broken supply neutral: the installation's star point floats with the phase loads."""
        if active and self.aron:
            raise ValueError("an Aron meter (type number X4 = 2) is on a 3-wire supply: it has no neutral to lose")
        self.neutral_lost = bool(active)
        self._measure()

    def voltage_event(self, kind: str, phase: int, duration_ms: float, depth_v: float) -> bool:
        """A sub-second sag or swell in the present second (too short for the 1-s model); True if counted."""
        if kind == "sag":
            counted = self.pq.inject_sag(self.t, phase, duration_ms, depth_v)
        elif kind == "swell":
            counted = self.pq.inject_swell(self.t, phase, duration_ms, depth_v)
        else:
            raise ValueError(f"voltage event kind must be 'sag' or 'swell', got {kind!r}")
        if counted:  # start, duration and depth (sag) or height (swell) in the voltage-quality log
            un = float(self.settings.power_quality.un)
            residual = un - depth_v if kind == "sag" else un + depth_v
            self._log("voltage_quality", self.t, kind, phase=phase, duration_ms=duration_ms,
                      **{"depth_v" if kind == "sag" else "height_v": depth_v}, u=residual)
        return counted

    def set_tamper(self, detector: str, active: bool) -> None:
        """A magnet at the meter / the terminal cover opened (active) or gone / closed again."""
        self._tamper_events(self.tamper.set_input(self.t, detector, bool(active)))

    def tamper_release(self, detector: str | None = None) -> list[str]:
        """Head-end release of latched tamper indications; returns the detectors released."""
        events = self.tamper.release(self.t, detector)
        self._tamper_events(events)
        return [e.detector for e in events if e.kind == "released"]

    def press_button(self) -> str | None:
        """A short press of the left push button: step the manual display list; returns the item shown."""
        return self.display.press(self.mono)

    def set_module_inputs(self, port1: bool, port2: bool) -> None:
        """230 V present on the module's I/O1 / I/O2 inputs (tariff inputs, or the alarm input per Z3)."""
        old = self.module_inputs
        self.module_inputs = (bool(port1), bool(port2))
        if z3_has_alarm_input(self.settings.z3) and old[1] != self.module_inputs[1]:
            self._alarm(MODULE_ALARM_INPUT, self.module_inputs[1] != z3_alarm_inverted(self.settings.z3))
        self.tariffs.set_inputs(*self.module_inputs)
        self._tariff_changed(self.t)

    def pulse_input(self, pulses: int) -> int:
        """Pulses arriving on the module pulse input in the present second; the input follows at most 25 Hz,
        so pulses beyond 25 in one second are lost. Returns the pulses counted."""
        if not self.has_pulse_input:
            raise ValueError(f"Z3 = {self.settings.z3:02d} gives the module no pulse input")
        if isinstance(pulses, bool) or not isinstance(pulses, int) or pulses < 0:
            raise ValueError(f"pulses must be a whole number ≥ 0, got {pulses!r}")
        second, seen = self._pulse_second
        if second != self.t:
            seen = 0
        counted = min(pulses, PULSE_INPUT_MAX_HZ - seen)
        self._pulse_second = (self.t, seen + counted)
        self.pulse_count += counted
        return counted

    # --- head-end commands ------------------------------------------------------------------------
    def set_time(self, t: float, source: str = "remote") -> int:
        """Set the meter clock (RTC) to t; returns the change in seconds. Logged in the RTC-adjustment logger
        (changes < 7 s filtered out) and flagged CLOCK_ADJUSTED in the load-profile period it falls in."""
        if not math.isfinite(t):
            raise ValueError("the new time must be a finite number of seconds")
        new_t = int(t)
        old_t = self.t
        delta = new_t - old_t
        if delta == 0:
            return 0
        self.clock_offset += delta
        self._lp_status |= CLOCK_ADJUSTED
        if delta > 0 and new_t // self.period_s != old_t // self.period_s:
            # The periods jumped over hold no energy: the next one averages from here (like a power-up).
            self.demand.restart(self._energies())
        self.t = new_t
        event = self.logs.log_rtc_adjustment(old_t, new_t, source=source)
        if event is not None:
            self.logs_revision += 1
        self._minute(new_t - new_t % 60, tick=False)
        return delta

    def top_up(self, amount: float) -> float:
        """Load prepayment credit (kWh, or currency); returns the remaining value afterwards."""
        pp = self.prepayment
        actions = pp.top_up(self.t, amount)
        self._log("prepayment", self.t, "top_up", amount=amount, remaining=round(pp.remaining, 3))
        for action in actions:
            self._cut(action)
        self._prepayment_events(pp.drain_events())
        return pp.remaining

    def request_emergency(self) -> None:
        """Emergency supply after the credit ran out (consumer's button or head-end)."""
        for action in self.prepayment.request_emergency(self.t):
            self._cut(action)
        self._prepayment_events(self.prepayment.drain_events())

    def drain_events(self) -> list[MeterEvent]:
        events, self.events = self.events, []
        return events

    # --- firmware (§8, meter_sim/firmware.py) ------------------------------------------------------------------
    def activate_firmware(self) -> FirmwareIdentity:
        """image_activate: the verified image becomes the meter's firmware (event 18) and the meter restarts on it;
        raises FirmwareRefused (logged) when there is none, and the old firmware runs on."""
        identity = self.firmware.activate()
        self.restart()
        return identity

    def install_firmware(self, image: bytes) -> FirmwareIdentity:
        """A whole image at once, verified and activated: the in-process path of the `firmware_update` command."""
        self.firmware.load(image)
        return self.activate_firmware()

    def restart(self) -> None:
        """A reboot (§8: the activation of new firmware; §13's power machine BOOT): the meter starts again from its
        permanent memory, as after a power cycle — registers, logs, breaker position and the firmware's identity
        survive, what it only held in RAM does not — and runs the start-up sequence of §6.4 on its display. The
        image transfer is the caller's process and stays as it is (its status says the activation succeeded)."""
        self.update()
        firmware, events = self.firmware, self.events
        Meter.__init__(self, self.id, self.settings, self.clock, self.to_state(), self.energy_type, self.logs_state())
        self.firmware, self.events = firmware, events + self.events
        if self._powered:  # the display goes dark and boots: START_ROM, START_SW, START_PHASES, then its lists
            self.display.power_off(self.mono)
            self.display.power_on(self.mono)

    def reconfigure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change settings remotely. The whole new configuration is validated first (pydantic, with the same
        cross-checks as at start-up), so a refused change leaves the meter as it was. Returns what changed."""
        merged = {**self.settings.model_dump(exclude_unset=True), **changes}
        new = type(self.settings).model_validate(merged)
        changed = {k: v for k, v in changes.items() if getattr(new, k) != getattr(self.settings, k)}
        self.settings = new
        for key, adjust in _ADJUSTED.items():
            if key in changed:
                adjust(self, new)
        for part in _RENEWED:
            if changed.keys() & part.settings:
                self._renew(part, new)
        if changed:
            self._log("meter_status", self.t, "reconfigured", settings=sorted(changed))
            self._retry_restore()
        return {k: getattr(new, k).model_dump() if hasattr(getattr(new, k), "model_dump") else getattr(new, k)
                for k in changed}

    def schedule_change(self, at: int, changes: Mapping[str, Any], source: str) -> None:
        """Reconfigure at meter time `at` (a DLMS passive calendar's activation time, §2.8): checked now as
        `reconfigure` checks it (ValueError, nothing kept, when refused), carried out by the meter at the first
        minute tick at or after `at`, whether anyone is connected then or not. One at a time: a new one replaces it."""
        type(self.settings).model_validate({**self.settings.model_dump(exclude_unset=True), **changes})
        self.scheduled = ScheduledChange(int(at), dict(changes), source)
        self._log("meter_status", self.t, "reconfiguration_scheduled", at=int(at), settings=sorted(changes),
                  source=source)

    def _carry_out_scheduled(self, t: int) -> None:
        """The scheduled change, now: what the settings changed since would make invalid is refused and logged
        (the meter keeps running as it was), as a refused MQTT configure is."""
        scheduled, self.scheduled = self.scheduled, None
        assert scheduled is not None
        try:
            self.reconfigure(scheduled.changes)
        except ValueError as exc:  # pydantic's ValidationError is one
            self._log("meter_status", t, "reconfiguration_refused", settings=sorted(scheduled.changes),
                      source=scheduled.source, reason=str(exc).splitlines()[0])

    def _renew(self, part: _Renewed, settings: MeterSimSettings) -> None:
        """Make a part anew from the new settings in place of the old one, carrying its saved state over."""
        old = getattr(self, part.attr)
        new = part.build(self, settings)
        if part.carries(old, new):
            new.restore(old.to_state())  # e.g. the tariffs drop an override the new source takes no commands for
        setattr(self, part.attr, new)
        part.follow(self, old)

    def _tariffs_renewed(self) -> None:
        self.tariffs.update(self.rtc.wall_time(self.t))
        self._tariff_changed(self.t)
        self._rebuild_registers()  # T5–T8 and the plan choice follow the tariff configuration

    def _prepayment_renewed(self, old: Prepayment) -> None:
        if old.enabled and not self.prepayment.enabled and self.breaker.reason == "prepayment":
            self._restore_when_allowed.add("prepayment")  # switched off: no reason to stay open
        self._minute(self.t - self.t % 60, tick=False)  # the wall time the friendly periods need
        self._rebuild_registers()

    def _rebuild_registers(self) -> None:
        pp = self.settings.prepayment
        outputs = z3_pulse_outputs(self.settings.z3)
        self.registers = meter_registers(
            self.energy_type, ct=self.settings.type.is_ct, pulse_unit=self.pulse_unit,
            pulse_input=self.has_pulse_input,
            prepayment=None if not pp.enabled else ("kWh" if pp.unit == "kWh" else pp.currency),
            tariffs=self.tariffs.tariff_count, tariff_plans=self.tariffs.plan_count,
            pulse_outputs=(outputs[0] is not None, outputs[1] is not None),
        )
        self._publish_plan = _publish_plan(self.registers)
        self._plan_of = _plan_by_key(self._publish_plan)

    # --- readings ----------------------------------------------------------------------------
    def base_values(self) -> dict[str, float | int | str | None]:
        """Every reading of the register table in model units (Wh, W, V, A, s...), unrounded: the metrology's
        registers by key, the demand registers by their OBIS codes (`_DEMAND_REGISTERS`), the rest named here."""
        values: dict[str, float | int | str | None] = dict(zip(ENERGY_KEYS, self.metrology.energy, strict=True))
        values.update(zip(INSTANT_KEYS, self.metrology.instant, strict=True))
        d = self.demand
        for key, part, entry in _DEMAND_REGISTERS:
            if part == "peak":
                values[key] = d.peak(entry).value
            elif part == "peak_time":
                values[key] = self._iso(d.peak(entry).time)
            elif part == "accumulated":
                values[key] = d.accumulated[entry]
            else:
                values[key] = d.means[entry]
        values["p_plus_daily_max"] = d.daily_max.value
        values["p_plus_daily_max_time"] = self._iso(d.daily_max.time)
        values["p_plus_daily_min"] = d.daily_min.value if d.daily_min is not None else 0.0
        values["p_plus_daily_min_time"] = self._iso(d.daily_min.time if d.daily_min is not None else None)
        values["power_threshold_counter"] = d.pth_counter
        values["debiting_periods"] = self.debiting_periods
        values["hour_counter"] = self.powered_s
        values["tariff"] = self.tariffs.active
        values["tariff_plan"] = str(self.tariffs.plan)
        values["breaker"] = self.breaker.state
        values["load_control_1"], values["load_control_2"] = self.load_control.relays
        for n in (0, 1, 2):
            values[f"thd_u_l{n + 1}"] = self._thd_u[n]
            values[f"thd_i_l{n + 1}"] = self._thd_i[n]
        values["s0_pulses"] = self.s0.count if self.s0 is not None else 0
        values["s0_rate"] = self.s0.rate_hz if self.s0 is not None else 0.0
        values["pulse_input"] = self.pulse_count / self.settings.pulse_input_divisor
        for n, out in enumerate(self.pulse_outputs, start=1):
            values[f"pulse_output_{n}"] = out[1].count if out is not None else 0
        pp = self.prepayment
        scale = 1000.0 if pp.settings.unit == "kWh" else 1.0  # kWh are kept in Wh like every energy
        values["prepayment_remaining"] = pp.remaining * scale
        values["prepayment_credit"] = pp.credit * scale
        values["prepayment_state"] = pp.state.lower()
        values["firmware_version"] = self.firmware.active.version
        values["firmware_checksum"] = self.firmware.active.checksum
        return values

    def base_vector(self) -> list[float | int | str | None]:
        """`base_values`' values as a list in `VECTOR_KEYS` order, without the dict: a fleet renders thousands of
        states a second from this (gateway/state_json.py), and building the dict cost twice as much.
        `tests/test_state_json.py` holds it to `base_values`."""
        return self.vector_with(self.metrology.energy, self.metrology.instant, self.powered_s)

    def vector_with(self, energy: list[float], instant: list[float], powered_s: float) -> list[
            float | int | str | None]:
        """`base_vector` with the registers a second changes given: a member of meter_sim/columns.py has them in
        its row, not yet in its objects."""
        d = self.demand
        kept = self._demand_kept
        if kept[0] is not d or kept[1] != d.revision or kept[2] is not self.rtc:
            kept = self._demand_kept = (d, d.revision, self.rtc, self._demand_vector())
        v: list[float | int | str | None] = [*energy, *instant, *kept[3], self.debiting_periods]
        pp = self.prepayment
        scale = 1000.0 if pp.settings.unit == "kWh" else 1.0
        s0 = self.s0
        v += (powered_s,
              self.tariffs.active, str(self.tariffs.plan), self.breaker.state, *self.load_control.relays,
              *self._thd_u, *self._thd_i, s0.count if s0 is not None else 0, s0.rate_hz if s0 is not None else 0.0,
              self.pulse_count / self.settings.pulse_input_divisor,
              *(out[1].count if out is not None else 0 for out in self.pulse_outputs),
              pp.remaining * scale, pp.credit * scale, pp.state.lower(),
              self.firmware.active.version, self.firmware.active.checksum)
        return v

    @property
    def demand_part(self) -> object:
        """The demand part of the last `base_vector` (DEMAND_KEYS): the same object for as long as those values
        stay the same, so that what is made of them can be kept (gateway/state_json.py, `Split`)."""
        return self._demand_kept

    def _demand_vector(self) -> tuple[float | int | str | None, ...]:
        """`base_vector`'s demand part: the demand registers, the daily P+ maximum and minimum, the power-threshold
        counter. They change at the end of a period (or a debiting stop): a fleet keeps them until `Demand.revision`
        moves, and saves ~90% of `base_vector` (31 registers, 8 of them times to format)."""
        v: list[float | int | str | None] = []
        append = v.append
        d = self.demand
        peak, iso, accumulated, means = d.peak, self._iso, d.accumulated, d.means
        for _, part, entry in _DEMAND_REGISTERS:
            if part == "peak":
                append(peak(entry).value)
            elif part == "peak_time":
                append(iso(peak(entry).time))
            elif part == "accumulated":
                append(accumulated[entry])
            else:
                append(means[entry])
        high, low = d.daily_max, d.daily_min
        return (*v, high.value, iso(high.time), low.value if low is not None else 0.0,
                iso(low.time if low is not None else None), d.pth_counter)

    def lcd(self, readings: Mapping[str, float | int | str | None] | None = None) -> LcdText | None:
        """What the LCD shows now (None while blank: no mains and no button pressed); `readings` may pass
        this second's `readings()` when the caller already has them."""
        item = self.display.current_item(self.mono)
        if item is None:
            return None
        if readings is None:
            readings = self.readings()
        values: dict[str, float | int | str | None] = {
            REGISTERS_BY_KEY[k].obis: v for k, v in readings.items() if k in REGISTERS_BY_KEY
        }
        values["1.0.0"] = readings["time"]
        # §6.4: the SW number in the value field, its revision in the text field; the checksum as the ROM's
        number, _, revision = self.firmware.active.version.partition("-")
        values[SW_ITEM], values["sw_revision"] = number, revision or None
        values[ROM_ITEM] = self.firmware.active.checksum[:8].upper()
        kind = self.settings.type
        symbols = Symbols.from_values(
            values,
            breaker=self.breaker.state if kind.has_breaker else None,
            smart_disconnect=self.smart_disconnect.enabled,
            tamper=self.tamper.symbol_on,
            prepayment=self.prepayment.enabled,
            rf="joined" if kind.radio else "off",
            ct_meter=kind.is_ct,
        )
        return render(item, values, self.settings.z1, symbols, ct=kind.is_ct)

    def _iso(self, t: float | None) -> str | None:
        return None if t is None else self.rtc.iso(t)

    def readings(self, keys: Iterable[str] | None = None) -> dict[str, float | int | str | None]:
        """The state the gateway publishes: `time` plus one key per register, in published units (with `keys`,
        `time` and those of them the meter has). Every publication and request reads them, so the register table's
        conversions are looked up once per register set (`_publish_plan`), not per value; `reference_readings`
        is the plain form."""
        base = self.base_values()
        out: dict[str, float | int | str | None] = {"time": self.rtc.iso(self.t)}
        plan = self._publish_plan
        if keys is not None:
            of = self._plan_of
            plan = tuple(of[key] for key in keys if key in of)
        for key, per_unit, decimals in plan:
            value = base[key]
            out[key] = round(value / per_unit, decimals) + 0.0 if isinstance(value, float) else value
        hours = out.get("hour_counter")
        if isinstance(hours, float):
            out["hour_counter"] = int(hours)
        return out

    def reference_readings(self) -> dict[str, float | int | str | None]:
        """`readings` by the register table's own `Register.publish`, one register at a time."""
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
    def parts(self) -> dict[str, Persistent]:
        """The saved state, part by part: its key (those of state version 1, unchanged) → the component that saves
        and restores it, in the order both happen. A part absent from a saved state (saved before it existed) or
        saved as null (no S0 output) is not restored: it starts fresh; `_upgraded` reads the older forms."""
        pp = self.prepayment
        return {
            "energy": self.metrology,
            "demand": self.demand,
            "debiting_periods": Field(self, "debiting_periods", int),
            "powered_s": Field(self, "powered_s", float),
            "breaker": self.breaker,
            "tariff_override": SavedOnly(lambda: self.tariffs.override),  # early saves' form; restored in "tariffs"
            "tariffs": self.tariffs,
            "load_control": self.load_control,
            "alarms": self.alarms,
            "power_quality": self.pq,
            "restore_when_allowed": Field(self, "_restore_when_allowed", set, sorted),
            "household": self.household,
            "grid": self.grid,
            "smart_disconnect": self.smart_disconnect,
            "prepayment": pp if pp.enabled else SavedOnly(pp.to_state),  # switched on later, it starts afresh
            "tamper": self.tamper,
            "display": self.display,
            "s0": self.s0 if self.s0 is not None else SavedOnly(lambda: None),
            "s0_wh": Field(self, "_s0_wh", float),
            "pulse_outputs": self.pulse_outputs,  # after "energy": a new output starts from its register
            "pulse_count": Field(self, "pulse_count", int),
            "module_inputs": Field(self, "module_inputs", lambda v: (bool(v[0]), bool(v[1])), list),
            "clock_offset": Field(self, "clock_offset", int),
            "mono": Field(self, "mono", int),
            "inputs": Fields(self, {"neutral_lost": ("neutral_lost", bool), "outage": ("outage", bool),
                                    "powered": ("_powered", bool), "down_since": ("_down_since", optional_int)}),
            "last_midnight": Field(self, "_last_midnight", int),
            "scheduled": Field(self, "scheduled", ScheduledChange.load, ScheduledChange.save),
            "firmware": self.firmware,  # absent from a state saved before it: the firmware delivered
        }

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"version": STATE_VERSION, "t": self.t}
        state.update((key, part.to_state()) for key, part in self.parts().items())
        return state

    def logs_state(self) -> dict[str, Any]:
        """The loggers, kept apart from `to_state` because they are large and change only at period
        ends and events, while the registers are saved before every publication."""
        return {
            "version": STATE_VERSION,
            "load_profile": self.load_profile.to_state(),
            "billing": self.billing.to_state(),
            "debiting_logger_2": self.billing2.to_state(),
            "events": self.logs.to_state(),
            "analysis": self.analysis.to_state(),
            "lp_status": self._lp_status,
        }

    def log_rings(self) -> dict[tuple[str, ...], RingLog[Any]]:
        """Each logger's ring by where its state (`{"capacity", "entries"}`) sits in `logs_state`: what
        meter_sim/log_journal.py saves one new entry at a time; `logs_fields` holds the rest of the document."""
        rings: dict[tuple[str, ...], RingLog[Any]] = {
            ("load_profile", "log"): self.load_profile.log,
            ("billing",): self.billing,
            ("debiting_logger_2",): self.billing2,
            ("analysis", "log"): self.analysis.log,
        }
        for name in self.logs.names:
            rings["events", name] = self.logs[name]
        return rings

    def logs_fields(self) -> dict[tuple[str, ...], Any]:
        """`logs_state` but for the rings' entries: each field by its place in the document (the loggers' own
        `settings_state`, which their `to_state` holds too)."""
        fields: dict[tuple[str, ...], Any] = {("version",): STATE_VERSION}
        for name, logger in (("load_profile", self.load_profile), ("analysis", self.analysis)):
            fields.update(((name, key), value) for key, value in logger.settings_state().items())
        fields["lp_status",] = self._lp_status
        return fields

    def _restore_logs(self, logs: dict[str, Any]) -> None:
        if logs.get("version") != STATE_VERSION:
            raise ValueError(f"meter log version {logs.get('version')!r} is not {STATE_VERSION}")
        self.load_profile.restore(logs["load_profile"])
        self.billing.restore(logs["billing"])
        self.billing2.restore(logs["debiting_logger_2" if "debiting_logger_2" in logs else "billing2"])  # older saves
        self.logs.restore(logs["events"])
        if "analysis" in logs:
            saved = AnalysisLogger.from_state(logs["analysis"])
            if (saved.channels, saved.interval_s) == (self.analysis.channels, self.analysis.interval_s):
                self.analysis = saved  # a reconfigured logger starts empty
        self._lp_status = int(logs["lp_status"])

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"meter state version {state.get('version')!r} is not {STATE_VERSION}")
        missing = [key for key in _REQUIRED_STATE if key not in state]
        if missing:  # rather than start those from zero (a total must never go backwards)
            raise ValueError(f"meter state lacks {', '.join(missing)}")
        saved_t = int(state["t"])
        state = self._upgraded(state)
        for key, part in self.parts().items():
            saved = state.get(key)
            if saved is not None:
                part.restore(saved)
        if self._powered:
            self.display.power_on(self.mono)  # the meter starts up again
        # The meter was off between the save and now: nothing registers in the gap.
        if self.t > saved_t and self.t // self.period_s != saved_t // self.period_s:
            self.demand.restart(self._energies())
            self._lp_status |= POWER_FAILURE
        self.t = max(self.t, saved_t)

    def _upgraded(self, state: dict[str, Any]) -> dict[str, Any]:
        """A state saved before some parts had their present form, in that form."""
        state = dict(state)
        if "demand" not in state:  # saved before the demand registers existed: keep the P+ peak
            demand = self.demand.to_state()
            demand["peaks"] = {"p_plus": state["peak"]}
            state["demand"] = demand
        if "tariffs" not in state and state.get("tariff_override") is not None:  # only the tariff command was kept
            state["tariffs"] = {"override": state["tariff_override"]}
        if not state.get("pulse_outputs"):  # saved before the module pulse outputs: each starts from now
            state["pulse_outputs"] = [None, None]
        return state


# --- parts made from the settings -------------------------------------------------------------------------------
# The meter makes these from its settings when it starts, and anew when a remote reconfiguration changes them.
@functools.cache  # per register set, shared by the meters that have it
def _publish_plan(registers: tuple[Register, ...]) -> tuple[tuple[str, float, int], ...]:
    """(key, model units per published unit, decimals) of each register, for `Meter.readings`."""
    return tuple((r.key, r.kind.spec.base_per_unit, r.kind.spec.decimals) for r in registers)


@functools.cache  # per register set too: 3 kB a meter, 30 MB over a fleet of 10,000, when each had its own
def _plan_by_key(plan: tuple[tuple[str, float, int], ...]) -> dict[str, tuple[str, float, int]]:
    """`_publish_plan` by key (read only: shared)."""
    return {entry[0]: entry for entry in plan}


def _new_tariffs(meter: Meter, settings: MeterSimSettings) -> Tariffs:
    return Tariffs(settings.z13, settings.z3, settings.calendar, z20=settings.z20,
                   command_overrides_any_source=settings.tariff_command_overrides_any_source)


def _new_prepayment(meter: Meter, settings: MeterSimSettings) -> Prepayment:
    return Prepayment(settings.prepayment)


def _new_smart_disconnect(meter: Meter, settings: MeterSimSettings) -> SmartDisconnect:
    return SmartDisconnect(settings.smart_disconnect)


def _new_power_quality(meter: Meter, settings: MeterSimSettings) -> PowerQuality:
    return PowerQuality(settings.power_quality, standard_offset=meter.rtc.standard_offset)


def _new_display(meter: Meter, settings: MeterSimSettings) -> Display:
    return Display(settings.display.lists(meter.energy_type, battery=settings.type.has_battery))


def _new_tamper(meter: Meter, settings: MeterSimSettings) -> Tamper:
    return Tamper(settings.tamper)


def _new_firmware(meter: Meter, settings: MeterSimSettings) -> Firmware:
    kind = settings.type
    factory = settings.firmware.version or factory_version(not kind.supports_dlms_query, kind.is_ct)
    return Firmware(factory, target_of_meter(kind.is_ct), settings.firmware.key,
                    lambda type, **detail: meter._log("meter_status", meter.t, type, **detail))


@dataclass(frozen=True, slots=True)
class ScheduledChange:
    """A reconfiguration that waits for meter time `at`, and who asked for it (for the event log)."""

    at: int
    changes: dict[str, Any]
    source: str

    @staticmethod
    def save(change: ScheduledChange | None) -> dict[str, Any] | None:
        return None if change is None else {"at": change.at, "changes": change.changes, "source": change.source}

    @staticmethod
    def load(state: dict[str, Any] | None) -> ScheduledChange | None:
        return None if state is None else ScheduledChange(int(state["at"]), dict(state["changes"]),
                                                          str(state["source"]))


@dataclass(frozen=True, slots=True)
class _Renewed:
    """A part made from the settings: when a remote reconfiguration changes any of `settings`, it is made anew, its
    saved state carried over when `carries` (old, new) says so, and `follow` brings the rest of the meter in line."""

    attr: str
    settings: frozenset[str]
    build: Callable[[Meter, MeterSimSettings], Persistent]
    carries: Callable[[Any, Any], bool] = lambda old, new: True
    follow: Callable[[Meter, Any], None] = lambda meter, old: None


_RENEWED = (
    _Renewed("tariffs", frozenset({"z13", "tariff_schedule", "tariff_calendar"}), _new_tariffs,
             follow=lambda meter, old: meter._tariffs_renewed()),
    _Renewed("smart_disconnect", frozenset({"smart_disconnect"}), _new_smart_disconnect),
    # The balance carries over a change of the prepayment's parameters; switched on, it starts from its settings.
    _Renewed("prepayment", frozenset({"prepayment"}), _new_prepayment,
             carries=lambda old, new: old.enabled and new.enabled,
             follow=lambda meter, old: meter._prepayment_renewed(old)),
    _Renewed("pq", frozenset({"power_quality"}), _new_power_quality,
             follow=lambda meter, old: meter.alarms.configure(meter.settings.power_quality)),
    _Renewed("display", frozenset({"display"}), _new_display),
    _Renewed("tamper", frozenset({"tamper"}), _new_tamper),
)


def _new_period(meter: Meter, settings: MeterSimSettings) -> None:
    # A new capture period: the profile restarts empty (its entries would be misread); the running period keeps its
    # start, so no energy is lost to the next entry.
    meter.period_s = settings.integration_period_s
    meter.demand.period_s = meter.period_s
    meter.load_profile = LoadProfile(meter.period_s, meter.load_profile.channels)


def _new_stop_months(meter: Meter, settings: MeterSimSettings) -> None:
    meter.stop_months = z7_stop_months(settings.z7)


def _new_power_threshold(meter: Meter, settings: MeterSimSettings) -> None:
    meter.demand.pth_w = settings.power_threshold_w


def _new_load_control(meter: Meter, settings: MeterSimSettings) -> None:
    meter.load_control.z14 = settings.z14


def _new_analysis_setup(meter: Meter, settings: MeterSimSettings) -> None:
    meter.analysis.reconfigure(settings.analysis_setup.channels, settings.analysis_setup.interval_s)
    meter._analysis_channels()


# Settings a remote reconfiguration applies to the parts as they are.
_ADJUSTED: dict[str, Callable[[Meter, MeterSimSettings], None]] = {
    "z4": _new_period,
    "z7": _new_stop_months,
    "power_threshold_w": _new_power_threshold,
    "z14": _new_load_control,
    "analysis_logger": _new_analysis_setup,
}
# Without these a state would restart from zero (a total must never go backwards); every later part may be absent.
_REQUIRED_STATE = ("t", "energy", "powered_s", "breaker", "alarms", "household", "grid")
_ZERO3 = [0.0, 0.0, 0.0]
AUTO_RECLOSE = frozenset({"overvoltage"})  # protection trips the meter recloses by itself once cleared
_I_L1 = INSTANT_KEYS.index("i_l1")
_P_PLUS = INSTANT_KEYS.index("p_plus")
_S0_FEED_S = 10  # (inferred) S0 pulses are fed in 10-s batches: counts stay exact, the queue model is kept
PULSE_INPUT_MAX_HZ = 25  # §9 module pulse inputs
_FUSE_CHECK_V = 150.0  # a phase load under Imax × 150 V cannot exceed Imax at any voltage a phase is present at
SUPERCAP_HOLD_S = 7 * 86400  # §1: a full supercap keeps the clock running for 7 days
_STANDBY_W = 30.0  # (inferred) what an installation draws per phase with everything off: electronics on standby
_A = (1.0, -0.5, -0.5)  # cos of 0°, −120°, +120°
_B = (0.0, -math.sqrt(3) / 2, math.sqrt(3) / 2)


def floating_star_voltages(u: list[float], p: list[float]) -> list[float]:
    """Phase voltages across an installation whose neutral is broken upstream of the meter.

    The loads (taken as resistances drawing p at their nominal voltage, at least a standby load) form a star whose
    point floats to Σ(Y·U)/ΣY of the three phase voltage phasors, so a lightly loaded phase rises towards the
    line-to-line voltage and the heavily loaded one falls (§7.9 detects exactly this pattern)."""
    y = [max(pi, _STANDBY_W) for pi in p]  # admittance ∝ power at a common nominal voltage
    total = y[0] + y[1] + y[2]
    nx = sum(y[i] * u[i] * _A[i] for i in range(3)) / total
    ny = sum(y[i] * u[i] * _B[i] for i in range(3)) / total
    return [math.hypot(u[i] * _A[i] - nx, u[i] * _B[i] - ny) for i in range(3)]


def _demand_registers() -> tuple[tuple[str, str, str], ...]:
    """(key, part, Demand entry) of each demand register, read off its OBIS code C.D.E: the peak (D = 6, its time at
    C.6.0.t), the accumulated peak (D = 2) or the last period's mean (D = 25) of the quantity at C.7.0, in tariff E
    (0: over all tariffs). The daily P+ maximum and minimum (D = 16, 13) are one each: `base_values` names them."""
    out = []
    for reg in ALL_REGISTERS:
        c, d, e, *stamp = reg.obis.split(".")
        quantity = REGISTERS_BY_OBIS.get(f"{c}.7.0")
        part = {"6": "peak_time" if stamp else "peak", "2": "accumulated", "25": "mean"}.get(d)
        if quantity is not None and part is not None:
            out.append((reg.key, part, quantity.key if e == "0" else f"{quantity.key}_t{e}"))
    return tuple(out)


def serial_number(meter_id: str) -> int:
    """The meter's 8-digit serial number, stable per id: what its interfaces name it by (the HAN meter id, the M-Bus
    identification, the optical readout's meter number, the DLMS system title and logical device name)."""
    return zlib.crc32(meter_id.encode()) % 100_000_000


_DEMAND_REGISTERS = _demand_registers()
# `Meter._demand_vector`'s keys: what changes only at the end of a period (or a debiting stop).
DEMAND_KEYS: tuple[str, ...] = (
    *(key for key, _, _ in _DEMAND_REGISTERS),
    "p_plus_daily_max", "p_plus_daily_max_time", "p_plus_daily_min", "p_plus_daily_min_time",
    "power_threshold_counter",
)
# `Meter.base_vector`'s order: the metrology's registers, the demand registers, then the rest.
VECTOR_KEYS: tuple[str, ...] = (
    *ENERGY_KEYS, *INSTANT_KEYS, *DEMAND_KEYS, "debiting_periods", "hour_counter", "tariff", "tariff_plan", "breaker",
    "load_control_1", "load_control_2", "thd_u_l1", "thd_u_l2", "thd_u_l3", "thd_i_l1", "thd_i_l2", "thd_i_l3",
    "s0_pulses", "s0_rate", "pulse_input", "pulse_output_1", "pulse_output_2",
    "prepayment_remaining", "prepayment_credit", "prepayment_state", "firmware_version", "firmware_checksum",
)
_LP_CHANNELS = {"1.8.0": "a_plus", "2.8.0": "a_minus", "3.8.0": "r_plus", "4.8.0": "r_minus"}
# Captured objects of the monthly debiting logger (spec §4.2) and of debiting logger 2 (§4.3)
BILLING_KEYS = (
    "hour_counter", "debiting_periods", "power_threshold_counter",
    "a_plus", "a_minus", "r_plus", "r_minus", *(f"a_plus_t{t}" for t in (1, 2, 3, 4)),
    *(f"r_plus_t{t}" for t in (1, 2, 3, 4)), "e_plus", "e_minus",
    "p_plus_max", "p_plus_max_time", "p_plus_max_acc", "p_plus_max_acc_t1", "p_plus_max_acc_t2",
    "q_plus_max", "q_plus_max_time", "q_plus_max_acc", "p_plus_max_t1", "p_plus_max_t2",
    "q_plus_max_t1", "q_plus_max_t2", "s_plus_max", "s_plus_max_time", "s_minus_max", "s_minus_max_time",
)
LOGGER2_KEYS = (
    "hour_counter", "a_plus", "a_minus", "r_plus", "r_minus",
    *(f"{q}_t{t}" for q in ("a_plus", "a_minus", "r_plus", "r_minus") for t in (1, 2, 3, 4)),
)
