"""Ports for the brokers and servers that benchmarks and tests start of their own (tests/conftest.py takes them from
here)."""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

_ISSUED: set[int] = set()


def ephemeral_ports() -> range:
    """The kernel's range for the local ports of outgoing connections."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return range(low, high + 1)


def free_port() -> int:
    """A loopback port nothing listens on, outside the kernel's ephemeral range, and never one this process has
    handed out before.

    Outside the ephemeral range: a client that reconnects to a stopped server on such a port may be given that same
    port as its own, and then TCP connects the socket to itself (seen in CI: a gateway retrying a killed broker read
    its own CONNECT back, "Unrecognised command 16", and held the port, so the restarted broker could not bind).
    Never twice: a test that asks for several ports before starting its servers (a NATS node's MQTT and cluster
    ports) must get distinct ones."""
    ephemeral = ephemeral_ports()
    candidates = range(10000, ephemeral.start) if ephemeral.start > 11000 else range(ephemeral.stop, 65536)
    draw = random.Random(os.getpid() ^ time.monotonic_ns())  # other test runs beside this one draw elsewhere
    while True:
        port = draw.choice(candidates)
        if port in _ISSUED:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # in use
                continue
        _ISSUED.add(port)
        return port
