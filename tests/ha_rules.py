"""An independent judge for Home Assistant MQTT discovery payloads.

The gateway's tests use this module to assert that every discovery payload we publish would be
accepted by Home Assistant (and is usable by the Energy dashboard).  It deliberately shares no code
with ``gateway/``: every rule below was transcribed from Home Assistant's own source, not from our
implementation.  Pure standard library; no Home Assistant, voluptuous or jinja2 import.

Where the rules come from (paths in the ``home-assistant/core`` repository unless noted):

* ``homeassistant/components/sensor/const.py`` -- ``SensorDeviceClass``, ``SensorStateClass``,
  ``DEVICE_CLASS_UNITS``, ``DEVICE_CLASS_STATE_CLASSES``, ``STATE_CLASS_UNITS``,
  ``NON_NUMERIC_DEVICE_CLASSES``.  Device classes and units added after the copy we could read
  (reactive_energy, absolute_humidity, pm4, mVA/kVA, mvar, mPa, inH₂O, MCF, nmi, mHz ...) were
  taken from ``docs/core/entity/sensor.md`` in ``home-assistant/developers.home-assistant``.
* ``homeassistant/const.py`` -- the ``UnitOf*`` enums, ``PERCENTAGE``, ``DEGREE``, ``LIGHT_LUX``,
  ``CONCENTRATION_*``, ``SIGNAL_STRENGTH_*``, ``EntityCategory``.
* ``homeassistant/components/sensor/__init__.py`` -- runtime checks of ``SensorEntity``:
  ``entity_category: config`` refused (``HomeAssistantError`` in ``async_internal_added_to_hass``),
  unit on a non-numeric device class (``ValueError``), "impossible" state class and invalid unit
  (logged warnings).
* ``homeassistant/components/binary_sensor/__init__.py`` -- ``BinarySensorDeviceClass`` and the same
  ``entity_category: config`` refusal.
* ``homeassistant/components/switch/__init__.py`` (``SwitchDeviceClass``),
  ``homeassistant/components/button/__init__.py`` (``ButtonDeviceClass``).
* ``homeassistant/components/mqtt/sensor.py`` -- ``_PLATFORM_SCHEMA_BASE`` and
  ``validate_sensor_state_and_device_class_config`` (options/enum, last_reset_value_template,
  ``STATE_CLASS_UNITS``, unit vs ``DEVICE_CLASS_UNITS``, ``AMBIGUOUS_UNITS`` micro-sign mapping).
* ``homeassistant/components/mqtt/binary_sensor.py``, ``switch.py``, ``button.py``, ``select.py``,
  ``update.py`` -- the ``PLATFORM_SCHEMA_MODERN`` / ``DISCOVERY_SCHEMA`` of each platform; for ``update.py``
  also ``MqttUpdate.async_install`` (publishes ``self._config[CONF_PAYLOAD_INSTALL]``: with a command topic and
  no ``payload_install`` the install fails) and ``MQTT_JSON_UPDATE_SCHEMA``, the schema a JSON state payload must
  pass (no other key; strings never null; ``in_progress`` boolean; ``update_percentage`` 0-100 or null;
  ``display_precision`` since HA 2024.12).  ``homeassistant/components/update/__init__.py`` --
  ``UpdateDeviceClass``.
* ``homeassistant/components/mqtt/config.py`` -- ``MQTT_BASE_SCHEMA`` (qos, encoding),
  ``MQTT_RO_SCHEMA`` (state_topic required), ``MQTT_RW_SCHEMA`` (command_topic required).
* ``homeassistant/components/mqtt/schemas.py`` -- ``MQTT_AVAILABILITY_SINGLE_SCHEMA``,
  ``MQTT_AVAILABILITY_LIST_SCHEMA`` (``vol.Exclusive`` availability/availability_topic),
  ``MQTT_ENTITY_DEVICE_INFO_SCHEMA`` + ``validate_device_has_at_least_one_identifier``,
  ``MQTT_ORIGIN_INFO_SCHEMA``, ``MQTT_ENTITY_COMMON_SCHEMA``.
* ``homeassistant/components/mqtt/const.py`` -- ``AVAILABILITY_MODES``, payload defaults.
* ``homeassistant/components/mqtt/util.py`` -- ``valid_topic``, ``valid_subscribe_topic``,
  ``valid_publish_topic``, ``valid_qos_schema``.
* ``homeassistant/components/mqtt/discovery.py`` -- ``TOPIC_MATCHER``, the discovery subscriptions
  (``<prefix>/<component>/+/config`` and ``<prefix>/<component>/+/+/config``),
  ``SUPPORTED_COMPONENTS``, abbreviation expansion, ``~`` topic base, origin validation (an invalid
  ``origin`` drops the whole message).
* ``homeassistant/components/mqtt/abbreviations.py`` -- ``ABBREVIATIONS``, ``DEVICE_ABBREVIATIONS``,
  ``ORIGIN_ABBREVIATIONS`` (subset covering the keys validated here).
* ``homeassistant/components/mqtt/entity.py`` -- device name info log, ``object_id`` handling.
* ``homeassistant/helpers/config_validation.py`` -- ``string`` (coerces scalars, rejects
  None/list/dict), ``boolean``, ``positive_int`` (>= 0!), ``icon``, ``url``/``configuration_url``,
  ``template``, ``ensure_list``.
* ``homeassistant/helpers/entity.py`` -- ``ENTITY_CATEGORIES_SCHEMA = vol.Coerce(EntityCategory)``.
* ``homeassistant/components/energy/validate.py`` -- ``ENERGY_USAGE_DEVICE_CLASSES``,
  ``ENERGY_USAGE_UNITS``, the accepted state classes of grid consumption/return statistics.

Every problem carries a severity:

* ``error``   -- Home Assistant rejects the discovery message, or refuses to add / update the entity.
* ``warning`` -- Home Assistant accepts it but logs a warning, or long-term statistics / the Energy
  dashboard will not work (e.g. a state class that is "impossible" for the device class).
* ``policy``  -- stricter than Home Assistant, our own rule (e.g. ``unique_id`` required, JSON-native
  types instead of values HA would coerce, publishable state topics, unknown keys that HA would
  silently drop).  Left out with ``strict=False``.

The tables target the Home Assistant 2025.x series (``TARGET_HA_VERSION``).  Rules that depend on the
release are gated on ``ha_version`` and say which release introduced them; :data:`RELEASES` lists the releases
the judge models (every monthly release from 2023.1 to the target).

Device-based discovery (``<prefix>/device/<object_id>/config``, HA 2024.11, core PR #118757) and the migration
between the two forms, from ``homeassistant/components/mqtt/discovery.py`` (``_parse_device_payload``,
``_merge_common_device_options``, ``_async_process_discovery_migration``, ``_generate_device_config``),
``schemas.py`` (``DEVICE_DISCOVERY_SCHEMA``, ``_COMPONENT_CONFIG_SCHEMA``, ``check_unique_id``) and the
migration tests of ``tests/components/mqtt/test_discovery.py``: :func:`check_device_discovery`,
:func:`expand_device_payload`, :func:`migration_marker_problems`, :class:`DiscoveryReplay`.  What HA makes of
the *state* messages (the value templates, per release) is judged by ``tests/ha_sensor_state.py``, which needs
jinja2 as HA does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlparse

__all__ = [
    "ABBREVIATIONS",
    "AVAILABILITY_MODES",
    "BINARY_SENSOR_DEVICE_CLASSES",
    "BUTTON_DEVICE_CLASSES",
    "DEVICE_ABBREVIATIONS",
    "DEVICE_CLASS_STATE_CLASSES",
    "DEVICE_CLASS_UNITS",
    "DEVICE_DISCOVERY_SINCE",
    "ENERGY_UNITS",
    "ENTITY_CATEGORIES",
    "ORIGIN_ABBREVIATIONS",
    "RELEASES",
    "SENSOR_DEVICE_CLASSES",
    "SENSOR_STATE_CLASSES",
    "SUPPORTED_COMPONENTS",
    "SWITCH_DEVICE_CLASSES",
    "TARGET_HA_VERSION",
    "UPDATE_DEVICE_CLASSES",
    "VALIDATED_COMPONENTS",
    "DiscoveryReplay",
    "HAVersion",
    "Problem",
    "Severity",
    "check_device_discovery",
    "check_discovery",
    "energy_dashboard_problems",
    "expand_abbreviations",
    "expand_device_payload",
    "migration_marker_problems",
    "validate_discovery",
    "validate_message",
    "validate_topic",
    "validate_update_state",
]

Severity = Literal["error", "warning", "policy"]
HAVersion = tuple[int, int]

#: The Home Assistant release the tables describe (the latest 2025 release).
TARGET_HA_VERSION: Final[HAVersion] = (2025, 12)


@dataclass(frozen=True)
class Problem:
    """One finding of the judge: severity, the offending key (dotted path) and why."""

    severity: Severity
    key: str
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.key}: {self.message}"


# ---------------------------------------------------------------------------------------------------
# Units (homeassistant/const.py UnitOf* enums; values as of HA 2025.x)
# ---------------------------------------------------------------------------------------------------
# HA writes the micro prefix with U+03BC GREEK SMALL LETTER MU; the MQTT sensor maps the legacy
# U+00B5 MICRO SIGN spellings onto it (mqtt/sensor.py AMBIGUOUS_UNITS), so we compare after mapping.
_MICRO_SIGN: Final = "\u00b5"
_GREEK_MU: Final = "\u03bc"

PERCENTAGE: Final = "%"
DEGREE: Final = "°"
LIGHT_LUX: Final = "lx"
CONCENTRATION_GRAMS_PER_CUBIC_METER: Final = "g/m³"
CONCENTRATION_MILLIGRAMS_PER_CUBIC_METER: Final = "mg/m³"
CONCENTRATION_MICROGRAMS_PER_CUBIC_METER: Final = "μg/m³"
CONCENTRATION_PARTS_PER_MILLION: Final = "ppm"
CONCENTRATION_PARTS_PER_BILLION: Final = "ppb"

# UnitOfApparentPower: VA since 2022.2; mVA and kVA added later in 2025 (developer docs table).
_APPARENT_POWER: Final = frozenset({"mVA", "VA", "kVA"})
# UnitOfPower has BTU/h too, but DEVICE_CLASS_UNITS[POWER] lists only the SI units (mW added 2025).
_POWER: Final = frozenset({"mW", "W", "kW", "MW", "GW", "TW"})
# UnitOfReactivePower: var since 2022.2, kvar since the UnitOfReactivePower enum (2024), mvar 2025.
_REACTIVE_POWER: Final = frozenset({"mvar", "var", "kvar"})
# UnitOfEnergy (J ... Gcal; Wh/kWh/MWh/GJ/MJ are the historical core set).
ENERGY_UNITS: Final = frozenset(
    {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"}
)
# UnitOfReactiveEnergy -- introduced together with SensorDeviceClass.REACTIVE_ENERGY in HA 2025.6
# (core PR #143941, merged 2025-05-16).
_REACTIVE_ENERGY: Final = frozenset({"varh", "kvarh"})
_ENERGY_DISTANCE: Final = frozenset({"kWh/100km", "Wh/km", "mi/kWh", "km/kWh"})
_CURRENT: Final = frozenset({"mA", "A"})
_VOLTAGE: Final = frozenset({"μV", "mV", "V", "kV", "MV"})
_TEMPERATURE: Final = frozenset({"°C", "°F", "K"})
# DEVICE_CLASS_UNITS[DURATION] is a subset of UnitOfTime (no w / m / y).
_DURATION: Final = frozenset({"d", "h", "min", "s", "ms", "μs"})
_LENGTH: Final = frozenset({"mm", "cm", "m", "km", "in", "ft", "yd", "mi", "nmi"})
# mHz is listed by the developer docs table for FREQUENCY (late 2025 addition).
_FREQUENCY: Final = frozenset({"mHz", "Hz", "kHz", "MHz", "GHz"})
_PRESSURE: Final = frozenset(
    {
        "mPa",
        "Pa",
        "hPa",
        "kPa",
        "bar",
        "cbar",
        "mbar",
        "mmHg",
        "inHg",
        "inH₂O",
        "psi",
    },
)
_SOUND_PRESSURE: Final = frozenset({"dB", "dBA"})
_VOLUME: Final = frozenset({"ft³", "CCF", "MCF", "m³", "L", "mL", "gal", "fl. oz."})
_GAS: Final = frozenset({"L", "m³", "ft³", "CCF", "MCF"})
_WATER: Final = frozenset({"L", "gal", "m³", "ft³", "CCF", "MCF"})
_VOLUME_FLOW_RATE: Final = frozenset(
    {"m³/h", "m³/min", "m³/s", "ft³/min", "L/h", "L/min", "L/s", "gal/h", "gal/min", "gal/d", "mL/s"}
)
_AREA: Final = frozenset({"m²", "cm²", "km²", "mm²", "in²", "ft²", "yd²", "mi²", "ac", "ha"})
_MASS: Final = frozenset({"g", "kg", "mg", "μg", "oz", "lb", "st"})
_CONDUCTIVITY: Final = frozenset({"S/cm", "mS/cm", "μS/cm"})
_IRRADIANCE: Final = frozenset({"W/m²", "BTU/(h⋅ft²)"})
_VOLUMETRIC_FLUX: Final = frozenset({"in/d", "in/h", "mm/d", "mm/h"})
_PRECIPITATION_DEPTH: Final = frozenset({"in", "mm", "cm"})
_BLOOD_GLUCOSE: Final = frozenset({"mg/dL", "mmol/L"})
_SPEED: Final = frozenset({"Beaufort", "ft/s", "in/s", "m/min", "m/s", "km/h", "kn", "mph", "mm/s"})
_INFORMATION: Final = frozenset(
    {
        "bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB",
        "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB",
    }
)  # fmt: skip
_DATA_RATE: Final = frozenset(
    {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "B/s", "kB/s", "MB/s", "GB/s", "KiB/s", "MiB/s", "GiB/s"}
)
_SIGNAL_STRENGTH: Final = frozenset({"dB", "dBm"})

# ---------------------------------------------------------------------------------------------------
# Sensor device classes / state classes (sensor/const.py)
# ---------------------------------------------------------------------------------------------------
_NO_UNIT: Final[frozenset[str | None]] = frozenset({None})


def _units(*groups: Iterable[str | None]) -> frozenset[str | None]:
    out: set[str | None] = set()
    for group in groups:
        out.update(group)
    return frozenset(out)


#: DEVICE_CLASS_UNITS: the only units HA accepts for a sensor device class (None = no unit).
#: Device classes absent from this table (date, enum, timestamp, monetary) have no unit table in HA.
DEVICE_CLASS_UNITS: Final[Mapping[str, frozenset[str | None]]] = {
    "absolute_humidity": _units(
        {CONCENTRATION_GRAMS_PER_CUBIC_METER, CONCENTRATION_MILLIGRAMS_PER_CUBIC_METER},
    ),
    "apparent_power": _units(_APPARENT_POWER),
    "aqi": _NO_UNIT,
    "area": _units(_AREA),
    "atmospheric_pressure": _units(_PRESSURE),
    "battery": _units({PERCENTAGE}),
    "blood_glucose_concentration": _units(_BLOOD_GLUCOSE),
    "carbon_monoxide": _units(
        {
            CONCENTRATION_PARTS_PER_BILLION,
            CONCENTRATION_PARTS_PER_MILLION,
            CONCENTRATION_MICROGRAMS_PER_CUBIC_METER,
            CONCENTRATION_MILLIGRAMS_PER_CUBIC_METER,
        }
    ),
    "carbon_dioxide": _units({CONCENTRATION_PARTS_PER_MILLION}),
    "conductivity": _units(_CONDUCTIVITY),
    "current": _units(_CURRENT),
    "data_rate": _units(_DATA_RATE),
    "data_size": _units(_INFORMATION),
    "distance": _units(_LENGTH),
    "duration": _units(_DURATION),
    "energy": _units(ENERGY_UNITS),
    "energy_distance": _units(_ENERGY_DISTANCE),
    "energy_storage": _units(ENERGY_UNITS),
    "frequency": _units(_FREQUENCY),
    "gas": _units(_GAS),
    "humidity": _units({PERCENTAGE}),
    "illuminance": _units({LIGHT_LUX}),
    "irradiance": _units(_IRRADIANCE),
    "moisture": _units({PERCENTAGE}),
    "nitrogen_dioxide": _units(
        {
            CONCENTRATION_PARTS_PER_BILLION,
            CONCENTRATION_PARTS_PER_MILLION,
            CONCENTRATION_MICROGRAMS_PER_CUBIC_METER,
        }
    ),
    "nitrogen_monoxide": _units({CONCENTRATION_PARTS_PER_BILLION, CONCENTRATION_MICROGRAMS_PER_CUBIC_METER}),
    "nitrous_oxide": _units({CONCENTRATION_MICROGRAMS_PER_CUBIC_METER}),
    "ozone": _units(
        {
            CONCENTRATION_PARTS_PER_BILLION,
            CONCENTRATION_PARTS_PER_MILLION,
            CONCENTRATION_MICROGRAMS_PER_CUBIC_METER,
        }
    ),
    "ph": _NO_UNIT,
    "pm1": _units({CONCENTRATION_MICROGRAMS_PER_CUBIC_METER}),
    "pm10": _units({CONCENTRATION_MICROGRAMS_PER_CUBIC_METER}),
    "pm25": _units({CONCENTRATION_MICROGRAMS_PER_CUBIC_METER}),
    "pm4": _units({CONCENTRATION_MICROGRAMS_PER_CUBIC_METER}),
    # DEVICE_CLASS_UNITS[POWER_FACTOR] = {PERCENTAGE, None}: a ratio 0..1 has no unit at all.
    "power_factor": _units({PERCENTAGE, None}),
    "power": _units(_POWER),
    "precipitation": _units(_PRECIPITATION_DEPTH),
    "precipitation_intensity": _units(_VOLUMETRIC_FLUX),
    "pressure": _units(_PRESSURE),
    "reactive_energy": _units(_REACTIVE_ENERGY),
    "reactive_power": _units(_REACTIVE_POWER),
    "signal_strength": _units(_SIGNAL_STRENGTH),
    "sound_pressure": _units(_SOUND_PRESSURE),
    "speed": _units(_SPEED, _VOLUMETRIC_FLUX),
    "sulphur_dioxide": _units({CONCENTRATION_PARTS_PER_BILLION, CONCENTRATION_MICROGRAMS_PER_CUBIC_METER}),
    "temperature": _units(_TEMPERATURE),
    "temperature_delta": _units(_TEMPERATURE),
    "volatile_organic_compounds": _units(
        {CONCENTRATION_MICROGRAMS_PER_CUBIC_METER, CONCENTRATION_MILLIGRAMS_PER_CUBIC_METER}
    ),
    "volatile_organic_compounds_parts": _units(
        {CONCENTRATION_PARTS_PER_MILLION, CONCENTRATION_PARTS_PER_BILLION},
    ),
    "voltage": _units(_VOLTAGE),
    "volume": _units(_VOLUME),
    "volume_flow_rate": _units(_VOLUME_FLOW_RATE),
    "volume_storage": _units(_VOLUME),
    "water": _units(_WATER),
    "weight": _units(_MASS),
    "wind_direction": _units({DEGREE}),
    "wind_speed": _units(_SPEED),
}

#: SensorDeviceClass values.  date/enum/timestamp are the NON_NUMERIC_DEVICE_CLASSES.
SENSOR_DEVICE_CLASSES: Final = frozenset(DEVICE_CLASS_UNITS) | {"date", "enum", "timestamp", "monetary"}
_NON_NUMERIC_DEVICE_CLASSES: Final = frozenset({"date", "enum", "timestamp"})

#: SensorStateClass values.  measurement_angle: HA 2025.4 (core PR #138453, merged March 2025).
SENSOR_STATE_CLASSES: Final = frozenset({"measurement", "measurement_angle", "total", "total_increasing"})
_M: Final = frozenset({"measurement"})
_TOTALS: Final = frozenset({"total", "total_increasing"})
_ALL_STATE_CLASSES: Final = SENSOR_STATE_CLASSES  # `set(SensorStateClass)` in const.py

#: DEVICE_CLASS_STATE_CLASSES: the state classes HA considers possible for a device class.
DEVICE_CLASS_STATE_CLASSES: Final[Mapping[str, frozenset[str]]] = {
    "absolute_humidity": _M,
    "apparent_power": _M,
    "aqi": _M,
    "area": _ALL_STATE_CLASSES,
    "atmospheric_pressure": _M,
    "battery": _M,
    "blood_glucose_concentration": _M,
    "carbon_monoxide": _M,
    "carbon_dioxide": _M,
    "conductivity": _M,
    "current": _M,
    "data_rate": _M,
    "data_size": _ALL_STATE_CLASSES,
    "date": frozenset(),
    "distance": _ALL_STATE_CLASSES,
    "duration": _ALL_STATE_CLASSES,
    "energy": _TOTALS,
    "energy_distance": _M,
    "energy_storage": _M,
    "enum": frozenset(),
    "frequency": _M,
    "gas": _TOTALS,
    "humidity": _M,
    "illuminance": _M,
    "irradiance": _M,
    "moisture": _M,
    "monetary": frozenset({"total"}),
    "nitrogen_dioxide": _M,
    "nitrogen_monoxide": _M,
    "nitrous_oxide": _M,
    "ozone": _M,
    "ph": _M,
    "pm1": _M,
    "pm10": _M,
    "pm25": _M,
    "pm4": _M,
    "power_factor": _M,
    "power": _M,
    "precipitation": _ALL_STATE_CLASSES,
    "precipitation_intensity": _M,
    "pressure": _M,
    "reactive_energy": _TOTALS,
    "reactive_power": _M,
    "signal_strength": _M,
    "sound_pressure": _M,
    "speed": _M,
    "sulphur_dioxide": _M,
    "temperature": _M,
    "temperature_delta": _M,
    "timestamp": frozenset(),
    "volatile_organic_compounds": _M,
    "volatile_organic_compounds_parts": _M,
    "voltage": _M,
    "volume": _TOTALS,
    "volume_flow_rate": _M,
    "volume_storage": _M,
    "water": _TOTALS,
    "weight": frozenset({"measurement", "total", "total_increasing"}),
    "wind_direction": frozenset({"measurement_angle"}),
    "wind_speed": _M,
}

#: STATE_CLASS_UNITS: a state class that pins the unit (measurement_angle is degrees only).
_STATE_CLASS_UNITS: Final[Mapping[str, frozenset[str | None]]] = {"measurement_angle": _units({DEGREE})}

#: First HA release knowing a sensor device class / state class (only the recent ones matter here).
_SENSOR_DEVICE_CLASS_SINCE: Final[Mapping[str, HAVersion]] = {
    "wind_direction": (2025, 3),  # core PR #138714 (Feb 2025)
    "reactive_energy": (2025, 6),  # core PR #143941 (merged 2025-05-16)
    "absolute_humidity": (2025, 8),  # core PR #148567 (July 2025)
    "pm4": (2025, 10),  # core PR #112867 (merged after its docs PR of 2025-09-19)
}
_SENSOR_STATE_CLASS_SINCE: Final[Mapping[str, HAVersion]] = {"measurement_angle": (2025, 4)}

# MQTT sensor: a unit that is invalid for the device class was a logged deprecation from 2025.3.2
# (core PR #140164) and is a hard discovery error since HA 2025.7 (core PR #146722).
_MQTT_UNIT_ENFORCED_SINCE: Final[HAVersion] = (2025, 7)
# MQTT `object_id` deprecated in favour of `default_entity_id` in HA 2025.10, stops working in 2026.4.
_OBJECT_ID_DEPRECATED_SINCE: Final[HAVersion] = (2025, 10)

# ---------------------------------------------------------------------------------------------------
# Other platforms' device classes
# ---------------------------------------------------------------------------------------------------
#: BinarySensorDeviceClass (binary_sensor/__init__.py).
BINARY_SENSOR_DEVICE_CLASSES: Final = frozenset(
    {
        "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door",
        "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug",
        "power", "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "update",
        "vibration", "window",
    }
)  # fmt: skip
#: SwitchDeviceClass (switch/__init__.py).
SWITCH_DEVICE_CLASSES: Final = frozenset({"outlet", "switch"})
#: ButtonDeviceClass (button/__init__.py).
BUTTON_DEVICE_CLASSES: Final = frozenset({"identify", "restart", "update"})
#: UpdateDeviceClass (update/__init__.py).
UPDATE_DEVICE_CLASSES: Final = frozenset({"firmware"})
#: EntityCategory (homeassistant/const.py); "system" was removed in 2022.
ENTITY_CATEGORIES: Final = frozenset({"config", "diagnostic"})
#: mqtt/const.py AVAILABILITY_MODES.
AVAILABILITY_MODES: Final = frozenset({"all", "any", "latest"})

#: Components this judge validates in depth.
VALIDATED_COMPONENTS: Final = frozenset({"sensor", "binary_sensor", "switch", "button", "select", "update"})
#: mqtt/discovery.py SUPPORTED_COMPONENTS (+ "device", device-based discovery since HA 2024.11).
SUPPORTED_COMPONENTS: Final = frozenset(
    {
        "alarm_control_panel", "binary_sensor", "button", "camera", "climate", "cover", "device_automation",
        "device_tracker", "event", "fan", "humidifier", "image", "lawn_mower", "light", "lock", "notify",
        "number", "scene", "siren", "select", "sensor", "switch", "tag", "text", "update", "vacuum", "valve",
        "water_heater", "device",
    }
)  # fmt: skip

# ---------------------------------------------------------------------------------------------------
# Abbreviations (mqtt/abbreviations.py; only the keys meaningful for the validated components)
# ---------------------------------------------------------------------------------------------------
ABBREVIATIONS: Final[Mapping[str, str]] = {
    "avty": "availability",
    "avty_mode": "availability_mode",
    "avty_t": "availability_topic",
    "avty_tpl": "availability_template",
    "cmd_t": "command_topic",
    "cmd_tpl": "command_template",
    "dev": "device",
    "dev_cla": "device_class",
    "dsp_prc": "display_precision",
    "e": "encoding",
    "en": "enabled_by_default",
    "ent_cat": "entity_category",
    "ent_pic": "entity_picture",
    "exp_aft": "expire_after",
    "frc_upd": "force_update",
    "ic": "icon",
    "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template",
    "l_ver_t": "latest_version_topic",
    "l_ver_tpl": "latest_version_template",
    "lrst_val_tpl": "last_reset_value_template",
    "o": "origin",  # core PR #98782 (HA 2023.9)
    "obj_id": "object_id",
    "off_dly": "off_delay",
    "ops": "options",
    "opt": "optimistic",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "pl_off": "payload_off",
    "pl_on": "payload_on",
    "pl_inst": "payload_install",
    "pl_prs": "payload_press",
    "rel_s": "release_summary",
    "rel_u": "release_url",
    "ret": "retain",
    "stat_cla": "state_class",
    "stat_off": "state_off",
    "stat_on": "state_on",
    "stat_t": "state_topic",
    "sug_dsp_prc": "suggested_display_precision",
    "t": "topic",
    "tit": "title",
    "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement",
    "val_tpl": "value_template",
}
DEVICE_ABBREVIATIONS: Final[Mapping[str, str]] = {
    "cns": "connections",
    "cu": "configuration_url",
    "ids": "identifiers",
    "mf": "manufacturer",
    "mdl": "model",
    "mdl_id": "model_id",
    "hw": "hw_version",
    "sw": "sw_version",
    "sa": "suggested_area",
    "sn": "serial_number",
}
ORIGIN_ABBREVIATIONS: Final[Mapping[str, str]] = {"sw": "sw_version", "url": "support_url"}

# ---------------------------------------------------------------------------------------------------
# Known keys per component (used only for the "unknown key" policy check: HA's DISCOVERY_SCHEMA uses
# extra=vol.REMOVE_EXTRA, so a misspelt key is silently dropped instead of rejected).
# ---------------------------------------------------------------------------------------------------
_COMMON_KEYS: Final = frozenset(
    {
        # MQTT_AVAILABILITY_SCHEMA
        "availability", "availability_mode", "availability_template", "availability_topic",
        "payload_available", "payload_not_available",
        # MQTT_ENTITY_COMMON_SCHEMA
        "device", "origin", "enabled_by_default", "entity_category", "entity_picture", "icon",
        "json_attributes_topic", "json_attributes_template", "object_id", "default_entity_id", "unique_id",
        # MQTT_BASE_SCHEMA + name
        "qos", "encoding", "name",
        # discovery plumbing
        "platform", "migrate_discovery",
    }
)  # fmt: skip
_COMPONENT_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "sensor": _COMMON_KEYS
    | {
        "state_topic", "value_template", "device_class", "expire_after", "force_update",
        "last_reset_value_template", "options", "suggested_display_precision", "state_class",
        "unit_of_measurement",
    },
    "binary_sensor": _COMMON_KEYS
    | {
        "state_topic", "value_template", "device_class", "expire_after", "force_update", "off_delay",
        "payload_on", "payload_off",
    },
    "switch": _COMMON_KEYS
    | {
        "command_topic", "command_template", "optimistic", "retain", "state_topic", "value_template",
        "device_class", "payload_on", "payload_off", "state_on", "state_off",
    },
    "button": _COMMON_KEYS | {"command_topic", "command_template", "device_class", "payload_press", "retain"},
    "select": _COMMON_KEYS
    | {
        "command_topic", "command_template", "optimistic", "retain", "state_topic", "value_template",
        "options",
    },
    "update": _COMMON_KEYS
    | {
        "state_topic", "value_template", "command_topic", "device_class", "display_precision",
        "latest_version_template", "latest_version_topic", "payload_install", "release_summary", "release_url",
        "retain", "title",
    },
}  # fmt: skip
_DEVICE_KEYS: Final = frozenset(
    {
        "identifiers", "connections", "manufacturer", "model", "model_id", "name", "hw_version",
        "serial_number", "sw_version", "via_device", "suggested_area", "configuration_url",
    }
)  # fmt: skip
_DEVICE_STRING_KEYS: Final = _DEVICE_KEYS - {"identifiers", "connections", "configuration_url"}
_ORIGIN_KEYS: Final = frozenset({"name", "sw_version", "support_url"})
_AVAILABILITY_ITEM_KEYS: Final = frozenset(
    {"topic", "payload_available", "payload_not_available", "value_template"},
)

_TOPIC_BASE: Final = "~"
_ID_RE: Final = re.compile(r"[a-zA-Z0-9_-]+")
_COMPONENT_RE: Final = re.compile(r"\w+")
_ISO4217_RE: Final = re.compile(r"[A-Z]{3}")
_BOOLEAN_STRINGS: Final = frozenset(
    {"1", "true", "yes", "on", "enable", "0", "false", "no", "off", "disable"},
)


class _Missing:
    """Sentinel type for "key not present"."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()


