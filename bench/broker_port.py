"""A port for a benchmark's own broker."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def free_port() -> int:
    """A loopback port nothing listens on, below the kernel's ephemeral range: a client retrying a stopped broker on
    an ephemeral port can be given that very port as its own, and TCP then connects the socket to itself (the broker
    could not restart; seen in the tests, tests/conftest.py)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    while True:
        port = random.randrange(10000, max(low, 10001))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # in use
                continue
        return port
