"""Proof that tests/ha_rules.py judges MQTT discovery payloads the way Home Assistant does.

Every rule gets a known-good payload that passes and a crafted bad payload whose problem names the
offending key.  These tests only exercise the judge; they do not import the gateway.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

try:
    import ha_rules as hr
except ModuleNotFoundError:  # pragma: no cover - tests/ became a package
    from tests import ha_rules as hr  # type: ignore[no-redef,import-not-found,unused-ignore]

DEVICE: dict[str, Any] = {
    "identifiers": ["kamstrup_57000001", "omnipower_1"],
    "name": "Kamstrup OMNIPOWER 57000001",
    "manufacturer": "Kamstrup",
    "model": "OMNIPOWER 3-phase",
    "serial_number": "57000001",
    "sw_version": "C1.2",
    "configuration_url": "http://192.0.2.10:8080/",
}
ORIGIN: dict[str, Any] = {
    "name": "omnipower-gateway",
    "sw_version": "0.1.0",
    "support_url": "https://github.com/omnipower-gateway/omnipower-gateway",
}
AVAILABILITY: list[dict[str, Any]] = [
    {
        "topic": "omnipower/bridge/state",
        "value_template": "{{ value_json.state }}",
        "payload_available": "online",
        "payload_not_available": "offline",
    },
    {"topic": "omnipower/omnipower_1/availability"},
]
COMMON: dict[str, Any] = {
    "device": DEVICE,
    "origin": ORIGIN,
    "availability": AVAILABILITY,
    "availability_mode": "all",
    "enabled_by_default": True,
}

GOOD: dict[str, dict[str, Any]] = {
    "sensor": {
        **COMMON,
        "name": "Energy import",
        "unique_id": "omnipower_1_energy_import",
        "state_topic": "omnipower/omnipower_1/state",
        "value_template": "{{ value_json.energy_import }}",
        "device_class": "energy",
        "state_class": "total_increasing",
        "unit_of_measurement": "kWh",
        "suggested_display_precision": 3,
        "icon": "mdi:transmission-tower-import",
    },
    "binary_sensor": {
        **COMMON,
        "name": "Magnetic tamper",
        "unique_id": "omnipower_1_alarm_magnetic",
        "state_topic": "omnipower/omnipower_1/alarms",
        "value_template": "{{ 'ON' if value_json.magnetic else 'OFF' }}",
        "device_class": "tamper",
        "payload_on": "ON",
        "payload_off": "OFF",
        "entity_category": "diagnostic",
    },
    "switch": {
        **COMMON,
        "name": "Breaker",
        "unique_id": "omnipower_1_breaker_switch",
        "state_topic": "omnipower/omnipower_1/breaker",
        "value_template": "{{ 'ON' if value_json.state == 'connected' else 'OFF' }}",
        "command_topic": "omnipower/omnipower_1/breaker/set",
        "payload_on": "connect",
        "payload_off": "disconnect",
        "state_on": "ON",
        "state_off": "OFF",
        "device_class": "switch",
        "qos": 1,
        "retain": False,
    },
    "button": {
        **COMMON,
        "name": "Release breaker",
        "unique_id": "omnipower_1_breaker_release",
        "command_topic": "omnipower/omnipower_1/breaker/set",
        "payload_press": "release",
        "device_class": "restart",
    },
    "select": {
        **COMMON,
        "name": "Tariff control",
        "unique_id": "omnipower_1_tariff_control",
        "state_topic": "omnipower/omnipower_1/state",
        "value_template": "{{ value_json.tariff_control }}",
        "command_topic": "omnipower/omnipower_1/tariff/set",
        "options": ["auto", "1", "2", "3", "4"],
        "entity_category": "config",
        "optimistic": False,
    },
    "update": {
        **COMMON,
        "name": "Firmware",
        "unique_id": "omnipower_1_firmware",
        "state_topic": "omnipower/omnipower_1/firmware",
        "command_topic": "omnipower/omnipower_1/set/firmware_update",
        "payload_install": '{"image": "latest"}',
        "device_class": "firmware",
        "entity_category": "config",
    },
}


def good(component: str, **changes: Any) -> dict[str, Any]:
    """A deep copy of the known-good payload of `component`, with keys changed (`None`-valued kept)."""
    config = copy.deepcopy(GOOD[component])
    config.update(changes)
    return config


def without(component: str, *keys: str) -> dict[str, Any]:
    config = copy.deepcopy(GOOD[component])
    for key in keys:
        del config[key]
    return config


def sensor(**changes: Any) -> dict[str, Any]:
    """A good sensor with the measurement fields replaced (device_class/state_class/unit dropped first)."""
    config = without("sensor", "device_class", "state_class", "unit_of_measurement")
    config.update(changes)
    return config


def problems(component: str, config: dict[str, Any], **kwargs: Any) -> list[hr.Problem]:
    return hr.check_discovery(component, config, **kwargs)


def about(found: list[hr.Problem], key: str) -> list[hr.Problem]:
    """The problems reported against `key`; each one must also name the key in its text."""
    hits = [p for p in found if p.key == key]
    for p in hits:
        assert f"`{key}`" in str(p)
    return hits


def assert_only(found: list[hr.Problem], key: str, severity: hr.Severity) -> None:
    """Exactly the problems about `key`, all of the given severity, and nothing else."""
    assert found, "expected a problem"
    assert {p.key for p in found} == {key}, [str(p) for p in found]
    assert {p.severity for p in found} == {severity}, [str(p) for p in found]
    for p in found:
        assert key in str(p)


# ---------------------------------------------------------------------------------------------------
# Known-good payloads
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("component", sorted(GOOD))
def test_known_good_payload_passes(component: str) -> None:
    assert hr.validate_discovery(component, GOOD[component]) == []


@pytest.mark.parametrize(
    ("device_class", "state_class", "unit"),
    [
        ("energy", "total_increasing", "kWh"),
        ("energy", "total", "Wh"),
        ("energy", "total_increasing", "MWh"),
        ("energy", "total", "GJ"),
        ("power", "measurement", "W"),
        ("power", "measurement", "kW"),
        ("voltage", "measurement", "V"),
        ("voltage", "measurement", "mV"),
        ("current", "measurement", "A"),
        ("current", "measurement", "mA"),
        ("frequency", "measurement", "Hz"),
        ("frequency", "measurement", "kHz"),
        ("apparent_power", "measurement", "VA"),
        ("reactive_power", "measurement", "var"),
        ("reactive_power", "measurement", "kvar"),
        ("reactive_energy", "total_increasing", "varh"),
        ("reactive_energy", "total", "kvarh"),
        ("power_factor", "measurement", None),
        ("power_factor", "measurement", "%"),
        ("duration", "total_increasing", "s"),
        ("duration", "measurement", "h"),
        ("temperature", "measurement", "°C"),
        ("signal_strength", "measurement", "dBm"),
        ("monetary", "total", "EUR"),
    ],
)
def test_valid_device_class_unit_state_class_combinations(
    device_class: str, state_class: str, unit: str | None
) -> None:
    config = sensor(device_class=device_class, state_class=state_class)
    if unit is not None:
        config["unit_of_measurement"] = unit
    assert hr.validate_discovery("sensor", config) == []


def test_abbreviated_payload_is_expanded_like_ha() -> None:
    config = {
        "name": "Voltage L1",
        "uniq_id": "omnipower_1_voltage_l1",
        "stat_t": "omnipower/omnipower_1/state",
        "val_tpl": "{{ value_json.voltage_l1 }}",
        "dev_cla": "voltage",
        "stat_cla": "measurement",
        "unit_of_meas": "V",
        "sug_dsp_prc": 1,
        "dev": {"ids": ["omnipower_1"], "name": "Meter", "mf": "Kamstrup", "mdl": "OMNIPOWER", "sn": "57"},
        "o": {"name": "omnipower-gateway", "sw": "0.1.0", "url": "https://example.com/support"},
        "avty": [{"t": "omnipower/bridge/state", "pl_avail": "online", "pl_not_avail": "offline"}],
        "avty_mode": "all",
    }
    assert hr.validate_discovery("sensor", config) == []
    expanded = hr.expand_abbreviations(config)
    assert expanded["state_topic"] == "omnipower/omnipower_1/state"
    assert expanded["device"] == {
        "identifiers": ["omnipower_1"],
        "name": "Meter",
        "manufacturer": "Kamstrup",
        "model": "OMNIPOWER",
        "serial_number": "57",
    }
    assert expanded["origin"] == {
        "name": "omnipower-gateway",
        "sw_version": "0.1.0",
        "support_url": "https://example.com/support",
    }
    assert expanded["availability"] == [
        {"topic": "omnipower/bridge/state", "payload_available": "online", "payload_not_available": "offline"}
    ]


def test_topic_base_tilde_is_expanded_like_ha() -> None:
    config = good("sensor", **{"~": "omnipower/omnipower_1", "state_topic": "~/state"})
    config["availability"] = [{"topic": "~/availability"}]
    expanded = hr.expand_abbreviations(config)
    assert expanded["state_topic"] == "omnipower/omnipower_1/state"
    assert expanded["availability"] == [{"topic": "omnipower/omnipower_1/availability"}]
    assert "~" not in expanded
    assert hr.validate_discovery("sensor", config) == []


def test_abbreviated_and_full_key_together_is_flagged() -> None:
    found = problems("sensor", good("sensor", stat_t="omnipower/other/state"))
    assert_only(found, "state_topic", "policy")
    assert "stat_t" in str(found[0])


# ---------------------------------------------------------------------------------------------------
# Component and payload shape
# ---------------------------------------------------------------------------------------------------
def test_unknown_component_is_a_problem() -> None:
    found = hr.validate_discovery("light", GOOD["sensor"])
    assert len(found) == 1
    assert "component" in found[0]
    assert "'light'" in found[0]


def test_payload_must_be_an_object() -> None:
    found = hr.validate_discovery("sensor", ["not", "a", "dict"])  # type: ignore[arg-type]
    assert len(found) == 1
    assert "config" in found[0]


def test_unknown_key_is_reported_because_ha_drops_it() -> None:
    found = problems("sensor", good("sensor", unit_of_measurment="kWh"))
    assert_only(found, "unit_of_measurment", "policy")
    assert problems("sensor", good("sensor", unit_of_measurment="kWh"), strict=False) == []


# ---------------------------------------------------------------------------------------------------
# Required keys
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("component", ["sensor", "binary_sensor"])
def test_missing_state_topic(component: str) -> None:
    found = problems(component, without(component, "state_topic"))
    assert_only(found, "state_topic", "error")


@pytest.mark.parametrize("component", ["switch", "button", "select"])
def test_missing_command_topic(component: str) -> None:
    found = problems(component, without(component, "command_topic"))
    assert_only(found, "command_topic", "error")


def test_switch_and_select_state_topic_is_optional() -> None:
    assert hr.validate_discovery("switch", without("switch", "state_topic", "value_template")) == []
    assert hr.validate_discovery("select", without("select", "state_topic", "value_template")) == []


def test_select_requires_options() -> None:
    assert_only(problems("select", without("select", "options")), "options", "error")


@pytest.mark.parametrize("options", [[], ["auto", "auto"], ["auto", 1]])
def test_select_options_must_be_non_empty_unique_strings(options: list[object]) -> None:
    found = problems("select", good("select", options=options))
    assert found
    assert all(p.severity == "policy" and p.key.startswith("options") for p in found)
    assert all("options" in str(p) for p in found)


def test_unique_id_is_required_by_policy() -> None:
    config = without("sensor", "unique_id", "device")
    assert_only(problems("sensor", config), "unique_id", "policy")
    assert problems("sensor", config, strict=False) == []


def test_unique_id_null_is_rejected() -> None:
    assert_only(problems("sensor", good("sensor", unique_id=None)), "unique_id", "error")


def test_device_without_unique_id_is_ignored_by_ha() -> None:
    found = problems("sensor", without("sensor", "unique_id"))
    assert {p.key for p in found} == {"unique_id", "device"}
    assert [p.severity for p in about(found, "device")] == ["warning"]


# ---------------------------------------------------------------------------------------------------
# Types of common keys
# ---------------------------------------------------------------------------------------------------
def test_name_may_be_null_but_not_a_list() -> None:
    assert hr.validate_discovery("sensor", good("sensor", name=None)) == []
    assert_only(problems("sensor", good("sensor", name=["Energy"])), "name", "error")
    assert_only(problems("sensor", good("sensor", name=42)), "name", "policy")


@pytest.mark.parametrize(("qos", "severity"), [(3, "error"), (-1, "error"), ("x", "error"), ("1", "policy")])
def test_qos(qos: object, severity: hr.Severity) -> None:
    assert_only(problems("switch", good("switch", qos=qos)), "qos", severity)


@pytest.mark.parametrize("key", ["retain", "optimistic"])
@pytest.mark.parametrize(("value", "severity"), [("maybe", "error"), (None, "error"), ("true", "policy")])
def test_switch_booleans(key: str, value: object, severity: hr.Severity) -> None:
    assert_only(problems("switch", good("switch", **{key: value})), key, severity)


def test_force_update_and_enabled_by_default_are_booleans() -> None:
    assert hr.validate_discovery("sensor", good("sensor", force_update=True)) == []
    assert_only(problems("sensor", good("sensor", force_update=[])), "force_update", "error")
    assert_only(problems("sensor", good("sensor", enabled_by_default="yes")), "enabled_by_default", "policy")
    assert_only(problems("sensor", good("sensor", enabled_by_default=None)), "enabled_by_default", "error")


@pytest.mark.parametrize(
    ("value", "severity"),
    [(-1, "error"), (None, "error"), ("two", "error"), ("2", "policy"), (1.5, "policy")],
)
def test_suggested_display_precision_is_a_non_negative_int(value: object, severity: hr.Severity) -> None:
    found = problems("sensor", good("sensor", suggested_display_precision=value))
    assert_only(found, "suggested_display_precision", severity)


def test_expire_after_follows_cv_positive_int() -> None:
    # cv.positive_int is vol.Range(min=0): 0 (never expire) is accepted by HA.
    assert hr.validate_discovery("sensor", good("sensor", expire_after=0)) == []
    assert hr.validate_discovery("sensor", good("sensor", expire_after=300)) == []
    assert_only(problems("sensor", good("sensor", expire_after=-5)), "expire_after", "error")
    assert_only(problems("binary_sensor", good("binary_sensor", off_delay=-1)), "off_delay", "error")


def test_icon_needs_a_prefix_and_may_not_be_null() -> None:
    assert_only(problems("sensor", good("sensor", icon="flash")), "icon", "error")
    assert_only(problems("sensor", good("sensor", icon=None)), "icon", "error")


def test_json_attributes_topic_is_a_valid_topic() -> None:
    assert hr.validate_discovery("sensor", good("sensor", json_attributes_topic="omnipower/1/attrs")) == []
    found = problems("sensor", good("sensor", json_attributes_topic="omnipower/1#"))
    assert_only(found, "json_attributes_topic", "error")


def test_null_values_that_pydantic_would_dump_are_rejected() -> None:
    # A model dumped without exclude_none sends null for unset optionals; HA rejects these.
    config = good("sensor", icon=None, entity_category=None, suggested_display_precision=None)
    found = problems("sensor", config)
    assert {p.key for p in found} == {"icon", "entity_category", "suggested_display_precision"}
    assert {p.severity for p in found} == {"error"}


# ---------------------------------------------------------------------------------------------------
# Topics
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("component", ["switch", "button", "select"])
@pytest.mark.parametrize("topic", ["omnipower/+/set", "omnipower/#", "omnipower/1+/set"])
def test_command_topic_may_not_contain_wildcards(component: str, topic: str) -> None:
    found = problems(component, good(component, command_topic=topic))
    assert_only(found, "command_topic", "error")
    assert "Wildcards" in str(found[0])


def test_state_topic_with_partial_level_wildcard_is_rejected() -> None:
    found = problems("sensor", good("sensor", state_topic="omnipower/meter+/state"))
    assert_only(found, "state_topic", "error")
    found = problems("sensor", good("sensor", state_topic="omnipower/#/state"))
    assert_only(found, "state_topic", "error")


def test_state_topic_with_whole_level_wildcard_is_only_a_policy_problem() -> None:
    # HA subscribes with valid_subscribe_topic, which accepts filters; our gateway must publish there.
    config = good("sensor", state_topic="omnipower/+/state")
    assert_only(problems("sensor", config), "state_topic", "policy")
    assert problems("sensor", config, strict=False) == []


@pytest.mark.parametrize(
    "topic",
    ["", "omni\0power", "omni\npower", "omni\x7fpower", "omni\ufdd0power", "a" * 65536, "€" * 21846],
)
def test_invalid_topic_names(topic: str) -> None:
    assert_only(problems("sensor", good("sensor", state_topic=topic)), "state_topic", "error")
    assert_only(problems("switch", good("switch", command_topic=topic)), "command_topic", "error")


def test_topic_of_exactly_65535_bytes_is_fine() -> None:
    assert hr.validate_discovery("switch", good("switch", command_topic="a" * 65535)) == []


def test_topic_must_be_a_string() -> None:
    assert_only(problems("sensor", good("sensor", state_topic=None)), "state_topic", "error")
    assert_only(problems("sensor", good("sensor", state_topic=["a"])), "state_topic", "error")


# ---------------------------------------------------------------------------------------------------
# Availability
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["ALL", "some", None, 1])
def test_bad_availability_mode(mode: object) -> None:
    assert_only(problems("sensor", good("sensor", availability_mode=mode)), "availability_mode", "error")


@pytest.mark.parametrize("mode", ["all", "any", "latest"])
def test_availability_modes(mode: str) -> None:
    assert hr.validate_discovery("sensor", good("sensor", availability_mode=mode)) == []


def test_availability_and_availability_topic_are_exclusive() -> None:
    found = problems("sensor", good("sensor", availability_topic="omnipower/bridge/state"))
    assert_only(found, "availability", "error")
    assert "availability_topic" in str(found[0])


def test_single_availability_topic_is_fine() -> None:
    config = without("sensor", "availability", "availability_mode")
    config.update(
        availability_topic="omnipower/bridge/state",
        payload_available="online",
        payload_not_available="offline",
    )
    assert hr.validate_discovery("sensor", config) == []


def test_availability_entry_needs_a_valid_topic() -> None:
    config = good("sensor", availability=[{"payload_available": "online"}])
    assert_only(problems("sensor", config), "availability[0].topic", "error")
    config = good("sensor", availability=[{"topic": "omnipower/bridge/state"}, {"topic": "omni/#/x"}])
    assert_only(problems("sensor", config), "availability[1].topic", "error")
    config = good("sensor", availability=["omnipower/bridge/state"])
    assert_only(problems("sensor", config), "availability[0]", "error")


def test_availability_entry_payloads_are_strings() -> None:
    config = good("sensor", availability=[{"topic": "omnipower/bridge/state", "payload_available": None}])
    assert_only(problems("sensor", config), "availability[0].payload_available", "error")


# ---------------------------------------------------------------------------------------------------
# Device and origin
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("identifiers", [[], None, "__absent__"])
def test_device_without_identifiers(identifiers: object) -> None:
    device = copy.deepcopy(DEVICE)
    if identifiers == "__absent__":
        del device["identifiers"]
    else:
        device["identifiers"] = identifiers
    found = problems("sensor", good("sensor", device=device))
    assert_only(found, "device.identifiers", "error")
    assert "connections" in str(found[0])


def test_device_identified_by_connections_only_is_fine() -> None:
    device = {"connections": [["mac", "02:00:00:00:00:01"]], "name": "Meter"}
    assert hr.validate_discovery("sensor", good("sensor", device=device)) == []


def test_device_identifiers_may_be_a_single_string() -> None:
    device = {**DEVICE, "identifiers": "omnipower_1"}
    assert hr.validate_discovery("sensor", good("sensor", device=device)) == []


def test_device_identifier_types() -> None:
    found = problems("sensor", good("sensor", device={**DEVICE, "identifiers": [{"id": 1}]}))
    assert_only(found, "device.identifiers[0]", "error")
    found = problems("sensor", good("sensor", device={**DEVICE, "identifiers": [57000001]}))
    assert_only(found, "device.identifiers[0]", "policy")


def test_device_connections_must_be_pairs() -> None:
    found = problems("sensor", good("sensor", device={**DEVICE, "connections": ["mac", "02:00"]}))
    assert {p.key for p in found} == {"device.connections[0]", "device.connections[1]"}


@pytest.mark.parametrize(
    "key",
    ["name", "manufacturer", "model", "model_id", "serial_number", "sw_version", "hw_version", "via_device"],
)
def test_device_string_fields(key: str) -> None:
    assert hr.validate_discovery("sensor", good("sensor", device={**DEVICE, key: "x"})) == []
    found = problems("sensor", good("sensor", device={**DEVICE, key: None}))
    assert_only(found, f"device.{key}", "error")


def test_device_configuration_url() -> None:
    for url in ("https://meter.local/", "homeassistant://config/integrations"):
        config = good("sensor", device={**DEVICE, "configuration_url": url})
        assert hr.validate_discovery("sensor", config) == []
    found = problems("sensor", good("sensor", device={**DEVICE, "configuration_url": "meter.local"}))
    assert_only(found, "device.configuration_url", "error")


def test_device_unknown_key_is_rejected() -> None:
    found = problems("sensor", good("sensor", device={**DEVICE, "firmware": "1.0"}))
    assert_only(found, "device.firmware", "error")


def test_device_should_have_a_name() -> None:
    device = {k: v for k, v in DEVICE.items() if k != "name"}
    assert_only(problems("sensor", good("sensor", device=device)), "device.name", "policy")


def test_device_must_be_an_object() -> None:
    assert_only(problems("sensor", good("sensor", device="omnipower_1")), "device", "error")


def test_origin_requires_a_name() -> None:
    found = problems("sensor", good("sensor", origin={"sw_version": "0.1.0"}))
    assert_only(found, "origin.name", "error")


def test_origin_fields() -> None:
    found = problems("sensor", good("sensor", origin={**ORIGIN, "support_url": "not a url"}))
    assert_only(found, "origin.support_url", "error")
    found = problems("sensor", good("sensor", origin={**ORIGIN, "sw_version": None}))
    assert_only(found, "origin.sw_version", "error")
    found = problems("sensor", good("sensor", origin={**ORIGIN, "vendor": "me"}))
    assert_only(found, "origin.vendor", "error")
    assert_only(problems("sensor", good("sensor", origin="gateway")), "origin", "error")


def test_origin_with_only_a_name_is_fine() -> None:
    assert hr.validate_discovery("sensor", good("sensor", origin={"name": "omnipower-gateway"})) == []


# ---------------------------------------------------------------------------------------------------
# Entity category
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("component", ["sensor", "binary_sensor"])
def test_config_category_is_refused_for_sensors(component: str) -> None:
    found = problems(component, good(component, entity_category="config"))
    assert_only(found, "entity_category", "error")
    assert "diagnostic" in str(found[0])


@pytest.mark.parametrize("component", ["switch", "button", "select"])
def test_config_category_is_fine_for_controls(component: str) -> None:
    assert hr.validate_discovery(component, good(component, entity_category="config")) == []


@pytest.mark.parametrize("category", ["system", "Diagnostic", None, ""])
def test_unknown_entity_category(category: object) -> None:
    assert_only(problems("switch", good("switch", entity_category=category)), "entity_category", "error")


# ---------------------------------------------------------------------------------------------------
# Sensor device class / unit / state class
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("device_class", "unit"),
    [
        ("energy", "kW"),
        ("energy", "kvarh"),
        ("energy", "KWh"),
        ("power", "kWh"),
        ("power", "VA"),
        ("voltage", "v"),
        ("current", "mV"),
        ("frequency", "rpm"),
        ("power_factor", "cos φ"),
        ("apparent_power", "W"),
        ("reactive_power", "kvarh"),
        ("reactive_energy", "kWh"),
        ("duration", "days"),
    ],
)
def test_wrong_unit_for_device_class(device_class: str, unit: str) -> None:
    config = sensor(device_class=device_class, unit_of_measurement=unit)
    found = problems("sensor", config)
    assert_only(found, "unit_of_measurement", "error")
    assert device_class in str(found[0])


def test_wrong_unit_was_only_a_warning_before_2025_7() -> None:
    config = sensor(device_class="energy", state_class="total", unit_of_measurement="kW")
    assert_only(problems("sensor", config, ha_version=(2025, 6)), "unit_of_measurement", "warning")


def test_micro_sign_spellings_are_equivalent() -> None:
    for unit in ("\u00b5V", "\u03bcV"):
        config = sensor(device_class="voltage", state_class="measurement", unit_of_measurement=unit)
        assert hr.validate_discovery("sensor", config) == []


def test_missing_unit_for_a_unit_bearing_device_class_is_a_warning() -> None:
    found = problems("sensor", sensor(device_class="energy", state_class="total_increasing"))
    assert_only(found, "unit_of_measurement", "warning")


def test_device_class_is_case_insensitive_like_ha() -> None:
    config = sensor(device_class="Energy", state_class="TOTAL_INCREASING", unit_of_measurement="kWh")
    assert hr.validate_discovery("sensor", config) == []


@pytest.mark.parametrize("component", ["sensor", "binary_sensor", "switch", "button"])
def test_unknown_device_class(component: str) -> None:
    found = problems(component, good(component, device_class="kamstrup"))
    assert_only(found, "device_class", "error")


@pytest.mark.parametrize(
    ("component", "device_class"),
    [("sensor", "tamper"), ("binary_sensor", "energy"), ("switch", "light"), ("button", "press")],
)
def test_device_class_of_another_platform(component: str, device_class: str) -> None:
    assert_only(problems(component, good(component, device_class=device_class)), "device_class", "error")


@pytest.mark.parametrize("component", ["sensor", "binary_sensor", "switch", "button"])
def test_null_device_class_is_allowed(component: str) -> None:
    config = good(component, device_class=None)
    if component == "sensor":
        config = sensor(device_class=None, state_class="measurement", unit_of_measurement="kWh")
    assert hr.validate_discovery(component, config) == []


@pytest.mark.parametrize(
    ("device_class", "state_class", "unit"),
    [
        ("power", "total_increasing", "W"),
        ("power", "total", "kW"),
        ("energy", "measurement", "kWh"),
        ("voltage", "total", "V"),
        ("monetary", "total_increasing", "EUR"),
        ("monetary", "measurement", "EUR"),
        ("reactive_energy", "measurement", "kvarh"),
        ("gas", "measurement", "m³"),
    ],
)
def test_state_class_impossible_for_device_class(device_class: str, state_class: str, unit: str) -> None:
    config = sensor(device_class=device_class, state_class=state_class, unit_of_measurement=unit)
    found = problems("sensor", config)
    assert_only(found, "state_class", "warning")
    assert device_class in str(found[0])


@pytest.mark.parametrize("device_class", ["timestamp", "date"])
def test_non_numeric_device_class_has_no_state_class(device_class: str) -> None:
    found = problems("sensor", sensor(device_class=device_class, state_class="measurement"))
    assert_only(found, "state_class", "warning")
    assert "no state class" in str(found[0])


@pytest.mark.parametrize("device_class", ["timestamp", "date"])
def test_non_numeric_device_class_has_no_unit(device_class: str) -> None:
    found = problems("sensor", sensor(device_class=device_class, unit_of_measurement="s"))
    assert_only(found, "unit_of_measurement", "error")


def test_unknown_state_class() -> None:
    config = sensor(device_class="power", state_class="instantaneous", unit_of_measurement="W")
    assert_only(problems("sensor", config), "state_class", "error")


def test_blank_unit_is_dropped_by_ha() -> None:
    assert_only(problems("sensor", sensor(unit_of_measurement="")), "unit_of_measurement", "policy")


def test_monetary_unit_should_be_a_currency_code() -> None:
    config = sensor(device_class="monetary", state_class="total", unit_of_measurement="€")
    assert_only(problems("sensor", config), "unit_of_measurement", "policy")


# ---------------------------------------------------------------------------------------------------
# Enum sensors and options
# ---------------------------------------------------------------------------------------------------
def test_enum_sensor_with_options_is_fine() -> None:
    config = sensor(device_class="enum", options=["connected", "disconnected", "released"])
    assert hr.validate_discovery("sensor", config) == []


def test_enum_with_unit_is_rejected() -> None:
    config = sensor(device_class="enum", options=["a", "b"], unit_of_measurement="kWh")
    found = problems("sensor", config)
    assert about(found, "unit_of_measurement")
    assert about(found, "options")
    assert {p.severity for p in found} == {"error"}


def test_enum_with_state_class_is_rejected() -> None:
    config = sensor(device_class="enum", options=["a", "b"], state_class="measurement")
    found = problems("sensor", config)
    assert [p.severity for p in about(found, "options")] == ["error"]
    assert "state_class" in str(about(found, "options")[0])


def test_enum_without_options_is_a_policy_problem() -> None:
    assert_only(problems("sensor", sensor(device_class="enum")), "device_class", "policy")


@pytest.mark.parametrize("device_class", [None, "aqi", "timestamp"])
def test_options_require_enum_device_class(device_class: str | None) -> None:
    config = sensor(options=["a", "b"])
    if device_class is not None:
        config["device_class"] = device_class
    found = problems("sensor", config)
    assert_only(found, "options", "error")
    assert "enum" in str(found[0])


@pytest.mark.parametrize("options", [[], None])
def test_empty_options_are_rejected(options: object) -> None:
    found = problems("sensor", sensor(device_class="enum", options=options))
    assert_only(found, "options", "error")
    assert "empty" in str(found[0])


def test_last_reset_value_template_needs_state_class_total() -> None:
    config = sensor(device_class="energy", state_class="total", unit_of_measurement="kWh")
    config["last_reset_value_template"] = "{{ value_json.last_reset }}"
    assert hr.validate_discovery("sensor", config) == []
    config["state_class"] = "total_increasing"
    assert_only(problems("sensor", config), "last_reset_value_template", "error")


# ---------------------------------------------------------------------------------------------------
# Release-dependent rules
# ---------------------------------------------------------------------------------------------------
def test_reactive_energy_needs_ha_2025_6() -> None:
    config = sensor(device_class="reactive_energy", state_class="total", unit_of_measurement="kvarh")
    assert hr.validate_discovery("sensor", config, ha_version=(2025, 6)) == []
    found = problems("sensor", config, ha_version=(2025, 5))
    assert_only(found, "device_class", "error")
    assert "2025.6" in str(found[0])


def test_measurement_angle_is_for_degrees_only() -> None:
    config = sensor(device_class="wind_direction", state_class="measurement_angle", unit_of_measurement="°")
    assert hr.validate_discovery("sensor", config) == []
    config = sensor(state_class="measurement_angle", unit_of_measurement="rad")
    assert_only(problems("sensor", config), "unit_of_measurement", "error")
    config = sensor(device_class="wind_direction", state_class="measurement", unit_of_measurement="°")
    assert_only(problems("sensor", config), "state_class", "warning")


def test_measurement_angle_needs_ha_2025_4() -> None:
    config = sensor(state_class="measurement_angle", unit_of_measurement="°")
    assert_only(problems("sensor", config, ha_version=(2025, 3)), "state_class", "error")


def test_object_id_is_deprecated_since_2025_10() -> None:
    config = good("sensor", object_id="omnipower_1_energy_import")
    assert_only(problems("sensor", config), "object_id", "warning")
    assert problems("sensor", config, ha_version=(2025, 9)) == []
    config["default_entity_id"] = "sensor.omnipower_1_energy_import"
    assert problems("sensor", config) == []


def test_default_entity_id_should_match_the_component() -> None:
    config = good("sensor", default_entity_id="switch.omnipower_1_energy_import")
    assert_only(problems("sensor", config), "default_entity_id", "policy")


# ---------------------------------------------------------------------------------------------------
# Energy dashboard
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state_class", "unit"),
    [("total_increasing", "kWh"), ("total", "Wh"), ("total", "MWh")],
)
def test_energy_dashboard_accepts_energy_totals(state_class: str, unit: str) -> None:
    config = sensor(device_class="energy", state_class=state_class, unit_of_measurement=unit)
    assert hr.energy_dashboard_problems(config) == []


def test_energy_dashboard_accepts_abbreviated_payload() -> None:
    config = {"dev_cla": "energy", "stat_cla": "total_increasing", "unit_of_meas": "kWh", "stat_t": "a/b"}
    assert hr.energy_dashboard_problems(config) == []


def test_energy_dashboard_rejects_a_power_sensor() -> None:
    config = sensor(device_class="power", state_class="measurement", unit_of_measurement="W")
    found = hr.energy_dashboard_problems(config)
    assert len(found) == 3
    assert any("device_class" in p for p in found)
    assert any("state_class" in p for p in found)
    assert any("unit_of_measurement" in p for p in found)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"state_class": "measurement"}, "state_class"),
        ({"state_class": None}, "state_class"),
        ({"unit_of_measurement": "kvarh"}, "unit_of_measurement"),
        ({"unit_of_measurement": None}, "unit_of_measurement"),
        ({"device_class": "reactive_energy"}, "device_class"),
        ({"device_class": None}, "device_class"),
    ],
)
def test_energy_dashboard_problem_names_the_key(changes: dict[str, Any], key: str) -> None:
    config = sensor(device_class="energy", state_class="total_increasing", unit_of_measurement="kWh")
    config.update(changes)
    found = hr.energy_dashboard_problems(config)
    assert len(found) == 1
    assert f"`{key}`" in found[0]


# ---------------------------------------------------------------------------------------------------
# Discovery topics
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "topic",
    [
        "homeassistant/sensor/omnipower_1/energy_import/config",
        "homeassistant/sensor/energy-import/config",
        "homeassistant/binary_sensor/omnipower_1/alarm_magnetic/config",
        "homeassistant/switch/omnipower_1/breaker_switch/config",
        "homeassistant/button/omnipower_1/breaker_release/config",
        "homeassistant/select/omnipower_1/tariff_control/config",
        "homeassistant/device/omnipower_1/config",
    ],
)
def test_valid_discovery_topics(topic: str) -> None:
    assert hr.validate_topic(topic) == []


def test_custom_prefix() -> None:
    assert hr.validate_topic("ha/disc/sensor/omnipower_1/energy/config", prefix="ha/disc") == []
    found = hr.validate_topic("homeassistant/sensor/omnipower_1/energy/config", prefix="ha/disc")
    assert len(found) == 1
    assert "prefix" in found[0]


@pytest.mark.parametrize(
    ("topic", "key"),
    [
        ("homeassistant/sensor/omnipower.1/energy/config", "node_id"),
        ("homeassistant/sensor/omnipower_1/energy import/config", "object_id"),
        ("homeassistant/sensor/omnipöwer/config", "object_id"),
        ("homeassistant/sensors/omnipower_1/energy/config", "component"),
        ("homeassistant/sensor/+/energy/config", "topic"),
        ("homeassistant/sensor/omnipower_1/energy/#", "topic"),
        ("homeassistant/sensor/config", "topic"),
        ("homeassistant/sensor/a/b/c/config", "topic"),
        ("homeassistant/sensor/omnipower_1/energy/state", "topic"),
        ("homeassistant/sensor/omnipower_1/energy/config/", "topic"),
        ("", "topic"),
    ],
)
def test_invalid_discovery_topics(topic: str, key: str) -> None:
    found = hr.validate_topic(topic)
    assert found
    assert any(f"`{key}`" in p for p in found), found


def test_topic_component_must_match() -> None:
    found = hr.validate_topic("homeassistant/switch/omnipower_1/breaker/config", component="button")
    assert len(found) == 1
    assert "component" in found[0]


def test_validate_message() -> None:
    topic = "homeassistant/sensor/omnipower_1/energy_import/config"
    assert hr.validate_message(topic, json.dumps(GOOD["sensor"]).encode()) == []
    assert "payload" in hr.validate_message(topic, b"{not json")[0]
    assert "payload" in hr.validate_message(topic, "[1, 2]")[0]
    found = hr.validate_message(topic, json.dumps(without("sensor", "state_topic")))
    assert len(found) == 1
    assert "state_topic" in found[0]


# ---------------------------------------------------------------------------------------------------
# The tables themselves
# ---------------------------------------------------------------------------------------------------
def test_tables_are_consistent() -> None:
    assert set(hr.DEVICE_CLASS_UNITS) <= hr.SENSOR_DEVICE_CLASSES
    assert set(hr.DEVICE_CLASS_STATE_CLASSES) == hr.SENSOR_DEVICE_CLASSES
    for allowed in hr.DEVICE_CLASS_STATE_CLASSES.values():
        assert allowed <= hr.SENSOR_STATE_CLASSES
    assert {"date", "enum", "timestamp", "monetary"}.isdisjoint(hr.DEVICE_CLASS_UNITS)


def test_tables_hold_the_units_the_gateway_relies_on() -> None:
    units = hr.DEVICE_CLASS_UNITS
    assert {"Wh", "kWh", "MWh", "GJ"} <= units["energy"]
    assert {"W", "kW"} <= units["power"]
    assert "BTU/h" not in units["power"]
    assert {"V", "mV"} <= units["voltage"]
    assert units["current"] == {"A", "mA"}
    assert {"Hz", "kHz"} <= units["frequency"]
    assert units["power_factor"] == {"%", None}
    assert "VA" in units["apparent_power"]
    assert {"var", "kvar"} <= units["reactive_power"]
    assert units["reactive_energy"] == {"varh", "kvarh"}
    assert {"s", "min", "h", "d"} <= units["duration"]
    assert hr.DEVICE_CLASS_STATE_CLASSES["energy"] == {"total", "total_increasing"}
    assert hr.DEVICE_CLASS_STATE_CLASSES["monetary"] == {"total"}
    assert hr.DEVICE_CLASS_STATE_CLASSES["enum"] == frozenset()
    assert hr.DEVICE_CLASS_STATE_CLASSES["timestamp"] == frozenset()
    assert {"measurement", "measurement_angle", "total", "total_increasing"} == hr.SENSOR_STATE_CLASSES
    assert {"outlet", "switch"} == hr.SWITCH_DEVICE_CLASSES
    assert {"identify", "restart", "update"} == hr.BUTTON_DEVICE_CLASSES
    assert {"tamper", "problem", "connectivity", "power"} <= hr.BINARY_SENSOR_DEVICE_CLASSES
    assert {"config", "diagnostic"} == hr.ENTITY_CATEGORIES
    assert {"all", "any", "latest"} == hr.AVAILABILITY_MODES


def test_every_problem_string_names_its_key() -> None:
    config = sensor(
        device_class="energy",
        state_class="measurement",
        unit_of_measurement="kW",
        icon=None,
        qos=7,
        availability_topic="a/#/b",
        device={"name": "x", "colour": "red"},
    )
    found = problems("sensor", config)
    assert len(found) >= 6
    for p in found:
        assert f"`{p.key}`" in str(p)
        assert str(p).startswith(f"[{p.severity}] {p.key}: ")
    assert hr.validate_discovery("sensor", config) == [str(p) for p in found]


# ---------------------------------------------------------------------------------------------------
# update (mqtt/update.py)
# ---------------------------------------------------------------------------------------------------
def test_update_needs_a_state_topic_and_a_payload_with_its_command_topic() -> None:
    assert_only(problems("update", without("update", "state_topic")), "state_topic", "error")
    assert_only(problems("update", without("update", "payload_install")), "payload_install", "error")
    assert hr.validate_discovery("update", without("update", "command_topic", "payload_install")) == []


def test_update_device_class_and_abbreviations() -> None:
    assert_only(problems("update", good("update", device_class="software")), "device_class", "error")
    short = {hr.ABBREVIATIONS.get(k, k): v for k, v in GOOD["update"].items()}
    abbreviated = {({v: k for k, v in hr.ABBREVIATIONS.items()}).get(k, k): v for k, v in short.items()}
    assert "pl_inst" in abbreviated and "stat_t" in abbreviated
    assert hr.validate_discovery("update", abbreviated) == []
    found = problems("update", good("update", display_precision=-1))
    assert_only(found, "display_precision", "error")


@pytest.mark.parametrize(("payload", "problem"), [
    ({"installed_version": "1", "latest_version": "2", "in_progress": True, "update_percentage": 40}, None),
    ({"installed_version": None}, "installed_version"),
    ({"latest_version": "2", "version": "x"}, "version"),
    ({"in_progress": "yes"}, "in_progress"),
    ({"update_percentage": 101}, "update_percentage"),
    ({"update_percentage": None, "release_summary": ""}, None),
    ({"release_url": "not a url"}, "release_url"),
])
def test_update_state_payload_follows_the_json_schema(payload: dict[str, Any], problem: str | None) -> None:
    found = hr.validate_update_state(json.dumps(payload))
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and f"`{problem}`" in found[0] and "[error]" in found[0]