def _version(v: HAVersion) -> str:
    return f"{v[0]}.{v[1]}"


def _norm_unit(unit: str) -> str:
    return unit.replace(_MICRO_SIGN, _GREEK_MU)


def _sorted_units(units: Iterable[str | None]) -> str:
    return ", ".join(sorted(("None" if u is None else repr(u)) for u in units))


def _ensure_list(value: object) -> list[object]:
    """cv.ensure_list: None -> [], a list stays, anything else is wrapped."""
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [value]


# ---------------------------------------------------------------------------------------------------
# Abbreviation / topic-base expansion (mqtt/discovery.py _replace_all_abbreviations, _replace_topic_base)
# ---------------------------------------------------------------------------------------------------
def _expand(
    mapping: Mapping[str, object], table: Mapping[str, str], path: str, out: list[Problem]
) -> dict[str, object]:
    result: dict[str, object] = dict(mapping)
    for short, full in table.items():
        if short in result and short != full:
            if full in result:
                out.append(
                    Problem(
                        "policy",
                        f"{path}{full}",
                        f"both `{short}` and `{full}` are present; HA keeps the abbreviated `{short}`",
                    )
                )
            result[full] = result.pop(short)
    return result


def expand_abbreviations(config: Mapping[str, object]) -> dict[str, object]:
    """Return a copy of ``config`` with HA's abbreviations and the ``~`` topic base expanded."""
    return _normalise(config, [])


