"""The MQTT bridge: publishes readings, breaker, alarms and discovery; answers commands.

`handle_message` turns one incoming message into the list of messages to publish (no socket
inside), so the command path can be fuzzed without a broker. `run` is the connection loop around
it: connect (MQTT 5, falling back to 3.1.1 where the broker needs it), announce, subscribe,
publish every interval, reconnect with exponential back-off and jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway import discovery, json_payload
from gateway.api import (
    ActiveAlarm,
    AlarmEventPayload,
    AlarmsPayload,
    Availability,
    BreakerPayload,
    BridgeInfo,
    BridgeState,
    MeterSummary,
    Response,
)
from gateway.commands import CommandError, parse_set, transaction_of
from gateway.config import Settings
from gateway.json_payload import PayloadError
from gateway.sources.base import BreakerStatus, RawFrame, Readings, Source, SourceError, SourceEvent
from gateway.topics import Topics
from omnipower.registers import REGISTERS_BY_KEY, REGISTERS_BY_OBIS

log = logging.getLogger(__name__)

T = TypeVar("T")
OUTBOX_LIMIT = 10_000
IO_TIMEOUT = 10.0
SOURCE_TIMEOUT = 15.0
BACKOFF_MIN, BACKOFF_MAX = 1.0, 60.0
UNSUPPORTED_PROTOCOL = {1, 132}  # MQTT 3.1.1 CONNACK 1 / MQTT 5 reason 0x84


class _Stopped(Exception):
    """Ends a session on request (see Bridge.stop)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    correlation_data: bytes | None = None


class Bridge:
    def __init__(
        self, settings: Settings, sources: list[Source], version: str, host: str, port: int, protocol: str
    ) -> None:
        self.settings = settings
        self.mqtt = settings.mqtt
        self.topics = Topics(self.mqtt.base_topic, self.mqtt.discovery_prefix)
        self.sources = {s.info.meter_id: s for s in sources}
        self.version = version
        self.host, self.port = host, port
        self.protocol = protocol  # "auto" | "5" | "3.1.1"
        self.outbox: deque[Outgoing] = deque(maxlen=OUTBOX_LIMIT)
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._v5 = protocol != "3.1.1"
        self._published_totals: dict[str, dict[str, float]] = {mid: {} for mid in self.sources}
        self._availability: dict[str, str] = {}
        self._discovery: dict[str, list[tuple[str, bytes]]] = {
            mid: discovery.messages(s.info, self.topics, version) for mid, s in self.sources.items()
        }
        self._discovery_topics = {t for msgs in self._discovery.values() for t, _ in msgs}
        self._discovered = {mid: s.info for mid, s in self.sources.items()}  # what the configs were built from
        self._lock = asyncio.Lock()  # one command at a time keeps responses in order
        self._flush_lock = asyncio.Lock()
        self._stop = asyncio.Event()

    # --- connection loop ---------------------------------------------------------------------
    def stop(self) -> None:
        """Ask `run` to say goodbye (bridge and meters offline) and return."""
        self._stop.set()

    async def run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            client = self._make_client()
            try:
                async with client:
                    attempt = 0
                    log.info("connected to MQTT broker %s:%d (MQTT %s)", self.host, self.port,
                             "5" if self._v5 else "3.1.1")
                    await self._session(client)
            except aiomqtt.MqttCodeError as exc:
                code = getattr(exc.rc, "value", exc.rc)
                if self.protocol == "auto" and self._v5 and code in UNSUPPORTED_PROTOCOL:
                    log.info("broker refuses MQTT 5; using MQTT 3.1.1")
                    self._v5 = False
                    continue
                log.warning("MQTT broker %s:%d: %s", self.host, self.port, exc)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT connection to %s:%d lost or failed: %s", self.host, self.port, exc)
            except Exception:  # a fault of ours must not end the service: log it, start a new session
                log.exception("MQTT session failed; reconnecting")
            finally:
                self._client = None
                self.connected.clear()
            if self._stop.is_set():
                return
            delay = min(BACKOFF_MAX, BACKOFF_MIN * 2**attempt) * random.uniform(0.5, 1.0)
            attempt += 1
            log.info("reconnecting in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()

    def _make_client(self) -> aiomqtt.Client:
        m = self.mqtt
        return aiomqtt.Client(
            self.host,
            self.port,
            identifier=m.client_id,
            username=m.username,
            password=m.password.get_secret_value() if m.password else None,
            keepalive=m.keepalive,
            protocol=aiomqtt.ProtocolVersion.V5 if self._v5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(self.topics.bridge_state, BridgeState(state="offline").to_bytes(), 1, True),
            tls_params=aiomqtt.TLSParameters() if m.tls else None,
            timeout=IO_TIMEOUT,
        )

    async def _session(self, client: aiomqtt.Client) -> None:
        """One connection. Everything runs in child tasks: the reader (which is how aiomqtt reports a
        lost connection), and `_operate` (subscribe, announce, publish, handle commands)."""
        self._client = client
        inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive(client, inbox))
                tg.create_task(self._operate(client, inbox, tg))
        except BaseExceptionGroup as group:
            # A TaskGroup whose child fails while the parent already waits in __aexit__ cancels the parent
            # and never takes the request back (Python 3.11). Python 3.11.2's asyncio.timeout then ends in
            # CancelledError instead of TimeoutError, so `run`'s back-off wait would quietly end the bridge:
            # undo that leftover request.
            while task.cancelling() > cancelling:
                task.uncancel()
            # Not `except*`: before CPython 3.11.4 (gh-103590, Debian 12 and Raspberry Pi OS ship 3.11.2)
            # an exception raised inside `except*` leaves wrapped in a new ExceptionGroup, which `run`'s
            # `except aiomqtt.MqttError` then misses and the gateway dies on a broker restart.
            raise_session_end(group)

    async def _operate(self, client: aiomqtt.Client, inbox: asyncio.Queue[aiomqtt.Message],
                       tg: asyncio.TaskGroup) -> None:
        await self._subscribe(client)
        await self._queue(await self._announcements())
        self.connected.set()
        tg.create_task(self._handle_incoming(inbox))
        tg.create_task(self._publish_loop())
        for source in self.sources.values():
            tg.create_task(self._pump_events(source))
        await self._stop.wait()
        await self._say_goodbye()
        raise _Stopped

    async def _say_goodbye(self) -> None:
        """A clean shutdown marks meters and bridge offline (the will covers a crash)."""
        try:
            async with asyncio.timeout(3):
                await self._queue(
                    [Outgoing(self.topics.meter(mid, "availability"), Availability(state="offline").to_bytes(),
                              retain=True) for mid in self.sources]
                    + [Outgoing(self.topics.bridge_state, BridgeState(state="offline").to_bytes(), retain=True)]
                )
        except (TimeoutError, aiomqtt.MqttError) as exc:
            log.warning("could not say goodbye to the broker: %s", exc or "timeout")

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        t = self.topics
        subs = [t.ha_status]
        for mid in self.sources:
            subs += [t.meter(mid, "set"), t.set_named(mid, "+"), t.meter(mid, "get")]
            if self.mqtt.discovery:
                subs.append(f"{t.discovery_prefix}/+/{t.node_id(mid)}/+/config")
        for topic in subs:
            await client.subscribe(topic, qos=1)
            _honour_cancellation()

    async def _announcements(self) -> list[Outgoing]:
        """Everything a (re)connected broker must hold: bridge state/info, discovery, each meter's
        availability, breaker, alarms and state."""
        t = self.topics
        self._availability.clear()
        out = [
            Outgoing(t.bridge_state, BridgeState(state="online").to_bytes(), retain=True),
            Outgoing(t.bridge_info, self.bridge_info().to_bytes(), retain=True),
        ]
        for mid, source in self.sources.items():
            out += self._discovery_messages(mid)
            out += await self._state_messages(mid)
            if self._availability.get(mid) == "online":
                try:
                    status = await self._call(source.breaker())
                    if status is not None:
                        out.append(self._breaker_message(mid, status))
                    out.append(await self._alarms_message(mid))
                except (SourceError, TimeoutError) as exc:
                    log.warning("meter %s: breaker/alarms not readable: %s", mid, exc)
        return out

    def _refresh_discovery(self, meter_id: str) -> list[Outgoing]:
        """When a source's meter info changed (a reconfiguration switched prepayment on or off, a wire source
        read which functions the meter has): announce the new entities, remove the retired ones with an empty
        retained config."""
        info = self.sources[meter_id].info
        if info is self._discovered[meter_id]:  # a source replaces its info only when the meter changed
            return []
        self._discovered[meter_id] = info
        fresh = discovery.messages(info, self.topics, self.version)
        if fresh == self._discovery[meter_id]:
            return []
        retired = {t for t, _ in self._discovery[meter_id]} - {t for t, _ in fresh}
        self._discovery[meter_id] = fresh
        self._discovery_topics = {t for msgs in self._discovery.values() for t, _ in msgs}
        if not self.mqtt.discovery:
            return []
        return [Outgoing(t, b"", retain=True) for t in sorted(retired)] + self._discovery_messages(meter_id)

    def _discovery_messages(self, meter_id: str) -> list[Outgoing]:
        if not self.mqtt.discovery:
            return []
        return [Outgoing(topic, payload, retain=True) for topic, payload in self._discovery[meter_id]]

    def bridge_info(self) -> BridgeInfo:
        return BridgeInfo(
            version=self.version,
            base_topic=self.mqtt.base_topic,
            discovery_prefix=self.mqtt.discovery_prefix if self.mqtt.discovery else None,
            publish_interval=self.settings.publish_interval,
            broker=f"{self.host}:{self.port}",
            protocol="5" if self._v5 else "3.1.1",
            meters=[
                MeterSummary(id=mid, source=s.info.source, model=s.info.model,
                             serial_number=s.info.serial_number, name=s.info.name)
                for mid, s in self.sources.items()
            ],
        )

    # --- publishing --------------------------------------------------------------------------
    async def _queue(self, msgs: list[Outgoing]) -> None:
        """Everything goes out through the outbox, in order; a broken connection loses nothing
        queued (it is sent after the reconnect)."""
        self.outbox.extend(msgs)
        if self._client is None:
            return
        async with self._flush_lock:
            while self.outbox and self._client is not None:
                await self._send(self._client, self.outbox[0])
                self.outbox.popleft()

    async def _send(self, client: aiomqtt.Client, msg: Outgoing) -> None:
        props = None
        if msg.correlation_data is not None and self._v5:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.CorrelationData = msg.correlation_data
        await client.publish(msg.topic, msg.payload, msg.qos, msg.retain, properties=props, timeout=IO_TIMEOUT)
        _honour_cancellation()

    async def _call(self, awaitable: Awaitable[T]) -> T:
        async with asyncio.timeout(SOURCE_TIMEOUT):
            return await awaitable

    async def _publish_loop(self) -> None:
        interval = self.settings.publish_interval
        while True:
            await asyncio.sleep(interval)
            for mid in self.sources:
                await self._queue(await self._state_messages(mid))

    async def _state_messages(self, meter_id: str) -> list[Outgoing]:
        """Read the meter: its state (and availability when that changed)."""
        source = self.sources[meter_id]
        try:
            readings = await self._call(source.read())
        except (SourceError, TimeoutError) as exc:
            log.warning("meter %s does not answer: %s", meter_id, exc)
            return self._availability_messages(meter_id, "offline")
        except Exception:  # a fault in one source must not stop the others: mark it offline
            log.exception("meter %s: reading failed", meter_id)
            return self._availability_messages(meter_id, "offline")
        # A wire source learns what the meter has from its reads (the Modbus function block): announce that first.
        out = self._refresh_discovery(meter_id) + self._availability_messages(meter_id, "online")
        readings = self._guard_totals(meter_id, readings)
        out.append(Outgoing(self.topics.meter(meter_id, "state"), _json(readings), retain=True))
        _report(meter_id, readings)
        try:
            lcd = await self._call(source.display())
        except (SourceError, TimeoutError) as exc:
            log.warning("meter %s: display not readable: %s", meter_id, exc)
            lcd = None
        if lcd is not None:
            out.append(Outgoing(self.topics.meter(meter_id, "display"), _json(lcd), retain=True))
        return out

    def _availability_messages(self, meter_id: str, state: str) -> list[Outgoing]:
        if self._availability.get(meter_id) == state:
            return []
        self._availability[meter_id] = state
        payload = Availability(state=state).to_bytes()
        return [Outgoing(self.topics.meter(meter_id, "availability"), payload, retain=True)]

    def _guard_totals(self, meter_id: str, readings: Readings) -> Readings:
        """A total_increasing register never goes backwards on MQTT, whatever a source says."""
        last = self._published_totals[meter_id]
        for key, value in readings.items():
            reg = REGISTERS_BY_KEY.get(key)
            if reg is None or reg.kind.spec.state_class != "total_increasing" or not isinstance(value, int | float):
                continue
            previous = last.get(key)
            if previous is not None and value < previous:
                log.warning("meter %s: %s went backwards (%s < %s); keeping %s", meter_id, key, value,
                            previous, previous)
                readings[key] = previous
            else:
                last[key] = float(value)
        return readings

    def _breaker_message(self, meter_id: str, status: BreakerStatus) -> Outgoing:
        payload = BreakerPayload(state=status.state, reason=status.reason, time=status.time)
        return Outgoing(self.topics.meter(meter_id, "breaker"), payload.to_bytes(), retain=True)

    async def _alarms_message(self, meter_id: str) -> Outgoing:
        now, active = await self._call(self.sources[meter_id].alarms())
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
            await self._queue(msgs)

    async def _event_messages(self, source: Source, event: SourceEvent) -> list[Outgoing]:
        mid = source.info.meter_id
        if isinstance(event, BreakerStatus):
            return [self._breaker_message(mid, event)]
        if isinstance(event, RawFrame):
            return [Outgoing(self.topics.meter(mid, "han"), event.data.hex().upper().encode(), qos=0)]
        msg = AlarmEventPayload(time=event.time, type=event.type, active=event.active, phase=event.phase,
                                detail=event.detail or None)
        return [Outgoing(self.topics.meter(mid, "alarm"), msg.to_bytes()), await self._alarms_message(mid)]

    async def _pending_event_messages(self, source: Source) -> list[Outgoing]:
        out: list[Outgoing] = []
        while not source.events.empty():
            out += await self._event_messages(source, source.events.get_nowait())
        return out

    # --- incoming ----------------------------------------------------------------------------
    async def _receive(self, client: aiomqtt.Client, inbox: asyncio.Queue[aiomqtt.Message]) -> None:
        """Only reads: aiomqtt reports a lost connection through this iterator, so it must never
        wait behind a handler."""
        async for message in client.messages:
            inbox.put_nowait(message)

    async def _handle_incoming(self, inbox: asyncio.Queue[aiomqtt.Message]) -> None:
        while True:
            message = await inbox.get()
            payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
            props = message.properties
            response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
            correlation = getattr(props, "CorrelationData", None) if props is not None else None
            out = await self.handle_message(str(message.topic), bytes(payload), message.retain,
                                            response_topic, correlation)
            await self._queue(out)

    async def handle_message(
        self,
        topic: str,
        payload: bytes,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
    ) -> list[Outgoing]:
        """One incoming message → the messages to publish in answer. Never raises: bad input gets an error
        response from `_dispatch`, and a fault of ours (whatever it raises) is logged with its traceback and
        answered with `internal error`, so that one message cannot end the service."""
        try:
            return await self._dispatch(topic, payload, retain, response_topic, correlation)
        except Exception as exc:
            log.exception("internal error handling a message on %s", topic)
            parsed = self.topics.parse_meter_topic(topic)
            if parsed is None or parsed[0] not in self.sources or retain:
                return []
            meter_id, verb, _ = parsed
            txn = transaction_of(payload)
            response = Response(transaction=txn, status="error",
                                error=f"{verb}: internal error ({type(exc).__name__}); logged by the gateway")
            return self._responses(meter_id, response, response_topic, correlation)

    def _responses(self, meter_id: str, response: Response, response_topic: str | None,
                   correlation: bytes | None) -> list[Outgoing]:
        dest = [self.topics.meter(meter_id, "response")]
        if response_topic and self._valid_response_topic(response_topic):
            dest.append(response_topic)
        body = response.to_bytes()
        return [Outgoing(d, body, correlation_data=correlation) for d in dest]

    async def _dispatch(
        self, topic: str, payload: bytes, retain: bool, response_topic: str | None, correlation: bytes | None
    ) -> list[Outgoing]:
        t = self.topics
        if topic == t.ha_status:
            if payload.strip().lower() == b"online":
                log.info("Home Assistant is online: announcing discovery again")
                out: list[Outgoing] = []
                for mid in self.sources:
                    out += self._discovery_messages(mid) + await self._state_messages(mid)
                return out
            return []
        if topic.startswith(t.discovery_prefix + "/") and topic.endswith("/config"):
            # A retained config of ours that this version no longer has: retire the entity.
            if payload and topic not in self._discovery_topics:
                log.info("removing retired discovery config %s", topic)
                return [Outgoing(topic, b"", retain=True)]
            return []
        parsed = t.parse_meter_topic(topic)
        if parsed is None or parsed[0] not in self.sources:
            return []
        meter_id, verb, name = parsed
        if retain:
            return []  # a retained command would replay on every restart; it was not meant for now
        async with self._lock:
            if verb == "get":
                response, extra = await self._get(meter_id, payload)
            else:
                response, extra = await self._set(meter_id, payload, name)
        return extra + self._responses(meter_id, response, response_topic, correlation)

    def _valid_response_topic(self, topic: str) -> bool:
        """An MQTT 5 response topic must be publishable and must not be one of the topics the gateway owns
        (its state, breaker, discovery …): otherwise any client allowed to send a command could make the
        gateway write a fake state there in its name."""
        t = self.topics
        if not topic or any(c in topic for c in "+#\0") or len(topic.encode()) >= 65535:
            return False
        owned = (t.base + "/", t.discovery_prefix + "/")
        return not topic.startswith(owned) and topic not in (t.base, t.discovery_prefix)

    async def _set(self, meter_id: str, payload: bytes, name: str | None) -> tuple[Response, list[Outgoing]]:
        source = self.sources[meter_id]
        try:
            request = parse_set(payload, name)
        except CommandError as exc:
            txn = transaction_of(payload) if name is None else None
            return Response(transaction=txn, status="error", error=str(exc)), []
        data: dict[str, Any] = {}
        error: str | None = None
        for command in request.commands:
            if command.name not in source.info.commands:
                error = f"{command.name}: not supported by a {source.info.source} meter"
                break
            try:
                data.update(await self._call(source.execute(command)))
            except CommandError as exc:
                error = str(exc)
                break
            except (SourceError, TimeoutError) as exc:
                error = f"{command.name}: the meter did not carry it out ({str(exc) or 'timeout'})"
                break
            except Exception as exc:
                log.exception("meter %s: command %s failed", meter_id, command.name)
                error = f"{command.name}: internal error in the {source.info.source} source ({type(exc).__name__})"
                break
        extra: list[Outgoing] = []
        if data:  # something changed: publish the new state at once, not at the next interval
            extra = (self._refresh_discovery(meter_id) + await self._pending_event_messages(source)
                     + await self._state_messages(meter_id))
        if error is not None:
            return Response(transaction=request.transaction, status="error", data=data or None, error=error), extra
        return Response(transaction=request.transaction, status="ok", data=data), extra

    async def _get(self, meter_id: str, payload: bytes) -> tuple[Response, list[Outgoing]]:
        """`get` with `{"registers": [OBIS code or key, …]}` (or nothing: every reading)."""
        txn = transaction_of(payload)
        try:
            doc = json_payload.load_bytes(payload) if payload.strip() else {}
        except PayloadError as exc:
            return Response(transaction=txn, status="error", error=f"payload: {exc}"), []
        if not isinstance(doc, dict):
            return Response(transaction=txn, status="error", error="payload: expected a JSON object"), []
        unknown = set(doc) - {"transaction", "registers", *LOG_FIELDS}
        if unknown:
            return Response(transaction=txn, status="error",
                            error=f"{sorted(unknown)[0]}: unknown request (known: registers, log)"), []
        if "log" in doc:
            return await self._get_log(meter_id, txn, doc), []
        try:
            readings = await self._call(self.sources[meter_id].read())
        except (SourceError, TimeoutError) as exc:
            return Response(transaction=txn, status="error", error=f"registers: meter does not answer ({exc})"), []
        wanted = doc.get("registers")
        if wanted is None:
            return Response(transaction=txn, status="ok", data={"registers": readings}), []
        if not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted):
            return Response(transaction=txn, status="error",
                            error="registers: expected a list of OBIS codes or keys"), []
        out: dict[str, Any] = {}
        for name in wanted:
            reg = REGISTERS_BY_OBIS.get(name) or REGISTERS_BY_KEY.get(name)
            if reg is None or reg.key not in readings:
                return Response(transaction=txn, status="error",
                                error=f"registers: {name!r} is not a register of this meter"), []
            out[name] = readings[reg.key]
        return Response(transaction=txn, status="ok", data={"registers": out}), []


    async def _get_log(self, meter_id: str, txn: Any, doc: dict[str, Any]) -> Response:
        """`get` with `{"log": NAME, "from": ISO, "to": ISO, "offset": 0, "limit": 100}`."""
        try:
            name, start, end, offset, limit = parse_log_request(doc)
            entries, total = await self._call(self.sources[meter_id].log(name, start, end, offset, limit))
        except CommandError as exc:
            return Response(transaction=txn, status="error", error=str(exc))
        except (SourceError, TimeoutError) as exc:
            return Response(transaction=txn, status="error", error=f"log: meter does not answer ({exc})")
        return Response(transaction=txn, status="ok",
                        data={"log": name, "total": total, "offset": offset, "entries": entries})


