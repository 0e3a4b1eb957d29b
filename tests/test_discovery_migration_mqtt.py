"""Switching `mqtt.discovery_mode` against a real Mosquitto: the retained messages Home Assistant would see, in
their order, judged by tests/ha_rules.py (the payloads, and `DiscoveryReplay`: HA's bookkeeping of discovered
entities, so that every unique id keeps its registry entry, hence its entity id and history)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import ha_rules as hr
import pytest
from conftest import Mosquitto, probe_client
from gateway_harness import gateway_config, running_gateway

pytestmark = pytest.mark.integration
PREFIX = "homeassistant"
DEVICE_TOPIC = f"{PREFIX}/device/omnipower_m1/config"
MIGRATE = {"migrate_discovery": True}


def ours(topic: str) -> bool:
    return topic.startswith(f"{PREFIX}/") and "/omnipower_m1/" in topic and topic.endswith("/config")


async def retained(mosquitto: Mosquitto) -> dict[str, bytes]:
    """The discovery configs of meter m1 the broker holds now (what HA reads when it starts)."""
    async with probe_client(mosquitto, f"{PREFIX}/#") as late:
        await asyncio.sleep(0.5)
        return {m.topic: m.payload for m in late.messages if m.retain and ours(m.topic) and m.payload}


async def run(mosquitto: Mosquitto, tmp_path: Path, mode: str, done: str) -> list[tuple[str, bytes]]:
    """Run the gateway in `mode` until `done` (a topic) has been published live, and return the live discovery
    messages of m1 in the order a subscriber (HA) received them."""
    config = gateway_config(tmp_path, mosquitto.port, mqtt={"host": "127.0.0.1", "port": mosquitto.port,
                                                            "discovery_mode": mode})
    async with probe_client(mosquitto, f"{PREFIX}/#") as probe:
        await asyncio.sleep(0.3)  # the retained ones first
        mark = probe.mark()
        async with running_gateway(config):
            await probe.wait_for(done, lambda m: not m.retain, after=mark)
            await asyncio.sleep(0.5)
            again = probe.mark()
            await probe.publish(f"{PREFIX}/status", "online")  # HA's birth: announce again, migrate no more
            await probe.wait_for(done if mode == "device" else f"{PREFIX}/sensor/omnipower_m1/a_plus/config",
                                 lambda m: not m.retain, after=again)
            await asyncio.sleep(0.3)
        assert all(m.payload != json.dumps(MIGRATE, separators=(",", ":")).encode()
                   for m in probe.messages[again:]), "migrated twice"
        return [(m.topic, m.payload) for m in probe.messages[mark:again] if ours(m.topic) and not m.retain]


def assert_ha_order(live: list[tuple[str, bytes]], old: set[str], new: set[str]) -> None:
    """HA's documented order: a migration request on every old topic, then the new configs, then the old topics
    cleared, each once."""
    kinds = [("marker" if p and json.loads(p) == MIGRATE else "clear" if not p else "config", t) for t, p in live]
    markers = [i for i, (k, _) in enumerate(kinds) if k == "marker"]
    configs = [i for i, (k, t) in enumerate(kinds) if k == "config" and t in new]
    clears = [i for i, (k, _) in enumerate(kinds) if k == "clear"]
    assert {kinds[i][1] for i in markers} == old and len(markers) == len(old)
    assert {kinds[i][1] for i in configs} == new
    assert {kinds[i][1] for i in clears} == old and len(clears) == len(old)
    assert max(markers) < min(configs) and max(configs) < min(clears)


def assert_ha_keeps_everything(before: dict[str, bytes], live: list[tuple[str, bytes]], owner: set[str]) -> None:
    ha = hr.DiscoveryReplay(PREFIX)
    for topic, payload in before.items():
        ha.feed(topic, payload)
    uids = set(ha.registry)
    assert len(uids) > 100
    for topic, payload in live:
        assert hr.validate_message(topic, payload, PREFIX) == [], topic
        ha.feed(topic, payload)
    assert ha.problems == [] and ha.removed == set() and ha.registry == uids
    assert set(ha.owners()) == uids and set(ha.owners().values()) == owner


async def test_switching_discovery_mode_migrates_as_ha_documents_and_back(mosquitto: Mosquitto,
                                                                          tmp_path: Path) -> None:
    await run(mosquitto, tmp_path, "entity", f"{PREFIX}/sensor/omnipower_m1/a_plus/config")
    entity = await retained(mosquitto)
    assert DEVICE_TOPIC not in entity and len(entity) > 100
    assert json.loads((tmp_path / "data" / "discovery.json").read_text())["meters"]["m1"]["mode"] == "entity"

    live = await run(mosquitto, tmp_path, "device", DEVICE_TOPIC)
    assert_ha_order(live, set(entity), {DEVICE_TOPIC})
    assert_ha_keeps_everything(entity, live, {DEVICE_TOPIC})
    device = await retained(mosquitto)
    assert list(device) == [DEVICE_TOPIC]  # every per-entity config cleared
    for release in hr.RELEASES:
        if release >= hr.DEVICE_DISCOVERY_SINCE:
            assert hr.validate_message(DEVICE_TOPIC, device[DEVICE_TOPIC], PREFIX, ha_version=release) == []

    live = await run(mosquitto, tmp_path, "entity", f"{PREFIX}/sensor/omnipower_m1/a_plus/config")
    assert_ha_order(live, {DEVICE_TOPIC}, set(entity))
    assert_ha_keeps_everything(device, live, set(entity))
    assert await retained(mosquitto) == entity  # the same configs as before the round trip


async def test_a_meter_taken_out_of_the_configuration_leaves_home_assistant(mosquitto: Mosquitto,
                                                                           tmp_path: Path) -> None:
    """Device mode: the meter's device config is cleared (HA removes its components and the device)."""
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "discovery_mode": "device"}
    two = gateway_config(tmp_path, mosquitto.port, [{"id": "m1"}, {"id": "m2"}], mqtt=mqtt)
    async with probe_client(mosquitto, f"{PREFIX}/#") as probe, running_gateway(two):
        await probe.wait_for(f"{PREFIX}/device/omnipower_m2/config")
    one = gateway_config(tmp_path, mosquitto.port, [{"id": "m1"}], mqtt=mqtt)
    async with probe_client(mosquitto, f"{PREFIX}/#") as probe:
        await asyncio.sleep(0.3)
        mark = probe.mark()
        before = {m.topic: m.payload for m in probe.messages if m.retain}
        async with running_gateway(one):
            await probe.wait_for(f"{PREFIX}/device/omnipower_m2/config", lambda m: m.payload == b"", after=mark)
    ha = hr.DiscoveryReplay(PREFIX)
    for topic, payload in before.items():
        ha.feed(topic, payload)
    gone = {uid for uid in ha.registry if uid.startswith("omnipower_m2_")}
    ha.feed(f"{PREFIX}/device/omnipower_m2/config", b"")
    assert gone and ha.removed == gone and ha.problems == []
    async with probe_client(mosquitto, f"{PREFIX}/#") as late:
        await asyncio.sleep(0.5)
        left = {m.topic for m in late.messages if m.retain and m.topic.endswith("/config")}
    assert left == {f"{PREFIX}/device/omnipower_m1/config"}