def _normalise(config: Mapping[str, object], out: list[Problem]) -> dict[str, object]:
    payload = _expand(config, ABBREVIATIONS, "", out)
    availability = payload.get("availability")
    if isinstance(availability, list):
        payload["availability"] = [
            _expand(item, ABBREVIATIONS, f"availability[{i}].", out) if isinstance(item, Mapping) else item
            for i, item in enumerate(availability)
        ]
    elif isinstance(availability, Mapping):
        payload["availability"] = _expand(availability, ABBREVIATIONS, "availability.", out)
    device = payload.get("device")
    if isinstance(device, Mapping):
        payload["device"] = _expand(device, DEVICE_ABBREVIATIONS, "device.", out)
    origin = payload.get("origin")
    if isinstance(origin, Mapping):
        payload["origin"] = _expand(origin, ORIGIN_ABBREVIATIONS, "origin.", out)
    if _TOPIC_BASE in payload:
        base = str(payload.pop(_TOPIC_BASE))
        for key, value in list(payload.items()):
            if isinstance(value, str) and value and key.endswith("topic"):
                if value[0] == _TOPIC_BASE:
                    value = f"{base}{value[1:]}"
                if value[-1] == _TOPIC_BASE:
                    value = f"{value[:-1]}{base}"
                payload[key] = value
        items = payload.get("availability")
        if isinstance(items, list):
            expanded: list[object] = []
            for item in items:
                if isinstance(item, Mapping) and isinstance(item.get("topic"), str) and item["topic"]:
                    topic = str(item["topic"])
                    if topic[0] == _TOPIC_BASE:
                        topic = f"{base}{topic[1:]}"
                    if topic[-1] == _TOPIC_BASE:
                        topic = f"{topic[:-1]}{base}"
                    item = {**item, "topic": topic}
                expanded.append(item)
            payload["availability"] = expanded
    return payload


