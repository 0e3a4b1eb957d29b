"""State publishing: what a meter says, on its retained topics.

Reads each source every `publish_interval` and publishes `state` (with the totals guard), `display` and
`availability` (and through gateway/firmware_updates.py `firmware`); pumps each source's events to `breaker`,
`alarm` + `alarms`, `han` and `firmware`. Owns no incoming
topic. Its tasks run whether or not the broker is there: readings never stop being taken, and events
(breaker changes, alarm events) are kept by the outbox while the broker is away. A reading is computed
in the meter (or decoded by a wire source), declared in
`omnipower/registers.py`, and published by `state_messages` here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from operator import ge, itemgetter
from typing import Any, TypeVar

from gateway.api import ActiveAlarm, AlarmEventPayload, AlarmsPayload, Availability, BreakerPayload
from gateway.discovery_lifecycle import DiscoveryLifecycle
from gateway.firmware_folder import FirmwareFolder
from gateway.firmware_updates import FirmwareUpdates
from gateway.outbox import Outgoing
from gateway.period_tracker import PeriodTracker
from gateway.sources.base import BreakerStatus, FirmwareProgress, RawFrame, Readings, Source, SourceError, SourceEvent
from gateway.topics import Topics
from omnipower.registers import REGISTERS_BY_KEY, TOTAL_KEYS

log = logging.getLogger(__name__)

T = TypeVar("T")
SOURCE_TIMEOUT = 15.0
SLICE = 0.0005  # the longest a publication round holds the event loop before giving way (s): see performance.md
PACED_FROM = 20  # more meters than this (a fleet): a round is spread over the interval, see _publish_loop
SUMMARY_EVERY_S = 60.0  # a fleet's summary line on the console (no line per publication above PACED_FROM)
SPREAD = 0.8  # the part of the interval a fleet's round is spread over (room for a round that runs late)
AHEAD_S = 0.001  # how far ahead of its meter's slot a round goes on before it sleeps


async def call(awaitable: Awaitable[T]) -> T:
    """Every call into a source is bounded: a meter that hangs is a meter that does not answer."""
    async with asyncio.timeout(SOURCE_TIMEOUT):
        return await awaitable


async def direct(awaitable: Awaitable[T]) -> T:
    """For an in-process model (Source.in_process): nothing to wait for, so no timer per call (a fleet makes
    thousands of these calls a second)."""
    return await awaitable


class StatePublisher:
    def __init__(self, topics: Topics, sources: dict[str, Source], interval: float,
                 discovery: DiscoveryLifecycle, send: Callable[[list[Outgoing], bool], None],
                 state_qos: int = 1, answering: Callable[[], bool] = lambda: False,
                 firmware: FirmwareUpdates | None = None,
                 trackers: Mapping[str, PeriodTracker] | None = None) -> None:
        """`answering`: whether a request waits to be read or is being answered (the round then gives way after each
        meter); `firmware`: the firmware topic (gateway/firmware_updates.py), fed with each state and update event;
        `trackers`: the meters' energy periods and capacity tariffs, whose fields join their state."""
        self.trackers = dict(trackers or {})
        self.topics = topics
        self.firmware = firmware or FirmwareUpdates(topics, FirmwareFolder(None), sources)
        self.state_qos = state_qos
        self._answering = answering
        self.sources = sources
        self.interval = interval
        self.discovery = discovery
        self._send = send
        self._published_totals: dict[str, dict[str, float]] = {mid: {} for mid in sources}
        # Per meter: the keys of its readings; the keys of its totals, in `_published_totals`' order as the last
        # `guard_each` left them, and a getter of those; and the totals last published, in that order (see
        # _guard_totals).
        self._guarded: dict[str, tuple[frozenset[str], tuple[str, ...], Callable[[Readings], tuple[Any, ...]],
                                       tuple[Any, ...]]] = {}
        self._key_sets: dict[frozenset[str], frozenset[str]] = {}
        self._getters: dict[tuple[str, ...], tuple[tuple[str, ...], Callable[[Readings], tuple[Any, ...]]]] = {}
        self._availability: dict[str, str] = {}
        self._soon: asyncio.Queue[str] = asyncio.Queue()
        # A console line per publication shows a few meters living; a fleet's thousands a second would flood the
        # journal (and cost a sixth of the process's CPU): it gets a summary line a minute instead.
        self._narrate = len(sources) <= PACED_FROM
        self._summary = (0.0, 0)  # the loop time the count started, and the states published since

    def publish_soon(self, meter_id: str) -> None:
        """Publish the meter's state now, not at the next interval, but after what is being sent (a command's
        response is queued first: reading and rendering the state is not on the answer's path)."""
        self._soon.put_nowait(meter_id)

    async def _publish_soon(self) -> None:
        while True:
            meter_id = await self._soon.get()
            # The response was queued in the pass that woke us, and the sender writes it in the next: let it go
            # first, as reading and rendering a state holds the loop for ~0.3 ms.
            await asyncio.sleep(0)
            self._send(await self.state_messages(meter_id), False)

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        return [self._publish_loop(), self._publish_soon(), *(self._pump_events(s) for s in self.sources.values())]

    async def announcements(self, meter_id: str) -> list[Outgoing]:
        """What a (re)connected broker must hold of one meter: availability, state, breaker and alarms."""
        out = await self.state_messages(meter_id)
        if self._availability.get(meter_id) == "online":
            try:
                status = await call(self.sources[meter_id].breaker())
                if status is not None:
                    out.append(self.breaker_message(meter_id, status))
                out.append(await self.alarms_message(meter_id))
            except (SourceError, TimeoutError) as exc:
                log.warning("meter %s: breaker/alarms not readable: %s", meter_id, exc)
        return out

    def new_session(self) -> None:
        """A new broker session may have lost every retained message: say availability (and firmware) again."""
        self._availability.clear()
        self.firmware.forget()

    def save_trackers(self) -> None:
        """Write each tracker's ledger (on the way out: within an hour they are written every few minutes)."""
        for tracker in self.trackers.values():
            tracker.save()

    def goodbye(self) -> list[Outgoing]:
        return [Outgoing(self.topics.meter(mid, "availability"), Availability(state="offline").to_bytes(),
                         retain=True) for mid in self.sources]

    async def _publish_loop(self) -> None:
        """A publication every `interval` on a fixed schedule (not interval plus the work); a round that
        overran its slot is followed at once by the next, and slots already missed are skipped, not caught up."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self.interval
            now = loop.time()
            if due < now:
                due += (now - due) // self.interval * self.interval
            await asyncio.sleep(due - now)
            # An in-process meter never makes the loop wait: without a pause, a round of thousands of meters
            # would hold the loop for seconds, and the sender (and the acknowledgements it waits for, and the
            # requests) would run only between rounds. So the round gives way every SLICE, and after every meter
            # while a request waits to be read or is being answered.
            pause = loop.time() + SLICE
            answering = self._answering
            # A fleet's round is spread over the interval: meter n has its slot at due + n·step, and the round
            # sleeps when it is AHEAD_S ahead of the next slot (behind, it runs flat out). In one burst at the
            # top of the interval the round, the broker taking its states and any client share the cores at
            # once, and a request answered then waits for the scheduler (docs/performance.md).
            step = self.interval * SPREAD / len(self.sources) if len(self.sources) > PACED_FROM else 0.0
            for n, mid in enumerate(self.sources):
                if step and (ahead := due + n * step - loop.time()) > AHEAD_S:
                    await asyncio.sleep(ahead)
                    pause = loop.time() + SLICE
                self._send(await self.state_messages(mid, persist=True), False)
                if loop.time() >= pause or answering():
                    await asyncio.sleep(0)
                    pause = loop.time() + SLICE
            if not self._narrate:
                self._summarise(loop.time(), len(self.sources))

    async def state_messages(self, meter_id: str, persist: bool = False) -> list[Outgoing]:
        """Read the meter: its state (and availability when that changed); with `persist`, what was read is
        made to survive a crash before it is published (see Source.persist)."""
        source = self.sources[meter_id]
        bounded = direct if source.in_process else call
        try:
            readings, payload = await bounded(source.state())
            if persist:
                await bounded(source.persist())
            if self._guard_totals(meter_id, readings) and payload is not None:
                readings, payload = await bounded(source.read()), None  # the whole state, to publish it guarded
                self._guard_totals(meter_id, readings)
        except (SourceError, TimeoutError) as exc:
            log.warning("meter %s does not answer: %s", meter_id, exc)
            return self._availability_messages(meter_id, "offline")
        except Exception:  # a fault in one source must not stop the others: mark it offline
            log.exception("meter %s: reading failed", meter_id)
            return self._availability_messages(meter_id, "offline")
        tracker = self.trackers.get(meter_id)
        fields: dict[str, Any] = {}
        if tracker is not None:  # after the guard: the ledger counts only totals that never went backwards
            try:
                fields = tracker.update(readings, source.totals_time)
                await tracker.flush()  # the ledger's file, when a save point came: in a worker thread
            except Exception:  # a fault in the periods must not stop the meter's state
                log.exception("meter %s: energy periods / capacity tariff failed", meter_id)
            # The source's own JSON takes the fields before its closing brace; else they join what is encoded.
            body = payload[:-1] + b"," + _json(fields)[1:] if payload and fields else payload or _json(
                {**readings, **fields})
        else:
            body = payload or _json(readings)
        # A wire source learns what the meter has from its reads (the Modbus function block): announce that first.
        out = self.discovery.refresh(meter_id) + self._availability_messages(meter_id, "online")
        out.append(Outgoing(self.topics.meter(meter_id, "state"), body, self.state_qos,
                            retain=True, periodic=True))
        out += self.firmware.on_state(meter_id, readings)
        if self._narrate:
            _report(meter_id, readings)
        try:
            lcd = await bounded(source.display())
        except (SourceError, TimeoutError) as exc:
            log.warning("meter %s: display not readable: %s", meter_id, exc)
            lcd = None
        if lcd is not None:
            out.append(Outgoing(self.topics.meter(meter_id, "display"), _json(lcd), self.state_qos, retain=True,
                                periodic=True))
        return out

    def _summarise(self, now: float, published: int) -> None:
        """A fleet's console line: the states of the last minute or so (the rounds that ended in it)."""
        since, count = self._summary
        if not since:
            self._summary = (now, 0)
            return
        count += published
        if now - since < SUMMARY_EVERY_S:
            self._summary = (since, count)
            return
        log.info("%d meters: %d states published in the last %.0f s (%.0f a second)", len(self.sources), count,
                 now - since, count / (now - since))
        self._summary = (now, 0)

    def _availability_messages(self, meter_id: str, state: str) -> list[Outgoing]:
        if self._availability.get(meter_id) == state:
            return []
        self._availability[meter_id] = state
        payload = Availability(state=state).to_bytes()
        return [Outgoing(self.topics.meter(meter_id, "availability"), payload, retain=True)]

    def _guard_totals(self, meter_id: str, readings: Readings) -> bool:
        """A total_increasing register never goes backwards on MQTT, whatever a source says: such a value is
        replaced by the last published one. Whether any was.

        The common case first (a fleet guards thousands of states a second): the same registers as last time, and
        the same totals, each a number none smaller. Those totals are then kept as the tuple they came in, and
        written into `_published_totals` only when the plain form needs them (updating that dict for every state
        was most of this method's cost). `guard_each` is the plain form, and decides whenever this one cannot."""
        known = self._guarded.get(meter_id)
        if known is not None:
            keys, names, totals, kept = known
            if readings.keys() == keys:
                try:
                    values = totals(readings)
                    if all(map(ge, values, kept)):
                        self._guarded[meter_id] = (keys, names, totals, values)
                        return False
                except TypeError:  # not a number: register by register
                    pass
        last = self.published_totals(meter_id)
        self._guarded.pop(meter_id, None)
        changed = self.guard_each(meter_id, readings)
        if last.keys() == TOTAL_KEYS.intersection(readings):  # each total here, a number: the next may go fast
            # The key sets and getters are one per register set, not one per meter of a fleet; the dict is emptied
            # while the tuple holds its values (`published_totals` fills it again).
            keys = frozenset(readings)
            keys = self._key_sets.setdefault(keys, keys)
            names = tuple(last)
            names, totals = self._getters.setdefault(names, (names, _getter(names)))
            self._guarded[meter_id] = (keys, names, totals, tuple(last.values()))
            last.clear()
        return changed

    def published_totals(self, meter_id: str) -> dict[str, float]:
        """The meter's totals as last published, by key (what the fast path kept as a tuple is written in first)."""
        last = self._published_totals[meter_id]
        known = self._guarded.get(meter_id)
        if known is not None:
            last.update(zip(known[1], map(float, known[3]), strict=True))
        return last

    def guard_each(self, meter_id: str, readings: Readings) -> bool:
        """`_guard_totals`, register by register. Totals may come rounded (`Source.read`) or not (the summary of
        a state the source rendered itself): what is compared, and what replaces a smaller one, is each at the
        register's published resolution, so a total that only lost what rounding drops is not "backwards", and a
        replaced one is published as it was."""
        changed = False
        last = self._published_totals[meter_id]
        for key in TOTAL_KEYS.intersection(readings):
            value = readings[key]
            if not isinstance(value, int | float):
                continue
            previous = last.get(key)
            if previous is not None and value < previous:
                shown, kept = _published(key, value), _published(key, previous)
                if shown < kept:
                    log.warning("meter %s: %s went backwards (%s < %s); keeping %s", meter_id, key, shown, kept, kept)
                    readings[key] = kept
                    changed = True
                    continue
            last[key] = float(value)
        return changed

    def breaker_message(self, meter_id: str, status: BreakerStatus) -> Outgoing:
        payload = BreakerPayload(state=status.state, reason=status.reason, time=status.time)
        return Outgoing(self.topics.meter(meter_id, "breaker"), payload.to_bytes(), retain=True, keep=True)

    async def alarms_message(self, meter_id: str) -> Outgoing:
        now, active = await call(self.sources[meter_id].alarms())
        payload = AlarmsPayload(
            time=now, active=[ActiveAlarm(type=a.type, phase=a.phase, since=a.time) for a in active]
        )
        return Outgoing(self.topics.meter(meter_id, "alarms"), payload.to_bytes(), retain=True)

    async def _pump_events(self, source: Source) -> None:
        while True:
            event = await source.events.get()
            try:
                msgs = await self._event_messages(source, event)
            except (SourceError, TimeoutError) as exc:
                log.warning("meter %s: event %s not published: %s", source.info.meter_id, event, exc)
                continue
            self._send(msgs, True)  # events go ahead of the periodic state

    async def _event_messages(self, source: Source, event: SourceEvent) -> list[Outgoing]:
        mid = source.info.meter_id
        if isinstance(event, BreakerStatus):
            return [self.breaker_message(mid, event)]
        if isinstance(event, RawFrame):
            return [Outgoing(self.topics.meter(mid, "han"), event.data.hex().upper().encode(), qos=0)]
        if isinstance(event, FirmwareProgress):
            return self.firmware.on_progress(mid, event)
        msg = AlarmEventPayload(time=event.time, type=event.type, active=event.active, phase=event.phase,
                                detail=event.detail or None)
        return [Outgoing(self.topics.meter(mid, "alarm"), msg.to_bytes(), keep=True), await self.alarms_message(mid)]

    async def pending_event_messages(self, meter_id: str) -> list[Outgoing]:
        """Events a command just caused, published before the response (the pump would publish them later)."""
        source = self.sources[meter_id]
        out: list[Outgoing] = []
        while not source.events.empty():
            out += await self._event_messages(source, source.events.get_nowait())
        return out


