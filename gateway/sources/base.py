"""The interface between a meter source and the MQTT bridge."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.commands import Command, CommandError
from omnipower.registers import Register

Readings = dict[str, float | int | str | None]


@dataclass(frozen=True, slots=True)
class MeterInfo:
    meter_id: str
    name: str
    source: str  # simulated | han | mbus | modbus | optical
    model: str
    serial_number: str
    sw_version: str
    registers: tuple[Register, ...]
    commands: frozenset[str]  # the command names this source can carry out
    alarm_types: tuple[str, ...] = ()
    manufacturer: str = "Kamstrup"


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    state: str
    reason: str
    time: str


@dataclass(frozen=True, slots=True)
class AlarmNotice:
    time: str
    type: str
    active: bool
    phase: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RawFrame:
    """A frame exactly as read from the wire (published as hex on `<base>/<meter>/han`)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class FirmwareProgress:
    """A firmware update under way (percentage of the image sent) or over (`in_progress` False; `error` when the
    meter refused it), for the `<base>/<meter>/firmware` topic (gateway/firmware_updates.py)."""

    in_progress: bool
    percentage: int | None = None
    error: str = ""


SourceEvent = BreakerStatus | AlarmNotice | RawFrame | FirmwareProgress


class SourceEvents:
    """A source's events in the order they came, for one consumer (the state publisher's pump): the part of
    `asyncio.Queue` the gateway uses. An `asyncio.Queue` holds four deques of 760 bytes each even when empty,
    3 kB a source, 30 MB over a fleet of 10,000 members; this holds a list and, while the consumer waits, one
    future. `tests/test_source_events.py` holds it to `asyncio.Queue`."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[SourceEvent] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, event: SourceEvent) -> None:
        self._items.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def get_nowait(self) -> SourceEvent:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> SourceEvent:
        """The oldest event, waiting for one. One consumer at a time: a second would find the first's future."""
        while not self._items:
            if self._waiter is not None and not self._waiter.done():
                raise RuntimeError("SourceEvents has one consumer; another is waiting")
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:  # a cancelled consumer must not take a new one's future away
                    self._waiter = None
        return self._items.pop(0)


def local_now() -> str:
    """The gateway's clock, for protocols that carry no meter time (ISO 8601 with its offset)."""
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


class SourceError(Exception):
    """The meter does not answer (the bridge marks it offline and keeps retrying)."""


class Source(ABC):
    """A meter as the bridge sees it."""

    info: MeterInfo
    in_process = False  # a model in this process: its calls cannot hang, so they need no timeout
    # The meter time (ISO 8601) the energy totals of `read()` stand for, where it is not the readings' `time`: HAN's
    # hourly list 2 carries the totals of the hour boundary, and list 1 every 10 s moves `time` on without them.
    totals_time: str | None = None

    def __init__(self) -> None:
        self.events = SourceEvents()
        self.online = False
        self.polled_breaker: BreakerStatus | None = None

    def note_polled_breaker(self, state: str, now: str) -> None:
        """For protocols that carry the breaker position but no events: an event when a poll sees it change."""
        if self.polled_breaker is None or self.polled_breaker.state != state:
            self.polled_breaker = BreakerStatus(state, "polled", now)
            self.events.put_nowait(self.polled_breaker)

    @abstractmethod
    async def run(self) -> None:
        """Keep the meter's data fresh (tick a model, poll a wire); runs until cancelled."""

    @abstractmethod
    async def read(self) -> Readings:
        """The current readings: `time` plus one key per register (and `tariff_control`)."""

    async def read_registers(self, keys: list[str]) -> Readings:
        """`time` and those of the registers `keys` the meter has (a `get` of a few registers): `read()`'s, unless
        the source can read just those."""
        readings = await self.read()
        return {key: readings[key] for key in ["time", *keys] if key in readings}

    async def state(self) -> tuple[Readings, bytes | None]:
        """For the `state` topic: the readings and, where the source renders it faster itself, their JSON. With
        a JSON, the readings need only hold the time, the total registers and the console line's values (see
        gateway/state_json.py); without, they are `read()`'s, and the publisher encodes them."""
        return await self.read(), None

    async def persist(self) -> None:
        """Make what `read` just returned survive a crash of the gateway (a simulated meter's permanent memory):
        the periodic state publication waits for it, so that no total published on `state` is ever lost."""
        return None

    @abstractmethod
    async def breaker(self) -> BreakerStatus | None:
        """The breaker's position now (None when the protocol does not carry it)."""

    @abstractmethod
    async def alarms(self) -> tuple[str, list[AlarmNotice]]:
        """The meter's time now and the alarms active now (each with its start time)."""

    @abstractmethod
    async def execute(self, command: Command) -> dict[str, Any]:
        """Carry out one command; return data for the response or raise CommandError."""

    async def log(self, name: str, start: int | None, end: int | None, offset: int,
                  limit: int) -> tuple[list[dict[str, Any]], int]:
        """One page of a meter logger (load profile, billing, events …) and the number of matches."""
        raise CommandError("log", f"the loggers are not readable from a {self.info.source} meter")

    async def display(self) -> dict[str, Any] | None:
        """What the meter's LCD shows (published on `<base>/<meter>/display`); None when not known."""
        return None

    @abstractmethod
    async def close(self) -> None:
        """Save what must survive a restart; release the transport."""


class ReadOnlySource(Source):
    """A meter read through a protocol that carries neither commands nor the breaker state."""

    why_no_commands = ""

    async def breaker(self) -> BreakerStatus | None:
        return None

    async def alarms(self) -> tuple[str, list[AlarmNotice]]:
        return local_now(), []

    async def execute(self, command: Command) -> dict[str, Any]:
        reason = f" ({self.why_no_commands})" if self.why_no_commands else ""
        raise CommandError(command.name, f"not supported by a {self.info.source} meter{reason}")

    async def close(self) -> None:
        return None
