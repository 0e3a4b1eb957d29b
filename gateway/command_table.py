"""The command table: every command of the `set` topics, declared once.

One `CommandSpec` per command: its name, the values it takes (a parser of gateway/command_values.py, and the
README's words for them), what it does, how the simulated meter carries it out (the `Meter` method it calls and
the response data), the Modbus write that carries it to a wire meter, and the Home Assistant entities that send
it. Validation (gateway/commands.py), each source's set of commands, discovery's switches, buttons and selects,
and the README's command table (scripts/gen_docs.py) all derive from it: adding a command is one entry here plus
the meter method it calls. M-Bus carries the commands its codec has codes for (omnipower.mbus.COMMAND_CODES).

It lives in the gateway because a command is an MQTT concept: its parser raises the gateway's CommandError and its
entities are Home Assistant discovery. It names meter methods and wire writes, which the gateway depends on anyway
(gateway → meter_sim → omnipower); the meter is imported for type checking only, so validating a command or
running a wire source never loads the simulator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from gateway import command_values as cv
from gateway.command_values import Choice, Parser
from omnipower import mbus
from omnipower import modbus_map as mm
from omnipower.registers import BASIC_TARIFFS, MAX_TARIFF, Register

if TYPE_CHECKING:
    from meter_sim.meter import Meter

__all__ = [
    "COMMANDS", "COMMANDS_BY_NAME", "COMMAND_NAMES", "DLMS_COMMANDS", "MBUS_COMMANDS", "MODBUS_COMMANDS",
    "SIMULATED_COMMANDS",
    "Button", "CommandSpec", "Entity", "ModbusWrite", "Select", "Switch", "Update", "plan_options", "tariff_options",
]

# Carries a command out on the simulated meter (name and parsed value) and returns the response's data.
SimAction = Callable[["Meter", str, Any], dict[str, Any]]


# --- Home Assistant entities that send a command ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Switch:
    """On while `state_key` of the meter topic `state_topic` is `state_on`; sends `payload_on` / `payload_off`."""

    object_id: str
    name: str
    icon: str
    state_topic: str  # a meter topic level: "state", "breaker"
    state_key: str
    state_on: str
    payload_on: str = "on"
    payload_off: str = "off"


@dataclass(frozen=True, slots=True)
class Button:
    """Sends `payload` when pressed."""

    object_id: str
    name: str
    icon: str
    payload: str
    category: Literal["diagnostic"] | None = None


@dataclass(frozen=True, slots=True)
class Select:
    """A configuration select: shows `state_key` of the state, sends the chosen option. `options` come from the
    meter's registers; none: the meter has nothing to choose, and there is no entity."""

    object_id: str
    name: str
    icon: str
    state_key: str
    options: Callable[[Sequence[Register]], list[str]]


@dataclass(frozen=True, slots=True)
class Update:
    """An update entity: installed and latest version and progress from the meter topic `state_topic`, installs by
    sending `payload`."""

    object_id: str
    name: str
    state_topic: str
    payload: str


Entity = Switch | Button | Select | Update


# --- wire writes -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ModbusWrite:
    """A command as one write to the Modbus map (omnipower/modbus_map.py): a holding register (function 06) or a
    coil (05, written as value ≠ 0), refused by a meter without `function` (a bit of modbus_map.FEATURE_BITS). The
    response reports `reports`, read back after the write."""

    table: Literal["holding", "coil"]
    address: int
    encode: Callable[[Any], int]  # the parsed value → the register value
    function: str
    reports: tuple[str, ...]