LOG_FIELDS = ("log", "from", "to", "offset", "limit")


def parse_log_request(doc: dict[str, Any]) -> tuple[str, int | None, int | None, int, int]:
    """Validate a log request; raises CommandError naming the field."""
    name = doc.get("log")
    if not isinstance(name, str) or not name:
        raise CommandError("log", "expected a logger name, e.g. load_profile, billing, disconnect")
    bounds: list[int | None] = []
    for key in ("from", "to"):
        value = doc.get(key)
        if value is None:
            bounds.append(None)
            continue
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            raise CommandError(key, f"{value!r} is not an ISO 8601 time") from None
        if when.tzinfo is None:
            raise CommandError(key, f"{value!r} needs a UTC offset, e.g. 2026-01-01T00:00:00+01:00")
        bounds.append(int(when.timestamp()))
    offset, limit = doc.get("offset", 0), doc.get("limit", 100)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise CommandError("offset", f"{offset!r} is not a whole number ≥ 0")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise CommandError("limit", f"{limit!r} is not 1–1000")
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise CommandError("to", "is before from")
    return name, bounds[0], bounds[1], offset, limit


def raise_session_end(group: BaseExceptionGroup[BaseException]) -> None:
    """How a session's TaskGroup ended, as `run` understands it: a stop returns, a lost connection
    raises the first bare MqttError, anything else raises the group unchanged."""
    leaves = _leaves(group)
    if all(isinstance(e, _Stopped) for e in leaves):
        return
    lost = [e for e in leaves if isinstance(e, aiomqtt.MqttError)]
    if lost and all(isinstance(e, _Stopped | aiomqtt.MqttError) for e in leaves):
        raise lost[0] from None
    raise group


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out


def _honour_cancellation() -> None:
    """On Python 3.11 asyncio.wait_for (inside aiomqtt's publish/subscribe) can swallow a
    cancellation that arrives as the operation completes (CPython gh-86296). The task still
    counts the request, so raise it here. Only called in session child tasks, which nothing
    ever un-cancels (a TaskGroup's parent task is, so it must not run this)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _report(meter_id: str, r: Readings) -> None:
    """One console line per publication, so a demo shows the meter living."""
    log.info(
        "%s %s  A+ %s kWh  A- %s kWh  P+ %s W  P- %s W  U %s/%s/%s V  tariff %s  breaker %s",
        meter_id, r.get("time"), r.get("a_plus"), r.get("a_minus"), r.get("p_plus"), r.get("p_minus"),
        r.get("u_l1"), r.get("u_l2"), r.get("u_l3"), r.get("tariff"), r.get("breaker"),
    )