# ---------------------------------------------------------------------------------------------------
# Topic rules (mqtt/util.py)
# ---------------------------------------------------------------------------------------------------
def _topic_name_problems(topic: str) -> list[str]:
    """valid_topic(): what HA reports for an invalid topic name/filter, [] when fine."""
    raw = topic.encode("utf-8", errors="surrogatepass")
    found: list[str] = []
    if not raw:
        found.append("MQTT topic name/filter must not be empty")
    if len(raw) > 65535:
        found.append("MQTT topic name/filter must not be longer than 65535 encoded bytes")
    if "\0" in topic:
        found.append("MQTT topic name/filter must not contain null character")
    if any(ch <= "\u001f" for ch in topic) or any("\u007f" <= ch <= "\u009f" for ch in topic):
        found.append("MQTT topic name/filter must not contain control characters")
    non_characters = any("\ufdd0" <= ch <= "\ufdef" for ch in topic)
    if non_characters or any((ord(ch) & 0xFFFF) in (0xFFFE, 0xFFFF) for ch in topic):
        found.append("MQTT topic name/filter must not contain non-characters")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in topic):
        found.append("MQTT topic name/filter must be valid UTF-8 string")
    return found


def _subscribe_topic_problems(topic: str) -> list[str]:
    """valid_subscribe_topic(): wildcards only as whole levels, '#' last."""
    found = _topic_name_problems(topic)
    for i, ch in enumerate(topic):
        if ch == "+" and ((i > 0 and topic[i - 1] != "/") or (i < len(topic) - 1 and topic[i + 1] != "/")):
            found.append("Single-level wildcard must occupy an entire level of the filter")
            break
    index = topic.find("#")
    if index != -1:
        if index != len(topic) - 1:
            found.append("Multi-level wildcard must be the last character in the topic filter")
        elif len(topic) > 1 and topic[index - 1] != "/":
            found.append("Multi-level wildcard must be after a topic level separator")
    return found


def _publish_topic_problems(topic: str) -> list[str]:
    """valid_publish_topic(): a topic name, no wildcards at all."""
    found = _topic_name_problems(topic)
    if "+" in topic or "#" in topic:
        found.append("Wildcards can not be used in topic names")
    return found


# ---------------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------------
class _Checker:
    def __init__(self, component: str, ha_version: HAVersion, strict: bool) -> None:
        self.component = component
        self.ha_version = ha_version
        self.strict = strict
        self.problems: list[Problem] = []

    # -- reporting ---------------------------------------------------------------------------------
    def add(self, severity: Severity, key: str, value: object, message: str) -> None:
        shown = "" if value is _MISSING else f" = {value!r}"
        self.problems.append(Problem(severity, key, f"`{key}`{shown}: {message}"))

    def error(self, key: str, value: object, message: str) -> None:
        self.add("error", key, value, message)

    def warning(self, key: str, value: object, message: str) -> None:
        self.add("warning", key, value, message)

    def policy(self, key: str, value: object, message: str) -> None:
        self.add("policy", key, value, message)

    def since(self, version: HAVersion) -> bool:
        return self.ha_version >= version

    # -- cv.* equivalents --------------------------------------------------------------------------
    def string(self, key: str, value: object, *, allow_none: bool = False) -> str | None:
        """cv.string: None/list/dict rejected, other scalars coerced with str()."""
        if value is None:
            if not allow_none:
                self.error(key, value, "must be a string, null is rejected by cv.string")
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, (list, tuple, dict, Mapping)):
            self.error(key, value, "must be a string (cv.string rejects lists and objects)")
            return None
        self.policy(key, value, f"should be a JSON string; HA would coerce it to {str(value)!r}")
        return str(value)

    def boolean(self, key: str, value: object) -> None:
        """cv.boolean: bool, a few strings, or a number."""
        if isinstance(value, bool):
            return
        if isinstance(value, str) and value.lower().strip() in _BOOLEAN_STRINGS:
            self.policy(key, value, "should be a JSON boolean; HA's cv.boolean would coerce the string")
            return
        if isinstance(value, (int, float)):
            self.policy(key, value, "should be a JSON boolean; HA's cv.boolean would coerce the number")
            return
        self.error(key, value, "must be a boolean (cv.boolean)")

    def non_negative_int(self, key: str, value: object) -> None:
        """cv.positive_int = vol.All(vol.Coerce(int), vol.Range(min=0)) -- 0 is allowed."""
        if isinstance(value, bool):
            self.policy(key, value, "should be a JSON integer, not a boolean")
            return
        if isinstance(value, int):
            if value < 0:
                self.error(key, value, "must be an integer >= 0 (cv.positive_int)")
            return
        if isinstance(value, float) and math.isfinite(value):
            if value < 0:
                self.error(key, value, "must be an integer >= 0 (cv.positive_int)")
            else:
                self.policy(key, value, "should be a JSON integer; HA would truncate the float")
            return
        if isinstance(value, str):
            try:
                number = int(value)
            except ValueError:
                self.error(key, value, "must be an integer >= 0 (cv.positive_int)")
                return
            if number < 0:
                self.error(key, value, "must be an integer >= 0 (cv.positive_int)")
            else:
                self.policy(key, value, "should be a JSON integer, not a string")
            return
        self.error(key, value, "must be an integer >= 0 (cv.positive_int)")

    def template(self, key: str, value: object) -> None:
        """cv.template: a string (Jinja syntax is not checked here)."""
        if value is None or isinstance(value, (list, dict, Mapping)):
            self.error(key, value, "must be a template string (cv.template)")
        elif not isinstance(value, str):
            self.policy(key, value, "should be a template string")

    def url(self, key: str, value: object, *, allow_homeassistant: bool) -> None:
        """cv.url / cv.configuration_url: http(s) (or homeassistant://) with a host."""
        schemes = {"http", "https", "homeassistant"} if allow_homeassistant else {"http", "https"}
        text = str(value)
        parsed = urlparse(text)
        if value is None or parsed.scheme not in schemes or not parsed.netloc:
            allowed = ", ".join(sorted(schemes))
            self.error(key, value, f"must be a URL with scheme {allowed} and a host")

    def topic(self, key: str, value: object, *, publish: bool) -> None:
        if value is None or isinstance(value, (list, dict, Mapping)):
            self.error(key, value, "must be an MQTT topic string")
            return
        if not isinstance(value, str):
            self.policy(key, value, "should be a JSON string")
            value = str(value)
        if publish:
            for reason in _publish_topic_problems(value):
                self.error(key, value, f"invalid publish topic: {reason}")
            return
        reasons = _subscribe_topic_problems(value)
        for reason in reasons:
            self.error(key, value, f"invalid subscribe topic: {reason}")
        if not reasons and ("+" in value or "#" in value):
            self.policy(
                key,
                value,
                "contains an MQTT wildcard: HA can subscribe to it, but the gateway must publish on a "
                "concrete topic ('+'/'#' are not allowed in topic names)",
            )

    def one_of(
        self,
        key: str,
        value: object,
        allowed: Iterable[str],
        what: str,
        *,
        lower: bool,
    ) -> str | None:
        """vol.All(vol.Lower, vol.Coerce(Enum)) (lower=True) or an exact vol.In / vol.Coerce."""
        choices = frozenset(allowed)
        candidate = str(value).lower() if lower else value
        if isinstance(candidate, str) and candidate in choices:
            if not isinstance(value, str):
                self.policy(key, value, f"should be a JSON string {candidate!r}")
            return candidate
        self.error(key, value, f"is not a valid {what}; expected one of {', '.join(sorted(choices))}")
        return None


# ---------------------------------------------------------------------------------------------------
# Common keys
# ---------------------------------------------------------------------------------------------------
def _check_common(c: _Checker, cfg: Mapping[str, object]) -> None:
    component = c.component

    if "name" in cfg:
        c.string("name", cfg["name"], allow_none=True)  # vol.Any(cv.string, None)

    unique_id = cfg.get("unique_id", _MISSING)
    if unique_id is _MISSING:
        c.policy(
            "unique_id",
            _MISSING,
            "is required: without it HA cannot register the entity or link it to a device",
        )
    else:
        text = c.string("unique_id", unique_id)
        if text is not None and not text.strip():
            c.policy("unique_id", unique_id, "must not be empty")

    if "object_id" in cfg:
        c.string("object_id", cfg["object_id"])
        if c.since(_OBJECT_ID_DEPRECATED_SINCE) and "default_entity_id" not in cfg:
            c.warning(
                "object_id",
                cfg["object_id"],
                "is deprecated since HA 2025.10 (stops working in 2026.4); publish "
                f"`default_entity_id`: '{component}.<id>' instead",
            )
    if "default_entity_id" in cfg:
        text = c.string("default_entity_id", cfg["default_entity_id"])
        if text is not None and not text.startswith(f"{component}."):
            c.policy("default_entity_id", cfg["default_entity_id"], f"should start with '{component}.'")

    if "qos" in cfg:
        qos = cfg["qos"]
        if isinstance(qos, bool) or not isinstance(qos, int):
            coerced = -1  # valid_qos_schema = vol.All(vol.Coerce(int), vol.In([0, 1, 2]))
            if isinstance(qos, (bool, float, str)):
                try:
                    coerced = int(qos)
                except (ValueError, OverflowError):
                    coerced = -1
            if coerced in (0, 1, 2):
                c.policy("qos", qos, "should be the JSON integer 0, 1 or 2")
            else:
                c.error("qos", qos, "must be 0, 1 or 2")
        elif qos not in (0, 1, 2):
            c.error("qos", qos, "must be 0, 1 or 2")
    if "encoding" in cfg:
        c.string("encoding", cfg["encoding"])

    for key in ("enabled_by_default", "retain", "optimistic", "force_update"):
        if key in cfg and key in _COMPONENT_KEYS[component]:
            c.boolean(key, cfg[key])

    if "icon" in cfg:
        icon = cfg["icon"]
        if icon is None or ":" not in str(icon):
            c.error(
                "icon",
                icon,
                'must be of the form "prefix:name", e.g. "mdi:flash" (cv.icon; null is rejected)',
            )
    if "entity_picture" in cfg:
        c.url("entity_picture", cfg["entity_picture"], allow_homeassistant=False)

    if "entity_category" in cfg:
        category = c.one_of(
            "entity_category", cfg["entity_category"], ENTITY_CATEGORIES, "entity category", lower=False
        )
        if category == "config" and component in ("sensor", "binary_sensor"):
            # sensor/__init__.py (HA 2023.11, core PR #101471) and binary_sensor/__init__.py
            # (core PR #103464): async_internal_added_to_hass raises HomeAssistantError.
            c.error(
                "entity_category",
                cfg["entity_category"],
                f"a {component} cannot be in category 'config' (HA refuses to add it); use 'diagnostic'",
            )

    if "json_attributes_topic" in cfg:
        c.topic("json_attributes_topic", cfg["json_attributes_topic"], publish=False)
    if "json_attributes_template" in cfg:
        c.template("json_attributes_template", cfg["json_attributes_template"])

    _check_availability(c, cfg)
    if "device" in cfg:
        _check_device(c, cfg["device"], has_unique_id=unique_id is not _MISSING)
    if "origin" in cfg:
        _check_origin(c, cfg["origin"])

    known = _COMPONENT_KEYS[component]
    for key in cfg:
        if key not in known:
            c.policy(key, cfg[key], f"is not a known {component} option; HA silently drops unknown keys")


def _check_availability(c: _Checker, cfg: Mapping[str, object]) -> None:
    if "availability_topic" in cfg and "availability" in cfg:
        # MQTT_AVAILABILITY_*_SCHEMA: vol.Exclusive(..., "availability")
        c.error(
            "availability",
            _MISSING,
            "`availability` and `availability_topic` are mutually exclusive (vol.Exclusive); use only one",
        )
    if "availability_topic" in cfg:
        c.topic("availability_topic", cfg["availability_topic"], publish=False)
    if "availability_template" in cfg:
        c.template("availability_template", cfg["availability_template"])
    for key in ("payload_available", "payload_not_available"):
        if key in cfg:
            c.string(key, cfg[key])
    if "availability_mode" in cfg:
        mode = cfg["availability_mode"]
        if not (isinstance(mode, str) and mode in AVAILABILITY_MODES):
            c.error("availability_mode", mode, "must be one of all, any, latest")
        elif "availability" not in cfg:
            c.policy("availability_mode", mode, "has no effect without an `availability` list")

    if "availability" not in cfg:
        return
    raw = cfg["availability"]
    if raw is None:
        c.policy("availability", raw, "null means no availability topics; leave the key out instead")
        return
    items = _ensure_list(raw)
    if not isinstance(raw, list):
        c.policy("availability", raw, "should be a list of {topic: ...} objects")
    if not items:
        c.policy("availability", raw, "is an empty list; leave the key out instead")
    for i, item in enumerate(items):
        path = f"availability[{i}]"
        if not isinstance(item, Mapping):
            c.error(path, item, "must be an object with a `topic`")
            continue
        if "topic" not in item:
            c.error(f"{path}.topic", _MISSING, "is required for every availability entry")
        else:
            c.topic(f"{path}.topic", item["topic"], publish=False)
        for key in ("payload_available", "payload_not_available"):
            if key in item:
                c.string(f"{path}.{key}", item[key])
        if "value_template" in item:
            c.template(f"{path}.value_template", item["value_template"])
        for key in item:
            if key not in _AVAILABILITY_ITEM_KEYS:
                c.policy(f"{path}.{key}", item[key], "is not a known availability option; HA drops it")


def _check_device(c: _Checker, device: object, *, has_unique_id: bool) -> None:
    if not isinstance(device, Mapping):
        c.error("device", device, "must be an object (MQTT_ENTITY_DEVICE_INFO_SCHEMA)")
        return
    if not has_unique_id:
        # helpers/entity_platform.py only registers device info for entities with a unique_id.
        c.warning("device", _MISSING, "is ignored by HA unless the entity also has a `unique_id`")

    identifiers: list[object] = []
    if "identifiers" in device:
        raw = device["identifiers"]
        identifiers = _ensure_list(raw)
        for i, item in enumerate(identifiers):
            text = c.string(f"device.identifiers[{i}]", item)
            if text is not None and not text.strip():
                c.policy(f"device.identifiers[{i}]", item, "must not be empty")
    connections: list[object] = []
    if "connections" in device:
        raw = device["connections"]
        connections = _ensure_list(raw)
        for i, pair in enumerate(connections):
            if not (isinstance(pair, list) and len(pair) == 2):
                c.error(f"device.connections[{i}]", pair, 'must be a [type, value] pair, e.g. ["mac", "..."]')
                continue
            for j, part in enumerate(pair):
                c.string(f"device.connections[{i}][{j}]", part)
    if not identifiers and not connections:
        # schemas.py validate_device_has_at_least_one_identifier
        c.error(
            "device.identifiers",
            device.get("identifiers", _MISSING),
            "a device must have at least one identifying value in `identifiers` and/or `connections`",
        )

    for key in _DEVICE_STRING_KEYS:
        if key in device:
            c.string(f"device.{key}", device[key])
    if "configuration_url" in device:
        c.url("device.configuration_url", device["configuration_url"], allow_homeassistant=True)
    if "via_hub" in device:
        c.policy("device.via_hub", device["via_hub"], "is deprecated, use `via_device`")
    for key in device:
        if key not in _DEVICE_KEYS and key != "via_hub":
            # MQTT_ENTITY_DEVICE_INFO_SCHEMA is its own vol.Schema (extra=PREVENT_EXTRA).
            c.error(f"device.{key}", device[key], "is not a valid device option (extra keys not allowed)")
    if "name" not in device:
        # mqtt/entity.py _set_entity_name logs that device information always needs a name.
        c.policy("device.name", _MISSING, "is missing; HA wants a device name in every device block")


def _check_origin(c: _Checker, origin: object) -> None:
    # discovery.py: an invalid origin makes HA drop the whole discovery message (HA 2023.9+).
    if not isinstance(origin, Mapping):
        c.error("origin", origin, "must be an object with a `name` (MQTT_ORIGIN_INFO_SCHEMA)")
        return
    if "name" not in origin:
        c.error("origin.name", _MISSING, "is required in `origin`")
    else:
        c.string("origin.name", origin["name"])
    if "sw_version" in origin:
        c.string("origin.sw_version", origin["sw_version"])
    if "support_url" in origin:
        c.url("origin.support_url", origin["support_url"], allow_homeassistant=True)
    for key in origin:
        if key not in _ORIGIN_KEYS:
            c.error(f"origin.{key}", origin[key], "is not a valid origin option (extra keys not allowed)")


# ---------------------------------------------------------------------------------------------------
# Platform specific keys
# ---------------------------------------------------------------------------------------------------
def _required_topic(c: _Checker, cfg: Mapping[str, object], key: str, *, publish: bool) -> None:
    if key not in cfg:
        c.error(key, _MISSING, f"is required for an MQTT {c.component}")
    else:
        c.topic(key, cfg[key], publish=publish)


def _device_class(c: _Checker, cfg: Mapping[str, object], allowed: Iterable[str], what: str) -> str | None:
    if "device_class" not in cfg or cfg["device_class"] is None:  # vol.Any(DEVICE_CLASSES_SCHEMA, None)
        return None
    return c.one_of("device_class", cfg["device_class"], allowed, what, lower=True)


