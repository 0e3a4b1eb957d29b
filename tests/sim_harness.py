"""Runs `omnipower-sim serve` as a subprocess, exactly as a user would."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import yaml
from conftest import stop_process

START = "2026-01-15T11:00:00+00:00"
FROZEN = "0.000001"  # simulated seconds per second: the clock stands still, readings are reproducible


def sim_config(tmp_path: Path, seed: int = 1, **settings: object) -> Path:
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump({"meters": [{"id": "wire", "seed": seed, "start": START, **settings}]}))
    return path


@contextlib.contextmanager
def serving(config: Path, *interfaces: str, speed: str = FROZEN) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "meter_sim", "serve", "--config", str(config), "--speed", speed, *interfaces],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        _wait_ready(proc, interfaces)
        yield proc
    finally:
        stop_process(proc, 10)


def _wait_ready(proc: subprocess.Popen[bytes], interfaces: tuple[str, ...]) -> None:
    addrs = [a for a in interfaces if not a.startswith("--")]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"omnipower-sim serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        if all(_ready(a) for a in addrs):
            return
        time.sleep(0.05)
    raise RuntimeError("omnipower-sim serve did not come up")


def _ready(addr: str) -> bool:
    if addr.startswith("tcp:"):
        host, _, port = addr[4:].rpartition(":")
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 0.2):
            return True
        return False
    if addr.startswith("pty:"):
        return Path(addr[4:].split(",")[0]).exists()
    return True
