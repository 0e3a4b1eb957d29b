"""The MQTT link: connection, back-off, outbox. Knows nothing of meters.

`run` connects (MQTT 5, falling back to 3.1.1 where the broker needs it), subscribes to what its user
routes, queues the user's announcements, hands every incoming message to the user and queues what comes
back; on a lost connection it reconnects with a back-off that starts at 50 ms, doubles, is capped at 1 s
and keeps jitter, so that the gateway is back within about a second of the broker. Everything goes out
through one outbox (`gateway/outbox.py`), in order; producers only queue, one task per session sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import select
import socket
import ssl
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.config import MqttSettings, TlsSettings
from gateway.outbox import WRITE_BEHIND_S, Outbox, Outgoing

if TYPE_CHECKING:  # the state stream imports this module's back-off
    from gateway.state_stream import StateStream

__all__ = ["Incoming", "LinkUser", "MqttLink", "Outgoing"]

log = logging.getLogger(__name__)

IO_TIMEOUT = 10.0
WINDOW = 256  # QoS 1 messages in flight at once: the sender never waits a round trip per message
SLICE = 0.0005  # the longest the sender holds the event loop before giving way (s); see docs/performance.md
READ_BURST = 16  # packets (mostly acknowledgements) paho decodes per pass of the event loop
# A lost or refused connection is retried fast (the broker restarting is the common case); a broker that
# answers but refuses us (CONNACK: bad password, not authorised) slowly, as retrying cannot help.
BACKOFF_MIN, BACKOFF_MAX, BACKOFF_REFUSED_MAX = 0.05, 1.0, 30.0
RESUBSCRIBE_MAX = 30.0
UNSUPPORTED_PROTOCOL = {1, 132}  # MQTT 3.1.1 CONNACK 1 / MQTT 5 reason 0x84


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    retain: bool = False
    response_topic: str | None = None  # MQTT 5 request/response
    correlation: bytes | None = None


class LinkUser(Protocol):
    """What the link needs from the application it carries."""

    def subscriptions(self) -> list[str]: ...

    async def announcements(self) -> list[Outgoing]: ...

    async def handle(self, message: Incoming) -> list[Outgoing]: ...

    def goodbye(self) -> list[Outgoing]: ...


class _Stopped(Exception):
    """Ends a session on request (see MqttLink.stop)."""


class MqttLink:
    _paho: mqtt.Client | None
    _inflight: deque[mqtt.MQTTMessageInfo]

    def __init__(self, mqtt: MqttSettings, host: str, port: int, protocol: str, will: Outgoing,
                 outbox: Outbox | None = None, stream: StateStream | None = None) -> None:
        """`stream`: a fleet's state connection; the periodic messages (`Outgoing.periodic`) then go there."""
        self.mqtt = mqtt
        self.host, self.port = host, port
        self.protocol = protocol  # "auto" | "5" | "3.1.1"
        self.will = will
        self.outbox = outbox if outbox is not None else Outbox()  # an empty outbox is falsy
        self.connected = asyncio.Event()
        self.v5 = protocol != "3.1.1"
        self._client: aiomqtt.Client | None = None
        self._stop = asyncio.Event()
        self._unanswered = 0  # messages received in this session whose answers are not queued yet
        self.stream = stream
        self._paho = None  # while a session's sender runs
        self._inflight = deque()  # handed to paho, oldest first
        self._backlog: deque[Incoming] = deque()  # received while an earlier message's answer waits
        self._answering: asyncio.Task[None] | None = None  # the answer that had to wait (a wire source)
        self._handler_failed: asyncio.Future[None] | None = None
        self._holding = True
        self._next_message: Callable[[], None] = lambda: None
        self._incoming: select.poll | None = None  # the session's socket, to see a request before it is read
        self.watchers: list[Callable[[list[Outgoing]], None]] = []  # shown everything queued (the status page)

    def stop(self) -> None:
        """Ask `run` to say goodbye and return."""
        self._stop.set()

    async def run(self, user: LinkUser) -> None:
        stream = asyncio.create_task(self.stream.run()) if self.stream is not None else None
        try:
            await self._run(user)
        finally:
            if stream is not None:
                stream.cancel()
                await asyncio.gather(stream, return_exceptions=True)

    async def _run(self, user: LinkUser) -> None:
        attempt = 0
        while not self._stop.is_set():
            cap = BACKOFF_MAX
            try:
                async with self._make_client() as client:
                    attempt = 0
                    log.info("connected to MQTT broker %s:%d (MQTT %s)", self.host, self.port,
                             "5" if self.v5 else "3.1.1")
                    await self._session(client, user)
            except aiomqtt.MqttCodeError as exc:
                code = getattr(exc.rc, "value", exc.rc)
                if self.protocol == "auto" and self.v5 and code in UNSUPPORTED_PROTOCOL:
                    log.info("broker refuses MQTT 5; using MQTT 3.1.1")
                    self.v5 = False
                    continue
                log.warning("MQTT broker %s:%d: %s", self.host, self.port, exc)
                cap = BACKOFF_REFUSED_MAX
            except aiomqtt.MqttError as exc:
                # Said once per outage, not at every fast retry.
                log.log(logging.WARNING if attempt == 0 else logging.DEBUG,
                        "MQTT connection to %s:%d lost or failed: %s", self.host, self.port, exc)
            except Exception:  # a fault of ours must not end the service: log it, start a new session
                log.exception("MQTT session failed; reconnecting")
            finally:
                self._client = None
                self.connected.clear()
                self.outbox.drop_state()
            if self._stop.is_set():
                return
            delay = backoff_delay(attempt, cap)
            attempt += 1
            log.log(logging.INFO if attempt == 1 else logging.DEBUG, "reconnecting in %.2f s", delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()

    def _make_client(self) -> aiomqtt.Client:
        client = self._new_client()
        client.pending_calls_threshold = WINDOW + 16  # aiomqtt warns at every publish beyond 10 in flight
        return client

    def _new_client(self) -> aiomqtt.Client:
        m = self.mqtt
        return aiomqtt.Client(
            self.host,
            self.port,
            identifier=m.client_id,
            username=m.username,
            password=m.password.get_secret_value() if m.password else None,
            keepalive=m.keepalive,
            protocol=aiomqtt.ProtocolVersion.V5 if self.v5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(self.will.topic, self.will.payload, self.will.qos, self.will.retain),
            tls_context=ssl_context(m.tls),
            timeout=IO_TIMEOUT,
            max_inflight_messages=WINDOW,
        )

    async def _session(self, client: aiomqtt.Client, user: LinkUser) -> None:
        """One connection. Everything runs in child tasks: the reader (which is how aiomqtt reports a
        lost connection), and `_operate` (subscribe, announce, the user's tasks, incoming messages)."""
        self._client = client
        self._unanswered = 0  # a lost session's inbox is gone with it
        self._backlog.clear()
        self._handler_failed = asyncio.get_running_loop().create_future()
        no_delay(client)
        bounded_reads(client)
        watched_writes(client)
        self._holding = True  # messages that come with the subscriptions (retained ones) wait for the announcements
        self._take_messages(client, user.handle)
        self._incoming = watched_reads(client)
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive(client))
                tg.create_task(self._watch_answers())
                tg.create_task(self._operate(client, tg, user))
        except BaseExceptionGroup as group:
            # A TaskGroup whose child fails while the parent already waits in __aexit__ cancels the parent
            # and never takes the request back (Python 3.11). Python 3.11.2's asyncio.timeout then ends in
            # CancelledError instead of TimeoutError, so `run`'s back-off wait would quietly end the link:
            # undo that leftover request.
            while task.cancelling() > cancelling:
                task.uncancel()
            # Not `except*`: before CPython 3.11.4 (gh-103590, Debian 12 and Raspberry Pi OS ship 3.11.2)
            # an exception raised inside `except*` leaves wrapped in a new ExceptionGroup, which `run`'s
            # `except aiomqtt.MqttError` then misses and the gateway dies on a broker restart.
            raise_session_end(group)
        finally:
            self._incoming = None

    async def _operate(self, client: aiomqtt.Client, tg: asyncio.TaskGroup, user: LinkUser) -> None:
        refused = []
        for topic in user.subscriptions():
            if not granted(await client.subscribe(topic, qos=1)):
                refused.append(topic)
            _honour_cancellation()
        if refused:
            tg.create_task(self._subscribe_again(client, refused))
        # Events kept from the outage (or from before a restart) are at the front of the outbox: they go
        # out first, in order, then the latest state.
        self.queue(await user.announcements())
        tg.create_task(self._flush(client))
        tg.create_task(self._write_behind())
        self.connected.set()
        self._holding = False
        self._next_message()
        await self._stop.wait()
        await self._say_goodbye(user.goodbye())
        raise _Stopped

    async def _subscribe_again(self, client: aiomqtt.Client, topics: list[str]) -> None:
        """A broker may refuse a subscription for a while (NATS does while a cluster node is down, nats-server
        #5498) or until its ACL is changed: without it the gateway would ignore commands for the whole session.
        Ask again for the refused ones, with a back-off, until they are granted."""
        delay = BACKOFF_MAX
        while topics:
            log.warning("broker refused subscription(s) %s; asking again in %.0f s", ", ".join(topics), delay)
            await asyncio.sleep(delay)
            topics = [t for t in topics if not granted(await client.subscribe(t, qos=1))]
            _honour_cancellation()
            delay = min(delay * 2, RESUBSCRIBE_MAX)
        log.info("broker granted the refused subscription(s)")

    async def _say_goodbye(self, msgs: list[Outgoing]) -> None:
        """A clean shutdown marks meters and bridge offline (the will covers a crash)."""
        self.queue(msgs)
        try:
            async with asyncio.timeout(3):
                await self.outbox.emptied.wait()
        except TimeoutError:
            log.warning("could not say goodbye to the broker: timeout")

    def answering(self) -> bool:
        """Whether a message is waiting to be read, or was received and its answer is not yet handed to paho: work
        that can wait (a fleet's publication round) gives way at once instead of at the end of its slice."""
        return self._unanswered > 0 or self.outbox.urgent_waiting or bool(self._incoming and self._incoming.poll(0))

    def queue(self, msgs: list[Outgoing], urgent: bool = False) -> None:
        """Everything goes out through the outbox, in order (`urgent`: answers and events, ahead of the waiting
        state; see Outbox.put). Producers never wait for the network."""
        for watch in self.watchers:
            watch(msgs)
        if self.stream is not None:
            for msg in msgs:
                if msg.periodic:
                    self.stream.offer(msg.topic, msg.payload, msg.retain)
            msgs = [msg for msg in msgs if not msg.periodic]
        if msgs:
            self.outbox.put(msgs, connected=self._client is not None, urgent=urgent)

    async def _flush(self, client: aiomqtt.Client) -> None:
        """The one sender of a session. Up to WINDOW messages are in flight at once (pipelined: paho writes them
        in the order they were handed over); the outbox forgets its front message only when that one is
        acknowledged, so order is kept and a lost connection loses nothing (what was in flight is sent again).
        Messages go straight to paho, not through aiomqtt's `publish`: that one costs a task, a future and a
        timeout per message, which at fleet rates cost more than paho itself (see docs/performance.md)."""
        paho = client._client
        loop = asyncio.get_running_loop()
        chained = paho.on_publish

        def on_publish(*args: Any) -> None:  # an acknowledgement (QoS 1) or a write (QoS 0): look again
            if chained is not None:
                chained(*args)
            self.outbox.poke()

        paho.on_publish = on_publish
        inflight = self._inflight
        inflight.clear()
        self._paho = paho
        try:
            while True:
                while inflight and inflight[0].is_published():
                    inflight.popleft()
                    self.outbox.sent()
                pause = loop.time() + SLICE
                held = False
                handed = len(inflight)
                # The window bounds the periodic state in flight; an answer or an event never waits for it.
                while ((len(inflight) < WINDOW or self.outbox.urgent_waiting)
                       and (msg := self.outbox.take(len(inflight)))):
                    inflight.append(self._publish(paho, msg))
                    if loop.time() >= pause:
                        held = True
                        break
                self.outbox.in_flight = len(inflight)
                if len(inflight) > handed:
                    write_now(paho)
                if held:  # give way (requests, acknowledgements, paho's writes) before handing paho more
                    await asyncio.sleep(0)
                    continue
                if inflight and inflight[0].is_published():
                    continue
                if not inflight:
                    await self.outbox.wait()
                    continue
                try:
                    async with asyncio.timeout(IO_TIMEOUT):
                        await self.outbox.wait()
                except TimeoutError:
                    raise aiomqtt.MqttError(f"no acknowledgement from the broker within {IO_TIMEOUT:g} s") from None
        finally:
            self._paho = None
            paho.on_publish = chained
            self.outbox.connection_lost(was_in_flight=bool(inflight))
            inflight.clear()
            self.outbox.in_flight = 0

    def _send_urgent(self) -> None:
        """Hand the waiting answers and events to paho and write them now, in this pass of the event loop, as the
        sender would in its next: on a busy loop (a fleet's publication round) every pass costs a slice."""
        paho, inflight = self._paho, self._inflight
        if paho is None or not self.outbox.urgent_waiting:
            return
        handed = len(inflight)
        while self.outbox.urgent_waiting and (msg := self.outbox.take(len(inflight))):
            inflight.append(self._publish(paho, msg))
        self.outbox.in_flight = len(inflight)
        if len(inflight) > handed:
            write_now(paho)

    def _publish(self, paho: mqtt.Client, msg: Outgoing) -> mqtt.MQTTMessageInfo:
        props = None
        if msg.correlation_data is not None and self.v5:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.CorrelationData = msg.correlation_data
        info = paho.publish(msg.topic, msg.payload, msg.qos, msg.retain, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "could not publish")
        return info

    async def _write_behind(self) -> None:
        """Events the broker has not acknowledged soon go to disk (see gateway/outbox.py)."""
        while True:
            await asyncio.sleep(WRITE_BEHIND_S)
            self.outbox.write_behind()

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Only waits: aiomqtt reports a lost connection through its message iterator (the messages themselves are
        taken from paho by `_take_messages`)."""
        async for _ in client.messages:
            pass

    async def _watch_answers(self) -> None:
        """A fault in a handler ends the session (logged, and a new one made), as any fault of ours; an answer still
        waiting when the session ends is dropped with it."""
        assert self._handler_failed is not None
        try:
            await self._handler_failed
        finally:
            if self._answering is not None:
                self._answering.cancel()
                self._answering = None

    def _take_messages(self, client: aiomqtt.Client,
                       handle: Callable[[Incoming], Awaitable[list[Outgoing]]]) -> None:
        """Each message is handled in the pass of the event loop in which paho decoded it (`start_now`), and its
        answer written as soon as it is queued: an in-process meter's answer leaves in that one pass of a busy loop
        instead of the five it took through aiomqtt's queue, an inbox and the sender, each a task waking the next.
        Messages are handled one at a time, in order: one that arrives while an answer waits (a wire source) is
        kept until that answer is queued."""
        failed = self._handler_failed
        assert failed is not None
        loop = asyncio.get_running_loop()

        async def answer(incoming: Incoming) -> None:
            try:
                self.queue(await handle(incoming), urgent=True)
            finally:
                self._unanswered -= 1
            self._send_urgent()

        def fail(exc: BaseException) -> None:  # see _watch_answers
            if not failed.done():
                failed.set_exception(exc)

        def next_message() -> None:
            while self._backlog and self._answering is None and not self._holding and not failed.done():
                task = start_now(answer(self._backlog.popleft()), loop)
                if not task.done():
                    self._answering = task
                    task.add_done_callback(finished)
                elif not task.cancelled() and (exc := task.exception()) is not None:
                    fail(exc)

        def finished(task: asyncio.Task[None]) -> None:
            self._answering = None
            if task.cancelled():
                return
            if (exc := task.exception()) is not None:
                fail(exc)
                return
            next_message()

        def on_message(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
            props = getattr(message, "properties", None)
            payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
            self._unanswered += 1
            self._backlog.append(Incoming(message.topic, bytes(payload), bool(message.retain),
                                          getattr(props, "ResponseTopic", None) if props is not None else None,
                                          getattr(props, "CorrelationData", None) if props is not None else None))
            next_message()

        client._client.on_message = on_message
        self._next_message = next_message


def start_now(coro: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
    """A task whose first step runs now, not in the next pass of the event loop (an eager task); from inside a
    task (which cannot run another's step within its own), an ordinary one."""
    if asyncio.current_task(loop) is not None:
        return loop.create_task(coro)
    return _eager_task(coro, loop)


if sys.version_info >= (3, 12):
    def _eager_task(coro: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
        return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
else:
    class _EagerTask(asyncio.tasks._PyTask):  # type: ignore[name-defined,misc]
        """Python 3.11 has no eager tasks: the plain Python Task, whose first step, scheduled by its constructor,
        is run at once instead (and the scheduled one skipped). Every later step is the Task's own."""

        def __init__(self, coro: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop) -> None:
            self._skip = True
            super().__init__(coro, loop=loop)
            self._context.run(asyncio.tasks._PyTask._Task__step, self)  # type: ignore[attr-defined]

        def _Task__step(self, exc: BaseException | None = None) -> None:
            # The constructor's scheduled first step ran in the constructor; it comes before any later step, as
            # the loop runs callbacks in the order they were scheduled.
            if self._skip:
                self._skip = False
                return
            asyncio.tasks._PyTask._Task__step(self, exc)  # type: ignore[attr-defined]

    def _eager_task(coro: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
        return _EagerTask(coro, loop)


def backoff_delay(attempt: int, cap: float) -> float:
    """The wait before reconnect attempt `attempt` (0 first): BACKOFF_MIN doubling to `cap`, with jitter."""
    return min(cap, BACKOFF_MIN * 2.0 ** min(attempt, 16)) * random.uniform(0.5, 1.0)


def granted(result: object) -> bool:
    """Whether a SUBACK granted every subscription: MQTT 3.1.1 gives the granted QoS per topic or 0x80, MQTT 5 a
    reason code per topic, a failure from 0x80 up."""
    codes = result if isinstance(result, list | tuple) else [result]
    return all(isinstance(value := getattr(code, "value", code), int) and value < 0x80 for code in codes)


def raise_session_end(group: BaseExceptionGroup[BaseException]) -> None:
    """How a session's TaskGroup ended, as `run` understands it: a stop returns, a lost connection
    raises the first bare MqttError, anything else raises the group unchanged."""
    leaves = leaves_of(group)
    if all(isinstance(e, _Stopped) for e in leaves):
        return
    lost = [e for e in leaves if isinstance(e, aiomqtt.MqttError)]
    if lost and all(isinstance(e, _Stopped | aiomqtt.MqttError) for e in leaves):
        raise lost[0] from None
    raise group


def leaves_of(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions of a (nested) group, in order."""
    out: list[BaseException] = []
    for exc in group.exceptions:
        out += leaves_of(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out


def _honour_cancellation() -> None:
    """On Python 3.11 asyncio.wait_for (inside aiomqtt's publish/subscribe) can swallow a
    cancellation that arrives as the operation completes (CPython gh-86296). The task still
    counts the request, so raise it here. Only called in session child tasks, which nothing
    ever un-cancels (a TaskGroup's parent task is, so it must not run this)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def write_now(paho: mqtt.Client) -> None:
    """Write what was just handed to paho. paho would only ask aiomqtt to watch the socket for writing, and the
    bytes would leave two passes of the event loop later; on a busy loop each pass is a slice of a publication
    round. A lost connection is not raised here: paho reports it, and aiomqtt's reader ends the session."""
    with contextlib.suppress(Exception):
        paho.loop_write()


def watched_writes(client: aiomqtt.Client) -> None:
    """aiomqtt watches the socket for writing one pass of the event loop after paho asks; since `write_now` writes
    at once, the socket may be closed by then, and the late watch raised (logged) on the closed descriptor. This
    watch is set only on the socket paho still has, and only while paho has something left to write."""
    paho = client._client
    loop = asyncio.get_running_loop()

    def ready() -> None:
        try:
            paho.loop_write()
        except Exception as exc:  # as aiomqtt's own writer: a broken pipe means the connection is gone
            if not client._disconnected.done():
                client._disconnected.set_exception(exc)

    def watch(sock: Any) -> None:
        current: Any = paho.socket()
        if sock is not None and current is sock and paho.want_write():  # usually write_now has written it all
            loop.add_writer(sock.fileno(), ready)

    def register(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        loop.call_soon_threadsafe(watch, sock)  # paho may ask from the thread that connects

    closing = paho.on_socket_close

    def close(client_: mqtt.Client, userdata: Any, sock: Any) -> None:
        # aiomqtt forgets only its reader: a writer left on the closed descriptor would make the event loop refuse
        # the next connection's reader when the system gives it the same number (a deaf session until timeout).
        with contextlib.suppress(ValueError, OSError):
            loop.remove_writer(sock.fileno())
        if closing is not None:
            closing(client_, userdata, sock)

    paho.on_socket_register_write = register
    paho.on_socket_close = close


def watched_reads(client: aiomqtt.Client) -> select.poll | None:
    """A poll of the connection's socket: `poll(0)` says whether the broker sent something not yet read."""
    sock = client._client.socket()
    if not isinstance(sock, socket.socket):
        return None
    watch = select.poll()
    watch.register(sock.fileno(), select.POLLIN)
    return watch


def bounded_reads(client: aiomqtt.Client) -> None:
    """paho's `loop_read` decodes as many packets as there are messages in flight (256 acknowledgements: several
    milliseconds) in one pass of the event loop, and an answer waits behind them. Decode at most READ_BURST a
    pass: what is left is still in the socket, so the loop calls again at once, after the others had their turn.
    (aiomqtt's reader keeps calling while a TLS socket holds decrypted bytes the selector cannot see.)"""
    paho = client._client
    read_packet = paho._packet_read
    handle = paho._loop_rc_handle

    def loop_read(max_packets: int = 1) -> MQTTErrorCode:
        for _ in range(READ_BURST):
            if paho._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = read_packet()
            if rc > 0:
                return handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    paho.loop_read = loop_read  # type: ignore[method-assign]


def no_delay(client: aiomqtt.Client) -> None:
    """Nagle's algorithm holds a small write (a response) until the previous one (the request's PUBACK) is
    acknowledged, and the broker delays that ACK by up to 40 ms: every request cost two such waits. MQTT
    packets are whole messages, so send them at once."""
    sock = client._client.socket()
    if isinstance(sock, socket.socket):  # ssl.SSLSocket is one too
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def ssl_context(tls: bool | TlsSettings) -> ssl.SSLContext | None:
    """The TLS of both connections (the main one and a fleet's state connection). `tls: true`: the system's
    CAs; a TlsSettings: our own CA and, for client certificates, cert and key. `insecure: true` accepts any
    certificate and host name (tests and broken set-ups only)."""
    if tls is False:
        return None
    ctx = ssl.create_default_context(cafile=str(tls.ca_file) if isinstance(tls, TlsSettings) and tls.ca_file
                                     else None)
    # Python 3.13 makes the default context X.509-strict (it refuses, e.g., a CA without an authority key
    # identifier); paho's own context, which the main connection used before, is not.
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    if tls is True:
        return ctx
    if tls.cert_file:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
    if tls.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