def _check_sensor(c: _Checker, cfg: Mapping[str, object]) -> None:
    _required_topic(c, cfg, "state_topic", publish=False)
    if "value_template" in cfg:
        c.template("value_template", cfg["value_template"])
    if "last_reset_value_template" in cfg:
        c.template("last_reset_value_template", cfg["last_reset_value_template"])
    if "expire_after" in cfg:
        c.non_negative_int("expire_after", cfg["expire_after"])
    if "suggested_display_precision" in cfg:
        c.non_negative_int("suggested_display_precision", cfg["suggested_display_precision"])

    device_class: str | None = None
    raw_class = cfg.get("device_class")
    since = _SENSOR_DEVICE_CLASS_SINCE.get(raw_class.lower()) if isinstance(raw_class, str) else None
    if since is not None and not c.since(since):
        c.error(
            "device_class",
            raw_class,
            f"is unknown to HA {_version(c.ha_version)}; this sensor device class needs HA {_version(since)}",
        )
    else:
        device_class = _device_class(c, cfg, SENSOR_DEVICE_CLASSES, "sensor device class")

    state_class: str | None = None
    raw_state = cfg.get("state_class")
    state_since = _SENSOR_STATE_CLASS_SINCE.get(raw_state.lower()) if isinstance(raw_state, str) else None
    if state_since is not None and not c.since(state_since):
        c.error(
            "state_class",
            raw_state,
            f"is unknown to HA {_version(c.ha_version)}; this state class needs HA {_version(state_since)}",
        )
    elif raw_state is not None:  # vol.Any(STATE_CLASSES_SCHEMA, None)
        state_class = c.one_of("state_class", raw_state, SENSOR_STATE_CLASSES, "state class", lower=True)

    unit: str | None = None
    if "unit_of_measurement" in cfg and cfg["unit_of_measurement"] is not None:
        raw_unit = c.string("unit_of_measurement", cfg["unit_of_measurement"])
        if raw_unit is not None and not raw_unit.strip():
            c.policy("unit_of_measurement", raw_unit, "is blank; HA drops a blank unit, leave the key out")
        elif raw_unit is not None:
            unit = _norm_unit(raw_unit)

    # last_reset_value_template only with state_class total (mqtt/sensor.py).
    if "last_reset_value_template" in cfg and state_class != "total":
        c.error(
            "last_reset_value_template",
            cfg["last_reset_value_template"],
            f"cannot be used together with state class {state_class!r}; it needs state_class 'total'",
        )

    # options: only for enum sensors (mqtt/sensor.py validate_sensor_state_and_device_class_config,
    # which raises on the first of these three conditions).
    if "options" in cfg:
        raw_options = cfg["options"]
        options = _ensure_list(raw_options)
        if not options:
            c.error("options", raw_options, "an empty (or null) options list is not allowed")
        elif cfg.get("state_class") or unit:
            c.error(
                "options",
                raw_options,
                "is not allowed together with `state_class` or `unit_of_measurement`",
            )
        elif device_class != "enum":
            c.error(
                "options",
                raw_options,
                f"must be used together with device_class 'enum', got {device_class!r}",
            )
        _check_option_list(c, "options", options)
    elif device_class == "enum":
        c.policy("device_class", cfg["device_class"], "an enum sensor should list its `options`")

    # STATE_CLASS_UNITS (measurement_angle is degrees only).
    pinned_units = _STATE_CLASS_UNITS.get(state_class or "")
    if pinned_units is not None and unit not in pinned_units:
        c.error(
            "unit_of_measurement",
            cfg.get("unit_of_measurement", _MISSING),
            f"is not valid together with state class {state_class!r}; expected {_sorted_units(pinned_units)}",
        )

    if device_class is None:
        return

    if device_class in _NON_NUMERIC_DEVICE_CLASSES and unit is not None:
        # sensor/__init__.py raises ValueError when the state is written.
        c.error(
            "unit_of_measurement",
            cfg["unit_of_measurement"],
            f"a sensor with the non-numeric device class {device_class!r} must not have a unit",
        )
    allowed_units = DEVICE_CLASS_UNITS.get(device_class)
    if allowed_units is not None:
        if unit is not None and unit not in allowed_units:
            enforced = c.since(_MQTT_UNIT_ENFORCED_SINCE)
            message = (
                f"is not a valid unit for device_class {device_class!r}; expected one of "
                f"{_sorted_units(allowed_units)} ("
                + ("HA rejects the discovery message since 2025.7)" if enforced else "HA logs a warning)")
            )
            severity: Severity = "error" if enforced else "warning"
            c.add(severity, "unit_of_measurement", cfg["unit_of_measurement"], message)
        elif unit is None and None not in allowed_units:
            c.warning(
                "unit_of_measurement",
                cfg.get("unit_of_measurement", _MISSING),
                f"is missing but device_class {device_class!r} needs one of {_sorted_units(allowed_units)} "
                "(sensor logs 'not a valid unit'; no long-term statistics)",
            )
    if device_class == "monetary" and unit is not None and not _ISO4217_RE.fullmatch(unit):
        c.policy("unit_of_measurement", unit, "a monetary sensor should use an ISO 4217 currency code")

    if state_class is not None:
        possible = DEVICE_CLASS_STATE_CLASSES.get(device_class)
        if possible is not None and state_class not in possible:
            expected = ", ".join(sorted(possible)) if possible else "no state class"
            c.warning(
                "state_class",
                cfg["state_class"],
                f"is impossible for device_class {device_class!r} (expected {expected}); HA logs a warning "
                "and statistics / the Energy dashboard will not use it",
            )


def _check_option_list(c: _Checker, key: str, options: list[object]) -> None:
    seen: set[str] = set()
    for i, option in enumerate(options):
        if not isinstance(option, str):
            c.policy(f"{key}[{i}]", option, "should be a string")
            continue
        if option in seen:
            c.policy(f"{key}[{i}]", option, "is a duplicate option")
        seen.add(option)


def _check_binary_sensor(c: _Checker, cfg: Mapping[str, object]) -> None:
    _required_topic(c, cfg, "state_topic", publish=False)
    if "value_template" in cfg:
        c.template("value_template", cfg["value_template"])
    _device_class(c, cfg, BINARY_SENSOR_DEVICE_CLASSES, "binary_sensor device class")
    for key in ("expire_after", "off_delay"):
        if key in cfg:
            c.non_negative_int(key, cfg[key])
    for key in ("payload_on", "payload_off"):
        if key in cfg:
            c.string(key, cfg[key])


def _check_switch(c: _Checker, cfg: Mapping[str, object]) -> None:
    _required_topic(c, cfg, "command_topic", publish=True)
    if "state_topic" in cfg:
        c.topic("state_topic", cfg["state_topic"], publish=False)
    for key in ("value_template", "command_template"):
        if key in cfg:
            c.template(key, cfg[key])
    _device_class(c, cfg, SWITCH_DEVICE_CLASSES, "switch device class")
    for key in ("payload_on", "payload_off", "state_on", "state_off"):
        if key in cfg:
            c.string(key, cfg[key])


def _check_button(c: _Checker, cfg: Mapping[str, object]) -> None:
    _required_topic(c, cfg, "command_topic", publish=True)
    if "command_template" in cfg:
        c.template("command_template", cfg["command_template"])
    _device_class(c, cfg, BUTTON_DEVICE_CLASSES, "button device class")
    if "payload_press" in cfg:
        c.string("payload_press", cfg["payload_press"])


def _check_select(c: _Checker, cfg: Mapping[str, object]) -> None:
    _required_topic(c, cfg, "command_topic", publish=True)
    if "state_topic" in cfg:
        c.topic("state_topic", cfg["state_topic"], publish=False)
    for key in ("value_template", "command_template"):
        if key in cfg:
            c.template(key, cfg[key])
    if "options" not in cfg:
        c.error("options", _MISSING, "is required for an MQTT select")
        return
    raw = cfg["options"]
    options = _ensure_list(raw)
    if not isinstance(raw, list):
        c.policy("options", raw, "should be a JSON list of strings")
    if not options:
        c.policy("options", raw, "must list at least one option")
    _check_option_list(c, "options", options)


_DISPLAY_PRECISION_SINCE: Final[HAVersion] = (2024, 12)


def _check_update(c: _Checker, cfg: Mapping[str, object]) -> None:
    _required_topic(c, cfg, "state_topic", publish=False)  # MQTT_RO_SCHEMA
    if "command_topic" in cfg:
        c.topic("command_topic", cfg["command_topic"], publish=True)
        if "payload_install" not in cfg:
            c.error("payload_install", _MISSING, "is needed with a command_topic: async_install publishes "
                    "self._config[CONF_PAYLOAD_INSTALL], which is then missing (KeyError)")
    if "latest_version_topic" in cfg:
        c.topic("latest_version_topic", cfg["latest_version_topic"], publish=False)
    for key in ("value_template", "latest_version_template"):
        if key in cfg:
            c.template(key, cfg[key])
    _device_class(c, cfg, UPDATE_DEVICE_CLASSES, "update device class")
    for key in ("payload_install", "release_summary", "release_url", "title", "entity_picture"):
        if key in cfg:
            c.string(key, cfg[key])
    if "display_precision" in cfg:
        if not c.since(_DISPLAY_PRECISION_SINCE):
            c.policy("display_precision", cfg["display_precision"], "is unknown before HA 2024.12 (dropped)")
        c.non_negative_int("display_precision", cfg["display_precision"])


#: MQTT_JSON_UPDATE_SCHEMA's keys and what each takes.
UPDATE_STATE_STRINGS: Final = frozenset({"installed_version", "latest_version", "title", "release_summary"})
UPDATE_STATE_URLS: Final = frozenset({"release_url", "entity_picture"})


def validate_update_state(payload: bytes | str | Mapping[str, object]) -> list[str]:
    """Problems of an update entity's JSON state (MQTT_JSON_UPDATE_SCHEMA, a plain ``vol.Schema``): HA discards a
    payload that fails it whole, with a warning, and the entity keeps what it had."""
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            return [f"[warning] payload: not JSON, taken as the installed version only ({exc})"]
    if not isinstance(payload, Mapping):
        return ["[warning] payload: JSON but not an object: taken as the installed version only"]
    problems = []
    for key, value in payload.items():
        if key in UPDATE_STATE_STRINGS | UPDATE_STATE_URLS:
            if value is None or isinstance(value, list | dict):  # cv.string refuses None, lists and dicts
                problems.append(f"[error] {key}: `{key}` = {value!r}: must be a string (the payload is dropped)")
            elif key in UPDATE_STATE_URLS and not str(value).startswith(("http://", "https://")):
                problems.append(f"[error] {key}: `{key}` = {value!r}: must be a URL (cv.url)")
        elif key == "in_progress":
            if not isinstance(value, bool):
                problems.append(f"[error] in_progress: `in_progress` = {value!r}: must be a boolean")
        elif key == "update_percentage":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not 0 <= value <= 100):
                problems.append(f"[error] update_percentage: `update_percentage` = {value!r}: 0-100 or null")
        else:
            problems.append(f"[error] {key}: `{key}` is not in MQTT_JSON_UPDATE_SCHEMA (the payload is dropped)")
    return problems


_PLATFORM_CHECKS: Final[Mapping[str, Callable[[_Checker, Mapping[str, object]], None]]] = {
    "sensor": _check_sensor,
    "binary_sensor": _check_binary_sensor,
    "switch": _check_switch,
    "button": _check_button,
    "select": _check_select,
    "update": _check_update,
}


