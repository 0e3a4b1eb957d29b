"""The in-process source: a simulated OMNIPOWER meter on a (possibly accelerated) real-time clock,
with its permanent memory in `<data_dir>/<meter id>.json`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.command_table import COMMANDS_BY_NAME, SIMULATED_COMMANDS
from gateway.commands import Command, CommandError
from gateway.config import MeterConfig
from gateway.firmware_folder import FirmwareFolder
from gateway.sources.base import AlarmNotice, BreakerStatus, MeterInfo, Readings, Source
from gateway.sources.fleet_columns import COLUMNS_AT_LEAST, FleetColumns
from gateway.sources.save_batches import SaveBatches
from gateway.state_json import split_state_json, state_json
from meter_sim.alarms import AlarmEvent
from meter_sim.breaker import BreakerChange
from meter_sim.clock import ScaledClock
from meter_sim.log_export import query_log
from meter_sim.log_journal import LogJournal, ReadLogs
from meter_sim.meter import Meter
from meter_sim.persistence import MeterStore
from meter_sim.refusals import MeterRefused
from omnipower.alarms import ALARM_TYPES

log = logging.getLogger(__name__)


# Saving the meter's permanent memory costs ~1.5 ms (its state, JSON, fsync): never in a request's path. The
# periodic state publication waits for it (`persist`, when `save_before_publishing`), so a total on the `state`
# topic is never lost; a command is saved within COMMAND_SAVE_DELAY of being carried out (after its response);
# the rest of the meter's life (energy flowing, `get`) at most `save_interval` later.
SAVE_INTERVAL = 1.0
COMMAND_SAVE_DELAY = 0.005
COMMAND_SAVE_GAP = 0.05


class SimulatedSource(Source):
    in_process = True

    def __init__(self, config: MeterConfig, data_dir: Path, tick: float | None = 1.0,
                 save_interval: float = SAVE_INTERVAL, save_before_publishing: bool = True,
                 display: bool = True, saves: SaveBatches | None = None,
                 firmware: FirmwareFolder | None = None, log_entries_in_memory: int | None = None,
                 logs_read: ReadLogs | None = None) -> None:
        """A fleet member (see `gateway.service.fleet_sources`) saves every `save_interval` but not before each
        publication, may publish no display, and need not tick (`tick` None) when it is read every second anyway;
        the members of a fleet share `saves` (gateway/sources/save_batches.py). `log_entries_in_memory`: each
        logger keeps that many of its newest entries in memory, and the older ones on disk only, read back when
        asked for (`LogJournal.spill`); None keeps them all. `logs_read`: the loggers, read from disk already
        (gateway/fleet_logs.py)."""
        super().__init__()
        self._saves = saves if saves is not None else SaveBatches()
        self.firmware = firmware or FirmwareFolder(None)  # where `firmware_update` finds "latest" and relative paths
        self.config = config
        self.tick = tick
        self.save_interval = save_interval
        self.save_before_publishing = save_before_publishing
        self.shows_display = display
        self._save_soon = asyncio.Event()  # a command was carried out: save within COMMAND_SAVE_DELAY
        self._unsaved = False  # the meter changed since the last save
        self.store = MeterStore(data_dir / f"{config.id}.json")
        # The loggers: large, saved only when written, and then only what was appended (meter_sim/log_journal.py)
        self.log_journal = LogJournal(MeterStore(logs_path(data_dir, config.id)))
        state = self.store.load()  # PersistenceError stops start-up: never restart from zero
        self.log_entries_in_memory = log_entries_in_memory
        logs = self.log_journal.load(log_entries_in_memory, logs_read)
        clock = ScaledClock(config.speed, self._start_time(state))
        self.meter = Meter(config.id, config, clock, state, logs=logs)
        if not self.log_journal.loaded(self.meter, logs):  # the loggers saved are not this meter's: built whole
            logs = self.log_journal.load()
            self.meter = Meter(config.id, config, clock, state, logs=logs)
            self.log_journal.loaded(self.meter, logs)
        self._saved_logs = -1
        self._fleet: FleetColumns | None = None  # stepped with the other members (see `step_together`)
        self._member = -1
        self._renderers()
        self._read: tuple[int, Readings] = (-1, {})  # the meter time and readings of the last read()
        serial = f"{(zlib.crc32(config.id.encode()) + config.seed * 7919) % 100_000_000:08d}"
        self.info = MeterInfo(
            meter_id=config.id,
            name=config.name or f"OMNIPOWER {config.id}",
            source="simulated",
            model="OMNIPOWER three-phase (simulated)",
            serial_number=serial,
            sw_version=self.meter.firmware.active.version,  # the device's firmware, as HA shows it
            registers=self.meter.registers,
            commands=SIMULATED_COMMANDS,
            alarm_types=ALARM_TYPES,
        )
        if save_before_publishing:
            self.store.save(self.meter.to_state())  # the meter exists on disk from its first second
        else:
            self._unsaved = True  # a fleet of thousands would start with thousands of fsyncs
        self.online = True

    def _start_time(self, state: dict[str, Any] | None) -> float:
        cfg = self.config
        configured = cfg.start.timestamp() if cfg.start is not None else None
        if state is None:
            return configured if configured is not None else time.time()
        resume = float(state["t"])
        if cfg.speed == 1.0 and configured is None:
            # Real time: the meter was simply off while the gateway was down.
            return max(resume, time.time())
        return resume

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            if self.tick is not None:
                tg.create_task(self._tick(self.tick))
            tg.create_task(self._save_behind())

    async def _tick(self, tick: float) -> None:
        while True:
            self._advance()
            await asyncio.sleep(tick)

    async def _save_behind(self) -> None:
        """Save what changed: at once (after COMMAND_SAVE_DELAY, so the response goes out first, and no sooner
        than COMMAND_SAVE_GAP after the last save) when a command changed the meter, else every `save_interval`
        while it runs. The first wait is a part of the interval drawn from the meter id, so that the meters of a
        fleet do not all save in the same second."""
        loop = asyncio.get_running_loop()
        last = -COMMAND_SAVE_GAP
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.save_interval * (zlib.crc32(self.config.id.encode()) % 997) / 997):
                await self._save_soon.wait()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.save_interval):
                    await self._save_soon.wait()
            if self._save_soon.is_set():
                # A burst of commands is saved at most every COMMAND_SAVE_GAP: each save holds the event loop
                # for its snapshot, and back to back they would land on the answers of the commands that follow.
                wait = max(COMMAND_SAVE_DELAY, last + COMMAND_SAVE_GAP - loop.time())
                await asyncio.sleep(wait)
                self._save_soon.clear()
            if self._unsaved:
                last = loop.time()
                await self._save()

    def _in_columns(self) -> FleetColumns | None:
        fleet = self._fleet
        return fleet if fleet is not None and fleet.holds(self._member) else None

    def _advance(self) -> None:
        fleet = self._in_columns()
        if fleet is not None:
            fleet.advance(self._member)
        else:
            self.meter.update()
        rtc = self.meter.rtc
        for event in self.meter.drain_events():
            if isinstance(event, BreakerChange):
                self.events.put_nowait(BreakerStatus(event.new, event.reason, rtc.iso(event.time)))
            elif isinstance(event, AlarmEvent):
                self.events.put_nowait(
                    AlarmNotice(rtc.iso(event.time), event.type, event.active, event.phase, event.detail)
                )

    async def persist(self) -> None:
        if self.save_before_publishing and self._unsaved:
            await self._save()

    async def _save(self) -> None:
        """The registers and the loggers' new entries, both taken at the same second (its `snapshot`): loggers saved
        from a later second than the registers would, after a restart from those registers, record the seconds
        between again (seen with the fleet's columns, which step a member whenever another of its block is read)."""
        self._unsaved = False
        logs: list[Any] = []  # the loggers' part, taken with the registers

        def snapshot() -> dict[str, Any]:
            meter = self._current()
            state = meter.to_state()
            if meter.logs_revision != self._saved_logs:
                logs.append(self._take_logs())
            return state

        try:
            await self._saves.save(self.store, snapshot)
            if logs:
                await self._saves.save(self.log_journal, lambda: logs[0])
        except BaseException:
            if logs:
                self.log_journal.forget()  # what was taken may not be on disk: the next save writes it all
                self._saved_logs = -1
            raise
        if logs and self.log_entries_in_memory is not None:
            self.log_journal.spill(self.meter, self.log_entries_in_memory)

    def _current(self) -> Meter:
        """The meter, its objects up to date (a member stepped in the columns has its registers in its row)."""
        fleet = self._in_columns()
        if fleet is not None:
            fleet.current(self._member)
        return self.meter

    def _take_logs(self) -> Any:
        """The loggers' snapshot for the journal, taken when the save writer has room for it."""
        self._saved_logs = self.meter.logs_revision
        return self.log_journal.take(self.meter)

    async def read(self) -> Readings:
        self._advance()
        self._unsaved = True
        readings = self._current().readings()
        self._read = (self.meter.t, dict(readings))  # the display of the same second reuses them
        readings["tariff_control"] = self._tariff_control()
        return readings

    async def read_registers(self, keys: list[str]) -> Readings:
        self._advance()
        self._unsaved = True
        return self._current().readings(keys)

    async def state(self) -> tuple[Readings, bytes | None]:
        """The state JSON written straight from the model (gateway/state_json.py), unless the display needs this
        second's readings anyway."""
        if self.shows_display:
            return await self.read(), None
        self._advance()
        self._unsaved = True
        meter = self.meter
        if self._state_json.registers is not meter.registers:
            self._renderers()
        fleet = self._in_columns()
        if fleet is not None:
            vector, t = fleet.base_vector(self._member), fleet.t(self._member)
        else:
            vector, t = meter.base_vector(), meter.t
        time, extra = meter.rtc.iso(t), {"tariff_control": self._tariff_control()}
        if self._split is not None:
            payload, summary = self._split.render_vector(time, vector, extra, meter.demand_part, self._kept_text)
        else:
            payload, summary = self._state_json.render_vector(time, vector, extra)
        return summary, payload

    def _renderers(self) -> None:
        """The state's renderers for the meter's register set (made anew when a reconfiguration changes it)."""
        self._state_json = state_json(self.meter.registers)
        self._split = split_state_json(self.meter.registers)
        self._kept_text: list[Any] = [None, ""]  # the demand registers' text of the last state (see `Split`)

    def _tariff_control(self) -> str:
        override = self.meter.tariffs.override
        return "auto" if override is None else str(override)

    async def breaker(self) -> BreakerStatus:
        b = self._current().breaker
        return BreakerStatus(b.state, b.reason, self.meter.rtc.iso(b.changed_at))

    async def alarms(self) -> tuple[str, list[AlarmNotice]]:
        rtc = self._current().rtc
        active = sorted(self.meter.alarms.active.items(), key=lambda kv: (kv[1], kv[0][0]))
        notices = [AlarmNotice(rtc.iso(since), kind, True, phase) for (kind, phase), since in active]
        return rtc.iso(self.meter.t), notices

    async def execute(self, command: Command) -> dict[str, Any]:
        self._advance()
        if command.name == "firmware_update":  # the image file, as the gateway's firmware folder names it
            path = self.firmware.resolve(str(command.value), self.meter.firmware.active.version)
            command = replace(command, value=str(path))
        self._current()
        try:
            result = self._carry_out(command.name, command.value)
        except MeterRefused as exc:
            raise CommandError(command.name, str(exc)) from None
        except ValidationError as exc:
            raise CommandError(command.name, _validation_message(exc)) from None
        except ValueError as exc:
            raise CommandError(command.name, str(exc)) from None
        finally:
            fleet = self._in_columns()
            if fleet is not None:  # the command changed the objects: the row takes them in
                fleet.changed(self._member)
        self._advance()
        self._unsaved = True
        self._save_soon.set()
        return result

    def _carry_out(self, name: str, value: Any) -> dict[str, Any]:
        """By the command's entry in the command table (the Meter method it calls)."""
        spec = COMMANDS_BY_NAME.get(name)
        if spec is None:
            raise CommandError(name, "not supported by the simulated meter")
        result = spec.simulate(self.meter, name, value)
        if self.meter.registers is not self.info.registers:  # reconfigured: the readings it has changed
            self.info = replace(self.info, registers=self.meter.registers)
        if self.meter.firmware.active.version != self.info.sw_version:  # new firmware: the device says so
            self.info = replace(self.info, sw_version=self.meter.firmware.active.version)
        return result

    async def display(self) -> dict[str, Any] | None:
        if not self.shows_display:
            return None
        t, readings = self._read
        lcd = self._current().lcd(readings if t == self.meter.t else None)
        state = self.meter.display.state.value
        time = self.meter.rtc.iso(self.meter.t)
        if lcd is None:
            return {"time": time, "state": state, "blank": True}
        return {"time": time, "state": state, "blank": False, "text": lcd.text(), **lcd.as_dict()}

    async def log(self, name: str, start: int | None, end: int | None, offset: int,
                  limit: int) -> tuple[list[dict[str, Any]], int]:
        self._advance()
        try:
            return query_log(self._current(), name, start, end, offset, limit)
        except ValueError as exc:
            raise CommandError("log", str(exc)) from None

    async def close(self) -> None:
        self._advance()
        await self._save()  # its snapshot brings a member of the columns up to date


def step_together(sources: Sequence[SimulatedSource], at_least: int = COLUMNS_AT_LEAST) -> FleetColumns | None:
    """Step the members whose clocks agree (all of them at real speed) together, in the columns
    (gateway/sources/fleet_columns.py), if there are `at_least` of them; the others step on their own."""
    if not sources:
        return None
    clock = sources[0].meter.clock
    now = clock.now()
    joining = [s for s in sources if s.meter.clock_offset == 0 and abs(s.meter.clock.now() - now) < 0.5]
    if len(joining) < at_least:
        return None
    fleet = FleetColumns([s.meter for s in joining], clock)
    for member, source in enumerate(joining):
        source._fleet, source._member = fleet, member
    return fleet


def logs_path(data_dir: Path, meter_id: str) -> Path:
    """Where a simulated meter's loggers are saved (beside its state, `<meter id>.json`)."""
    return data_dir / f"{meter_id}.logs.json"


def _validation_message(exc: ValidationError) -> str:
    """The first error of a refused configuration, with where it is: `z4: Input should be 1, 2, 3 or 4`."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg
