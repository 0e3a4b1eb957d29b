"""Request handling: `set`, `set/<name>` and `get`, parsed side by side, answered on `response`.

`set` payloads are parsed by `gateway.commands` (the command table), `get` payloads here: registers by
OBIS code or key, or a logger page. Every request is answered on `<base>/<meter>/response` (and on the
MQTT 5 response topic, where that is not one of ours) with the caller's `transaction`. Pure apart from the
source calls: messages in, messages out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from gateway import json_payload
from gateway.api import Response
from gateway.command_table import COMMANDS_BY_NAME
from gateway.commands import CommandError, parse_set, transaction_of
from gateway.json_payload import PayloadError
from gateway.mqtt_link import Incoming
from gateway.outbox import Outgoing
from gateway.sources.base import Source, SourceError
from gateway.state_publisher import StatePublisher, call
from gateway.topics import Topics
from omnipower.registers import REGISTERS_BY_KEY, REGISTERS_BY_OBIS

log = logging.getLogger(__name__)
WILDCARD_ABOVE = 20

LOG_FIELDS = ("log", "from", "to", "offset", "limit")
# Mosquitto disconnects a client that publishes to a topic of more than 200 `/` (TOPIC_HIERARCHY_LIMIT,
# CVE-2019-11779); a response kept in the outbox would then be re-sent, and the gateway dropped, at every
# reconnect. One level stricter than Mosquitto, as no reply topic needs that many.
MAX_TOPIC_LEVELS = 200
Handler = Callable[[Incoming], Awaitable[list[Outgoing]]]


class RequestHandler:
    def __init__(self, topics: Topics, sources: dict[str, Source], publisher: StatePublisher,
                 send: Callable[[list[Outgoing], bool], None] = lambda messages, urgent: None) -> None:
        """`send`: where the answer to a long command goes when it is done (the link's queue)."""
        self.topics = topics
        self.sources = sources
        self.publisher = publisher
        self._send = send
        self._lock = asyncio.Lock()  # one request at a time keeps responses in order
        # A command its source bounds (a firmware transfer: minutes on a slow line) runs beside the others, one per
        # meter, and is answered when it is done: the other meters' requests do not wait for it.
        self._long: dict[str, asyncio.Task[None]] = {}

    def routes(self) -> list[tuple[str, Handler]]:
        """Per meter; above WILDCARD_ABOVE meters (a fleet) three wildcard subscriptions instead of three per meter,
        and `handle` ignores the meters that are not ours (another shard's)."""
        t = self.topics
        out: list[tuple[str, Handler]] = []
        if len(self.sources) > WILDCARD_ABOVE:
            return [(t.meter("+", "set"), self.handle), (t.set_named("+", "+"), self.handle),
                    (t.meter("+", "get"), self.handle)]
        for mid in self.sources:
            out += [(t.meter(mid, "set"), self.handle), (t.set_named(mid, "+"), self.handle),
                    (t.meter(mid, "get"), self.handle)]
        return out

    async def handle(self, msg: Incoming) -> list[Outgoing]:
        """One request → the messages to publish in answer. Never raises: bad input gets an error response,
        and a fault of ours (whatever it raises) is logged with its traceback and answered with
        `internal error`, so that one message cannot end the service."""
        parsed = self.topics.parse_meter_topic(msg.topic)
        if parsed is None or parsed[0] not in self.sources:
            return []
        meter_id, verb, name = parsed
        if msg.retain:
            return []  # a retained command would replay on every restart; it was not meant for now
        source = self.sources[meter_id]
        if verb == "set" and not source.in_process and _long(msg.payload, name, source.info.commands):
            return self._start_long(meter_id, msg, name)
        try:
            async with self._lock:
                if verb == "get":
                    response, extra = await self.get(meter_id, msg.payload)
                else:
                    response, extra = await self.set(meter_id, msg.payload, name)
        except Exception as exc:
            log.exception("internal error handling a message on %s", msg.topic)
            response = Response(transaction=transaction_of(msg.payload), status="error",
                                error=f"{verb}: internal error ({type(exc).__name__}); logged by the gateway")
            extra = []
        return extra + self._responses(meter_id, response, msg)

    def _start_long(self, meter_id: str, msg: Incoming, name: str | None) -> list[Outgoing]:
        """A long command of a meter without one under way: carried out by a task of its own (answered then);
        while one is under way, the meter's next long command is refused at once."""
        running = self._long.get(meter_id)
        if running is not None and not running.done():
            response = Response(transaction=transaction_of(msg.payload) if name is None else None, status="error",
                                error=f"{name or 'set'}: a long command of this meter is under way (a firmware "
                                "update); try again when it has been answered")
            return self._responses(meter_id, response, msg)
        self._long[meter_id] = asyncio.create_task(self._carry_out_long(meter_id, msg, name))
        return []

    async def _carry_out_long(self, meter_id: str, msg: Incoming, name: str | None) -> None:
        try:
            response, extra = await self.set(meter_id, msg.payload, name)
        except Exception as exc:  # as `handle`: a fault of ours is logged and answered, never lost
            log.exception("internal error handling a message on %s", msg.topic)
            response = Response(transaction=transaction_of(msg.payload), status="error",
                                error=f"set: internal error ({type(exc).__name__}); logged by the gateway")
            extra = []
        self._send(extra + self._responses(meter_id, response, msg), True)

    async def close(self) -> None:
        """Stop the long commands under way (the gateway is stopping: their answers would find no broker)."""
        tasks = [t for t in self._long.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _responses(self, meter_id: str, response: Response, msg: Incoming) -> list[Outgoing]:
        dest = [self.topics.meter(meter_id, "response")]
        if msg.response_topic and self._valid_response_topic(msg.response_topic):
            dest.append(msg.response_topic)
        body = response.to_bytes()
        return [Outgoing(d, body, correlation_data=msg.correlation, keep=True) for d in dest]

    def _valid_response_topic(self, topic: str) -> bool:
        """An MQTT 5 response topic must be publishable and must not be one of the topics the gateway owns
        (its state, breaker, discovery …): otherwise any client allowed to send a command could make the
        gateway write a fake state there in its name."""
        t = self.topics
        if not topic or any(c in topic for c in "+#\0") or len(topic.encode()) >= 65535:
            return False
        if topic.count("/") >= MAX_TOPIC_LEVELS:  # deeper than a broker takes: see MAX_TOPIC_LEVELS
            return False
        owned = (t.base + "/", t.discovery_prefix + "/")
        return not topic.startswith(owned) and topic not in (t.base, t.discovery_prefix)

    async def set_locked(self, meter_id: str, payload: bytes, name: str | None) -> tuple[Response, list[Outgoing]]:
        """`set` from another face than MQTT (the status page, gateway/web/): the same checks and answers, in turn
        with MQTT's requests."""
        async with self._lock:
            return await self.set(meter_id, payload, name)

    # --- set ---------------------------------------------------------------------------------------
    async def set(self, meter_id: str, payload: bytes, name: str | None) -> tuple[Response, list[Outgoing]]:
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
                running = source.execute(command)  # a firmware transfer is bounded by its source, block by block
                data.update(await (running if COMMANDS_BY_NAME[command.name].source_bounded else call(running)))
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
        if data:  # something changed: the events it caused go before the response, the new state right after it
            extra = (self.publisher.discovery.refresh(meter_id)
                     + await self.publisher.pending_event_messages(meter_id))
            self.publisher.publish_soon(meter_id)
        if error is not None:
            return Response(transaction=request.transaction, status="error", data=data or None, error=error), extra
        return Response(transaction=request.transaction, status="ok", data=data), extra

    # --- get ---------------------------------------------------------------------------------------
    async def get(self, meter_id: str, payload: bytes) -> tuple[Response, list[Outgoing]]:
        """`get` with `{"registers": [OBIS code or key, …]}` (or nothing: every reading), or a log page."""
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
        if stray := sorted(set(doc) & set(LOG_FIELDS[1:])):
            return Response(transaction=txn, status="error",
                            error=f"{stray[0]}: only with a log request (add \"log\": NAME)"), []
        wanted = doc.get("registers")
        if wanted is not None and (not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted)):
            return Response(transaction=txn, status="error",
                            error="registers: expected a list of OBIS codes or keys"), []
        source = self.sources[meter_id]
        keys = None if wanted is None else [_register_key(name) for name in wanted]
        try:
            readings = await call(source.read() if keys is None else source.read_registers(keys))
        except (SourceError, TimeoutError) as exc:
            return Response(transaction=txn, status="error", error=f"registers: meter does not answer ({exc})"), []
        if wanted is None or keys is None:
            return Response(transaction=txn, status="ok", data={"registers": readings}), []
        out: dict[str, Any] = {}
        for name, key in zip(wanted, keys, strict=True):
            if key not in readings:
                return Response(transaction=txn, status="error",
                                error=f"registers: {name!r} is not a register of this meter"), []
            out[name] = readings[key]
        return Response(transaction=txn, status="ok", data={"registers": out}), []

    async def _get_log(self, meter_id: str, txn: Any, doc: dict[str, Any]) -> Response:
        """`get` with `{"log": NAME, "from": ISO, "to": ISO, "offset": 0, "limit": 100}`."""
        try:
            name, start, end, offset, limit = parse_log_request(doc)
            entries, total = await call(self.sources[meter_id].log(name, start, end, offset, limit))
        except CommandError as exc:
            return Response(transaction=txn, status="error", error=str(exc))
        except (SourceError, TimeoutError) as exc:
            return Response(transaction=txn, status="error", error=f"log: meter does not answer ({exc})")
        return Response(transaction=txn, status="ok",
                        data={"log": name, "total": total, "offset": offset, "entries": entries})


_LONG_NAMES = tuple(name.encode() for name, spec in COMMANDS_BY_NAME.items() if spec.source_bounded)


def _long(payload: bytes, name: str | None, carried: frozenset[str]) -> bool:
    """Whether a `set` carries a command its (wire) source bounds in time (`source_bounded`: a firmware transfer)
    and can carry; a request that does not parse is not one (the usual path answers its error). Parsed only when
    the command's name is in it: every other request stays on its short path. (An in-process meter installs an
    image at once: its answer comes on the usual path.)"""
    if not any(long in (name.encode() if name is not None else payload) for long in _LONG_NAMES):
        return False
    try:
        request = parse_set(payload, name)
    except CommandError:
        return False
    return any(COMMANDS_BY_NAME[c.name].source_bounded and c.name in carried for c in request.commands)


def _register_key(name: str) -> str:
    """The key of the register named by OBIS code or key; "" (which no meter has) for none."""
    reg = REGISTERS_BY_OBIS.get(name) or REGISTERS_BY_KEY.get(name)
    return reg.key if reg is not None else ""


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
