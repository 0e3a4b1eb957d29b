"""The gateway against a real Mosquitto: topic contract, commands, responses, retained state,
discovery, last will, reconnect and restart."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from conftest import Mosquitto, Probe, probe_client, stop_process
from gateway_harness import gateway_config, gateway_process, request, running_gateway
from ha_rules import validate_discovery, validate_topic, validate_update_state
from ha_sensor_state import IGNORED
from ha_sensor_state import render as ha_render
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

pytestmark = pytest.mark.integration
IGNORED_TEXT = "<message ignored>"


def render(template: str, payload: bytes) -> str:
    """Evaluate a discovery value_template the way Home Assistant does (tests/ha_sensor_state.py: value_json, HA's
    sandbox; a template error makes HA ignore the message, shown as IGNORED_TEXT); HA logs nothing about it."""
    rendered, logged = ha_render(template, payload)
    assert logged == [], logged
    return IGNORED_TEXT if rendered is IGNORED else str(rendered)


async def state_after(probe: Probe, mark: int, predicate: Any = lambda s: True, meter: str = "m1") -> dict[str, Any]:
    msg = await probe.wait_for(f"omnipower/{meter}/state", lambda m: predicate(m.json()), after=mark)
    result: dict[str, Any] = msg.json()
    return result


async def test_announces_the_topic_contract(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port)
    async with running_gateway(config), probe_client(mosquitto, "omnipower/#", "homeassistant/#") as probe:
        await probe.wait_for("omnipower/m1/state")
        await asyncio.sleep(0.3)
    # A fresh subscriber must get the retained contract.
    async with probe_client(mosquitto, "omnipower/#", "homeassistant/#") as late:
        bridge = await late.wait_for("omnipower/bridge/state")
        assert bridge.retain and bridge.json() == {"state": "offline"}  # the gateway stopped cleanly
        info = (await late.wait_for("omnipower/bridge/info")).json()
        assert [m["id"] for m in info["meters"]] == ["m1"] and info["meters"][0]["source"] == "simulated"
        assert "password" not in json.dumps(info)
        state = await late.wait_for("omnipower/m1/state")
        assert state.retain
        body = state.json()
        assert body["time"].startswith("2026-01-15T12:00")  # meter clock, local time with offset
        assert body["time"].endswith("+01:00")
        for key in ("a_plus", "a_minus", "r_plus", "r_minus", "e_plus", "e_minus", "p_plus", "u_l1", "u_l2",
                    "u_l3", "i_l1", "pf", "frequency", "a_plus_t1", "r_plus_t4", "p_plus_max", "hour_counter"):
            assert isinstance(body[key], int | float), key
        assert body["breaker"] == "connected" and body["tariff"] == 2
        breaker = (await late.wait_for("omnipower/m1/breaker")).json()
        assert breaker["state"] == "connected" and breaker["reason"] == "delivery"
        alarms = (await late.wait_for("omnipower/m1/alarms")).json()
        assert alarms["active"] == []
        availability = await late.wait_for("omnipower/m1/availability")
        assert availability.retain and availability.json() == {"state": "offline"}
        display = await late.wait_for("omnipower/m1/display")  # the LCD, as the meter shows it
        lcd = display.json()
        assert display.retain and not lcd["blank"] and lcd["time"] == body["time"]
        assert (lcd["state"], lcd["item"]) in {("start_rom", "96.54.1"), ("start_sw", "0.2.0"),
                                               ("start_phases", "phases")} or lcd["state"] == "auto"
        firmware = await late.wait_for("omnipower/m1/firmware")  # what the update entity reads
        assert firmware.retain and validate_update_state(firmware.payload) == []
        assert firmware.json()["installed_version"] == body["firmware_version"]
        await asyncio.sleep(0.5)
        configs = [m for m in late.messages if m.topic.startswith("homeassistant/")]
    components = {m.topic.split("/")[1] for m in configs}
    assert components == {"sensor", "binary_sensor", "switch", "button", "select", "update"}
    unique_ids = set()
    for m in configs:
        assert m.retain
        assert validate_topic(m.topic) == [], m.topic
        cfg = m.json()
        assert validate_discovery(m.topic.split("/")[1], cfg) == [], (m.topic, cfg)
        assert cfg["availability_mode"] == "all"
        assert [a["topic"] for a in cfg["availability"]] == ["omnipower/bridge/state", "omnipower/m1/availability"]
        assert cfg["device"]["manufacturer"] == "Kamstrup"
        unique_ids.add(cfg["unique_id"])
    assert len(unique_ids) == len(configs)
    a_plus = next(m.json() for m in configs if m.topic == "homeassistant/sensor/omnipower_m1/a_plus/config")
    assert (a_plus["device_class"], a_plus["state_class"], a_plus["unit_of_measurement"]) == (
        "energy", "total_increasing", "kWh")
    # Every sensor's template yields a value from the real state message; only a timestamp that has not happened
    # yet may have none, and then HA ignores the message (the sensor stays unknown, nothing logged).
    for m in configs:
        cfg = m.json()
        if m.topic.split("/")[1] == "sensor" and cfg["state_topic"].endswith("/display"):
            assert "state_class" not in cfg and render(cfg["value_template"], display.payload).strip()
        elif m.topic.split("/")[1] == "sensor":
            rendered = render(cfg["value_template"], state.payload)
            if cfg.get("device_class") == "timestamp" and rendered != IGNORED_TEXT:
                datetime.fromisoformat(rendered)
            elif cfg.get("device_class") == "enum":
                assert rendered in cfg["options"]
            elif cfg.get("state_class") or cfg.get("unit_of_measurement"):
                float(rendered)  # a number, as the state class promises
            elif cfg.get("device_class") != "timestamp":
                assert rendered.strip() and rendered != "None"  # a text (the firmware's version and checksum)
    for m in late.messages:
        assert "+" not in m.topic and "#" not in m.topic


async def test_breaker_off_and_on_from_the_set_topic(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port, [{"id": "m1", "speed": 60}])
    async with running_gateway(config), probe_client(mosquitto, "omnipower/#", "homeassistant/#") as probe:
        switch_cfg = (await probe.wait_for("homeassistant/switch/omnipower_m1/breaker_switch/config")).json()
        before = await state_after(probe, 0, lambda s: s["a_plus"] + s["a_minus"] > 0)  # noon: PV may export
        assert before["p_plus"] + before["p_minus"] > 0

        mark = probe.mark()
        answer = await request(probe, "omnipower/m1/set", '{"breaker": "disconnect", "transaction": "t-1"}')
        assert answer == {"transaction": "t-1", "status": "ok",
                          "data": {"breaker": "disconnected", "previous": "connected"}, "error": None}
        breaker = await probe.wait_for(switch_cfg["state_topic"], lambda m: m.json()["state"] != "connected",
                                       after=mark)
        assert breaker.json()["state"] == "disconnected" and breaker.json()["reason"] == "remote"
        assert render(switch_cfg["value_template"], breaker.payload) == switch_cfg["state_off"]
        off = await state_after(probe, mark, lambda s: s["breaker"] == "disconnected")
        # The new breaker state is published at once, before the response.
        topics = [(m.topic, m.payload) for m in probe.messages[mark:]]
        response_at = next(i for i, (t, _) in enumerate(topics) if t == "omnipower/m1/response")
        assert (breaker.topic, breaker.payload) in topics[:response_at]
        assert off["p_plus"] == off["p_minus"] == off["i_l1"] == off["i_l2"] == off["i_l3"] == 0
        assert off["u_l1"] > 200  # the supply side is still live
        later = await state_after(probe, probe.mark(), lambda s: s["time"] > off["time"])
        assert later["a_plus"] + later["a_minus"] > 0
        assert (later["a_plus"], later["a_minus"]) == (off["a_plus"], off["a_minus"])  # energy stops
        assert later["hour_counter"] >= off["hour_counter"]

        mark = probe.mark()
        await probe.publish(switch_cfg["command_topic"], switch_cfg["payload_on"])  # what HA sends
        answer = (await probe.wait_for("omnipower/m1/response", after=mark)).json()
        assert answer["status"] == "ok" and answer["data"]["breaker"] == "connected"
        breaker = await probe.wait_for(switch_cfg["state_topic"], lambda m: m.json()["state"] == "connected",
                                       after=mark)
        assert render(switch_cfg["value_template"], breaker.payload) == switch_cfg["state_on"]
        on = await state_after(probe, mark, lambda s: s["breaker"] == "connected")
        assert on["a_plus"] >= later["a_plus"] and on["p_plus"] + on["p_minus"] > 0


async def test_release_then_push_button_and_refusals(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port)
    async with running_gateway(config), probe_client(mosquitto, "omnipower/#") as probe:
        await probe.wait_for("omnipower/m1/state")
        assert (await request(probe, "omnipower/m1/set/breaker", "disconnect"))["status"] == "ok"
        refused = await request(probe, "omnipower/m1/set/push_button", "hold")
        assert refused["status"] == "error"
        assert refused["error"].startswith("push_button:") and "release" in refused["error"]
        again = await request(probe, "omnipower/m1/set/breaker", "disconnect")
        assert again["status"] == "error" and "already disconnected" in again["error"]
        mark = probe.mark()
        assert (await request(probe, "omnipower/m1/set/breaker", "release"))["status"] == "ok"
        breaker = await probe.wait_for("omnipower/m1/breaker", lambda m: m.json()["state"] != "disconnected",
                                       after=mark)
        assert breaker.json()["state"] == "ready_for_reconnection"
        await state_after(probe, mark, lambda s: s["breaker"] == "ready_for_reconnection")
        mark = probe.mark()
        pressed = await request(probe, "omnipower/m1/set/push_button", "hold")
        assert pressed["status"] == "ok" and pressed["data"]["breaker"] == "connected"
        breaker = await probe.wait_for("omnipower/m1/breaker", after=mark)
        assert breaker.json() | {"time": None} == {"state": "connected", "reason": "manual", "time": None}


@pytest.mark.parametrize(
    ("topic", "payload", "field", "reason"),
    [
        ("omnipower/m1/set", b"{not json", "payload", "malformed JSON"),
        ("omnipower/m1/set", b"[1, 2]", "payload", "expected a JSON object"),
        ("omnipower/m1/set", b'{"transaction": "x"}', "payload", "no command"),
        ("omnipower/m1/set", b'{"explode": 1, "transaction": "x"}', "explode", "unknown command"),
        ("omnipower/m1/set", b'{"tariff": 7, "transaction": 5}', "tariff", "out of range"),
        ("omnipower/m1/set/tariff", b"0", "tariff", "out of range"),
        ("omnipower/m1/set/breaker", b"toggle", "breaker", "allowed: connect, disconnect, release"),
        ("omnipower/m1/set/breaker", b"connect", "breaker", "already connected"),
        ("omnipower/m1/set/bogus", b"1", "bogus", "unknown command"),
        ("omnipower/m1/set", b"\xff\xfe", "payload", "UTF-8"),
        ("omnipower/m1/set/voltage_l1", b"NaN", "voltage_l1", "invalid value"),
    ],
)
async def test_bad_commands_get_a_specific_error(
    mosquitto: Mosquitto, tmp_path: Path, topic: str, payload: bytes, field: str, reason: str
) -> None:
    config = gateway_config(tmp_path, mosquitto.port)
    async with running_gateway(config), probe_client(mosquitto, "omnipower/m1/response", "omnipower/m1/state") as p:
        await p.wait_for("omnipower/m1/state")
        mark = p.mark()
        await p.publish(topic, payload)
        answer = (await p.wait_for("omnipower/m1/response", after=mark)).json()
        assert answer["status"] == "error"
        assert answer["error"].startswith(f"{field}:"), answer
        assert reason in answer["error"], answer
        if b'"transaction"' in payload:
            assert answer["transaction"] == json.loads(payload)["transaction"]


async def test_mqtt5_response_topic_and_correlation_data(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port)
    async with running_gateway(config), probe_client(mosquitto, "omnipower/m1/state", "client/7/reply") as probe:
        await probe.wait_for("omnipower/m1/state")
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = "client/7/reply"
        props.CorrelationData = b"\x01corr"
        await probe.client.publish("omnipower/m1/set/tariff", "3", qos=1, properties=props)
        reply = await probe.wait_for("client/7/reply")
        assert reply.properties.CorrelationData == b"\x01corr"
        assert reply.json()["status"] == "ok" and reply.json()["data"] == {"tariff": 3, "tariff_control": "3"}
        state = await state_after(probe, 0, lambda s: s["tariff_control"] == "3")
        assert state["tariff"] == 3
        mark = probe.mark()
        await probe.client.publish("omnipower/m1/set/tariff", "auto", qos=1, properties=props)
        await probe.wait_for("client/7/reply", after=mark)
        state = await state_after(probe, mark, lambda s: s["tariff_control"] == "auto")
        assert state["tariff"] == 2  # 12:00 local on a weekday: the day tariff of the schedule


async def test_voltage_alarm_events_and_binary_sensor(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port)
    async with running_gateway(config), probe_client(mosquitto, "omnipower/#", "homeassistant/#") as probe:
        sensor = (await probe.wait_for("homeassistant/binary_sensor/omnipower_m1/alarm_undervoltage/config")).json()
        alarms = await probe.wait_for(sensor["state_topic"])
        assert render(sensor["value_template"], alarms.payload) == "OFF"
        mark = probe.mark()
        assert (await request(probe, "omnipower/m1/set/voltage_l2", "190"))["status"] == "ok"
        event = await probe.wait_for("omnipower/m1/alarm", after=mark)
        assert event.json() | {"time": 0} == {"time": 0, "type": "undervoltage", "active": True, "phase": 2,
                                              "detail": {"voltage": 190.0}}
        alarms = await probe.wait_for(sensor["state_topic"], lambda m: m.json()["active"], after=mark)
        assert render(sensor["value_template"], alarms.payload) == "ON"
        async with probe_client(mosquitto, "omnipower/m1/alarms", "omnipower/m1/alarm") as late:
            retained = await late.wait_for("omnipower/m1/alarms")  # the set is retained …
            assert retained.retain and retained.json()["active"][0]["type"] == "undervoltage"
            await asyncio.sleep(0.5)
            assert late.last("omnipower/m1/alarm") is None  # … single events are not
        mark = probe.mark()
        assert (await request(probe, "omnipower/m1/set/voltage_l2", "auto"))["status"] == "ok"
        ended = await probe.wait_for("omnipower/m1/alarm", after=mark)
        assert ended.json()["active"] is False and ended.json()["type"] == "undervoltage"
        alarms = await probe.wait_for(sensor["state_topic"], lambda m: not m.json()["active"], after=mark)
        assert render(sensor["value_template"], alarms.payload) == "OFF"


async def test_last_will_when_the_gateway_is_killed(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port)
    proc = gateway_process(config)
    try:
        async with probe_client(mosquitto, "omnipower/bridge/state") as probe:
            await probe.wait_for("omnipower/bridge/state", lambda m: m.json()["state"] == "online", timeout=20)
            mark = probe.mark()
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            will = await probe.wait_for("omnipower/bridge/state", after=mark, timeout=10)
            assert will.json() == {"state": "offline"}
    finally:
        if proc.poll() is None:
            proc.kill()
    async with probe_client(mosquitto, "omnipower/bridge/state") as late:
        retained = await late.wait_for("omnipower/bridge/state")
        assert retained.retain and retained.json() == {"state": "offline"}


async def test_sigterm_stops_cleanly_and_restart_never_lowers_registers(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port, [{"id": "m1", "speed": 600}])
    async with probe_client(mosquitto, "omnipower/#") as probe:
        proc = gateway_process(config)
        moved = lambda m: m.json()["a_plus"] + m.json()["a_minus"] > 0.05  # noqa: E731
        await probe.wait_for("omnipower/m1/state", moved, timeout=30)
        before = probe.last("omnipower/m1/state").json()  # type: ignore[union-attr]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        mark = probe.mark()
        await probe.wait_for("omnipower/m1/availability", lambda m: m.json()["state"] == "offline")
        proc = gateway_process(config)
        try:
            first = (await probe.wait_for("omnipower/m1/state", after=mark, timeout=30)).json()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    for key in ("a_plus", "a_minus", "r_plus", "r_minus", "e_plus", "e_minus", "hour_counter"):
        assert first[key] >= before[key], key
    assert first["time"] >= before["time"]


async def test_kill_9_right_after_a_state_publication_never_lowers_registers(mosquitto: Mosquitto,
                                                                             tmp_path: Path) -> None:
    """Saves are kept off the request path, but the periodic `state` waits for its save: a gateway killed the
    moment a state arrives restarts with totals at least as high (at 3600× a second is an hour of energy)."""
    config = gateway_config(tmp_path, mosquitto.port, [{"id": "m1", "speed": 3600}])
    async with probe_client(mosquitto, "omnipower/#") as probe:
        proc = gateway_process(config)
        try:
            moved = lambda m: m.json()["a_plus"] > 0.05  # noqa: E731
            before = (await probe.wait_for("omnipower/m1/state", moved, timeout=30)).json()
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            before = probe.last("omnipower/m1/state").json()  # type: ignore[union-attr]  # (one more may have come)
            mark = probe.mark()
            proc = gateway_process(config)
            first = (await probe.wait_for("omnipower/m1/state", after=mark, timeout=30)).json()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    for key in ("a_plus", "a_minus", "r_plus", "r_minus", "hour_counter"):
        assert first[key] >= before[key], key


async def test_ha_birth_reannounces_and_retired_entities_are_removed(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port)
    async with probe_client(mosquitto, "homeassistant/#") as probe:
        # A config left behind by an older version of the gateway.
        await probe.publish("homeassistant/sensor/omnipower_m1/retired_thing/config", '{"name": "old"}', retain=True)
        async with running_gateway(config):
            removed = await probe.wait_for("homeassistant/sensor/omnipower_m1/retired_thing/config",
                                           lambda m: m.payload == b"")
            assert removed is not None
            topic = "homeassistant/sensor/omnipower_m1/a_plus/config"
            await probe.wait_for(topic)
            mark = probe.mark()
            await probe.publish("homeassistant/status", "online")
            again = await probe.wait_for(topic, after=mark)
            assert again.json()["unique_id"] == "omnipower_m1_a_plus"


async def test_reconnects_and_reannounces_after_the_broker_restarts(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port)
    async with running_gateway(config):
        async with probe_client(mosquitto, "omnipower/#") as probe:
            await probe.wait_for("omnipower/m1/state")
        mosquitto.stop()
        await asyncio.sleep(1.0)
        mosquitto.start()  # no persistence: every retained message is gone
        async with probe_client(mosquitto, "omnipower/#") as probe:
            online = await probe.wait_for("omnipower/bridge/state", timeout=20)
            assert online.json() == {"state": "online"}
            await probe.wait_for("omnipower/m1/availability", lambda m: m.json()["state"] == "online", timeout=20)
            await probe.wait_for("omnipower/m1/state", timeout=20)
            assert (await request(probe, "omnipower/m1/set/tariff", "4"))["status"] == "ok"


async def test_the_gateway_process_survives_broker_restarts(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """The service as users run it (a process), the broker killed and restarted twice: on Python before
    3.11.4 (Debian 12, Raspberry Pi OS bookworm) the process used to exit with status 1 here."""
    config = gateway_config(tmp_path, mosquitto.port)
    proc = gateway_process(config)
    try:
        for _ in range(2):
            async with probe_client(mosquitto, "omnipower/#") as probe:
                await probe.wait_for("omnipower/m1/availability", lambda m: m.json()["state"] == "online",
                                     timeout=20)
                assert (await request(probe, "omnipower/m1/set/tariff", "3"))["status"] == "ok"
            assert mosquitto.proc is not None
            mosquitto.proc.kill()
            mosquitto.proc.wait()
            await asyncio.sleep(1.0)
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            mosquitto.start()
        async with probe_client(mosquitto, "omnipower/#") as probe:
            await probe.wait_for("omnipower/bridge/state", lambda m: m.json()["state"] == "online", timeout=20)
            assert (await request(probe, "omnipower/m1/set/tariff", "auto"))["status"] == "ok"
        assert proc.poll() is None
    finally:
        stop_process(proc, 15)


async def test_several_meters_each_with_their_own_topics(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port, [{"id": "house", "seed": 1}, {"id": "garage", "seed": 2}])
    async with running_gateway(config), probe_client(mosquitto, "omnipower/#") as probe:
        house = (await probe.wait_for("omnipower/house/state")).json()
        garage = (await probe.wait_for("omnipower/garage/state")).json()
        assert house["u_l1"] != garage["u_l1"] or house["p_plus"] != garage["p_plus"]
        assert (await request(probe, "omnipower/garage/set/breaker", "disconnect", meter="garage"))["status"] == "ok"
        mark = probe.mark()
        await probe.wait_for("omnipower/garage/state", lambda m: m.json()["breaker"] == "disconnected")
        house_now = await probe.wait_for("omnipower/house/state", after=mark)
        assert house_now.json()["breaker"] == "connected"


async def test_embedded_broker_when_nothing_answers(tmp_path: Path) -> None:
    from conftest import free_port

    port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"mqtt: {{port: {port}}}\npublish_interval: 0.5\ndata_dir: {tmp_path / 'data'}\n"
        "meters: [{id: demo, start: '2026-01-15T11:00:00+00:00'}]\n"
    )
    async with running_gateway(config):
        broker = Mosquitto("127.0.0.1", port, tmp_path / "unused", tmp_path / "unused")
        for _ in range(50):  # the embedded broker starts with the service
            try:
                async with probe_client(broker, "omnipower/#", v5=False) as probe:
                    state = await probe.wait_for("omnipower/demo/state")
                    assert state.json()["breaker"] == "connected"
                    break
            except (OSError, aiomqtt.MqttError):
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the embedded broker never answered")

