"""Runs the real gateway service in-process (or as a subprocess) against a test broker."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml
from conftest import Probe

from gateway import service
from gateway.config import Settings, load_settings

START = "2026-01-15T11:00:00+00:00"  # a winter weekday, so that the tariff schedule is predictable


def gateway_config(tmp_path: Path, port: int, meters: list[dict[str, Any]] | None = None, **extra: Any) -> Path:
    """A config with `meters` (default one, m1), or with only a fleet when `extra` has one and `meters` is None."""
    doc: dict[str, Any] = {
        "mqtt": {"host": "127.0.0.1", "port": port},
        "publish_interval": 0.5,
        "data_dir": str(tmp_path / "data"),
        **extra,
    }
    if meters is not None or "fleet" not in extra:
        meters = meters or [{"id": "m1"}]
        for meter in meters:
            meter.setdefault("start", START)
            meter.setdefault("breaker", {"min_reconnect_delay_s": 0})
        doc["meters"] = meters
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@contextlib.asynccontextmanager
async def running_gateway(config: Path) -> AsyncIterator[Settings]:
    settings = load_settings(config)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(settings, stop))
    try:
        yield settings
    finally:
        stop.set()
        done, _ = await asyncio.wait([task], timeout=15)
        if not done:
            stacks = []
            for t in asyncio.all_tasks():
                buf = io.StringIO()
                t.print_stack(limit=6, file=buf)
                stacks.append(buf.getvalue())
            raise AssertionError("the gateway did not stop within 15 s:\n" + "\n".join(stacks))
        task.result()


def gateway_process(config: Path, *args: str) -> subprocess.Popen[bytes]:
    """`omnipower-gateway run --config CONFIG ARGS…` as its own process."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config), *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


async def request(probe: Probe, topic: str, payload: str | bytes, meter: str = "m1") -> dict[str, Any]:
    """Publish a command and return the response carrying its transaction (or the next one)."""
    mark = probe.mark()
    await probe.publish(topic, payload)
    txn = None
    with contextlib.suppress(ValueError, AttributeError):
        txn = json.loads(payload).get("transaction") if payload else None
    msg = await probe.wait_for(
        f"omnipower/{meter}/response",
        lambda m: txn is None or m.json().get("transaction") == txn,
        after=mark,
    )
    result: dict[str, Any] = msg.json()
    return result
