"""`fleet.engine: columns` against `per_second` through the gateway's source: the same fleet on the same stepped
clock publishes the same state payloads, answers `get`, commands and logs the same, and saves the same files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml

from gateway.commands import Command
from gateway.config import load_settings
from gateway.service import FLEET_LOG_ENTRIES_IN_MEMORY, fleet_sources
from gateway.sources.simulated import SimulatedSource, step_together
from meter_sim.clock import SteppedClock

START = "2026-03-28T23:30:07+00:00"  # the DST change (01:00 UTC) within the run


def fleet(tmp_path: Path, name: str, count: int) -> tuple[list[SimulatedSource], SteppedClock]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / name), "fleet": {
        "count": count, "seed": 4, "engine": "per_second", "template": {"start": START}}}))
    sources = fleet_sources(load_settings(path))
    assert all(isinstance(s, SimulatedSource) for s in sources)
    members = [s for s in sources if isinstance(s, SimulatedSource)]
    clock = SteppedClock(members[0].meter.t)
    for s in members:
        assert s.meter.t == members[0].meter.t
        s.meter.clock = clock
    return members, clock


async def states(sources: list[SimulatedSource]) -> list[tuple[Any, bytes | None]]:
    return [await s.state() for s in sources]


async def test_columns_publish_answer_and_save_as_the_per_second_model(tmp_path: Path) -> None:
    exact, exact_clock = fleet(tmp_path, "exact", 4)
    columned, columned_clock = fleet(tmp_path, "columns", 4)
    together = step_together(columned, at_least=1)
    assert together is not None

    async def both(call: Any) -> None:
        a = [await call(s) for s in exact]
        b = [await call(s) for s in columned]
        assert b == a

    commands = {
        600: Command("breaker", "disconnect"), 900: Command("breaker", "connect"), 1200: Command("tariff", 2),
        1500: Command("voltage_l1", 195), 1800: Command("voltage_l1", None), 2400: Command("tariff", None),
        3000: Command("outage", "on"), 3030: Command("outage", "off"),
        # a reconfiguration: the meter is built again in place, with more analysis channels than it had
        4000: Command("configure", json.dumps({"z10": 1, "analysis_logger": {"interval_s": 300, "channels": [
            "u_l1", "u_l2", "u_l3", "i_l1", "i_l2", "i_l3", "p_plus_l1", "p_plus_l2", "p_plus_l3", "q_plus",
            "thd_u_l1", "thd_u_l2", "thd_u_l3", "thd_i_l1", "frequency", "pf"]}})),
        5000: Command("debiting_stop", "now"),
    }
    for second in range(1, 3 * 3600 + 1):
        exact_clock.advance(1)
        columned_clock.advance(1)
        if second % 7 == 0 or second > 5 * 3600:
            assert await states(columned) == await states(exact)
        command = commands.get(second)
        if command is not None:
            await both(lambda s, c=command: s.execute(c))
        if second % 997 == 0:
            await both(lambda s: s.read_registers(["a_plus", "p_plus_l1", "u_l2", "breaker"]))
            await both(lambda s: s.alarms())
    await both(lambda s: s.read())
    await both(lambda s: s.log("load_profile", None, None, 0, 1000))
    await both(lambda s: s.log("voltage_quality", None, None, 0, 1000))
    await both(lambda s: s.log("analysis", None, None, 0, 1000))
    await both(lambda s: s.log("billing", None, None, 0, 1000))
    block = together.blocks[0]
    assert block.column_s > 0.8 * 4 * 3 * 3600  # the columns did run, and the faults exactly
    assert block.exact_s > 0
    # Set the clock of one member: it leaves the columns and goes on by itself, as the per-second one does.
    set_time = Command("time", 1774760400.0)
    assert await columned[0].execute(set_time) == await exact[0].execute(set_time)
    assert not together.holds(0)
    for _ in range(120):
        exact_clock.advance(1)
        columned_clock.advance(1)
    assert await states(columned) == await states(exact)
    for s in exact + columned:
        await s.close()
    for s, c in zip(exact, columned, strict=True):
        assert json.loads(c.store.path.read_text()) == json.loads(s.store.path.read_text())


async def test_a_save_s_registers_and_loggers_are_of_one_second(tmp_path: Path) -> None:
    """While a member's save is being written, another member of its block is read and steps the block, the member
    too: its loggers must still be saved as of its registers' second, or after a restart it records the periods
    between again (seen as duplicate load-profile entries)."""
    columned, clock = fleet(tmp_path, "columns", 3)
    assert step_together(columned, at_least=1) is not None
    first, other = columned[0], columned[1]
    clock.advance(3600)
    await first.state()
    saving = asyncio.create_task(first._save())
    await asyncio.sleep(0)  # the snapshot is taken: the writer's thread has it
    clock.advance(3 * 3600)  # twelve more periods, recorded while the save is under way
    await other.state()
    await saving
    saved = first.store.load()
    assert saved is not None
    saved_t = saved["t"]
    again = SimulatedSource(first.config, tmp_path / "columns", tick=None, save_before_publishing=False,
                            display=False, log_entries_in_memory=FLEET_LOG_ENTRIES_IN_MEMORY)
    assert again.meter.t == saved_t
    again.meter.clock = SteppedClock(saved_t + 2 * 3600)
    entries, total = await again.log("load_profile", None, None, 0, 1000)
    times = [e["time"] for e in entries]
    assert len(times) == total > 8 and len(set(times)) == len(times)