def _getter(keys: tuple[str, ...]) -> Callable[[Readings], tuple[Any, ...]]:
    """`itemgetter` that always gives a tuple."""
    if len(keys) == 1:
        key = keys[0]
        return lambda readings: (readings[key],)
    return itemgetter(*keys) if keys else lambda readings: ()


def _published(key: str, value: float) -> float:
    """A total as the state topic spells it: rounded to its register's resolution (never -0.0)."""
    return round(value, REGISTERS_BY_KEY[key].kind.spec.decimals) + 0.0


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _report(meter_id: str, r: Readings) -> None:
    """One console line per publication, so a demo shows the meter living (a few meters: see `_narrate`)."""
    if not log.isEnabledFor(logging.INFO):
        return
    def shown(key: str) -> Any:  # a rendered state's summary is unrounded (gateway/state_json.py)
        value = r.get(key)
        return _published(key, value) if isinstance(value, float) else value

    log.info(
        "%s %s  A+ %s kWh  A- %s kWh  P+ %s W  P- %s W  U %s/%s/%s V  tariff %s  breaker %s",
        meter_id, r.get("time"), shown("a_plus"), shown("a_minus"), shown("p_plus"), shown("p_minus"),
        shown("u_l1"), shown("u_l2"), shown("u_l3"), r.get("tariff"), r.get("breaker"),
    )
