"""The meter's COSEM object model, derived from the register table (one more face of `omnipower/registers.py`).

Each reading becomes the COSEM object a DLMS head-end expects (IEC 62056-6-2, the Blue Book's interface classes):
- a total or an instantaneous value: **Register** (class 3) at the register's logical name, its value an integer
  count with the register's scaler and the unit of its kind;
- a peak with its time (`1.6.0` and `1.6.0.t`): **Extended Register** (class 4), the time as `capture_time`;
- the active tariff, the tariff plan, relay and prepayment states: **Data** (class 1);
- the breaker (`128.0.11`): **Disconnect Control** (class 70), §5.6 of the facts digest;
plus the objects every meter has: the logical device name (0.0.42.0.0.255), the clock (class 8, at 0.1.1.0.0.255
as the meter's own HAN push names it, §10.5) and the current association (class 15, 0.0.40.0.0.255) whose object
list is this table.

Counts: `count = round(base value / unit size / 10**scaler)`, base values as the model holds them (Wh, W, V, A …;
`registers.py`); the scaler is the register table's (the Kamstrup HAN convention) except where the COSEM unit is
not the base unit (the hour counter counts hours).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import IntEnum

from omnipower.dlms import DataType
from omnipower.registers import Kind, Register


class CosemClass(IntEnum):
    DATA = 1
    REGISTER = 3
    EXTENDED_REGISTER = 4
    CLOCK = 8
    ASSOCIATION_LN = 15
    DISCONNECT_CONTROL = 70


# Interface class versions (Blue Book): what a client reads in the object list.
CLASS_VERSIONS = {CosemClass.DATA: 0, CosemClass.REGISTER: 0, CosemClass.EXTENDED_REGISTER: 0, CosemClass.CLOCK: 0,
                  CosemClass.ASSOCIATION_LN: 1, CosemClass.DISCONNECT_CONTROL: 0}
# Attributes each class has (1 is always the logical name) and its methods.
CLASS_ATTRIBUTES = {CosemClass.DATA: (1, 2), CosemClass.REGISTER: (1, 2, 3),
                    CosemClass.EXTENDED_REGISTER: (1, 2, 3, 4, 5), CosemClass.CLOCK: (1, 2, 3, 4, 5, 6, 7, 8, 9),
                    CosemClass.ASSOCIATION_LN: (1, 2, 3, 4, 5, 6, 7, 8),
                    CosemClass.DISCONNECT_CONTROL: (1, 2, 3, 4)}
CLASS_METHODS = {CosemClass.DISCONNECT_CONTROL: (1, 2)}


class Unit(IntEnum):
    """COSEM unit codes (Blue Book, enumeration of units), those the meter uses."""

    HOUR = 5
    SECOND = 7
    CURRENCY = 10
    CUBIC_METRE = 13
    LITRE = 19
    WATT = 27
    VOLT_AMPERE = 28
    VAR = 29
    WATT_HOUR = 30
    VOLT_AMPERE_HOUR = 31
    VAR_HOUR = 32
    AMPERE = 33
    VOLT = 35
    HERTZ = 44
    PERCENT = 56
    COUNT = 255  # "count" / no unit


# Per kind: (unit, base units per unit, scaler). The scaler is the register table's except where the unit is not
# the base unit.
_KIND_UNITS: dict[Kind, tuple[Unit, float, int | None]] = {
    Kind.ENERGY: (Unit.WATT_HOUR, 1.0, None),
    Kind.REACTIVE_ENERGY: (Unit.VAR_HOUR, 1.0, None),
    Kind.APPARENT_ENERGY: (Unit.VOLT_AMPERE_HOUR, 1.0, None),
    Kind.POWER: (Unit.WATT, 1.0, None),
    Kind.REACTIVE_POWER: (Unit.VAR, 1.0, None),
    Kind.APPARENT_POWER: (Unit.VOLT_AMPERE, 1.0, None),
    Kind.VOLTAGE: (Unit.VOLT, 1.0, None),
    Kind.CURRENT: (Unit.AMPERE, 1.0, None),
    Kind.POWER_FACTOR: (Unit.COUNT, 1.0, None),
    Kind.FREQUENCY: (Unit.HERTZ, 1.0, None),
    Kind.HOURS: (Unit.HOUR, 3600.0, 0),
    Kind.COUNTER: (Unit.COUNT, 1.0, None),
    Kind.PERCENT: (Unit.PERCENT, 1.0, None),
    Kind.ENERGY_BALANCE: (Unit.WATT_HOUR, 1.0, None),
    Kind.MONEY: (Unit.CURRENCY, 1.0, None),
    Kind.PULSE_RATE: (Unit.HERTZ, 1.0, None),
    Kind.VOLUME_M3: (Unit.CUBIC_METRE, 1.0, None),
    Kind.VOLUME_L: (Unit.LITRE, 1.0, None),
    Kind.PULSE_ENERGY: (Unit.WATT_HOUR, 0.001, 0),  # counted in kWh by the model
}
# Values that may go below zero (a prepayment balance, money): signed counts; every other value is unsigned.
_SIGNED = frozenset({Kind.ENERGY_BALANCE, Kind.MONEY})

LOGICAL_DEVICE_NAME = bytes((0, 0, 42, 0, 0, 255))
CLOCK = bytes((0, 1, 1, 0, 0, 255))
CURRENT_ASSOCIATION = bytes((0, 0, 40, 0, 0, 255))
BREAKER_KEY = "breaker"


def logical_name(text: str) -> bytes:
    """"1.1.1.8.0.255" → six bytes."""
    parts = [int(p) for p in text.split(".")]
    if len(parts) != 6 or not all(0 <= p <= 255 for p in parts):
        raise ValueError(f"logical name {text!r}: six numbers 0–255 separated by dots")
    return bytes(parts)


def logical_name_text(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


@dataclass(frozen=True, slots=True)
class CosemObject:
    class_id: CosemClass
    logical_name: bytes
    key: str | None = None  # the register whose value attribute 2 holds (None: the meter's own objects)
    time_key: str | None = None  # Extended Register: the register holding the capture time
    unit: Unit = Unit.COUNT
    scaler: int = 0
    unit_size: float = 1.0  # base units per unit
    data_type: DataType = DataType.DOUBLE_LONG_UNSIGNED
    options: tuple[str, ...] = ()  # Data holding an enumeration: its states, in order

    @property
    def version(self) -> int:
        return CLASS_VERSIONS[self.class_id]

    @property
    def attributes(self) -> tuple[int, ...]:
        return CLASS_ATTRIBUTES[self.class_id]

    @property
    def methods(self) -> tuple[int, ...]:
        return CLASS_METHODS.get(self.class_id, ())

    def count(self, base_value: float) -> int:
        """The register's value as its integer count (see the module's docstring)."""
        return round(base_value / self.unit_size / 10.0**self.scaler)


@functools.cache
def cosem_objects(registers: tuple[Register, ...]) -> tuple[CosemObject, ...]:
    """One meter's object list: its own objects, then one per register (a peak's time is its Extended Register's
    capture time, not an object of its own)."""
    keys = {r.key for r in registers}
    times = {r.obis.removesuffix(".t"): r.key for r in registers if r.kind is Kind.TIMESTAMP}
    objects = [CosemObject(CosemClass.DATA, LOGICAL_DEVICE_NAME, data_type=DataType.OCTET_STRING),
               CosemObject(CosemClass.ASSOCIATION_LN, CURRENT_ASSOCIATION),
               CosemObject(CosemClass.CLOCK, CLOCK, data_type=DataType.OCTET_STRING)]
    for r in registers:
        if r.kind is Kind.TIMESTAMP:
            if r.obis.removesuffix(".t") not in {x.obis for x in registers}:
                raise ValueError(f"register {r.key}: a time ({r.obis}) with no value it belongs to")
            continue
        ln = logical_name(r.logical_name)
        if r.key == BREAKER_KEY:
            objects.append(CosemObject(CosemClass.DISCONNECT_CONTROL, ln, r.key, options=r.options))
        elif r.kind is Kind.ENUM:
            objects.append(CosemObject(CosemClass.DATA, ln, r.key, data_type=DataType.ENUM, options=r.options))
        elif r.kind is Kind.INTEGER:
            objects.append(CosemObject(CosemClass.DATA, ln, r.key, data_type=DataType.UNSIGNED))
        else:
            unit, size, scaler = _KIND_UNITS[r.kind]
            time_key = times.get(r.obis)
            objects.append(CosemObject(
                CosemClass.EXTENDED_REGISTER if time_key in keys else CosemClass.REGISTER, ln, r.key, time_key, unit,
                r.scaler if scaler is None else scaler, size,
                DataType.DOUBLE_LONG if r.kind in _SIGNED else DataType.DOUBLE_LONG_UNSIGNED))
    names = [o.logical_name for o in objects]
    if len(set(names)) != len(names):
        raise ValueError("two objects with one logical name")
    return tuple(objects)
