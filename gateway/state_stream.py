"""A fleet's periodic `state` and `display` on an MQTT connection of their own.

Why: paho costs about as much per message as a simulated meter does (decoding each acknowledgement with its
properties, a send per message, message objects and locks; py-spy, docs/performance.md), so a fleet that went
through it published at about half the rate of a bare paho loop. This connection carries nothing but retained
PUBLISH packets, written in batches with one `write` each, and reads PUBACKs in bulk (gateway/mqtt_wire.py).

What it keeps: the latest payload per topic not yet written (a newer state replaces a waiting one, so memory is
bounded by the fleet's size). What it does not keep: anything across a lost connection — the next publication
round says every meter's state again within an interval, as the outbox does for state on the main connection.
Every message of one topic goes through this one connection, so a meter's state is never overtaken by an older
one. Events, answers, availability and discovery stay on the main connection (gateway/mqtt_link.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from gateway import mqtt_wire
from gateway.config import MqttSettings
from gateway.mqtt_link import BACKOFF_MAX, BACKOFF_REFUSED_MAX, IO_TIMEOUT, backoff_delay, leaves_of, ssl_context

log = logging.getLogger(__name__)

WINDOW = 1000  # QoS 1 messages in flight on this connection
BATCH = 256  # messages encoded into one write
# A fleet's round offers its states one meter at a time, spread over the interval: written as they came, each was a
# `send` of its own, ~6% of the process's time (py-spy). The writer waits this long for more before it writes.
GATHER_S = 0.002


class StateStream:
    def __init__(self, mqtt: MqttSettings, host: str, port: int, qos: int) -> None:
        self.mqtt = mqtt
        self.host, self.port = host, port
        self.qos = qos
        self.client_id = f"{mqtt.client_id or 'omnipower'}-state-{os.urandom(4).hex()}"
        self.connected = asyncio.Event()
        self.written = 0  # messages handed to the socket (QoS 0) or acknowledged (QoS 1), for tests and benches
        self.writes = 0  # socket writes they took (see GATHER_S)
        self._pending: dict[str, tuple[bytes, bool]] = {}  # topic → (payload, retain), oldest first
        self._wake = asyncio.Event()
        self._unacked: set[int] = set()
        self._next_id = 1
        self._pong = True  # the last ping was answered

    def offer(self, topic: str, payload: bytes, retain: bool) -> None:
        """The latest of a topic, to be written as soon as the connection allows; replaces a waiting one."""
        self._pending[topic] = (payload, retain)
        self._wake.set()

    async def run(self) -> None:
        """Connect, publish, reconnect with a back-off (as the main link does) until cancelled."""
        attempt = 0
        while True:
            cap = BACKOFF_MAX
            try:
                await self._session()
            except ConnectionRefusedByBroker as exc:  # said once; retried at a back-off that grows to 30 s
                log.log(logging.WARNING if attempt == 0 else logging.DEBUG,
                        "state connection to %s:%d refused: %s", self.host, self.port, exc)
                cap = BACKOFF_REFUSED_MAX
            except (OSError, EOFError, TimeoutError, mqtt_wire.ProtocolError) as exc:
                log.log(logging.WARNING if attempt == 0 else logging.DEBUG,
                        "state connection to %s:%d lost or failed: %s", self.host, self.port, exc or type(exc).__name__)
            except Exception:  # a fault of ours must not end the fleet's state for good: log it, connect again
                log.exception("state connection failed; reconnecting")
            else:
                attempt = 0
            finally:
                self.connected.clear()
                self._unacked.clear()
            delay = backoff_delay(attempt, cap)
            attempt += 1
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        m = self.mqtt
        async with asyncio.timeout(IO_TIMEOUT):
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=ssl_context(m.tls),
                                                           server_hostname=self.host if m.tls else None)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            wire = mqtt_wire.Reader()
            writer.write(mqtt_wire.connect(self.client_id, m.keepalive, m.username,
                                           m.password.get_secret_value() if m.password else None))
            async with asyncio.timeout(IO_TIMEOUT):
                events: list[mqtt_wire.Event] = []
                while not events:
                    data = await reader.read(65536)
                    if not data:
                        raise EOFError("the broker closed the connection before CONNACK")
                    events = wire.feed(data)
            first = events[0]
            if not isinstance(first, mqtt_wire.ConnAck):
                raise mqtt_wire.ProtocolError(f"expected CONNACK, got {first}")
            if first.return_code:
                raise ConnectionRefusedByBroker(mqtt_wire.CONNACK_REASONS.get(first.return_code,
                                                                              f"code {first.return_code}"))
            log.info("state connection to %s:%d up (MQTT 3.1.1, QoS %d)", self.host, self.port, self.qos)
            self.connected.set()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._read(reader, wire, events[1:]))
                tg.create_task(self._write(writer))
                tg.create_task(self._ping(writer))
        except BaseExceptionGroup as group:  # not `except*`: see raise_session_end in gateway/mqtt_link.py
            raise leaves_of(group)[0] from None
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader, wire: mqtt_wire.Reader,
                    early: list[mqtt_wire.Event]) -> None:
        self._acknowledged(early)
        while data := await reader.read(65536):
            self._acknowledged(wire.feed(data))
        raise EOFError("the broker closed the connection")

    def _acknowledged(self, events: list[mqtt_wire.Event]) -> None:
        for event in events:
            if isinstance(event, mqtt_wire.PubAck) and event.packet_id in self._unacked:
                self._unacked.discard(event.packet_id)
                self.written += 1
                self._wake.set()
            elif isinstance(event, mqtt_wire.PingResp):
                self._pong = True
            elif isinstance(event, mqtt_wire.ConnAck):
                raise mqtt_wire.ProtocolError("a second CONNACK")

    async def _write(self, writer: asyncio.StreamWriter) -> None:
        pending, qos = self._pending, self.qos
        gathered = False
        while True:
            if not pending or (qos and len(self._unacked) >= WINDOW):
                self._wake.clear()
                if qos and self._unacked:  # a broker that stops acknowledging is a lost connection
                    async with asyncio.timeout(IO_TIMEOUT):
                        await self._wake.wait()
                else:
                    await self._wake.wait()
                continue
            if not gathered and len(pending) < BATCH:
                gathered = True
                await asyncio.sleep(GATHER_S)
                continue
            gathered = False
            room = BATCH if not qos else min(BATCH, WINDOW - len(self._unacked))
            packets = []
            for _ in range(min(room, len(pending))):
                topic = next(iter(pending))
                payload, retain = pending.pop(topic)
                packet_id = 0
                if qos:
                    packet_id = self._take_id()
                    self._unacked.add(packet_id)
                packets.append(mqtt_wire.publish(topic.encode(), payload, qos, retain, packet_id))
            writer.write(b"".join(packets))
            self.writes += 1
            if not qos:
                self.written += len(packets)
            await writer.drain()  # the socket's buffer bounds what waits in memory

    def _take_id(self) -> int:
        packet_id = self._next_id
        while packet_id in self._unacked:  # only after 65,535 more: the window is far smaller
            packet_id = packet_id % 0xFFFF + 1
        self._next_id = packet_id % 0xFFFF + 1
        return packet_id

    async def _ping(self, writer: asyncio.StreamWriter) -> None:
        """The broker drops a client silent for 1.5 keep-alive intervals (a fleet is rarely silent, but may be);
        and a broker that does not answer a ping within half an interval is gone (QoS 0 has no other sign)."""
        self._pong = True
        while True:
            await asyncio.sleep(self.mqtt.keepalive / 2)
            if not self._pong:
                raise TimeoutError("no PINGRESP from the broker")
            self._pong = False
            writer.write(mqtt_wire.PINGREQ_PACKET)


class ConnectionRefusedByBroker(Exception):
    """CONNACK with a non-zero return code (bad password, not authorised …): retried slowly."""