# --- the table -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    parse: Parser
    values: str  # the accepted values in the README's words
    effect: str  # what it does, for the README
    simulate: SimAction
    modbus: ModbusWrite | None = None
    entities: tuple[Entity, ...] = ()
    dlms: bool = False  # carried over DLMS/COSEM (gateway/sources/dlms.py): breaker, clock, tariff, calendar
    source_bounded: bool = False  # the source bounds its time (a firmware transfer), not the request's usual timeout

    @property
    def mbus(self) -> bool:
        """Carried as an M-Bus SND_UD: the codec has command codes for it."""
        return self.name in _MBUS_CODED

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources that can carry it (han and optical carry none; dlms only with the management client)."""
        return ("simulated", *(("modbus",) if self.modbus else ()), *(("mbus",) if self.mbus else ()),
                *(("dlms",) if self.dlms else ()))


_MBUS_CODED = frozenset(name for name, _ in mbus.COMMAND_CODES)


def tariff_options(registers: Sequence[Register]) -> list[str]:
    """The tariff select's options: "auto" and the tariffs the meter has registers for, T1–T8 when it publishes
    any of T5–T8, else T1–T4 (also for a source whose readings carry no per-tariff register)."""
    highest = max((r.tariff for r in registers), default=0)
    count = MAX_TARIFF if highest > BASIC_TARIFFS else BASIC_TARIFFS
    return ["auto", *(str(t) for t in range(1, count + 1))]


def plan_options(registers: Sequence[Register]) -> list[str]:
    """The plans a meter holding 2 or 3 of them offers (its `tariff_plan` register); none otherwise."""
    return next((list(r.options) for r in registers if r.key == "tariff_plan"), [])


def _breaker(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    change = meter.breaker_command(value)  # connect, disconnect, release
    return {"breaker": change.new, "previous": change.old}


def _push_button(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    if value == "press":
        return {"display": meter.press_button()}
    return _breaker(meter, name, "push_button")


def _tariff(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    meter.set_tariff(value if isinstance(value, int) else None)
    return {"tariff": meter.tariffs.active, "tariff_control": "auto" if value is None else str(value)}


def _tariff_plan(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    meter.set_tariff_plan(int(value))
    return {"tariff_plan": str(meter.tariffs.plan), "tariff": meter.tariffs.active}


def _top_up(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    remaining = meter.top_up(float(value))
    return {"prepayment_remaining": round(remaining, 3), "prepayment_state": meter.prepayment.state.lower()}


def _emergency_credit(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    meter.request_emergency()
    return {"prepayment_state": meter.prepayment.state.lower()}


def _tamper_release(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    return {"released": meter.tamper_release(None if value == "all" else str(value))}


def _debiting_stop(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    meter.debiting_stop("command")
    return {"debiting_periods": meter.debiting_periods}


def _time(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    delta = meter.set_time(float(value))
    return {"time": meter.rtc.iso(meter.t), "adjusted_s": delta}


def _configure(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    return {"configured": meter.reconfigure(json.loads(str(value)))}


def _firmware_update(meter: Meter, name: str, value: Any) -> dict[str, Any]:
    """The image file `value` (the source resolved "latest" and a relative path) installed at once: verified against
    the meter's key and activated, the meter restarting on it (meter_sim/firmware.py)."""
    from gateway.firmware_folder import read_image
    from meter_sim.firmware import FirmwareRefused
    from meter_sim.refusals import MeterRefused

    data = read_image(str(value))
    old = meter.firmware.active.version
    try:
        identity = meter.install_firmware(data)
    except FirmwareRefused as exc:
        raise MeterRefused(f"the meter refused the image: {exc}; it still runs {old}") from None
    return {"firmware_version": identity.version, "firmware_checksum": identity.checksum, "previous": old}


_BREAKER_CODE = {action: code for code, action in mm.BREAKER_COMMANDS.items()}
_RELAY_COIL = {key: coil for coil, key in mm.COIL_LOAD_CONTROL.items()}


def _load_control(relay: int) -> CommandSpec:
    def simulate(meter: Meter, name: str, value: Any) -> dict[str, Any]:
        switched = meter.load_control_command(relay, value)
        return {name: switched.new, "previous": switched.old}

    name = f"load_control_{relay}"
    return CommandSpec(
        name, cv.ON_OFF, "`on`, `off`",
        "switch a relay of the load-control module (latching; refused when `z14: 0`, load control off)",
        simulate,
        modbus=ModbusWrite("coil", _RELAY_COIL[name], lambda v: int(v == "on"), "load_control", (name,)),
        entities=(Switch(f"{name}_switch", f"Load-control relay {relay}", "mdi:electric-switch-closed", "state", name,
                         "on"),),
    )