# ---------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------
def check_discovery(
    component: str,
    config: Mapping[str, object],
    *,
    ha_version: HAVersion = TARGET_HA_VERSION,
    strict: bool = True,
) -> list[Problem]:
    """Judge one discovery payload; return structured problems (empty = valid).

    ``config`` is the decoded JSON payload; HA's abbreviations and the ``~`` topic base are expanded
    first, exactly as HA's discovery does.  ``strict=False`` leaves out the ``policy`` findings.
    """
    if component not in VALIDATED_COMPONENTS:
        known = ", ".join(sorted(VALIDATED_COMPONENTS))
        message = f"`component` = {component!r}: unknown component; expected {known}"
        return [Problem("error", "component", message)]
    if not isinstance(config, Mapping):
        message = f"`config` = {config!r}: a discovery payload must be a JSON object"
        return [Problem("error", "config", message)]
    for key in config:
        if not isinstance(key, str):
            return [Problem("error", "config", f"`config` key {key!r}: JSON object keys must be strings")]
    checker = _Checker(component, ha_version, strict)
    normalised = _normalise(config, checker.problems)
    _PLATFORM_CHECKS[component](checker, normalised)
    _check_common(checker, normalised)
    found = checker.problems
    return [p for p in found if strict or p.severity != "policy"]


def validate_discovery(
    component: str,
    config: Mapping[str, object],
    *,
    ha_version: HAVersion = TARGET_HA_VERSION,
    strict: bool = True,
) -> list[str]:
    """Human-readable problems of one discovery payload; an empty list means HA accepts it as is.

    Each string reads ``[severity] key: `key` = value: why``.  See :func:`check_discovery`.
    """
    return [str(p) for p in check_discovery(component, config, ha_version=ha_version, strict=strict)]


def validate_topic(
    topic: str,
    prefix: str = "homeassistant",
    component: str | None = None,
    *,
    ha_version: HAVersion = TARGET_HA_VERSION,
) -> list[str]:
    """Problems of a discovery topic ``<prefix>/<component>/[<node_id>/]<object_id>/config``.

    Mirrors mqtt/discovery.py: HA subscribes to ``<prefix>/<component>/+/config`` and
    ``<prefix>/<component>/+/+/config`` for each supported component and matches ``TOPIC_MATCHER``
    (node_id and object_id limited to ``[a-zA-Z0-9_-]``).  ``component``, when given, must match.
    """
    problems: list[str] = []
    if not isinstance(topic, str):
        return [f"[error] topic: `topic` = {topic!r}: must be a string"]
    for reason in _publish_topic_problems(topic):
        problems.append(f"[error] topic: `topic` = {topic!r}: {reason}")
    for reason in _publish_topic_problems(prefix):
        problems.append(f"[error] prefix: `prefix` = {prefix!r}: {reason}")
    if prefix.endswith("/"):
        problems.append(f"[error] prefix: `prefix` = {prefix!r}: must not end with '/'")
    if problems:
        return problems
    head = f"{prefix}/"
    if not topic.startswith(head):
        return [f"[error] topic: `topic` = {topic!r}: must start with the discovery prefix {head!r}"]
    parts = topic[len(head) :].split("/")
    if len(parts) not in (3, 4) or parts[-1] != "config":
        return [
            f"[error] topic: `topic` = {topic!r}: must be "
            f"{prefix}/<component>/[<node_id>/]<object_id>/config (HA only subscribes to those two shapes)"
        ]
    found_component = parts[0]
    if not _COMPONENT_RE.fullmatch(found_component) or found_component not in SUPPORTED_COMPONENTS:
        reason = "HA subscribes to no such discovery component"
        problems.append(f"[error] component: `component` = {found_component!r}: {reason}")
    if found_component == "device" and ha_version < DEVICE_DISCOVERY_SINCE:
        reason = f"device-based discovery needs HA {_version(DEVICE_DISCOVERY_SINCE)}"
        problems.append(f"[error] component: `component` = 'device': {reason}, not {_version(ha_version)}")
    if component is not None and found_component != component:
        problems.append(f"[error] component: `component` = {found_component!r}: expected {component!r}")
    ids = {"node_id": parts[1], "object_id": parts[2]} if len(parts) == 4 else {"object_id": parts[1]}
    for key, value in ids.items():
        if not _ID_RE.fullmatch(value):
            reason = "only [a-zA-Z0-9_-] allowed (discovery TOPIC_MATCHER)"
            problems.append(f"[error] {key}: `{key}` = {value!r}: {reason}")
    return problems


def validate_message(
    topic: str,
    payload: str | bytes,
    prefix: str = "homeassistant",
    *,
    ha_version: HAVersion = TARGET_HA_VERSION,
    strict: bool = True,
) -> list[str]:
    """Judge a whole retained discovery message: its topic, then its JSON payload (an empty payload is a
    removal; ``{"migrate_discovery": true}`` a migration request, HA 2024.11+; a device topic carries a device
    payload, :func:`check_device_discovery`)."""
    problems = validate_topic(topic, prefix, ha_version=ha_version)
    if problems:
        return problems
    component = topic[len(prefix) + 1 :].split("/")[0]
    if not payload:
        return []
    try:
        decoded = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        return [f"[error] payload: `payload`: not valid JSON ({err})"]
    if not isinstance(decoded, dict):
        return [f"[error] payload: `payload` = {decoded!r}: must be a JSON object"]
    marker = migration_marker_problems(decoded)
    if marker is not None:
        if ha_version < DEVICE_DISCOVERY_SINCE:
            return [f"[error] migrate_discovery: HA {_version(ha_version)} has no discovery migration "
                    f"(since {_version(DEVICE_DISCOVERY_SINCE)})"]
        return [str(p) for p in marker]
    if component == "device":
        return [str(p) for p in check_device_discovery(decoded, ha_version=ha_version, strict=strict)]
    if component not in VALIDATED_COMPONENTS:
        return [f"[error] component: `component` = {component!r}: not validated by this judge"]
    return validate_discovery(component, decoded, ha_version=ha_version, strict=strict)


def energy_dashboard_problems(config: Mapping[str, object]) -> list[str]:
    """Why a sensor could not be picked as grid consumption / return in the Energy dashboard.

    energy/validate.py accepts grid statistics from device class ``energy`` (ENERGY_USAGE_DEVICE_CLASSES)
    with a UnitOfEnergy unit (ENERGY_USAGE_UNITS); sensor/const.py only allows ``total`` and
    ``total_increasing`` for that device class, so those are the usable state classes.
    """
    if not isinstance(config, Mapping):
        return [f"[error] config: `config` = {config!r}: must be a JSON object"]
    cfg = expand_abbreviations(config)
    problems: list[str] = []
    device_class = cfg.get("device_class")
    if not (isinstance(device_class, str) and device_class.lower() == "energy"):
        reason = "must be 'energy' for the Energy dashboard"
        problems.append(f"[error] device_class: `device_class` = {device_class!r}: {reason}")
    state_class = cfg.get("state_class")
    if not (isinstance(state_class, str) and state_class.lower() in _TOTALS):
        problems.append(
            f"[error] state_class: `state_class` = {state_class!r}: must be 'total' or 'total_increasing' "
            "for the Energy dashboard"
        )
    unit = cfg.get("unit_of_measurement")
    if not (isinstance(unit, str) and _norm_unit(unit) in ENERGY_UNITS):
        problems.append(
            f"[error] unit_of_measurement: `unit_of_measurement` = {unit!r}: must be an energy unit "
            f"({_sorted_units(ENERGY_UNITS)}) for the Energy dashboard"
        )
    if cfg.get("options") is not None:
        problems.append(f"[error] options: `options` = {cfg['options']!r}: an energy sensor is no enum")
    return problems


# ---------------------------------------------------------------------------------------------------
# Device-based discovery (HA 2024.11; core PR #118757) and discovery migration
# ---------------------------------------------------------------------------------------------------
# mqtt/discovery.py subscribes to <prefix>/device/+/config (and +/+/config) since HA 2024.11.0.
DEVICE_DISCOVERY_SINCE: Final[HAVersion] = (2024, 11)
#: The releases this judge models: every monthly release from 2023.1 (the oldest the gateway supports) to the
#: target.  Rules that changed in between are gated on the release that changed them.
RELEASES: Final[tuple[HAVersion, ...]] = tuple(
    (year, month) for year in range(2023, TARGET_HA_VERSION[0] + 1) for month in range(1, 13)
    if (year, month) <= TARGET_HA_VERSION
)
#: mqtt/abbreviations.py: the device-discovery keys (the component table holds `p`, the top level `cmps`).
DEVICE_DISCOVERY_ABBREVIATIONS: Final[Mapping[str, str]] = {"cmps": "components", "p": "platform"}
# schemas.py DEVICE_DISCOVERY_SCHEMA = _MQTT_AVAILABILITY_SCHEMA.extend({device (required), components (required),
# origin (required), state_topic, command_topic, qos, encoding}): a vol.Schema with PREVENT_EXTRA, so any other key
# at the top level makes HA log "Invalid MQTT device discovery payload" and drop the whole message.
_DEVICE_PAYLOAD_KEYS: Final = frozenset(
    {
        "device", "origin", "components", "state_topic", "command_topic", "qos", "encoding",
        "availability", "availability_mode", "availability_template", "availability_topic",
        "payload_available", "payload_not_available",
    }
)  # fmt: skip
# discovery.py _merge_common_device_options: what a component inherits unless it sets it itself (schemas.py
# SHARED_OPTIONS; qos and encoding as the docs' "supported shared options" list them).
_SHARED_OPTIONS: Final = (
    "availability", "availability_mode", "availability_template", "availability_topic", "command_topic",
    "payload_available", "payload_not_available", "state_topic", "qos", "encoding",
)  # fmt: skip
# const.py: the components that are not entities (no unique_id required in a device config: check_unique_id).
_NON_ENTITY_PLATFORMS: Final = frozenset({"device_automation", "tag"})
_MIGRATE_KEYS: Final = ("migrate_discovery", "migr_discvry")


