"""Energy by period and the capacity tariff through the real gateway and a real Mosquitto: the state carries the
fields, their discovery entities pass the Home Assistant rules judge (tests/ha_rules.py) and their templates yield
what Home Assistant accepts from the real state, and the ledger survives a restart."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest
from conftest import Mosquitto, Probe, probe_client
from gateway_harness import gateway_config, running_gateway
from ha_rules import TARGET_HA_VERSION, energy_dashboard_problems, validate_discovery, validate_topic

pytestmark = pytest.mark.integration
JINJA = jinja2.Environment()
JINJA.filters["tojson"] = json.dumps  # Home Assistant's templates have it
ENERGY = [f"energy_{d}_{p}" for p in ("hour", "day", "month") for d in ("import", "export")]
CAPACITY = ["capacity_hour_import", "capacity_hour_projection", "capacity_month_peaks", "capacity_step",
            "capacity_headroom"]


def render(template: str, payload: bytes) -> str:
    return JINJA.from_string(template).render(value_json=json.loads(payload)).strip()


def ready(state: dict[str, Any]) -> bool:
    return bool(state.get("capacity_month_peaks")) and (state.get("energy_import_day") or 0) > 0


async def a_state(probe: Probe, predicate: Any, after: int = 0) -> tuple[dict[str, Any], bytes]:
    msg = await probe.wait_for("omnipower/m1/state", lambda m: predicate(m.json()), timeout=20, after=after)
    result: dict[str, Any] = msg.json()
    return result, msg.payload


async def test_the_fields_are_published_and_announced_and_kept_across_a_restart(mosquitto: Mosquitto,
                                                                               tmp_path: Path) -> None:
    # 1800 simulated seconds a second: a state every quarter of an hour of meter time.
    config = gateway_config(tmp_path, mosquitto.port, [{"id": "m1", "speed": 1800,
                                                        "capacity_tariff": {"rule": "norway"}}])
    async with running_gateway(config), probe_client(mosquitto, "omnipower/m1/state", "homeassistant/#") as probe:
        state, payload = await a_state(probe, ready)
        configs = {m.topic: m.json() for m in probe.messages if m.topic.startswith("homeassistant/") and m.payload}
        last, _ = await a_state(probe, ready, after=probe.mark())
    for key in ENERGY + CAPACITY:
        assert key in state, key
    assert state["capacity_step"] in {str(n) for n in range(1, 11)}
    assert all(set(p) == {"time", "kwh"} and p["kwh"] > 0 for p in state["capacity_month_peaks"])
    assert state["energy_day_start"] == "2026-01-15T00:00:00+01:00"  # the meter's local day (START is 12:00)

    for key in ENERGY + CAPACITY:
        topic = f"homeassistant/sensor/omnipower_m1/{key}/config"
        cfg = configs[topic]
        assert validate_topic(topic) == [], topic
        for release in ((2023, 9), (2024, 3), TARGET_HA_VERSION):  # the oldest with `origin`, …, the target
            assert validate_discovery("sensor", cfg, ha_version=release) == [], (key, release, cfg)
        shown = render(cfg["value_template"], payload)
        if key == "capacity_step":
            assert shown in cfg["options"] and cfg["device_class"] == "enum"
        else:
            assert shown == "None" or float(shown) >= 0, (key, shown)  # "None": unknown, no warning
    for key in ENERGY:
        cfg = configs[f"homeassistant/sensor/omnipower_m1/{key}/config"]
        assert energy_dashboard_problems(cfg) == [] and cfg["state_class"] == "total"
        assert datetime.fromisoformat(render(cfg["last_reset_value_template"], payload)).tzinfo is not None
    peaks = configs["homeassistant/sensor/omnipower_m1/capacity_month_peaks/config"]
    assert peaks["json_attributes_topic"] == "omnipower/m1/state"
    attributes = json.loads(render(peaks["json_attributes_template"], payload))
    assert attributes["capacity_month_peaks"] == state["capacity_month_peaks"]
    assert (peaks["device_class"], peaks["unit_of_measurement"]) == ("power", "kW")
    for helper in ("energy_hour_start", "capacity_month_value", "capacity_previous_month"):  # no entity of their own
        assert f"homeassistant/sensor/omnipower_m1/{helper}/config" not in configs

    saved = tmp_path / "data" / "periods" / "m1.json"
    assert json.loads(saved.read_text())["ledger"]["hours"]  # written on the way out
    async with running_gateway(config), probe_client(mosquitto, "omnipower/m1/state") as probe:
        mark = probe.mark()
        first, _ = await a_state(probe, lambda s: s["time"] > last["time"], after=mark)
    # Without the ledger the month would start again from nothing; with it the month goes on.
    assert first["energy_import_month"] >= last["energy_import_month"] > 0
    highest = max(p["kwh"] for p in last["capacity_month_peaks"])  # the month's hours are still counted
    assert max(p["kwh"] for p in first["capacity_month_peaks"]) >= highest > 0


async def test_a_meter_can_leave_the_periods_out(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port, [{"id": "m1", "energy_periods": False}])
    async with running_gateway(config), probe_client(mosquitto, "omnipower/m1/state") as probe:
        state, _ = await a_state(probe, lambda s: True)
    assert not any(key.startswith(("energy_", "capacity_")) for key in state)
