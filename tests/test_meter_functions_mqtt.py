"""The meter functions over a real Mosquitto: tamper alarms, prepayment top-up and its HA entities appearing on
remote reconfiguration, legal data refused, the time-set command and the LCD topic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Mosquitto, Probe, probe_client
from gateway_harness import gateway_config, running_gateway
from ha_rules import validate_discovery

pytestmark = pytest.mark.integration


async def ask(probe: Probe, topic: str, payload: Any) -> dict[str, Any]:
    mark = probe.mark()
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    await probe.publish(topic, body)
    answer: dict[str, Any] = (await probe.wait_for("omnipower/m1/response", after=mark)).json()
    return answer


async def test_tamper_prepayment_reconfiguration_and_time_over_mqtt(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port, meters=[{"id": "m1", "z13": 0}])
    async with running_gateway(config), probe_client(
        mosquitto, "omnipower/m1/#", "homeassistant/sensor/omnipower_m1/#"
    ) as p:
        await p.wait_for("omnipower/m1/state")
        discovered = {m.topic for m in p.messages if m.topic.startswith("homeassistant/")}
        assert "homeassistant/sensor/omnipower_m1/prepayment_remaining/config" not in discovered

        # A magnet at the meter: an alarm event, the alarm set, the meter-status log
        mark = p.mark()
        assert (await ask(p, "omnipower/m1/set/magnet", b"on"))["status"] == "ok"
        message = await p.wait_for("omnipower/m1/alarm", after=mark)
        event = message.json()
        assert (event["type"], event["active"]) == ("tamper_magnetic", True)
        after_event = p.messages.index(message)  # the set of active alarms follows its event
        active = (await p.wait_for("omnipower/m1/alarms", after=after_event)).json()["active"]
        assert [a["type"] for a in active] == ["tamper_magnetic"]
        log = await ask(p, "omnipower/m1/get", {"log": "meter_status", "transaction": 1})
        assert [e["type"] for e in log["data"]["entries"]] == ["tamper_magnetic_start"]

        # Legal data is refused; a bad value names its field; nothing changes
        refused = await ask(p, "omnipower/m1/set", {"configure": {"z1": 2}})
        assert refused["status"] == "error" and refused["error"].startswith("configure.z1: legal")
        bad = await ask(p, "omnipower/m1/set", {"configure": {"z4": 7}})
        assert bad["status"] == "error" and bad["error"].startswith("configure: z4:")

        # Switch prepayment on remotely: its sensors are announced, a top-up is carried out
        mark = p.mark()
        on = await ask(p, "omnipower/m1/set", {"configure": {"prepayment": {"enabled": True, "initial_value": 2}}})
        assert on["status"] == "ok" and on["data"]["configured"]["prepayment"]["enabled"] is True
        cfg = (await p.wait_for("homeassistant/sensor/omnipower_m1/prepayment_remaining/config", after=mark)).json()
        assert validate_discovery("sensor", cfg) == [] and cfg["unit_of_measurement"] == "kWh"
        top = await ask(p, "omnipower/m1/set/top_up", b"10")
        assert top["status"] == "ok" and top["data"]["prepayment_remaining"] == pytest.approx(12, abs=0.1)
        bad_top = await ask(p, "omnipower/m1/set/top_up", b"-3")
        assert bad_top["status"] == "error" and "out of range" in bad_top["error"]

        # Set the meter clock an hour ahead: logged in the RTC-adjustment logger
        now = (await p.wait_for("omnipower/m1/state")).json()["time"]
        answer = await ask(p, "omnipower/m1/set", {"time": "2026-01-15T13:30:00+01:00"})
        assert answer["status"] == "ok" and answer["data"]["time"] == "2026-01-15T13:30:00+01:00", (now, answer)
        rtc = await ask(p, "omnipower/m1/get", {"log": "rtc_adjustment"})
        assert rtc["data"]["entries"][0]["delta_s"] == answer["data"]["adjusted_s"]
        naive = await ask(p, "omnipower/m1/set/time", b"2026-01-15T13:30:00")
        assert naive["status"] == "error" and "no UTC offset" in naive["error"]

        # The LCD topic follows the meter
        display = (await p.wait_for("omnipower/m1/display", after=p.mark())).json()
        assert display["time"] >= "2026-01-15T13:30:00+01:00" and "text" in display


async def test_the_voltage_alarms_follow_the_configured_power_quality_limits(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """With U_high,sv at 245 V a phase at 248 V is an overvoltage (the default 253 V would let it pass)."""
    config = gateway_config(tmp_path, mosquitto.port, meters=[{"id": "m1", "power_quality": {"u_high_sv": 245}}])
    async with running_gateway(config), probe_client(mosquitto, "omnipower/m1/#") as p:
        await p.wait_for("omnipower/m1/state")
        mark = p.mark()
        assert (await ask(p, "omnipower/m1/set/voltage_l1", b"248"))["status"] == "ok"
        event = (await p.wait_for("omnipower/m1/alarm", after=mark)).json()
        assert (event["type"], event["active"], event["phase"]) == ("overvoltage", True, 1)
        assert event["detail"] == {"voltage": 248.0}