def migration_marker_problems(config: Mapping[str, object]) -> list[Problem] | None:
    """None when ``config`` is no migration request; else its problems (empty: a valid marker).

    discovery.py _async_process_discovery_migration: ``migr_discvry`` abbreviates ``migrate_discovery``;
    MIGRATE_DISCOVERY_SCHEMA = {Optional(migrate_discovery): True} (PREVENT_EXTRA), so the marker must be exactly
    ``{"migrate_discovery": true}``; anything else is logged as invalid and read as an ordinary config.
    """
    if not any(key in config for key in _MIGRATE_KEYS):
        return None
    value = config.get("migrate_discovery", config.get("migr_discvry"))
    problems: list[Problem] = []
    if value is not True:
        problems.append(Problem("error", "migrate_discovery", f"`migrate_discovery` = {value!r}: must be true"))
    extra = sorted(set(config) - set(_MIGRATE_KEYS))
    if extra:
        problems.append(Problem("error", "migrate_discovery", f"a migration request carries nothing else; got {extra}"))
    return problems


def expand_device_payload(config: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """The per-component configs HA makes of a device payload: each component's options (abbreviations expanded)
    with the device, the origin and the shared options it does not set itself (discovery.py
    async_discovery_message_received + _merge_common_device_options).  A component reduced to its platform is a
    removal and gives ``{"platform": ...}`` only.  Keys are the component ids."""
    top = _expand(_expand(config, DEVICE_DISCOVERY_ABBREVIATIONS, "", []), ABBREVIATIONS, "", [])
    components = top.get("components")
    out: dict[str, dict[str, object]] = {}
    if not isinstance(components, Mapping):
        return out
    for component_id, raw in components.items():
        if not isinstance(raw, Mapping):
            continue
        own = _expand(_expand(raw, DEVICE_DISCOVERY_ABBREVIATIONS, "", []), ABBREVIATIONS, "", [])
        platform = own.pop("platform", None)
        merged: dict[str, object] = {"platform": platform}
        if own:
            merged.update(own)
            merged["device"] = top.get("device")
            merged["origin"] = top.get("origin")
            for option in _SHARED_OPTIONS:
                if option in top and option not in own:
                    merged[option] = top[option]
        out[str(component_id)] = merged
    return out


def check_device_discovery(
    config: Mapping[str, object],
    *,
    ha_version: HAVersion = TARGET_HA_VERSION,
    strict: bool = True,
) -> list[Problem]:
    """Judge one device-based discovery payload (``<prefix>/device/<object_id>/config``).

    The top level as DEVICE_DISCOVERY_SCHEMA (schemas.py) checks it -- `device` and `origin` required and valid,
    `components` a mapping whose every entry has a supported `platform` and, for an entity platform with options,
    a `unique_id` (check_unique_id) -- then every component, after HA's merge of the shared options, as the single
    component payload it becomes (:func:`check_discovery`), its problems prefixed ``components.<id>.``.  Options HA
    merged in that the platform does not know are dropped by HA by design and not reported.
    """
    if ha_version < DEVICE_DISCOVERY_SINCE:
        return [Problem("error", "topic", f"device-based discovery needs HA {_version(DEVICE_DISCOVERY_SINCE)}; "
                                          f"HA {_version(ha_version)} does not subscribe to <prefix>/device/+/config")]
    if not isinstance(config, Mapping):
        return [Problem("error", "config", f"`config` = {config!r}: a discovery payload must be a JSON object")]
    marker = migration_marker_problems(config)
    if marker is not None:
        return marker
    c = _Checker("sensor", ha_version, strict)  # component only names the checker; the top level has none
    top = _expand(_expand(config, DEVICE_DISCOVERY_ABBREVIATIONS, "", c.problems), ABBREVIATIONS, "", c.problems)
    for key in ("device", "origin", "components"):
        if key not in top:
            c.error(key, _MISSING, "is required in a device discovery payload (DEVICE_DISCOVERY_SCHEMA)")
    for key in top:
        if key not in _DEVICE_PAYLOAD_KEYS:
            c.error(key, top[key], "is not allowed at the top of a device discovery payload: HA drops the whole "
                                   "message (extra keys not allowed); put it in the components")
    if "device" in top:
        _check_device(c, _expand(top["device"], DEVICE_ABBREVIATIONS, "device.", c.problems)
                      if isinstance(top["device"], Mapping) else top["device"], has_unique_id=True)
    if "origin" in top:
        _check_origin(c, _expand(top["origin"], ORIGIN_ABBREVIATIONS, "origin.", c.problems)
                      if isinstance(top["origin"], Mapping) else top["origin"])
    components = top.get("components", {})
    if not isinstance(components, Mapping):
        c.error("components", components, "must be a mapping of component id to component config")
        return [p for p in c.problems if strict or p.severity != "policy"]
    entity_platforms = SUPPORTED_COMPONENTS - {"device"} - _NON_ENTITY_PLATFORMS
    unique_ids: dict[str, str] = {}
    for component_id, merged in expand_device_payload(top).items():
        path = f"components.{component_id}"
        if not _ID_RE.fullmatch(component_id):
            c.error(path, component_id, "a component id must match [a-zA-Z0-9_-] (it becomes the object id)")
        platform = merged.get("platform")
        if not isinstance(platform, str) or platform not in SUPPORTED_COMPONENTS - {"device"}:
            c.error(f"{path}.platform", platform if platform is not None else _MISSING,
                    "is required and must be a supported MQTT platform")
            continue
        if len(merged) == 1:
            continue  # only the platform: the component is being removed
        if platform in entity_platforms and "unique_id" not in components[component_id] and not any(
                k == "uniq_id" for k in components[component_id]):
            c.error(f"{path}.unique_id", _MISSING, "is required for an entity in a device discovery payload")
        uid = merged.get("unique_id")
        if isinstance(uid, str):
            if uid in unique_ids:
                c.error(f"{path}.unique_id", uid, f"is also the unique_id of component {unique_ids[uid]!r}")
            unique_ids[uid] = component_id
        if platform not in VALIDATED_COMPONENTS:
            c.error(f"{path}.platform", platform, "is not validated by this judge")
            continue
        inherited = {k for k in _SHARED_OPTIONS if k in merged and k not in _expand(
            components[component_id], ABBREVIATIONS, "", [])}
        for problem in check_discovery(platform, merged, ha_version=ha_version, strict=strict):
            if problem.severity == "policy" and problem.key in inherited and "not a known" in problem.message:
                continue  # a shared option the platform ignores: HA's merge puts it there, the platform drops it
            if problem.key.split(".")[0].split("[")[0] in ("device", "origin"):
                continue  # judged once, at the top
            c.problems.append(Problem(problem.severity, f"{path}.{problem.key}", problem.message))
    return [p for p in c.problems if strict or p.severity != "policy"]


@dataclass
class _Discovered:
    unique_id: str | None
    topic: str  # the discovery topic that owns it
    migrating: bool = False  # unloaded by a migration request: the registry entry waits for a new owner


class DiscoveryReplay:
    """HA's bookkeeping of discovered entities across a sequence of discovery messages, to judge a migration.

    Modelled on discovery.py (discovery hashes ``(platform, "<node_id> <object_id>")``; a device topic's object id
    is its components' node id) and on the migration tests of tests/components/mqtt/test_discovery.py
    (``test_discovery_migration_to_device_base``, ``test_discovery_rollback_to_single_base``): a config for a hash
    another topic owns is a conflict HA logs and ignores; ``migrate_discovery`` on the owning topic unloads the
    entity and keeps its registry entry until a config from another topic takes it over; an empty payload on a
    topic whose entities moved away is ignored; an empty payload (or a device component reduced to its platform)
    on the owning topic removes the entity and its registry entry -- its entity id and history with it.
    """

    def __init__(self, prefix: str = "homeassistant", *, ha_version: HAVersion = TARGET_HA_VERSION) -> None:
        self.prefix = prefix
        self.ha_version = ha_version
        self.discovered: dict[tuple[str, str], _Discovered] = {}
        self.registry: set[str] = set()  # unique ids with an entity registry entry
        self.removed: set[str] = set()  # unique ids whose registry entry HA deleted on the way
        self.problems: list[Problem] = []

    def owners(self) -> dict[str, str]:
        """unique id -> the topic its entity is loaded from (migrating entities are not loaded)."""
        return {d.unique_id: d.topic for d in self.discovered.values() if d.unique_id and not d.migrating}

    def feed(self, topic: str, payload: str | bytes) -> None:
        text = payload.decode() if isinstance(payload, bytes) else payload
        parts = topic[len(self.prefix) + 1 :].split("/")
        component, ids = parts[0], parts[1:-1]
        decoded: object = json.loads(text) if text else {}
        if not isinstance(decoded, Mapping):
            self.problems.append(Problem("error", "payload", f"{topic}: not a JSON object"))
            return
        marker = migration_marker_problems(decoded) is not None
        if marker and self.ha_version < DEVICE_DISCOVERY_SINCE:
            self.problems.append(Problem("error", "migrate_discovery",
                                         f"{topic}: HA {_version(self.ha_version)} knows no migrate_discovery"))
            return
        if component == "device":
            node = " ".join(ids)
            if not text or marker:
                hashes = [h for h, d in self.discovered.items() if d.topic == topic]
                for h in hashes:
                    self._migrate(h) if marker else self._remove(h, topic)
                return
            for cid, cfg in expand_device_payload(decoded).items():
                h = (str(cfg["platform"]), f"{node} {cid}")
                if len(cfg) == 1:
                    self._remove(h, topic)
                else:
                    self._config(h, topic, cfg)
            return
        h = (component, " ".join(ids))
        if not text:
            self._remove(h, topic)
        elif marker:
            self._migrate(h, topic)
        else:
            self._config(h, topic, expand_abbreviations(decoded))

    def _migrate(self, h: tuple[str, str], topic: str | None = None) -> None:
        d = self.discovered.get(h)
        if d is not None and (topic is None or d.topic == topic):
            d.migrating = True

    def _remove(self, h: tuple[str, str], topic: str) -> None:
        d = self.discovered.get(h)
        if d is None or d.topic != topic:
            return  # nothing discovered there, or it moved to another topic: ignored
        del self.discovered[h]
        if d.unique_id:
            self.registry.discard(d.unique_id)
            self.removed.add(d.unique_id)

    def _config(self, h: tuple[str, str], topic: str, cfg: Mapping[str, object]) -> None:
        uid = cfg.get("unique_id")
        unique_id = uid if isinstance(uid, str) else None
        d = self.discovered.get(h)
        if d is not None and d.topic != topic and not d.migrating:
            self.problems.append(Problem(
                "warning", "topic", f"{topic}: a conflicting discovery message for {h[0]} '{h[1]}', which was "
                f"discovered on {d.topic}; HA logs it and keeps the entity (publish migrate_discovery first)"))
            return
        self.discovered[h] = _Discovered(unique_id, topic)
        if unique_id:
            self.registry.add(unique_id)  # a fresh entry if HA deleted the old one: `removed` keeps that record
