"""The in-process source: a simulated OMNIPOWER meter on a (possibly accelerated) real-time clock,
with its permanent memory in `<data_dir>/<meter id>.json`."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from pathlib import Path
from typing import Any

from gateway.commands import Command, CommandError
from gateway.config import MeterConfig
from gateway.sources.base import AlarmNotice, BreakerStatus, MeterInfo, Readings, Source
from meter_sim.alarms import AlarmEvent
from meter_sim.breaker import BreakerChange, BreakerRefused
from meter_sim.clock import ScaledClock
from meter_sim.load_control import LoadControlRefused
from meter_sim.log_export import query_log
from meter_sim.meter import Meter
from meter_sim.persistence import MeterStore

log = logging.getLogger(__name__)

ALARM_TYPES = ("voltage_missing", "undervoltage", "overvoltage", "neutral_fault")
COMMANDS = frozenset({
    "breaker", "tariff", "push_button", "load_control_1", "load_control_2", "voltage_l1", "voltage_l2", "voltage_l3",
})
SW_VERSION = "50981173 (simulated)"


class SimulatedSource(Source):
    def __init__(self, config: MeterConfig, data_dir: Path, tick: float = 1.0) -> None:
        super().__init__()
        self.config = config
        self.tick = tick
        self.store = MeterStore(data_dir / f"{config.id}.json")
        self.log_store = MeterStore(data_dir / f"{config.id}.logs.json")  # large: saved only when written
        state = self.store.load()  # PersistenceError stops start-up: never restart from zero
        logs = self.log_store.load()
        clock = ScaledClock(config.speed, self._start_time(state))
        self.meter = Meter(config.id, config, clock, state, logs=logs)
        self._saved_logs = -1
        serial = f"{(zlib.crc32(config.id.encode()) + config.seed * 7919) % 100_000_000:08d}"
        self.info = MeterInfo(
            meter_id=config.id,
            name=config.name or f"OMNIPOWER {config.id}",
            source="simulated",
            model="OMNIPOWER three-phase (simulated)",
            serial_number=serial,
            sw_version=SW_VERSION,
            registers=self.meter.registers,
            commands=COMMANDS,
            alarm_types=ALARM_TYPES,
        )
        self.store.save(self.meter.to_state())
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
        while True:
            self._advance()
            await asyncio.sleep(self.tick)

    def _advance(self) -> None:
        self.meter.update()
        rtc = self.meter.rtc
        for event in self.meter.drain_events():
            if isinstance(event, BreakerChange):
                self.events.put_nowait(BreakerStatus(event.new, event.reason, rtc.iso(event.time)))
            elif isinstance(event, AlarmEvent):
                self.events.put_nowait(
                    AlarmNotice(rtc.iso(event.time), event.type, event.active, event.phase, event.detail)
                )

    async def _save(self) -> None:
        # Saved before anything is published, so that no published total is ever lost.
        await asyncio.to_thread(self.store.save, self.meter.to_state())
        if self.meter.logs_revision != self._saved_logs:
            self._saved_logs = self.meter.logs_revision
            await asyncio.to_thread(self.log_store.save, self.meter.logs_state())

    async def read(self) -> Readings:
        self._advance()
        await self._save()
        readings = self.meter.readings()
        override = self.meter.tariffs.override
        readings["tariff_control"] = "auto" if override is None else str(override)
        return readings

    async def breaker(self) -> BreakerStatus:
        b = self.meter.breaker
        return BreakerStatus(b.state, b.reason, self.meter.rtc.iso(b.changed_at))

    async def alarms(self) -> tuple[str, list[AlarmNotice]]:
        rtc = self.meter.rtc
        active = sorted(self.meter.alarms.active.items(), key=lambda kv: (kv[1], kv[0][0]))
        notices = [AlarmNotice(rtc.iso(since), kind, True, phase) for (kind, phase), since in active]
        return rtc.iso(self.meter.t), notices

    async def execute(self, command: Command) -> dict[str, Any]:
        self._advance()
        meter = self.meter
        name, value = command.name, command.value
        try:
            if name in ("breaker", "push_button"):
                action = "push_button" if name == "push_button" else value
                change = meter.breaker_command(action)  # type: ignore[arg-type]
                result: dict[str, Any] = {"breaker": change.new, "previous": change.old}
            elif name == "tariff":
                meter.set_tariff(value if isinstance(value, int) else None)
                result = {"tariff": meter.tariffs.active, "tariff_control": "auto" if value is None else str(value)}
            elif name.startswith("load_control_"):
                switched = meter.load_control_command(int(name[-1]), value)  # type: ignore[arg-type]
                result = {name: switched.new, "previous": switched.old}
            elif name.startswith("voltage_l"):
                meter.set_phase_voltage(int(name[-1]), float(value) if value is not None else None)
                result = {name: "auto" if value is None else value}
            else:
                raise CommandError(name, "not supported by the simulated meter")
        except (BreakerRefused, LoadControlRefused) as exc:
            raise CommandError(name, str(exc)) from None
        self._advance()
        await self._save()
        return result

    async def log(self, name: str, start: int | None, end: int | None, offset: int,
                  limit: int) -> tuple[list[dict[str, Any]], int]:
        self._advance()
        try:
            return query_log(self.meter, name, start, end, offset, limit)
        except ValueError as exc:
            raise CommandError("log", str(exc)) from None

    async def close(self) -> None:
        self.meter.update()
        await self._save()
