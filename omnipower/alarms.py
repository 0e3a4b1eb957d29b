"""The alarm table: every alarm type the meter raises, declared once.

Each `Alarm` carries its type (the `type` of the MQTT `alarm` event and of the retained `alarms` set), the Home
Assistant binary sensor that shows it, whether it is raised per phase, and its discrete inputs in the Modbus map.
The simulated meter raises alarms by these entries and reports every one; the Modbus map (omnipower/modbus_map.py)
carries those with a `modbus_input`, so a Modbus source reports only those; discovery announces one binary sensor
per type a source reports. Adding an alarm type is one entry here plus the meter raising it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALARMS",
    "ALARMS_BY_TYPE",
    "ALARM_TYPES",
    "LOW_CREDIT",
    "MODULE_ALARM_INPUT",
    "NEUTRAL_FAULT",
    "OVERVOLTAGE",
    "POWER_OUTAGE",
    "TAMPER_COVER",
    "TAMPER_MAGNETIC",
    "UNDERVOLTAGE",
    "VOLTAGE_MISSING",
    "Alarm",
]

PHASES = (1, 2, 3)


@dataclass(frozen=True, slots=True)
class Alarm:
    type: str  # the MQTT name
    name: str  # the Home Assistant binary sensor's name
    phase_bound: bool = False  # raised per phase (1–3); else meter-wide (phase null)
    modbus_input: int | None = None  # first discrete input (function 02); a phase-bound alarm has L1–L3 from here
    device_class: str = "problem"

    @property
    def phases(self) -> tuple[int | None, ...]:
        """The phases it is raised for: 1–3, or (None,) for a meter-wide alarm."""
        return PHASES if self.phase_bound else (None,)


# Voltage alarms per phase (the power-quality single-value limits): < U_outage,level, < U_low,sv, > U_high,sv
VOLTAGE_MISSING = Alarm("voltage_missing", "Alarm voltage missing", phase_bound=True, modbus_input=0)
UNDERVOLTAGE = Alarm("undervoltage", "Alarm undervoltage", phase_bound=True, modbus_input=3)
OVERVOLTAGE = Alarm("overvoltage", "Alarm overvoltage", phase_bound=True, modbus_input=6)
NEUTRAL_FAULT = Alarm("neutral_fault", "Alarm neutral fault")  # §7.9
POWER_OUTAGE = Alarm("power_outage", "Alarm power outage")  # the last gasp (§8, Variant 2 with radio)
TAMPER_MAGNETIC = Alarm("tamper_magnetic", "Alarm tamper magnetic")  # §6.1; the type is tamper_<detector>
TAMPER_COVER = Alarm("tamper_cover", "Alarm tamper cover")
LOW_CREDIT = Alarm("low_credit", "Alarm low credit")  # §5.5 prepayment
MODULE_ALARM_INPUT = Alarm("module_alarm_input", "Alarm module alarm input")  # Z3 codes with an alarm input

ALARMS: tuple[Alarm, ...] = (
    VOLTAGE_MISSING, UNDERVOLTAGE, OVERVOLTAGE, NEUTRAL_FAULT, POWER_OUTAGE, TAMPER_MAGNETIC, TAMPER_COVER, LOW_CREDIT,
    MODULE_ALARM_INPUT,
)
ALARMS_BY_TYPE: dict[str, Alarm] = {a.type: a for a in ALARMS}
ALARM_TYPES: tuple[str, ...] = tuple(ALARMS_BY_TYPE)
assert len(ALARMS_BY_TYPE) == len(ALARMS), "alarm types must be unique"
