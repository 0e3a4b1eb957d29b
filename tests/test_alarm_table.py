"""The alarm table (omnipower/alarms.py) is the one list of alarm types: the meter raises exactly those, the
Modbus map's discrete inputs, the sources' reports and the Home Assistant binary sensors follow it, and the
README names each."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway import discovery
from gateway.sources.base import MeterInfo
from gateway.topics import Topics
from meter_sim.alarms import AlarmEvent
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from omnipower import modbus_map as mm
from omnipower.alarms import ALARM_TYPES, ALARMS
from omnipower.registers import meter_registers

T0 = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp())
LAST_GASP = "6841131BN243111040"  # Variant 2 with radio: the meter sends a last gasp


def _raised(m: Meter) -> set[str]:
    return {e.type for e in m.drain_events() if isinstance(e, AlarmEvent) and e.active}


def _meter(**settings: Any) -> Meter:
    return Meter("m", MeterSimSettings(**settings), SteppedClock(T0))


def test_the_meter_raises_exactly_the_alarms_of_the_table() -> None:
    raised: set[str] = set()
    m = _meter(type_number=LAST_GASP)
    m.advance_to(T0 + 10)
    for phase, volts in ((1, 20.0), (2, 190.0), (3, 260.0)):  # missing, under, over
        m.set_phase_voltage(phase, volts)
    m.advance_to(T0 + 12)
    raised |= _raised(m)
    for phase, volts in ((1, 262.0), (2, 262.0), (3, 180.0)):  # two phases high, one low for > 60 s: §7.9
        m.set_phase_voltage(phase, volts)
    m.advance_to(T0 + 100)
    raised |= _raised(m)
    for phase in (1, 2, 3):
        m.set_phase_voltage(phase, None)
    m.set_tamper("magnetic", True)
    m.set_tamper("cover", True)
    m.set_outage(True)
    m.advance_to(T0 + 110)
    raised |= _raised(m)

    prepaid = _meter(z13=0, prepayment={"enabled": True, "initial_value": 1.0, "low_credit": 0.5},
                     household={"pv_kwp": 0})
    prepaid.set_load(extra_w=6000.0)
    prepaid.advance_to(T0 + 3600)
    raised |= _raised(prepaid)

    module = _meter(z3=3)  # I/O2 is an alarm input
    module.set_module_inputs(False, True)
    raised |= _raised(module)

    assert raised == set(ALARM_TYPES)


def test_the_modbus_discrete_inputs_follow_the_table() -> None:
    on_the_map = [a for a in ALARMS if a.modbus_input is not None]
    assert tuple(a.type for a in on_the_map) == mm.ALARM_TYPES
    for alarm in on_the_map:
        for i, phase in enumerate(alarm.phases):
            assert mm.ALARM_BITS[alarm.modbus_input + i] == (alarm.type, phase)
    assert len(mm.ALARM_BITS) == sum(len(a.phases) for a in on_the_map)


def _binary_sensors(alarm_types: tuple[str, ...], source: str) -> dict[str, dict[str, Any]]:
    info = MeterInfo(meter_id="m1", name="Meter", source=source, model="OMNIPOWER", serial_number="1",
                     sw_version="1", registers=meter_registers(4), commands=frozenset(), alarm_types=alarm_types)
    return {topic.split("/")[-2]: json.loads(payload)
            for topic, payload in discovery.messages(info, Topics("omnipower"), "0.1")
            if topic.startswith("homeassistant/binary_sensor/")}


def test_discovery_announces_one_binary_sensor_per_reported_alarm() -> None:
    sensors = _binary_sensors(ALARM_TYPES, "simulated")
    assert set(sensors) == {f"alarm_{t}" for t in ALARM_TYPES}
    for alarm in ALARMS:
        config = sensors[f"alarm_{alarm.type}"]
        assert (config["name"], config["device_class"]) == (alarm.name, alarm.device_class)
        assert f"'{alarm.type}'" in config["value_template"]
    assert set(_binary_sensors(mm.ALARM_TYPES, "modbus")) == {f"alarm_{t}" for t in mm.ALARM_TYPES}


def test_the_readme_describes_every_alarm_type() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Alarms", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", section)) >= set(ALARM_TYPES)
