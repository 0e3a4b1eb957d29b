"""The command table (gateway/command_table.py) is the one list of commands: every entry is validated by its
parser, carried by the sources it claims (the simulated meter by its Meter method, Modbus by its register or coil
write, M-Bus by the codec's command codes), announced in Home Assistant with payloads its parser accepts, and
documented in the README's generated command table."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import free_port
from firmware_harness import PUBLIC_PEM, image
from pymodbus.server import ModbusTcpServer

from gateway import discovery
from gateway.command_table import (
    COMMANDS,
    COMMANDS_BY_NAME,
    MBUS_COMMANDS,
    MODBUS_COMMANDS,
    SIMULATED_COMMANDS,
    Button,
    Select,
    Switch,
    Update,
)
from gateway.command_values import Choice
from gateway.commands import COMMAND_NAMES, Command, CommandError, parse_set
from gateway.config import MeterConfig, load_settings
from gateway.firmware_folder import FirmwareFolder
from gateway.sources.base import MeterInfo
from gateway.sources.modbus import ModbusSource
from gateway.sources.simulated import SimulatedSource
from gateway.topics import Topics
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.modbus_slave import ModbusSlave
from omnipower import mbus
from omnipower import modbus_map as mm
from omnipower.registers import meter_registers

ROOT = Path(__file__).resolve().parent.parent
# Valid values of the commands whose parser is not a Choice (those offer their options).
SAMPLES: dict[str, list[Any]] = {
    "tariff": [2, "auto"], "tariff_plan": [1], "top_up": [5.0], "time": ["2026-01-15T12:00:30+01:00"],
    "configure": [{"z4": 3}], **{f"voltage_l{n}": [200.0, "auto"] for n in (1, 2, 3)},
    "firmware_update": [{"image": "latest"}],
}


def raw_values(name: str) -> list[Any]:
    parse = COMMANDS_BY_NAME[name].parse
    return list(parse.options) if isinstance(parse, Choice) else SAMPLES[name]


def valid(name: str) -> list[Command]:
    return [c for value in raw_values(name) for c in parse_set(json.dumps({name: value}).encode()).commands]


def test_every_command_is_validated_by_its_parser() -> None:
    for spec in COMMANDS:
        assert valid(spec.name), spec.name  # it has valid values, and they parse
        with pytest.raises(CommandError) as info:
            parse_set(json.dumps({spec.name: [17]}).encode())
        assert info.value.field == spec.name and "unknown command" not in info.value.reason


def test_every_entity_sends_a_value_its_command_accepts() -> None:
    for spec in COMMANDS:
        for entity in spec.entities:
            if isinstance(entity, Switch):
                payloads = [entity.payload_on, entity.payload_off]
            elif isinstance(entity, Button | Update):
                payloads = [entity.payload]
            else:
                payloads = entity.options(meter_registers(4, tariffs=8, tariff_plans=3))
            for payload in payloads:
                (command,) = parse_set(payload.encode(), spec.name).commands
                assert command.name == spec.name


def _info(commands: frozenset[str], source: str = "simulated") -> MeterInfo:
    return MeterInfo(meter_id="m1", name="Meter", source=source, model="OMNIPOWER", serial_number="1",
                     sw_version="1", registers=meter_registers(4, tariffs=8, tariff_plans=3), commands=commands)


def _announced(info: MeterInfo) -> dict[str, dict[str, Any]]:
    return {topic.split("/")[-2]: json.loads(payload)
            for topic, payload in discovery.messages(info, Topics("omnipower"), "0.1")}


def test_discovery_announces_each_carried_command_s_entities_and_no_other() -> None:
    everything = _announced(_info(SIMULATED_COMMANDS))
    for spec in COMMANDS:
        for entity in spec.entities:
            config = everything[entity.object_id]
            assert config["command_topic"] == f"omnipower/m1/set/{spec.name}"
            if isinstance(entity, Select):
                assert config["options"] == entity.options(meter_registers(4, tariffs=8, tariff_plans=3))
        without = _announced(_info(SIMULATED_COMMANDS - {spec.name}))
        assert not {e.object_id for e in spec.entities} & set(without)
    controls = {k for k, v in everything.items() if "command_topic" in v}
    assert controls == {e.object_id for spec in COMMANDS for e in spec.entities}


def test_the_readme_command_table_is_generated_from_the_table() -> None:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    gen_docs = ModuleType("gen_docs")
    spec.loader.exec_module(gen_docs)
    readme = (ROOT / "README.md").read_text()
    assert gen_docs.readme_commands(readme) == gen_docs.render_commands(), "run scripts/gen_docs.py"
    for name in COMMAND_NAMES:
        assert f"`{name}`" in gen_docs.render_commands()


# --- the sources carry what the table says -----------------------------------------------------------------------
async def test_the_simulated_meter_carries_every_command(tmp_path: Path) -> None:
    two_plans = {"day_plans": {"flat": {"00:00": 1}}, "plans": [
        {"seasons": [{"start": "01-01", "working": "flat", "non_working": "flat", "holiday": "flat"}]}] * 2}
    cfg = load_settings(None, data_dir=tmp_path, meters=[{  # a meter on which every command can succeed
        "id": "m1", "start": "2026-01-15T11:00:00Z", "speed": 0.000001, "z13": 3, "tariff_calendar": two_plans,
        "tamper": {"symbol_mode": "permanent"},
        "prepayment": {"enabled": True, "unit": "currency", "prices": dict.fromkeys(range(1, 9), 0.3),
                       "initial_value": 10.0},
        "firmware": {"public_key": PUBLIC_PEM},
    }])
    images = tmp_path / "images"  # a newer signed image for `firmware_update`'s "latest"
    images.mkdir()
    (images / "new.img").write_bytes(image())
    source = SimulatedSource(cfg.meters[0], cfg.data_dir, firmware=FirmwareFolder(images))
    assert source.info.commands == SIMULATED_COMMANDS == frozenset(COMMAND_NAMES)
    refused = []
    for name in COMMAND_NAMES:
        for command in valid(name):
            source.meter.advance_to(source.meter.t + 10)  # past the 5-s minimum between breaker operations
            try:
                result = await source.execute(command)
            except CommandError as exc:  # refused by the meter in its present state: carried, not unknown
                assert exc.field == name and "not supported" not in exc.reason, exc
                refused.append((command, exc.reason))
            else:
                assert isinstance(result, dict) and result, command
    await source.close()
    assert [(c.name, c.value) for c, _ in refused] == [("breaker", "connect"), ("emergency_credit", "request")], refused


@asynccontextmanager
async def modbus_meter() -> AsyncIterator[tuple[Meter, ModbusSource]]:
    meter = Meter("m", MeterSimSettings(z13=2), SteppedClock(1_768_478_400))
    port = free_port()
    server = ModbusTcpServer(ModbusSlave(meter).device(), address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    source = ModbusSource(MeterConfig(id="wire", source="modbus", transport=f"tcp:127.0.0.1:{port}"), timeout=2.0)
    try:
        yield meter, source
    finally:
        await source.close()
        await server.shutdown()


async def test_modbus_carries_its_commands_as_the_table_s_writes() -> None:
    async with modbus_meter() as (meter, source):
        await source.read()
        assert source.info.commands == MODBUS_COMMANDS
        for name in sorted(MODBUS_COMMANDS):
            write = COMMANDS_BY_NAME[name].modbus
            assert write is not None and write.function in mm.FEATURE_BITS
            assert write.address < (mm.COIL_COUNT if write.table == "coil" else mm.HOLDING_COUNT)
            for command in valid(name):
                meter.advance_to(meter.t + 10)  # past the 5-s minimum between breaker operations
                try:
                    result = await source.execute(command)
                except CommandError as exc:  # an exception response: the write reached the meter, which refused it
                    assert "Modbus exception 4" in exc.reason and (name, command.value) == ("breaker", "connect")
                else:  # read back: the meter did it
                    assert set(result) == set(write.reports)
                    done = {"disconnect": "disconnected", "release": "ready_for_reconnection", None: "auto"}
                    assert result[write.reports[-1]] == done.get(command.value, str(command.value))
        with pytest.raises(CommandError, match="not supported over Modbus"):
            await source.execute(Command("top_up", 5.0))


def test_mbus_carries_the_commands_its_codec_has_codes_for() -> None:
    for name, value in mbus.COMMAND_CODES:  # every coded value is one the command accepts
        assert COMMANDS_BY_NAME[name].parse(name, "auto" if value is None else value) == value
    for name in MBUS_COMMANDS:
        for command in valid(name):
            if (command.name, command.value) in mbus.COMMAND_CODES:
                assert mbus.encode_commands([(command.name, command.value)])
