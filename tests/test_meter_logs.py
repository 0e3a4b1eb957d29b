"""The meter's loggers through simulated time, through `omnipower-sim simulate` (the issue's
output contract) and over MQTT `get {"log": …}` requests against a real Mosquitto."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from conftest import Mosquitto, probe_client
from gateway_harness import gateway_config, request, running_gateway

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.loggers import POWER_FAILURE, load_profile_depth_days
from meter_sim.meter import Meter

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def test_load_profile_entries_sum_to_the_register_and_billing_runs_on_the_stop_day() -> None:
    """5 days of 15-min profile (A+/A-/R+/R-) across the end of January: every entry is the period's energy, so the
    entries sum to each register; a debiting stop on the 1st of February at 00:00 local standard time."""
    start = JAN_1 + 28 * 86400  # the 29th of January
    meter = Meter("m", MeterSimSettings(start=datetime.fromtimestamp(start, UTC)), SteppedClock(start))
    meter.advance_to(start + 5 * 86400)
    entries = list(meter.load_profile.entries())
    assert len(entries) == 5 * 96  # one per 15 min, well inside the 175-day depth
    assert meter.load_profile.capacity == load_profile_depth_days(15, 4) * 96
    for obis, key in (("1.8.0", "a_plus"), ("2.8.0", "a_minus"), ("3.8.0", "r_plus"), ("4.8.0", "r_minus")):
        assert sum(e.values[obis] for e in entries) == pytest.approx(meter.register(key), abs=1e-6), obis
    (stop,) = meter.billing.entries()
    assert meter.rtc.standard_time(stop.t).isoformat() == "2026-02-01T00:00:00+01:00"
    assert stop.registers["0.1.0"] == 1
    assert float(stop.registers["1.8.0"]) <= meter.readings()["a_plus"]  # type: ignore[operator]
    assert len(meter.billing2.entries()) == 5  # debiting logger 2: daily
    assert meter.readings()["p_plus_max_acc"] > 0  # type: ignore[operator]


def test_a_power_cut_flags_the_period_and_the_logs_survive_a_restart() -> None:
    meter = Meter("m", MeterSimSettings(start=datetime.fromtimestamp(JAN_1, UTC)), SteppedClock(JAN_1))
    meter.advance_to(JAN_1 + 3600)
    for phase in (1, 2, 3):
        meter.set_phase_voltage(phase, 0.0)
    meter.advance_to(JAN_1 + 3600 + 60)
    for phase in (1, 2, 3):
        meter.set_phase_voltage(phase, None)
    meter.advance_to(JAN_1 + 2 * 3600)
    flagged = [e.t for e in meter.load_profile.entries() if e.status & POWER_FAILURE]
    assert flagged == [int(JAN_1) + 3600 + 900]
    meter.breaker_command("disconnect")
    copy = Meter("m", MeterSimSettings(start=datetime.fromtimestamp(JAN_1, UTC)), SteppedClock(meter.t),
                 meter.to_state(), logs=json.loads(json.dumps(meter.logs_state())))
    assert copy.logs_state() == meter.logs_state()
    assert [e.type for e in copy.logs["disconnect"].entries()] == ["disconnected"]


def test_simulate_writes_the_contract_files(tmp_path: Path) -> None:
    config = tmp_path / "meters.yaml"
    config.write_text(yaml.safe_dump({"meters": [
        {"id": "a", "seed": 3, "start": "2026-03-30T00:00:00+00:00", "type_number": "684-1131-BN1-1310-1040",
         "z4": 4, "z6": 1, "z7": 1},
    ]}))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "meter_sim", "simulate", "--config", str(config), "--days", "3",
                             "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    folder = out / "a"
    registers = json.loads((folder / "registers.json").read_text())
    assert registers["1.8.0"] > 0 and "2.8.0" not in registers  # X9 = 1: A+ only
    profile = json.loads((folder / "load_profile.json").read_text())
    assert len(profile) == 72 and set(profile[0]) == {"time", "1.8.0", "status"}  # 60 min (Z4 = 4), A+ only
    assert profile[0]["time"] == "2026-03-30T02:00:00+01:00"  # standard time, though DST runs then
    assert sum(e["1.8.0"] for e in profile) == pytest.approx(registers["1.8.0"], abs=0.001)
    billing = json.loads((folder / "billing.json").read_text())
    assert [b["time"] for b in billing] == ["2026-04-01T00:00:00+01:00"]
    assert billing[0]["registers"]["0.1.0"] == 1
    events = json.loads((folder / "events.json").read_text())
    assert [(e["time"], e["type"]) for e in events if e["log"] not in ("occurrence_counters", "tariff")] == [
        ("2026-04-01T00:00:00+01:00", "debiting_stop")]
    # The schedule's 06:00 and 22:00 switches in summer time, stamped in standard time (one hour earlier)
    tariff = [(e["time"], e["old"], e["new"]) for e in events if e["log"] == "tariff"]
    assert tariff[:2] == [("2026-03-30T05:00:00+01:00", 1, 2), ("2026-03-30T21:00:00+01:00", 2, 1)]
    assert len(tariff) == 6  # three days, two switches each
    snapshots = [e["time"] for e in events if e["log"] == "occurrence_counters"]  # EN 50160 counters, daily
    assert snapshots == ["2026-03-31T00:00:00+01:00", "2026-04-01T00:00:00+01:00", "2026-04-02T00:00:00+01:00"]


@pytest.mark.integration
async def test_logs_are_read_over_mqtt_with_paging(mosquitto: Mosquitto, tmp_path: Path) -> None:
    meters = [{"id": "m1", "start": "2026-01-15T00:00:00+00:00", "speed": 3600}]
    async with running_gateway(gateway_config(tmp_path, mosquitto.port, meters)), \
            probe_client(mosquitto, "omnipower/#") as probe:
        await probe.wait_for("omnipower/m1/state", lambda m: m.json()["time"] >= "2026-01-15T04", timeout=30)
        first = await request(probe, "omnipower/m1/get", json.dumps(
            {"log": "load_profile", "from": "2026-01-15T01:00:00+01:00", "limit": 3, "transaction": 1}))
        assert first["status"] == "ok", first
        data = first["data"]
        assert data["log"] == "load_profile" and data["total"] >= 8 and len(data["entries"]) == 3
        assert [e["time"] for e in data["entries"]] == [
            "2026-01-15T01:15:00+01:00", "2026-01-15T01:30:00+01:00", "2026-01-15T01:45:00+01:00"]
        page2 = await request(probe, "omnipower/m1/get", json.dumps(
            {"log": "load_profile", "from": "2026-01-15T01:00:00+01:00", "limit": 3, "offset": 3, "transaction": 2}))
        assert page2["data"]["entries"][0]["time"] == "2026-01-15T02:00:00+01:00"
        await request(probe, "omnipower/m1/set/breaker", "disconnect")
        events = await request(probe, "omnipower/m1/get", json.dumps({"log": "disconnect", "transaction": 3}))
        assert [e["type"] for e in events["data"]["entries"]] == ["disconnected"]
        for payload, error in (
            ({"log": "diary"}, "log: unknown log 'diary'"),
            ({"log": "billing", "from": "2026-01-15T01:00:00"}, "from: '2026-01-15T01:00:00' needs a UTC offset"),
            ({"log": "billing", "limit": 0}, "limit: 0 is not 1–1000"),
            ({"log": "billing", "offset": -1}, "offset: -1 is not a whole number ≥ 0"),
        ):
            answer = await request(probe, "omnipower/m1/get", json.dumps(payload))
            assert answer["status"] == "error" and answer["error"].startswith(error), answer
    # the logs were saved apart from the registers, and a restart reads them back
    assert (tmp_path / "data" / "m1.logs.json").exists()
