"""The benchmarks still run: each with the smallest arguments, against its own broker, printing its baseline, its
figure and their ratio. Nothing here checks a timing (this machine is shared); it checks that a benchmark ends
without an error and says what docs/performance.md quotes it saying. bench_reconnect.py had stopped working
unnoticed when the sender changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# `slow`: run once, beside the main run on Python 3.11 (scripts/test.sh); they start their own Mosquitto.
pytestmark = pytest.mark.slow
BENCH = Path(__file__).parent.parent / "bench"


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=300, cwd=BENCH.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_bench_reconnect() -> None:
    out = run("bench_reconnect.py", "2", "0.5")
    assert "bare paho: median" in out and "gateway: median" in out and "ratio: p95" in out


def test_bench_request_rtt() -> None:
    out = run("bench_request_rtt.py", "30", "--fleet", "30", "--rounds", "2")
    assert "broker echo: median" in out and "get registers" in out and "ratio p99" in out
    assert out.count("relay (no work): median") == 2 and "x echo (goal ≤ 2x); relay " in out
    assert "rounds with get and set both within 2x the echo's p99: " in out and " of 2" in out


def test_bench_fleet() -> None:
    out = run("bench_fleet.py", "--meters", "40", "--shards", "2", "--seconds", "3", "--capacity-meters", "200",
               "--capacity-max", "300")
    assert "bare paho loop" in out and "sustained: 40 meters" in out and "capacity: one process" in out
    assert "ratio" in out


def test_bench_warp() -> None:
    out = run("bench_warp.py", "--exact-days", "0.05", "--warp-days", "2", "--meters", "2", "--fleet-days", "1")
    assert "per-second model" in out and "time-warp engine" in out and "ratio warp/exact" in out


def test_bench_member_memory() -> None:
    out = run("bench_member_memory.py", "1")
    assert "a new member:" in out and "1 days old:" in out and "x a new one" in out and "load_profile 96" in out
