"""Shared fixtures: a real Mosquitto broker per test (own port, own config) and an MQTT probe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiomqtt
import pytest
from broker_port import free_port
from shared_reference import REFERENCE, require


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reference(folder): needs ../shared/reference/<folder> (skips on a user's "
                            "clone, fails in CI)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("reference"):
        require(REFERENCE / mark.args[0])


def mosquitto_binary() -> str:
    path = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(path, os.X_OK):
        pytest.fail("the Mosquitto binary is missing: run scripts/test.sh, which installs Debian's mosquitto")
    return path


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate, and kill what does not stop within `timeout` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Mosquitto:
    host: str
    port: int
    conf: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 0.2):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text() if self.log.exists() else ''}")
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 5)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    log = tmp_path / "mosquitto.log"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
        "max_queued_messages 100000\n"  # a probe that reads slowly must not lose what it subscribed to
        f"log_dest file {log}\nlog_type all\n"
        + ("user root\n" if os.geteuid() == 0 else "")  # as root, mosquitto would drop to a user that cannot log here
    )
    broker = Mosquitto("127.0.0.1", port, conf, log)
    broker.start()
    yield broker
    broker.stop()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    properties: Any = None

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Probe:
    """A real MQTT client that records every message and lets a test wait for one."""

    client: aiomqtt.Client
    messages: list[Received] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def _collect(self) -> None:
        async for m in self.client.messages:
            payload = m.payload if isinstance(m.payload, bytes | bytearray) else str(m.payload).encode()
            self.messages.append(Received(str(m.topic), bytes(payload), m.retain, m.properties))
            self._changed.set()

    async def wait_for(
        self, topic: str, predicate: Callable[[Received], bool] = lambda m: True, timeout: float = 10.0,
        after: int = 0,
    ) -> Received:
        """The first message on `topic` (from index `after` on) that satisfies `predicate`."""
        async with asyncio.timeout(timeout):
            while True:
                for m in self.messages[after:]:
                    if m.topic == topic and predicate(m):
                        return m
                self._changed.clear()
                await self._changed.wait()

    def last(self, topic: str) -> Received | None:
        for m in reversed(self.messages):
            if m.topic == topic:
                return m
        return None

    def mark(self) -> int:
        return len(self.messages)

    async def publish(self, topic: str, payload: str | bytes, **kw: Any) -> None:
        await self.client.publish(topic, payload, qos=1, **kw)


class Broker(Protocol):
    """Where a probe connects: a Mosquitto here, a NATS server's MQTT listener in nats_broker.py."""

    host: str
    port: int


@contextlib.asynccontextmanager
async def probe_client(broker: Broker, *topics: str, v5: bool = True, username: str | None = None,
                       password: str | None = None) -> AsyncIterator[Probe]:
    client = aiomqtt.Client(
        broker.host, broker.port, username=username, password=password,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311, timeout=10,
    )
    async with client:
        probe = Probe(client)
        for topic in topics or ("#",):
            await client.subscribe(topic, qos=1)
        task = asyncio.create_task(probe._collect())
        try:
            yield probe
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, asyncio.AbstractEventLoop]]:
    """A Bridge with one simulated meter and no broker: `handle_message` is sans-IO (messages in, messages out)."""
    from gateway.bridge import Bridge
    from gateway.config import load_settings
    from gateway.sources.simulated import SimulatedSource

    loop = asyncio.new_event_loop()
    data = tmp_path_factory.mktemp("data")
    cfg = load_settings(None, data_dir=Path(data), meters=[{"id": "m1", "start": "2026-01-15T11:00:00Z"}])

    async def make() -> Bridge:
        return Bridge(cfg, [SimulatedSource(cfg.meters[0], cfg.data_dir)], "test", "127.0.0.1", 1, "5")

    yield loop.run_until_complete(make()), loop
    loop.close()
