"""The state fields the gateway computes from a meter's readings (energy by period, capacity tariff), declared once.

Like the register table (omnipower/registers.py) for what the meter reads, each `StateField` carries its state key
and its Home Assistant description; `gateway.discovery.field_sensor_for` builds every entity from it, and
`gateway.energy_periods` / `gateway.capacity_tariff` fill the values. A field with no `name` has no entity of its
own: another entity reads it (a period's start is its `last_reset`, the peak list its attributes).

Why these classes (docs/capacity-tariffs.md):
* the period energies are `total` with `last_reset`: Home Assistant starts a new cycle exactly when the period
  does. `total_increasing` would have it guess a new cycle from a drop, and a new hour or day whose first value is
  not below 90 % of the last one's is taken for a dip of the same cycle and counted negative;
* the capacity figures of the current hour move both ways (the projection, the headroom; the import so far is
  partly estimated from P+ on HAN), so they carry no state class: no long-term statistics are made of them;
* the month's value (the mean of the counted hours) is a power in kW, the unit the steps are published in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class StateField:
    key: str
    name: str | None  # None: no entity of its own
    device_class: str | None = None
    state_class: str | None = None
    unit: str | None = None
    decimals: int | None = None
    icon: str | None = None
    last_reset_key: str | None = None  # the field holding the start of this value's period
    value_key: str | None = None  # the entity's state is this other field (default: its own)
    attribute_keys: tuple[str, ...] = ()  # fields shown as the entity's attributes
    options: tuple[str, ...] = ()  # an enum's states (filled per meter: `fields_for`)


def _energy(key: str, name: str, period: str, icon: str) -> StateField:
    return StateField(key, name, "energy", "total", "kWh", 3, icon, last_reset_key=f"energy_{period}_start")


def _period_start(period: str) -> StateField:
    return StateField(f"energy_{period}_start", None)


FIELDS: tuple[StateField, ...] = (
    _energy("energy_import_hour", "Import this hour", "hour", "mdi:transmission-tower-import"),
    _energy("energy_export_hour", "Export this hour", "hour", "mdi:transmission-tower-export"),
    _period_start("hour"),
    _energy("energy_import_day", "Import today", "day", "mdi:transmission-tower-import"),
    _energy("energy_export_day", "Export today", "day", "mdi:transmission-tower-export"),
    _period_start("day"),
    _energy("energy_import_month", "Import this month", "month", "mdi:transmission-tower-import"),
    _energy("energy_export_month", "Export this month", "month", "mdi:transmission-tower-export"),
    _period_start("month"),
    StateField("capacity_hour_import", "Capacity: import this hour", "energy", None, "kWh", 3, "mdi:timer-sand"),
    StateField("capacity_hour_projection", "Capacity: projected import this hour", "energy", None, "kWh", 3,
               "mdi:chart-line"),
    StateField("capacity_month_peaks", "Capacity: month's peak mean", "power", "measurement", "kW", 3,
               "mdi:chart-bar", value_key="capacity_month_value",
               attribute_keys=("capacity_month_peaks", "capacity_previous_month")),
    StateField("capacity_month_value", None),
    StateField("capacity_step", "Capacity step", "enum", icon="mdi:stairs"),
    StateField("capacity_headroom", "Capacity: headroom this hour", "energy", None, "kWh", 3, "mdi:gauge"),
    StateField("capacity_previous_month", None),
)
FIELDS_BY_KEY = {f.key: f for f in FIELDS}
assert len(FIELDS_BY_KEY) == len(FIELDS), "state field keys must be unique"


def fields_for(keys: Iterable[str], step_options: Iterable[str] = ()) -> tuple[StateField, ...]:
    """The declared fields among `keys`, in table order; `capacity_step` with this meter's options."""
    wanted = set(keys)
    unknown = wanted - FIELDS_BY_KEY.keys()
    if unknown:
        raise ValueError(f"undeclared state fields: {sorted(unknown)}")
    options = tuple(step_options)
    return tuple(replace(f, options=options) if f.key == "capacity_step" else f for f in FIELDS if f.key in wanted)