def _voltage(phase: int) -> CommandSpec:
    def simulate(meter: Meter, name: str, value: Any) -> dict[str, Any]:
        meter.set_phase_voltage(phase, None if value is None else float(value))
        return {name: "auto" if value is None else value}

    return CommandSpec(f"voltage_l{phase}", cv.volts, "0–400, `auto`",
                       "simulation input: force a phase voltage (to see alarms)", simulate)


def _sim_input(name: str, effect: str, set_input: Callable[[Meter, bool], None]) -> CommandSpec:
    """A simulation input (the physical world around the meter, not a head-end command), switched on or off."""
    def simulate(meter: Meter, name: str, value: Any) -> dict[str, Any]:
        set_input(meter, value == "on")
        return {name: value}

    return CommandSpec(name, cv.ON_OFF, "`on`, `off`", f"simulation input: {effect}", simulate)



COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "breaker", Choice(("connect", "disconnect", "release")), "`connect`, `disconnect`, `release`",
        "remote connect / disconnect; `release` puts a disconnected breaker in `ready_for_reconnection`",
        _breaker,
        modbus=ModbusWrite("holding", mm.HOLDING_BREAKER_COMMAND, lambda v: _BREAKER_CODE[v], "breaker", ("breaker",)),
        entities=(
            Switch("breaker_switch", "Breaker", "mdi:electric-switch", "breaker", "state", "connected",
                   payload_on="connect", payload_off="disconnect"),
            Button("breaker_release", "Release breaker for reconnection", "mdi:lock-open-variant", "release"),
        ),
        dlms=True,  # Disconnect Control: disconnect = remote_disconnect, connect and release = remote_reconnect
    ),
    CommandSpec(
        "tariff", cv.tariff, "`1`–`8`, `auto`",
        "force a tariff (T5–T8 only on a meter whose tariff configuration has them: Z13 = 002, or a calendar naming "
        "them), or follow the calendar again (the meter takes tariff commands only with Z13 = 002; the simulator lets "
        "them override any source unless `tariff_command_overrides_any_source: false`)",
        _tariff,
        modbus=ModbusWrite("holding", mm.HOLDING_TARIFF_CONTROL, lambda v: 0 if v is None else int(v), "tariff_command",
                           ("tariff", "tariff_control")),
        entities=(Select("tariff_control", "Tariff control", "mdi:cash-clock", "tariff_control", tariff_options),),
        dlms=True,  # a SET of the active tariff's Data object: 1-8, or 0 for auto
    ),
    CommandSpec(
        "tariff_plan", cv.tariff_plan, "`1`–`3`",
        "choose the internal tariff plan (a calendar holding 2 or 3 `plans`; logged in the `tariff` log)",
        _tariff_plan,
        entities=(Select("tariff_plan_control", "Tariff plan", "mdi:calendar-clock", "tariff_plan", plan_options),),
    ),
    CommandSpec(
        # A short press steps the display; the 6-s hold on the disconnect item works the breaker.
        "push_button", Choice(("press", "hold")), "`press`, `hold`",
        "`press`: a short press of the left button (steps the manual display list; back to the automatic list 2 min "
        "after the last press). `hold`: the 6 s hold on the disconnect display item — opens a connected breaker "
        "(manual), closes one that is `ready_for_reconnection` (or a disconnected one when "
        "`push_button_requires_release: false`)",
        _push_button,
        entities=(
            Button("push_button", "Push button (hold 6 s)", "mdi:gesture-tap-hold", "hold", "diagnostic"),
            Button("display_next", "Push button (short press: next display item)", "mdi:gesture-tap", "press",
                   "diagnostic"),
        ),
    ),
    _load_control(1),
    _load_control(2),
    _voltage(1),
    _voltage(2),
    _voltage(3),
    CommandSpec(
        "top_up", cv.amount, "amount > 0",
        "prepayment: new value = amount − credit used at zero; reconnects a breaker opened at zero credit",
        _top_up,
    ),
    CommandSpec(
        "emergency_credit", Choice(("request",)), "`request`",
        "prepayment: emergency supply after zero (load-limited, at most `t_prepayment_days`)",
        _emergency_credit,
        entities=(Button("emergency_credit", "Request emergency credit", "mdi:cash-plus", "request"),),
    ),
    CommandSpec(
        "tamper_release", Choice(("magnetic", "cover", "all")), "`magnetic`, `cover`, `all`",
        "release a latched (permanent-mode) tamper indication",
        _tamper_release,
        entities=(Button("tamper_release", "Release tamper indication", "mdi:shield-refresh", "all", "diagnostic"),),
    ),
    CommandSpec(
        "debiting_stop", Choice(("now",)), "`now`",
        "an external debiting stop: snapshot into the billing log, peaks reset",
        _debiting_stop,
    ),
    CommandSpec(
        "time", cv.clock_time, "ISO 8601 with offset, or POSIX seconds",
        "set the meter clock; logged in `rtc_adjustment` (changes under 7 s are not), flags the load-profile period",
        _time,
        dlms=True,  # a SET of the clock's time
    ),
    CommandSpec(
        "configure", cv.settings, "JSON object",
        f"remote reconfiguration of {', '.join(f'`{s}`' for s in cv.REMOTE_SETTINGS)}; legal data (`type_number`, "
        "`z1`, `z2`, `z11`, `z15`, `z19`, CT codes) is refused. The whole new configuration is validated before "
        "anything changes",
        _configure,
        dlms=True,  # `tariff_calendar` only: the Activity Calendar's passive calendar, written and activated
    ),
    CommandSpec(
        "firmware_update", cv.firmware_image, '`{"image": PATH}`, `{"image": "latest"}`',
        "send a signed firmware image (§8) to the meter, which verifies it against its manufacturer key and restarts "
        "on it; `latest`: the newest image in the gateway's `firmware.folder` for the meter's firmware line, a "
        "relative PATH is taken there too. Progress on `<base>/<meter>/firmware`; a refused image leaves the old "
        "firmware running and the response says why",
        _firmware_update,
        entities=(Update("firmware", "Firmware", "firmware", '{"image": "latest"}'),),
        dlms=True,  # DLMS Image Transfer (class 18), with the management client
        source_bounded=True,
    ),
    _sim_input("outage", "an all-phase power cut", lambda m, on: m.set_outage(on)),
    _sim_input("neutral_loss", "a broken supply neutral (the star point floats with the phase loads)",
               lambda m, on: m.set_neutral_loss(on)),
    _sim_input("magnet", "a magnet at the meter", lambda m, on: m.set_tamper("magnetic", on)),
    _sim_input("cover_open", "the terminal cover opened", lambda m, on: m.set_tamper("cover", on)),
)
COMMANDS_BY_NAME: dict[str, CommandSpec] = {c.name: c for c in COMMANDS}
COMMAND_NAMES: tuple[str, ...] = tuple(COMMANDS_BY_NAME)
assert len(COMMAND_NAMES) == len(COMMANDS), "command names must be unique"

# What each source can carry (han and optical: nothing).
SIMULATED_COMMANDS = frozenset(c.name for c in COMMANDS if "simulated" in c.sources)
MODBUS_COMMANDS = frozenset(c.name for c in COMMANDS if "modbus" in c.sources)
MBUS_COMMANDS = frozenset(c.name for c in COMMANDS if "mbus" in c.sources)
DLMS_COMMANDS = frozenset(c.name for c in COMMANDS if "dlms" in c.sources)
