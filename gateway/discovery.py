"""Home Assistant MQTT discovery, built from pydantic models and the register table.

One config per entity on `<prefix>/<component>/<node_id>/<object_id>/config` (works on every HA
release since 2023). Sensors come from the meter's registers; the breaker, tariff, tariff plan and
alarms add controls and binary sensors. Every entity is available only while both the bridge and the meter
are online (`availability_mode: all`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from gateway.sources.base import MeterInfo
from gateway.topics import Topics
from omnipower.alarms import ALARMS_BY_TYPE, Alarm
from omnipower.registers import BASIC_TARIFFS, MAX_TARIFF, Kind, Register

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


Component = Literal["sensor", "binary_sensor", "switch", "button", "select"]
DiscoveryMessage = tuple[str, EntityConfig]  # (topic, config)

def tariff_options(info: MeterInfo) -> list[str]:
    """The tariff select's options: "auto" and the tariffs the meter has registers for, T1–T8 when it publishes
    any of T5–T8, else T1–T4 (also for a source whose readings carry no per-tariff register)."""
    highest = max((r.tariff for r in info.registers), default=0)
    count = MAX_TARIFF if highest > BASIC_TARIFFS else BASIC_TARIFFS
    return ["auto", *(str(t) for t in range(1, count + 1))]


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
        value_template=f"{{{{ value_json.{register.key} }}}}",
        device_class=spec.device_class,
        state_class=spec.state_class,
        unit_of_measurement=register.unit,
        suggested_display_precision=spec.decimals if register.kind not in (Kind.TIMESTAMP, Kind.ENUM) else None,
        options=list(register.options) if register.kind is Kind.ENUM else None,
        entity_category=register.entity_category,
        enabled_by_default=register.enabled_by_default,
        icon=register.icon,
    )


def _config_select(info: MeterInfo, topics: Topics, version: str, command: str, name: str, options: list[str],
                   icon: str, state_key: str) -> tuple[Component, str, EntityConfig]:
    """A configuration select: shows `state_key` of the state, sends the chosen option to the `command` topic."""
    object_id = f"{command}_control"  # tariff_control, tariff_plan_control
    return ("select", object_id, SelectConfig(
        **_common(info, topics, object_id, name, version),
        state_topic=topics.meter(info.meter_id, "state"),
        value_template=f"{{{{ value_json.{state_key} }}}}",
        command_topic=topics.set_named(info.meter_id, command),
        options=options,
        entity_category="config",
        icon=icon,
    ))


def build(info: MeterInfo, topics: Topics, version: str) -> list[tuple[Component, str, EntityConfig]]:
    """Every discovery config of one meter: (component, object_id, config)."""
    mid = info.meter_id
    out: list[tuple[Component, str, EntityConfig]] = [
        ("sensor", r.key, sensor_for(r, info, topics, version)) for r in info.registers
    ]
    if "breaker" in info.commands:
        out.append((
            "switch", "breaker_switch",
            SwitchConfig(
                **_common(info, topics, "breaker_switch", "Breaker", version),
                state_topic=topics.meter(mid, "breaker"),
                value_template="{{ 'ON' if value_json.state == 'connected' else 'OFF' }}",
                command_topic=topics.set_named(mid, "breaker"),
                payload_on="connect",
                payload_off="disconnect",
                icon="mdi:electric-switch",
            ),
        ))
        out.append((
            "button", "breaker_release",
            ButtonConfig(
                **_common(info, topics, "breaker_release", "Release breaker for reconnection", version),
                command_topic=topics.set_named(mid, "breaker"),
                payload_press="release",
                icon="mdi:lock-open-variant",
            ),
        ))
    for key in ("load_control_1", "load_control_2"):
        if key in info.commands:
            n = key[-1]
            out.append((
                "switch", f"{key}_switch",
                SwitchConfig(
                    **_common(info, topics, f"{key}_switch", f"Load-control relay {n}", version),
                    state_topic=topics.meter(mid, "state"),
                    value_template=f"{{{{ 'ON' if value_json.{key} == 'on' else 'OFF' }}}}",
                    command_topic=topics.set_named(mid, key),
                    payload_on="on",
                    payload_off="off",
                    icon="mdi:electric-switch-closed",
                ),
            ))
    if "push_button" in info.commands:
        out.append((
            "button", "push_button",
            ButtonConfig(
                **_common(info, topics, "push_button", "Push button (hold 6 s)", version),
                command_topic=topics.set_named(mid, "push_button"),
                payload_press="hold",
                entity_category="diagnostic",
                icon="mdi:gesture-tap-hold",
            ),
        ))
    for key, command, payload, name, icon in (
        ("display_next", "push_button", "press", "Push button (short press: next display item)", "mdi:gesture-tap"),
        ("tamper_release", "tamper_release", "all", "Release tamper indication", "mdi:shield-refresh"),
        ("emergency_credit", "emergency_credit", "request", "Request emergency credit", "mdi:cash-plus"),
    ):
        if command in info.commands:
            out.append((
                "button", key,
                ButtonConfig(
                    **_common(info, topics, key, name, version),
                    command_topic=topics.set_named(mid, command),
                    payload_press=payload,
                    entity_category="diagnostic" if command != "emergency_credit" else None,
                    icon=icon,
                ),
            ))
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
    if "tariff" in info.commands:
        out.append(_config_select(info, topics, version, "tariff", "Tariff control", tariff_options(info),
                                  "mdi:cash-clock", state_key="tariff_control"))
    plan = next((r for r in info.registers if r.key == "tariff_plan"), None)
    if "tariff_plan" in info.commands and plan is not None:  # a meter holding 2 or 3 plans (meter_registers)
        out.append(_config_select(info, topics, version, "tariff_plan", "Tariff plan", list(plan.options),
                                  "mdi:calendar-clock", state_key="tariff_plan"))
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


def messages(info: MeterInfo, topics: Topics, version: str) -> list[tuple[str, bytes]]:
    """(topic, payload) of every discovery config of one meter."""
    return [
        (topics.discovery(component, info.meter_id, object_id), cfg.model_dump_json(exclude_none=True).encode())
        for component, object_id, cfg in build(info, topics, version)
    ]
