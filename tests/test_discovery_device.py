"""Device-based discovery, the migration between the two modes, and null readings, judged by tests/ha_rules.py and
tests/ha_sensor_state.py (HA's rules, written from its source) with no broker: the lifecycle is sans-IO."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ha_rules as hr
from ha_sensor_state import MODELLED_SINCE, replay, replay_releases

from gateway import discovery
from gateway.command_table import COMMAND_NAMES
from gateway.config import MqttSettings
from gateway.discovery_lifecycle import DiscoveryLifecycle
from gateway.discovery_migration import MIGRATE, switch
from gateway.mqtt_link import Incoming
from gateway.outbox import Outgoing
from gateway.period_fields import FIELDS as ALL_FIELDS
from gateway.period_fields import fields_for
from gateway.sources.base import MeterInfo
from gateway.topics import Topics
from omnipower.alarms import ALARMS_BY_TYPE
from omnipower.registers import PREPAYMENT_KEYS, Kind, meter_registers

TOPICS = Topics("omnipower")
FIELDS = fields_for([f.key for f in ALL_FIELDS], ("1", "2", "3"))  # energy by period and a capacity tariff
DEVICE_RELEASES = [r for r in hr.RELEASES if r >= hr.DEVICE_DISCOVERY_SINCE]


def info(meter_id: str = "m1", *, prepayment: str | None = None) -> MeterInfo:
    return MeterInfo(meter_id=meter_id, name=f"Meter {meter_id}", source="simulated", model="OMNIPOWER",
                     serial_number="57000001", sw_version="C1.2",
                     registers=meter_registers(4, tariffs=8, tariff_plans=3, prepayment=prepayment),
                     commands=frozenset(COMMAND_NAMES), alarm_types=tuple(ALARMS_BY_TYPE))


def device_config(meter: MeterInfo) -> tuple[str, dict[str, Any]]:
    ((topic, payload),) = discovery.messages(meter, TOPICS, "0.1", FIELDS, mode="device")
    return topic, json.loads(payload)


def entity_configs(meter: MeterInfo) -> dict[str, tuple[str, dict[str, Any]]]:
    """object id -> (component, config) of the per-entity face."""
    return {topic.split("/")[-2]: (topic.split("/")[1], json.loads(payload))
            for topic, payload in discovery.messages(meter, TOPICS, "0.1", FIELDS, mode="entity")}


# --- the two faces ---------------------------------------------------------------------------------------------------
def test_every_payload_of_both_modes_passes_the_judge_on_every_release_that_has_the_mode() -> None:
    meter = info(prepayment="EUR")
    entity = discovery.messages(meter, TOPICS, "0.1", FIELDS, mode="entity")
    device = discovery.messages(meter, TOPICS, "0.1", FIELDS, mode="device")
    for release in hr.RELEASES:
        for topic, payload in entity:
            assert hr.validate_message(topic, payload, ha_version=release) == [], (release, topic)
        if release >= hr.DEVICE_DISCOVERY_SINCE:
            assert hr.validate_message(*device[0], ha_version=release) == [], release
        else:  # older releases do not even subscribe to the device topic
            assert "needs HA 2024.11" in " ".join(hr.validate_message(*device[0], ha_version=release))


def test_the_device_config_is_the_entity_configs_after_ha_merges_the_shared_options() -> None:
    """One table, two faces: HA's expansion of the device config gives every entity config exactly (same unique
    ids, object ids, templates), plus only shared options the platform ignores (a button's state topic)."""
    meter = info()
    topic, device = device_config(meter)
    assert topic == "homeassistant/device/omnipower_m1/config"
    expanded = hr.expand_device_payload(device)
    entities = entity_configs(meter)
    assert list(expanded) == list(entities)
    for object_id, (component, config) in entities.items():
        merged = dict(expanded[object_id])
        assert merged.pop("platform") == component
        extra = {k: merged.pop(k) for k in set(merged) - set(config)}
        assert merged == config, object_id
        assert set(extra) <= {"state_topic"} and component == "button" if extra else True, (object_id, extra)
    assert {k for k in device if k != "components"} == {"device", "origin", "availability", "availability_mode",
                                                         "state_topic"}
    assert len(json.dumps(device)) < 0.5 * sum(len(json.dumps(c)) for _, c in entities.values())


def test_a_removed_component_is_reduced_to_its_platform_and_the_judge_accepts_it() -> None:
    meter = info()
    built = discovery.build(meter, TOPICS, "0.1", FIELDS)
    kept = [b for b in built if b[1] != "a_plus"]
    ((topic, payload),) = discovery.device_messages(kept, meter, TOPICS, [("sensor", "a_plus")])
    config = json.loads(payload)
    assert config["components"]["a_plus"] == {"platform": "sensor"}
    assert hr.validate_message(topic, payload) == []
    ha = hr.DiscoveryReplay()
    ha.feed(*discovery.device_messages(built, meter, TOPICS)[0])
    ha.feed(topic, payload)
    assert ha.removed == {"omnipower_m1_a_plus"} and len(ha.registry) == len(built) - 1 and ha.problems == []


# --- the judge's device rules ----------------------------------------------------------------------------------------
def _bad(config: dict[str, Any]) -> list[hr.Problem]:
    return [p for p in hr.check_device_discovery(config) if p.severity == "error"]


def test_the_judge_refuses_what_ha_refuses_in_a_device_config() -> None:
    _, good = device_config(info())
    assert hr.check_device_discovery(good) == []
    for key in ("device", "origin", "components"):
        broken = copy.deepcopy(good)
        del broken[key]
        assert any(p.key == key for p in _bad(broken)), key
    extra = {**good, "value_template": "{{ value }}"}  # not a shared option: HA drops the whole message
    assert [p.key for p in _bad(extra)] == ["value_template"]
    no_platform = copy.deepcopy(good)
    del no_platform["components"]["a_plus"]["platform"]
    assert [p.key for p in _bad(no_platform)] == ["components.a_plus.platform"]
    no_uid = copy.deepcopy(good)
    del no_uid["components"]["a_plus"]["unique_id"]
    assert "components.a_plus.unique_id" in [p.key for p in _bad(no_uid)]
    twice = copy.deepcopy(good)
    twice["components"]["a_minus"]["unique_id"] = twice["components"]["a_plus"]["unique_id"]
    assert [p.key for p in _bad(twice)] == ["components.a_minus.unique_id"]
    wrong = copy.deepcopy(good)
    wrong["components"]["a_plus"]["state_class"] = "sometimes"  # per-component rules apply after the merge
    assert [p.key for p in _bad(wrong)] == ["components.a_plus.state_class"]
    inherited = copy.deepcopy(good)
    inherited["state_topic"] = "omnipower/+/state"  # a shared option is judged in every component that takes it
    assert any(p.key == "components.a_plus.state_topic" for p in hr.check_device_discovery(inherited))
    origin = copy.deepcopy(good)
    del origin["origin"]["name"]
    assert [p.key for p in _bad(origin)] == ["origin.name"]


def test_the_judge_reads_the_abbreviated_form_and_the_migration_marker() -> None:
    abbreviated = {"dev": {"ids": ["x"], "name": "X"}, "o": {"name": "y"}, "stat_t": "a/state",
                   "cmps": {"t": {"p": "sensor", "uniq_id": "x_t", "val_tpl": "{{ value_json.t }}",
                                  "dev_cla": "temperature", "unit_of_meas": "°C"}}}
    assert hr.check_device_discovery(abbreviated) == []
    assert hr.validate_message("homeassistant/device/x/config", MIGRATE) == []
    assert hr.validate_message("homeassistant/sensor/x/t/config", MIGRATE) == []
    assert hr.validate_message("homeassistant/sensor/x/t/config", MIGRATE, ha_version=(2024, 10)) != []
    assert hr.validate_message("homeassistant/device/x/config", b'{"migrate_discovery": "yes"}') != []
    assert hr.validate_message("homeassistant/device/x/config", b"") == []  # a removal


# --- the migration, as HA's bookkeeping sees it ----------------------------------------------------------------------
def _replayed(*sequences: list[tuple[str, bytes]] | list[Outgoing]) -> hr.DiscoveryReplay:
    ha = hr.DiscoveryReplay()
    for sequence in sequences:
        for m in sequence:
            topic, payload = (m.topic, m.payload) if isinstance(m, Outgoing) else m
            ha.feed(topic, payload)
    return ha


def test_switching_modes_as_ha_documents_keeps_every_entity_both_ways() -> None:
    meter = info()
    entity = discovery.messages(meter, TOPICS, "0.1", FIELDS, mode="entity")
    device = discovery.messages(meter, TOPICS, "0.1", FIELDS, mode="device")
    uids = {json.loads(p)["unique_id"] for _, p in entity}
    to_device = switch([t for t, _ in entity], device)
    assert [m.payload for m in to_device[:len(entity)]] == [MIGRATE] * len(entity)
    assert to_device[len(entity)].topic == device[0][0] and all(m.retain for m in to_device[len(entity):])
    assert [m.payload for m in to_device[len(entity) + 1:]] == [b""] * len(entity)
    ha = _replayed(entity, to_device)
    assert ha.problems == [] and ha.removed == set() and ha.registry == uids
    assert set(ha.owners().values()) == {device[0][0]} and set(ha.owners()) == uids
    back = switch([device[0][0]], entity)
    ha = _replayed(entity, to_device, back)
    assert ha.problems == [] and ha.removed == set() and ha.owners() == {json.loads(p)["unique_id"]: t
                                                                         for t, p in entity}


def test_without_the_marker_ha_keeps_the_old_entities_and_clearing_first_loses_them() -> None:
    meter = info()
    entity = discovery.messages(meter, TOPICS, "0.1", FIELDS, mode="entity")
    device = discovery.messages(meter, TOPICS, "0.1", FIELDS, mode="device")
    conflicting = _replayed(entity, device)
    assert conflicting.problems and all("conflicting" in p.message for p in conflicting.problems)
    cleared_first = _replayed(entity, [(t, b"") for t, _ in entity], device)
    assert len(cleared_first.removed) == len(entity)  # HA deleted the registry entries: ids and history gone


# --- null readings -----------------------------------------------------------------------------------------------
def _sensor_configs() -> list[dict[str, Any]]:
    meter = info(prepayment="EUR")
    _, device = device_config(meter)
    from_device = [c for c in hr.expand_device_payload(device).values() if c["platform"] == "sensor"]
    from_entities = [c for component, c in entity_configs(meter).values() if component == "sensor"]
    return from_device + from_entities


def _sample(config: dict[str, Any]) -> object:
    """A value of the kind the sensor promises."""
    if config.get("device_class") == "timestamp":
        return "2026-01-15T11:45:00+01:00"
    if config.get("device_class") == "enum":
        return config["options"][0]
    return 12.5


def test_a_null_or_missing_reading_makes_ha_log_nothing_on_any_release() -> None:
    """Every register sensor, as HA replays the state on every modelled release: null (or absent) before the reading
    exists leaves it unknown, a value sets it, a later null keeps it; nothing logged."""
    releases = [r for r in hr.RELEASES if r >= MODELLED_SINCE]
    checked = 0
    for config in _sensor_configs():
        if "value_json.get(" not in config["value_template"]:
            continue  # the LCD reads its own topic, never null
        key = config["value_template"].split("'")[1]
        value = _sample(config)
        before = replay_releases(config, [json.dumps({key: None}), "{}"], releases)
        assert all(r == (None, []) for r in before.values()), (config["unique_id"], before)
        after = replay_releases(config, [json.dumps({key: None}), json.dumps({key: value}), json.dumps({key: None})],
                                releases)
        assert all(r == (str(value), []) for r in after.values()), (config["unique_id"], after)
        checked += 1
    assert checked > 300  # both faces of a full meter


def test_the_plain_template_is_what_made_ha_2024_3_warn() -> None:
    """The judge catches the regression: `{{ value_json.x }}` renders a null timestamp as "None", an invalid state
    message on HA 2024.3 (the issue's 24 warnings per start), unknown without a word from HA 2024.11."""
    timestamps = [c for c in _sensor_configs() if c.get("device_class") == "timestamp"]
    assert timestamps
    for config in timestamps:
        key = config["value_template"].split("'")[1]
        plain = {**config, "value_template": f"{{{{ value_json.{key} }}}}"}
        state, problems = replay(plain, [json.dumps({key: None})], ha_version=(2024, 3))
        assert state is None and [p.severity for p in problems] == ["warning"]
        assert "Invalid state message" in problems[0].message
        assert replay(plain, [json.dumps({key: None})], ha_version=(2024, 11)) == (None, [])
        assert replay(config, [json.dumps({key: None})], ha_version=(2024, 3)) == (None, [])
    assert {r.key for r in meter_registers(4) if r.kind is Kind.TIMESTAMP} <= {
        c["value_template"].split("'")[1] for c in timestamps}


# --- the lifecycle (sans-IO): memory, migration at the first announcement, removed meters, rollback ------------------
@dataclass
class FakeSource:
    info: MeterInfo


def lifecycle(mode: str, memory: Path, *meters: str) -> DiscoveryLifecycle:
    async def no_states() -> list[Outgoing]:
        return []

    sources: dict[str, Any] = {m: FakeSource(info(m)) for m in meters}
    return DiscoveryLifecycle(MqttSettings(discovery_mode=mode), Topics("omnipower"), sources, "0.1", no_states,
                              fields={m: FIELDS for m in meters}, memory=memory)


def announce(life: DiscoveryLifecycle) -> list[Outgoing]:
    out = life.forgotten() + [m for mid in life.sources for m in life.messages(mid)]
    life.remember()
    return out


def test_the_lifecycle_migrates_once_from_what_it_remembers(tmp_path: Path) -> None:
    memory = tmp_path / "discovery.json"
    first = announce(lifecycle("entity", memory, "m1"))
    assert all(m.payload != MIGRATE for m in first)
    assert json.loads(memory.read_text())["meters"]["m1"]["mode"] == "entity"
    device = lifecycle("device", memory, "m1")
    out = announce(device)
    assert out == switch([m.topic for m in first], discovery.messages(info("m1"), TOPICS, "0.1", FIELDS, mode="device"))
    assert all(m.payload != MIGRATE for m in device.messages("m1"))  # HA's birth: announce, do not migrate again
    assert all(m.payload != MIGRATE for m in announce(lifecycle("device", memory, "m1")))  # nor at the next start
    back = announce(lifecycle("entity", memory, "m1"))
    assert back == switch(["homeassistant/device/omnipower_m1/config"],
                          discovery.messages(info("m1"), TOPICS, "0.1", FIELDS, mode="entity"))
    ha = _replayed(first, out, back)
    assert ha.problems == [] and ha.removed == set()


def test_with_no_memory_device_mode_migrates_from_the_per_entity_topics(tmp_path: Path) -> None:
    out = announce(lifecycle("device", tmp_path / "discovery.json", "m1"))
    entity_topics = [t for t, _ in discovery.messages(info("m1"), TOPICS, "0.1", FIELDS, mode="entity")]
    assert out == switch(entity_topics, discovery.messages(info("m1"), TOPICS, "0.1", FIELDS, mode="device"))


async def test_a_device_config_found_retained_in_entity_mode_is_rolled_back_once(tmp_path: Path) -> None:
    life = lifecycle("entity", tmp_path / "discovery.json", "m1")
    announce(life)
    ((topic, payload),) = discovery.messages(info("m1"), TOPICS, "0.1", FIELDS, mode="device")
    handler = dict(life.routes())[topic]
    out = await handler(Incoming(topic, payload, True))
    assert out == switch([topic], discovery.messages(info("m1"), TOPICS, "0.1", FIELDS, mode="entity"))
    assert await handler(Incoming(topic, payload, True)) == []  # its rollback clears it


def test_a_meter_no_longer_configured_is_cleared_in_either_mode(tmp_path: Path) -> None:
    for mode in ("entity", "device"):
        memory = tmp_path / f"{mode}.json"
        both = announce(lifecycle(mode, memory, "m1", "m2"))
        m2_topics = {m.topic for m in both if "omnipower_m2" in m.topic and m.payload not in (b"", MIGRATE)}
        out = announce(lifecycle(mode, memory, "m1"))
        assert {m.topic for m in out if m.payload == b""} == m2_topics
        assert set(json.loads(memory.read_text())["meters"]) == {"m1"}
        assert all(m.payload for m in announce(lifecycle(mode, memory, "m1")))  # forgotten once cleared


def test_a_refresh_in_device_mode_reduces_the_retired_entities_to_their_platform(tmp_path: Path) -> None:
    """Prepayment switched off remotely: its sensors leave the device config as HA documents, the rest stay."""
    life = lifecycle("device", tmp_path / "discovery.json", "m1")
    life.sources["m1"] = FakeSource(info("m1", prepayment="EUR"))  # type: ignore[assignment]
    life._built_from["m1"] = info("m1")  # as if announced before prepayment
    first = life.refresh("m1")
    life.sources["m1"] = FakeSource(info("m1"))  # type: ignore[assignment]
    out = life.refresh("m1")
    ((topic, payload),) = [(m.topic, m.payload) for m in out if m.payload]
    stubs = {k for k, v in json.loads(payload)["components"].items() if v == {"platform": "sensor"}}
    assert stubs == set(PREPAYMENT_KEYS)
    assert hr.validate_message(topic, payload) == []
    ha = _replayed(first, out)
    assert ha.problems == [] and {u.removeprefix("omnipower_m1_") for u in ha.removed} == stubs
