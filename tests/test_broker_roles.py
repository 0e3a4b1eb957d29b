"""The shipped broker configuration, started as shipped: roles hold against a real Mosquitto.

Mosquitto runs from exactly `deploy/mosquitto/omnipower.conf` (and `compose.conf`) with the shipped ACL;
only the port and the file paths are substituted (and, as root, `user root`, so that Mosquitto does not
drop to a user that cannot read the test's files). The users come from the shipped `users.sh`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import aiomqtt
import pytest
from conftest import Mosquitto, Probe, free_port
from gateway_harness import gateway_config, running_gateway

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto"


def users(tmp_path: Path) -> dict[str, str]:
    subprocess.run(["sh", str(DEPLOY / "users.sh"), str(tmp_path / "passwd"), str(tmp_path / "secrets")],
                   check=True, capture_output=True)
    lines = (tmp_path / "secrets" / "broker-users.txt").read_text().split("\n")
    return dict(line.split(" ", 1) for line in lines if line)


def shipped_broker(tmp_path: Path, conf_name: str) -> Mosquitto:
    port = free_port()
    text = (DEPLOY / conf_name).read_text()
    text, n = re.subn(r"^listener 1883( 127\.0\.0\.1)?$", f"listener {port} 127.0.0.1", text, flags=re.M)
    assert n == 1, "exactly one active listener"
    text = re.sub(r"^password_file .*$", f"password_file {tmp_path / 'passwd'}", text, flags=re.M)
    text = re.sub(r"^acl_file .*$", f"acl_file {DEPLOY / 'omnipower.acl'}", text, flags=re.M)
    text = re.sub(r"^persistence_location .*$", f"persistence_location {tmp_path}/", text, flags=re.M)
    if not re.search(r"^persistence_location ", text, flags=re.M):  # Debian's main mosquitto.conf gives it
        text += f"persistence_location {tmp_path}/\n"
    if os.geteuid() == 0:
        text += "user root\n"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(text)
    for line in ("allow_anonymous false", "acl_file", "password_file"):
        assert re.search(rf"^{line}", text, flags=re.M), line
    return Mosquitto("127.0.0.1", port, conf, tmp_path / "mosquitto.log")


async def connect(broker: Mosquitto, user: str | None, password: str | None, *topics: str) -> Probe:
    client = aiomqtt.Client(broker.host, broker.port, username=user, password=password, timeout=10,
                            protocol=aiomqtt.ProtocolVersion.V5)
    await client.__aenter__()
    probe = Probe(client)
    for topic in topics:
        await client.subscribe(topic, qos=1)
    probe._task = asyncio.create_task(probe._collect())  # type: ignore[attr-defined]
    return probe


async def close(probe: Probe) -> None:
    probe._task.cancel()  # type: ignore[attr-defined]
    await asyncio.gather(probe._task, return_exceptions=True)  # type: ignore[attr-defined]
    await probe.client.__aexit__(None, None, None)


@pytest.mark.parametrize("conf_name", ["omnipower.conf", "compose.conf"])
async def test_shipped_roles(tmp_path: Path, conf_name: str) -> None:
    logins = users(tmp_path)
    assert set(logins) == {"omnipower", "homeassistant", "viewer"}
    broker = shipped_broker(tmp_path, conf_name)
    broker.start()
    try:
        for user, password in ((None, None), ("homeassistant", "wrong"), ("nobody", "x")):
            with pytest.raises(aiomqtt.MqttError):
                async with aiomqtt.Client(broker.host, broker.port, username=user, password=password, timeout=5):
                    pass
        env = dict(line.split("=", 1) for line in (tmp_path / "secrets" / "gateway.env").read_text().split())
        config = gateway_config(tmp_path, broker.port,
                                mqtt={"host": "127.0.0.1", "port": broker.port,
                                      "username": env["OMNIPOWER_MQTT__USERNAME"],
                                      "password": env["OMNIPOWER_MQTT__PASSWORD"]})
        async with running_gateway(config):
            ha = await connect(broker, "homeassistant", logins["homeassistant"], "omnipower/#", "homeassistant/#")
            viewer = await connect(broker, "viewer", logins["viewer"], "omnipower/#")
            try:
                await ha.wait_for("omnipower/m1/state", timeout=20)
                await ha.wait_for("homeassistant/switch/omnipower_m1/breaker_switch/config")  # the gateway may announce

                # The read-only user's command never reaches the meter: the gateway answers HA's request that
                # was sent after it, and never the viewer's.
                mark = ha.mark()
                await viewer.publish("omnipower/m1/set", b'{"breaker": "disconnect", "transaction": "viewer"}')
                await viewer.publish("omnipower/m1/set/breaker", b"disconnect")
                await ha.publish("omnipower/m1/get", b'{"transaction": "ha", "registers": ["breaker"]}')
                answer = await ha.wait_for("omnipower/m1/response", lambda m: m.json()["transaction"] == "ha",
                                           after=mark)
                assert answer.json()["data"]["registers"]["breaker"] == "connected"
                assert [m for m in ha.messages[mark:] if m.topic == "omnipower/m1/response"] == [answer]

                # Home Assistant's user operates the breaker.
                await ha.publish("omnipower/m1/set", b'{"breaker": "disconnect", "transaction": "ha2"}')
                done = await ha.wait_for("omnipower/m1/response", lambda m: m.json()["transaction"] == "ha2",
                                         after=mark)
                assert done.json()["status"] == "ok"
                await ha.wait_for("omnipower/m1/breaker", lambda m: m.json()["state"] == "disconnected", after=mark)

                # Nobody but the gateway overwrites its retained topics.
                fake = json.dumps({"state": "connected", "reason": "remote", "time": None}).encode()
                for intruder in (ha, viewer):
                    for topic in ("omnipower/m1/breaker", "omnipower/m1/state", "omnipower/bridge/state",
                                  "homeassistant/switch/omnipower_m1/breaker_switch/config"):
                        await intruder.client.publish(topic, fake, qos=1, retain=True)
                await ha.publish("omnipower/m1/get", b'{"transaction": "sync"}')  # after the intruders' writes
                await ha.wait_for("omnipower/m1/response", lambda m: m.json()["transaction"] == "sync", after=mark)
                assert not [m for m in ha.messages[mark:] if m.payload == fake]
            finally:
                await close(ha)
                await close(viewer)
            late = await connect(broker, "viewer", logins["viewer"], "omnipower/#", "homeassistant/#")
            try:
                breaker = await late.wait_for("omnipower/m1/breaker")
                assert breaker.retain and breaker.json()["state"] == "disconnected"
                config_msg = await late.wait_for("homeassistant/switch/omnipower_m1/breaker_switch/config")
                assert config_msg.json()["unique_id"] == "omnipower_m1_breaker_switch"
                assert (await late.wait_for("omnipower/bridge/state")).json() == {"state": "online"}
            finally:
                await close(late)
    finally:
        broker.stop()


def test_compose_and_pi_share_the_authentication_lines() -> None:
    """The compose broker uses the same ACL, the same users and refuses anonymous clients like the Pi's."""
    def auth(name: str) -> list[str]:
        lines = (DEPLOY / name).read_text().splitlines()
        return [re.sub(r" /.*/", " DIR/", ln) for ln in lines
                if ln.startswith(("allow_anonymous", "password_file", "acl_file"))]

    assert auth("omnipower.conf") == auth("compose.conf") == [
        "allow_anonymous false", "password_file DIR/passwd", "acl_file DIR/omnipower.acl"]
    compose = (DEPLOY.parent / "compose.yaml").read_text()
    assert "./mosquitto/omnipower.acl:/mosquitto/config/omnipower.acl:ro" in compose
    assert "127.0.0.1:1883:1883" in compose
