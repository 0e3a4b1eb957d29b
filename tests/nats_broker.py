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
    text: str | None = None  # a whole configuration of its own (deploy/cluster), instead of config_text()'s
    env: dict[str, str] = field(default_factory=dict)  # for `$VAR` in the configuration (passwords)
    login: tuple[str, str] | None = None  # what the readiness CONNECT sends, where users are configured
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
        self.conf.write_text(self.text if self.text is not None else self.config_text())
        self.proc = subprocess.Popen([nats_binary(), "-c", str(self.conf), "-l", str(self.log)],
                                     env={**os.environ, **self.env}, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited:\n{self.log_tail()}")
            if healthy(self.host, self.monitor_port) and mqtt_connack(self.host, self.port, self.login) == 0:
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


def mqtt_connack(host: str, port: int, login: tuple[str, str] | None = None, timeout: float = 2.0) -> int | None:
    """Send a bare MQTT 3.1.1 CONNECT (clean session, with `login` if given) and return the CONNACK return
    code, or None when nothing (or no CONNACK) answers in time."""

    def utf8(data: bytes) -> bytes:
        return len(data).to_bytes(2, "big") + data

    client_id = f"ready-{os.getpid()}-{time.monotonic_ns()}".encode()  # never one that a node still tracks
    flags = 0x02 | (0xC0 if login else 0)  # clean session (+ user name and password)
    body = utf8(b"MQTT") + bytes([4, flags]) + (10).to_bytes(2, "big") + utf8(client_id)  # level 4, keepalive 10 s
    if login:
        body += utf8(login[0].encode()) + utf8(login[1].encode())
    assert len(body) < 128, "one byte of remaining length"
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
    """`size` clustered nodes (JetStream clustered, MQTT on each), routes on loopback free ports."""
    ports = [free_port() for _ in range(size)]
    nodes = [NatsServer(f"node-{chr(ord('a') + i)}", root / "cluster", cluster_port=ports[i],
                        routes=[p for p in ports if p != ports[i]]) for i in range(size)]
    with running(nodes):
        yield nodes


@contextlib.contextmanager
def running(nodes: list[NatsServer]) -> Iterator[None]:
    """Start the nodes, stop them at the end. All are launched before any is waited for: a cluster's
    JetStream needs a quorum to elect its meta leader."""
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_ready()
        yield
    finally:
        for node in nodes:
            node.stop()


DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "cluster"


@contextlib.contextmanager
def deploy_cluster(root: Path, env: dict[str, str], login: tuple[str, str]) -> Iterator[list[NatsServer]]:
    """The three nodes exactly as deploy/cluster configures them, with only the addresses and the store
    moved to loopback free ports and `root` (each substitution must apply, so the files cannot drift from
    what this expects). `env` holds the passwords; `login` is the user the readiness check connects as."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY / "omnipower-auth.conf", root)
    nodes = [NatsServer(f"nats-{n}", root, cluster_port=free_port(), env=env, login=login) for n in (1, 2, 3)]
    for n, node in enumerate(nodes, 1):
        text = (DEPLOY / f"nats-node-{n}.conf").read_text()
        swaps = {"listen: 0.0.0.0:4222": f"listen: 127.0.0.1:{node.client_port}",
                 "http: 127.0.0.1:8222": f"http: 127.0.0.1:{node.monitor_port}",
                 "store_dir: /var/lib/nats/omnipower": f'store_dir: "{root / node.name}-js"',
                 "listen: 0.0.0.0:1883": f"listen: 127.0.0.1:{node.port}",
                 "listen: 0.0.0.0:6222": f"listen: 127.0.0.1:{node.cluster_port}"}
        swaps |= {f"nats-route://{other.name}.example.lan:6222": f"nats-route://127.0.0.1:{other.cluster_port}"
                  for other in nodes if other is not node}
        for old, new in swaps.items():
            assert text.count(old) == 1, f"nats-node-{n}.conf: expected {old!r} once"
            text = text.replace(old, new)
        node.text = text
    with running(nodes):
        yield nodes
