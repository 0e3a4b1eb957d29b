"""Home Assistant MQTT discovery, built from pydantic models and the register table.

Two faces of one list of entities (`build`): per entity, one config on
`<prefix>/<component>/<node_id>/<object_id>/config` (`discovery_mode: entity`, every HA release since 2023); or per
meter, one config on `<prefix>/device/<node_id>/config` whose `components` hold every entity under its object id,
with the device, the origin and the options all entities share said once (`discovery_mode: device`, HA 2024.11 and
later: mqtt/discovery.py). Both give HA the same discovery ids (`<node_id> <object_id>`) and unique ids, which is
what lets a switch between them migrate (see `gateway/discovery_migration.py`). Sensors come from the meter's
registers (omnipower/registers.py), switches, buttons, selects and the firmware's update entity from the command
table's entities of the commands the source carries (gateway/command_table.py), binary sensors from the alarm table
(omnipower/alarms.py); each from one generic builder. Every entity is available only while both the bridge and the
meter are online (`availability_mode: all`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from gateway.command_table import COMMANDS, Button, Entity, Switch, Update
from gateway.period_fields import StateField
from gateway.sources.base import MeterInfo
from gateway.topics import Topics
from omnipower.alarms import ALARMS_BY_TYPE, Alarm
from omnipower.registers import Kind, Register

ORIGIN_NAME = "omnipower-gateway"
SUPPORT_URL = "https://github.com/omnipower-gateway/omnipower-gateway"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Device(_Model):
    identifiers: list[str]
    name: str
    manufacturer: str
    model: str
    serial_number: str
    sw_version: str


class Origin(_Model):
    name: str
    sw_version: str
    support_url: str


class AvailabilityTopic(_Model):
    topic: str
    value_template: str = "{{ value_json.state }}"
    payload_available: str = "online"
    payload_not_available: str = "offline"


class EntityConfig(_Model):
    name: str | None
    unique_id: str
    device: Device
    origin: Origin
    availability: list[AvailabilityTopic]
    availability_mode: Literal["all", "any", "latest"] = "all"
    entity_category: Literal["diagnostic", "config"] | None = None
    enabled_by_default: bool = True
    icon: str | None = None


class SensorConfig(EntityConfig):
    state_topic: str
    value_template: str
    device_class: str | None = None
    state_class: str | None = None
    unit_of_measurement: str | None = None
    suggested_display_precision: int | None = None
    options: list[str] | None = None
    last_reset_value_template: str | None = None
    json_attributes_topic: str | None = None
    json_attributes_template: str | None = None


class BinarySensorConfig(EntityConfig):
    state_topic: str
    value_template: str
    device_class: str | None = None
    payload_on: str = "ON"
    payload_off: str = "OFF"


class SwitchConfig(EntityConfig):
    state_topic: str
    value_template: str
    command_topic: str
    payload_on: str
    payload_off: str
    state_on: str = "ON"
    state_off: str = "OFF"
    device_class: Literal["switch", "outlet"] | None = "switch"


class ButtonConfig(EntityConfig):
    command_topic: str
    payload_press: str


class SelectConfig(EntityConfig):
    state_topic: str
    value_template: str
    command_topic: str
    options: list[str]


class UpdateConfig(EntityConfig):
    """HA's MQTT update platform: installed and latest version, progress, from a JSON state (gateway/api.py's
    FirmwarePayload); `payload_install` sent to `command_topic` installs."""

    state_topic: str
    command_topic: str
    payload_install: str
    device_class: Literal["firmware"] = "firmware"


Component = Literal["sensor", "binary_sensor", "switch", "button", "select", "update"]
DiscoveryMode = Literal["entity", "device"]
DiscoveryMessage = tuple[str, EntityConfig]  # (topic, config)
Built = list[tuple[Component, str, EntityConfig]]  # what `build` gives: (component, object_id, config)

# What HA copies from a device config into each of its components that does not set it itself
# (mqtt/discovery.py `_merge_common_device_options`, HA 2024.11); the device and origin are said once too.
SHARED_OPTIONS = ("availability", "availability_mode", "state_topic")
# A template error: HA's template helper then returns the caller's default, and the MQTT sensor ignores the message
# without a word (mqtt/sensor.py `PayloadSentinel.DEFAULT`), on every release since 2023.3. `map` needs a filter name.
_IGNORE_MESSAGE = "([0] | map | first)"


def reading_template(key: str) -> str:
    """The value of `key` in the state, or, while the meter has none (null or absent), nothing HA acts on: no release
    before 2024.11 takes any text as a timestamp's or an enum's unknown without logging "Invalid state message"
    (mqtt/sensor.py), so a null leaves the sensor as it was (unknown until a first value; tests/ha_sensor_state.py)."""
    return f"{{% set v = value_json.get('{key}') %}}{{{{ v if v is not none else {_IGNORE_MESSAGE} }}}}"


def _common(info: MeterInfo, topics: Topics, key: str, name: str | None, version: str) -> dict[str, object]:
    mid = info.meter_id
    return {
        "name": name,
        "unique_id": f"{topics.node_id(mid)}_{key}",
        "device": Device(
            identifiers=[f"kamstrup_{info.serial_number}", topics.node_id(mid)],
            name=info.name,
            manufacturer=info.manufacturer,
            model=info.model,
            serial_number=info.serial_number,
            sw_version=info.sw_version,
        ),
        "origin": Origin(name=ORIGIN_NAME, sw_version=version, support_url=SUPPORT_URL),
        "availability": [
            AvailabilityTopic(topic=topics.bridge_state),
            AvailabilityTopic(topic=topics.meter(mid, "availability")),
        ],
    }


def sensor_for(register: Register, info: MeterInfo, topics: Topics, version: str) -> SensorConfig:
    spec = register.kind.spec
    return SensorConfig(
        **_common(info, topics, register.key, register.name, version),
        state_topic=topics.meter(info.meter_id, "state"),
        value_template=reading_template(register.key),
        device_class=spec.device_class,
        state_class=spec.state_class,
        unit_of_measurement=register.unit,
        suggested_display_precision=spec.decimals if register.kind.numeric else None,
        options=list(register.options) if register.kind is Kind.ENUM else None,
        entity_category=register.entity_category,
        enabled_by_default=register.enabled_by_default,
        icon=register.icon,
    )


def field_sensor_for(field: StateField, info: MeterInfo, topics: Topics, version: str) -> SensorConfig:
    """The sensor of a computed state field (gateway/period_fields.py): its state, its period's start as
    `last_reset` (read as empty, so ignored, while unknown), other fields as its attributes."""
    state = topics.meter(info.meter_id, "state")
    attributes = ", ".join(f"'{key}': value_json.{key}" for key in field.attribute_keys)
    return SensorConfig(
        **_common(info, topics, field.key, field.name, version),
        state_topic=state,
        value_template=reading_template(field.value_key or field.key),
        device_class=field.device_class,
        state_class=field.state_class,
        unit_of_measurement=field.unit,
        suggested_display_precision=field.decimals,
        options=list(field.options) if field.options else None,
        icon=field.icon,
        last_reset_value_template=(f"{{{{ value_json.{field.last_reset_key} or '' }}}}"
                                   if field.last_reset_key else None),
        json_attributes_topic=state if attributes else None,
        json_attributes_template=f"{{{{ {{{attributes}}} | tojson }}}}" if attributes else None,
    )


def build(info: MeterInfo, topics: Topics, version: str, fields: tuple[StateField, ...] = ()) -> Built:
    """Every discovery config of one meter: (component, object_id, config); `fields`: its computed state fields."""
    mid = info.meter_id
    out: list[tuple[Component, str, EntityConfig]] = [
        ("sensor", r.key, sensor_for(r, info, topics, version)) for r in info.registers
    ]
    out += [("sensor", f.key, field_sensor_for(f, info, topics, version)) for f in fields if f.name is not None]
    for spec in COMMANDS:
        if spec.name in info.commands:
            out += [e for entity in spec.entities if (e := entity_for(entity, spec.name, info, topics, version))]
    if "push_button" in info.commands and info.source == "simulated":  # only the simulated meter shows its LCD
        out.append((
            "sensor", "lcd",
            SensorConfig(
                **_common(info, topics, "lcd", "Display", version),
                state_topic=topics.meter(mid, "display"),
                value_template="{{ (value_json.value ~ ' ' ~ value_json.unit ~ ' ' ~ value_json.ident) | trim "
                               "if not value_json.blank else '' }}",
                entity_category="diagnostic",
                icon="mdi:numeric",
            ),
        ))
    out += [("binary_sensor", f"alarm_{t}", binary_sensor_for(ALARMS_BY_TYPE[t], info, topics, version))
            for t in info.alarm_types]
    return out


def binary_sensor_for(alarm: Alarm, info: MeterInfo, topics: Topics, version: str) -> BinarySensorConfig:
    """On while an alarm of this type is in the retained `alarms` set (any phase)."""
    return BinarySensorConfig(
        **_common(info, topics, f"alarm_{alarm.type}", alarm.name, version),
        state_topic=topics.meter(info.meter_id, "alarms"),
        value_template=(
            f"{{{{ 'ON' if value_json.active | selectattr('type', 'equalto', '{alarm.type}') "
            "| list | count > 0 else 'OFF' }}"
        ),
        device_class=alarm.device_class,
        entity_category="diagnostic",
    )


def entity_for(entity: Entity, command: str, info: MeterInfo, topics: Topics,
               version: str) -> tuple[Component, str, EntityConfig] | None:
    """The config of an entity that sends `command` (from the command table); None for a select with nothing to
    choose on this meter."""
    mid = info.meter_id
    common = _common(info, topics, entity.object_id, entity.name, version)
    command_topic = topics.set_named(mid, command)
    if isinstance(entity, Switch):
        return ("switch", entity.object_id, SwitchConfig(
            **common,
            state_topic=topics.meter(mid, entity.state_topic),
            value_template=f"{{{{ 'ON' if value_json.{entity.state_key} == '{entity.state_on}' else 'OFF' }}}}",
            command_topic=command_topic,
            payload_on=entity.payload_on,
            payload_off=entity.payload_off,
            icon=entity.icon,
        ))
    if isinstance(entity, Button):
        return ("button", entity.object_id, ButtonConfig(
            **common, command_topic=command_topic, payload_press=entity.payload, entity_category=entity.category,
            icon=entity.icon,
        ))
    if isinstance(entity, Update):
        return ("update", entity.object_id, UpdateConfig(
            **common, state_topic=topics.meter(mid, entity.state_topic), command_topic=command_topic,
            payload_install=entity.payload, entity_category="config",
        ))
    options = entity.options(info.registers)
    if not options:
        return None
    return ("select", entity.object_id, SelectConfig(
        **common,
        state_topic=topics.meter(mid, "state"),
        value_template=f"{{{{ value_json.{entity.state_key} }}}}",
        command_topic=command_topic,
        options=options,
        entity_category="config",
        icon=entity.icon,
    ))


def entity_messages(built: Built, info: MeterInfo, topics: Topics) -> list[tuple[str, bytes]]:
    """(topic, payload) of every discovery config of one meter, one per entity."""
    return [(topics.discovery(component, info.meter_id, object_id), cfg.model_dump_json(exclude_none=True).encode())
            for component, object_id, cfg in built]


def device_payload(built: Built, info: MeterInfo, topics: Topics,
                   retired: Iterable[tuple[str, str]] = ()) -> dict[str, object]:
    """The device-based config of one meter: every entity of `build` as a component under its object id, with its
    platform and its own options; the device, the origin and the shared options once at the top. `retired`
    (component, object id) are the entities the meter no longer has: a component with only its platform is a
    removal (mqtt/discovery.py `_generate_device_config` makes the same for a cleared device)."""
    dumped = [(c, o, cfg.model_dump(mode="json", exclude_none=True)) for c, o, cfg in built]
    first = dumped[0][2]
    device, origin = first["device"], first["origin"]
    shared: dict[str, object] = {key: first[key] for key in ("availability", "availability_mode")}
    shared["state_topic"] = topics.meter(info.meter_id, "state")
    components: dict[str, dict[str, object]] = {}
    for platform, object_id, options in dumped:
        if object_id in components:
            raise ValueError(f"two entities of meter {info.meter_id} have the object id {object_id!r}")
        del options["device"], options["origin"]
        own = {k: v for k, v in options.items() if k not in SHARED_OPTIONS or v != shared[k]}
        components[object_id] = {"platform": platform, **own}
    for component, object_id in retired:
        components.setdefault(object_id, {"platform": component})
    return {"device": device, "origin": origin, **shared, "components": components}


def device_messages(built: Built, info: MeterInfo, topics: Topics,
                    retired: Iterable[tuple[str, str]] = ()) -> list[tuple[str, bytes]]:
    """The one (topic, payload) of a meter's device-based config."""
    payload = json.dumps(device_payload(built, info, topics, retired), ensure_ascii=False, separators=(",", ":"))
    return [(topics.discovery_device(info.meter_id), payload.encode())]


FACES: dict[DiscoveryMode, Callable[[Built, MeterInfo, Topics], list[tuple[str, bytes]]]] = {
    "entity": entity_messages,
    "device": device_messages,
}


def messages(info: MeterInfo, topics: Topics, version: str, fields: tuple[StateField, ...] = (),
             mode: DiscoveryMode = "entity") -> list[tuple[str, bytes]]:
    """(topic, payload) of every discovery config of one meter in `mode`; `fields`: its computed state fields."""
    return FACES[mode](build(info, topics, version, fields), info, topics)
