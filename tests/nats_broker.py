"""Real nats-server processes with their MQTT listener, for the tests that run the gateway against NATS.

NATS speaks MQTT 3.1.1 only, and only for accounts with JetStream (it keeps MQTT sessions and retained
messages in streams), so every server here has JetStream with its store in the test's tmp dir. A server
counts as started when its MQTT listener answers a CONNECT with CONNACK 0: in a cluster the listener opens
before JetStream has a meta leader, and the CONNACK comes only once the MQTT streams exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import free_port, stop_process
from shared_reference import in_ci

START_TIMEOUT = 30.0  # a cold 3-node cluster elects its JetStream meta leader within a few seconds


def nats_binary() -> str:
    """The nats-server binary; skip without it (a user's machine), fail in CI."""
    path = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not os.access(path, os.X_OK):
        reason = "nats-server is missing (Debian package nats-server)"
        if in_ci():
            pytest.fail(f"{reason}; CI must run the NATS tests", pytrace=False)
        pytest.skip(reason)
    return path


@dataclass
class NatsServer:
    """One nats-server. `host`/`port` are its MQTT listener (what `probe_client` and the gateway use)."""

    name: str
    root: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)  # MQTT
    client_port: int = field(default_factory=free_port)  # NATS protocol, never the default 4222
    cluster_port: int | None = None
    routes: list[int] = field(default_factory=list)  # the other nodes' cluster ports
    replicas: int = 3  # of the MQTT streams, in a cluster
    cluster_name: str = "omnipower"
    monitor_port: int = field(default_factory=free_port)  # HTTP /healthz
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.root / f"{self.name}.conf"

    @property
    def log(self) -> Path:
        return self.root / f"{self.name}.log"

    def config_text(self) -> str:
        lines = [
            f'server_name: "{self.name}"',
            f"listen: {self.host}:{self.client_port}",
            f'jetstream {{ store_dir: "{self.root / (self.name + "-js")}" }}',
            f"http: {self.host}:{self.monitor_port}",
        ]
        if self.cluster_port is None:
            lines.append(f"mqtt {{ listen: {self.host}:{self.port} }}")
        else:
            # Explicit R3: left alone, a node picks the replicas from the servers it knows when the first MQTT
            # client connects, which on a cold start can be 2 (seen with 2.9.10), and an R2 stream loses its
            # quorum with either node.
            lines.append(f"mqtt {{ listen: {self.host}:{self.port}, stream_replicas: {self.replicas} }}")
            routes = ", ".join(f"nats-route://{self.host}:{p}" for p in self.routes)
            lines.append(f'cluster {{ name: "{self.cluster_name}", listen: {self.host}:{self.cluster_port}, '
                         f"routes: [{routes}] }}")
        return "\n".join(lines) + "\n"

    def launch(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self.config_text())
        self.proc = subprocess.Popen([nats_binary(), "-c", str(self.conf), "-l", str(self.log)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited:\n{self.log_tail()}")
            if healthy(self.host, self.monitor_port) and mqtt_connack(self.host, self.port) == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"nats-server {self.name} did not accept MQTT within {timeout} s:\n{self.log_tail()}")

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def leaders(self) -> dict[str, str]:
        """Who leads what, as this node sees it: "meta" (the JetStream meta group, which creates consumers)
        and each MQTT stream ($MQTT_msgs, $MQTT_sess, $MQTT_rmsgs) → the leading node's name."""
        url = f"http://{self.host}:{self.monitor_port}/jsz?accounts=true&streams=true"
        with urllib.request.urlopen(url, timeout=5) as r:
            jsz = json.load(r)
        out = {"meta": jsz["meta_cluster"]["leader"]}
        for account in jsz.get("account_details", []):
            for stream in account.get("stream_detail", []):
                out[stream["name"]] = stream["cluster"]["leader"]
        return out

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 5)

    def kill(self) -> None:
        """A node failure: no goodbye to clients or routes."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def healthy(host: str, port: int) -> bool:
    """/healthz answers 200 once the server (and in a cluster, JetStream with a meta leader) is ready."""
    with contextlib.suppress(OSError), urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as r:
        return bool(r.status == 200)
    return False


def mqtt_connack(host: str, port: int, timeout: float = 2.0) -> int | None:
    """Send a bare MQTT 3.1.1 CONNECT (clean session, no credentials) and return the CONNACK return code,
    or None when nothing (or no CONNACK) answers in time."""
    client_id = f"ready-{os.getpid()}-{time.monotonic_ns()}".encode()  # never one that a node still tracks
    variable = b"\x00\x04MQTT\x04\x02\x00\x0a"  # protocol name, level 4, clean session, keepalive 10 s
    body = variable + len(client_id).to_bytes(2, "big") + client_id
    packet = bytes([0x10, len(body)]) + body
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout) as s:
        s.settimeout(timeout)
        s.sendall(packet)
        answer = s.recv(4)
        s.sendall(b"\xe0\x00")  # DISCONNECT
        if len(answer) == 4 and answer[0] == 0x20:
            return answer[3]
    return None


@pytest.fixture(name="nats")
def nats_fixture(tmp_path: Path) -> Iterator[NatsServer]:
    """One standalone nats-server with JetStream and MQTT on free ports."""
    server = NatsServer("nats-1", tmp_path / "nats")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def nats_cluster(root: Path, size: int = 3) -> Iterator[list[NatsServer]]:
    """`size` clustered nodes (JetStream clustered, MQTT on each), routes on loopback free ports. All are
    launched before any is waited for: JetStream needs a quorum to elect its meta leader."""
    ports = [free_port() for _ in range(size)]
    nodes = [NatsServer(f"node-{chr(ord('a') + i)}", root / "cluster", cluster_port=ports[i],
                        routes=[p for p in ports if p != ports[i]]) for i in range(size)]
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_ready()
        yield nodes
    finally:
        for node in nodes:
            node.stop()
