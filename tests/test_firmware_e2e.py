"""Done when (issue 15, remote firmware update): a signed image goes from Home Assistant's update entity through the
gateway over DLMS into a simulated meter, which reports the new version and kept its registers, while a tampered
image is refused with the old firmware still running.

All real parts: `omnipower-sim firmware build|sign` make the images as a user would, `omnipower-sim serve --dlms` is
the meter (trusting the manufacturer's public key), the gateway reads it as a `dlms` source with the management
client, and a Mosquitto started here carries what Home Assistant would publish (the update entity's install payload
on its command topic) and read (the `firmware` topic, judged by tests/ha_rules.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ha_rules as hr
import pytest
from conftest import Mosquitto, free_port, probe_client
from firmware_harness import NEW_VERSION, tampered, write_keys
from gateway_harness import gateway_config, request, running_gateway
from sim_harness import serving, sim_config

from omnipower.registers import TOTAL_KEYS

PASSWORD = "fw-secret"


def sim_cli(*args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "meter_sim", "firmware", *args], capture_output=True, text=True,
                          timeout=60, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.integration
async def test_home_assistant_updates_a_dlms_meter_and_a_tampered_image_is_refused(mosquitto: Mosquitto,
                                                                                   tmp_path: Path) -> None:
    private, public = write_keys(tmp_path / "keys")
    folder = tmp_path / "images"
    folder.mkdir()
    signed = folder / "omnipower-5098736-V1.img"
    # 256 KiB, 512 blocks: a transfer long enough to see the gateway answer other requests meanwhile
    built = sim_cli("build", "--version", NEW_VERSION, "--out", str(signed), "--size", str(256 * 1024))
    assert sim_cli("sign", "--key", str(private), str(signed))["checksum"] == built["checksum"]
    bad = tmp_path / "tampered.img"
    bad.write_bytes(tampered(signed.read_bytes()))
    wire = f"tcp:127.0.0.1:{free_port()}"
    meter = sim_config(tmp_path, dlms={"password": PASSWORD}, firmware={"public_key": str(public)})
    meters = [{"id": "wire", "source": "dlms", "transport": wire,
               "dlms": {"client": 1, "security": "low", "password": PASSWORD}}, {"id": "local"}]
    gateway = gateway_config(tmp_path, mosquitto.port, meters, firmware={"folder": str(folder)})
    with serving(meter, "--dlms", wire):
        async with running_gateway(gateway), probe_client(mosquitto, "omnipower/#", "homeassistant/#") as probe:
            topic = "homeassistant/update/omnipower_wire/firmware/config"
            entity = (await probe.wait_for(topic)).json()
            assert hr.validate_message(topic, json.dumps(entity)) == []
            offered = await probe.wait_for(entity["state_topic"], lambda m: m.json()["latest_version"] == NEW_VERSION)
            old = offered.json()["installed_version"]
            assert old != NEW_VERSION and not offered.json()["in_progress"]
            before = (await probe.wait_for("omnipower/wire/state")).json()
            assert before["firmware_version"] == old

            # Home Assistant's Install: the entity's payload on its command topic (no transaction, not retained).
            mark = probe.mark()
            await probe.publish(entity["command_topic"], entity["payload_install"])
            # Meanwhile the gateway answers the other meter, and refuses a second update of this one at once.
            await probe.wait_for(entity["state_topic"], lambda m: m.json()["in_progress"], after=mark)
            other = await request(probe, "omnipower/local/get", json.dumps({"registers": ["a_plus"],
                                                                           "transaction": "t-local"}), meter="local")
            busy = await request(probe, "omnipower/wire/set", json.dumps({"firmware_update": {"image": "latest"},
                                                                          "transaction": "t-busy"}), meter="wire")
            done = await probe.wait_for("omnipower/wire/response", lambda m: "transaction" not in m.json()
                                        or m.json()["transaction"] is None, after=mark, timeout=60)
            answer = done.json()
            assert other["status"] == "ok" and "a_plus" in other["data"]["registers"]
            assert busy["status"] == "error" and "under way" in busy["error"], busy
            answered = [(m.topic, m.json().get("transaction")) for m in probe.messages[mark:]
                        if m.topic.endswith("/response")]
            assert answered.index(("omnipower/local/response", "t-local")) < answered.index(
                ("omnipower/wire/response", answer.get("transaction")))  # not held behind the transfer
            assert answer["status"] == "ok", answer
            assert answer["data"]["firmware_version"] == NEW_VERSION and answer["data"]["previous"] == old
            shown = [m.json() for m in probe.messages[mark:] if m.topic == entity["state_topic"]]
            assert any(s["in_progress"] and 0 < (s["update_percentage"] or 0) < 100 for s in shown), shown
            await probe.wait_for(entity["state_topic"], lambda m: m.json()["installed_version"] == NEW_VERSION
                                 and not m.json()["in_progress"], after=mark)
            after = (await probe.wait_for("omnipower/wire/state",
                                          lambda m: m.json()["firmware_version"] == NEW_VERSION, after=mark)).json()
            kept = [key for key in before if key in TOTAL_KEYS]
            assert len(kept) > 20 and {k: after[k] for k in kept} == {k: before[k] for k in kept}
            assert after["breaker"] == before["breaker"]
            assert after["firmware_checksum"] == built["checksum"]

            # A tampered image, by the MQTT command: refused by the meter, which runs the new firmware still.
            mark = probe.mark()
            refused = await request(probe, "omnipower/wire/set", json.dumps(
                {"firmware_update": {"image": str(bad)}, "transaction": "t-bad"}), meter="wire")
            assert refused["status"] == "error" and refused["transaction"] == "t-bad"
            assert "refused image_verify" in refused["error"] and "verification failed" in refused["error"]
            assert "does not match the digest" in refused["error"] and f"still runs {NEW_VERSION}" in refused["error"]
            failed = await probe.wait_for(entity["state_topic"], lambda m: m.json()["release_summary"] != "",
                                          after=mark)
            assert "verification failed" in failed.json()["release_summary"]
            assert failed.json()["installed_version"] == NEW_VERSION and not failed.json()["in_progress"]
            state = await probe.wait_for("omnipower/wire/state", after=probe.mark())
            assert state.json()["firmware_version"] == NEW_VERSION
            for message in probe.messages:
                if message.topic == entity["state_topic"]:
                    assert hr.validate_update_state(message.payload) == [], message.payload
