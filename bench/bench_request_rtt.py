"""Request → response round trip through the gateway, against the broker's own echo round trip measured in
the same run with the same client: publish to a topic the client itself subscribes to (QoS 1), and time
until it comes back. Gateway: `get {"registers": ["1.8.0"]}` (and `set/tariff`) → `response`. Prints median
and p99 of both and the ratio.

Run: .venv/bin/python bench/bench_request_rtt.py [requests] [meters]
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

from gateway.bridge import Bridge
from gateway.config import load_settings
from gateway.mqtt_link import no_delay
from gateway.service import make_source


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def rtts(client: aiomqtt.Client, topic: str, payloads: list[bytes], reply: str) -> list[float]:
    out = []
    messages = aiomqtt.Client.messages.fget(client)  # type: ignore[attr-defined]
    iterator = messages.__aiter__()
    for payload in payloads:
        began = time.perf_counter()
        await client.publish(topic, payload, qos=1)
        while True:
            msg = await iterator.__anext__()
            if str(msg.topic) == reply:
                break
        out.append(time.perf_counter() - began)
    return out


def summary(name: str, values: list[float]) -> float:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    print(f"{name:>22}: median {statistics.median(values) * 1e3:7.2f} ms   p99 {p99 * 1e3:7.2f} ms   (n={len(values)})")
    return p99


async def main(n: int, meters: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        conf = folder / "m.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
                        + ("user root\n" if os.geteuid() == 0 else ""))
        broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],  # noqa: ASYNC220
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(0.3)
        settings = load_settings(None, data_dir=folder / "data", publish_interval=1, mqtt={"port": port},
                                 meters=[{"id": f"m{i}"} for i in range(1, meters + 1)])
        sources = [make_source(m, settings) for m in settings.meters]
        bridge = Bridge(settings, sources, "bench", "127.0.0.1", port, "auto")
        tasks = [asyncio.create_task(s.run()) for s in sources] + [asyncio.create_task(bridge.run())]
        try:
            await asyncio.wait_for(bridge.connected.wait(), 10)
            async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
                no_delay(client)  # the same for baseline and gateway: a client of ours must not add Nagle's waits
                await client.subscribe("bench/echo", qos=1)
                await client.subscribe("omnipower/m1/response", qos=1)
                await rtts(client, "bench/echo", [b"x"] * 20, "bench/echo")  # warm up
                echo = await rtts(client, "bench/echo", [b"x"] * n, "bench/echo")
                get = await rtts(client, "omnipower/m1/get", [b'{"registers":["1.8.0"]}'] * n,
                                 "omnipower/m1/response")
                set_ = await rtts(client, "omnipower/m1/set/tariff", [b"2", b"auto"] * (n // 2),
                                  "omnipower/m1/response")
        finally:
            bridge.stop()
            await asyncio.wait([tasks[-1]], timeout=5)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            broker.kill()
    print(f"request round trips, {meters} simulated meter(s) publishing every second:")
    base = summary("broker echo", echo)
    got = summary("get registers", get)
    sat = summary("set tariff", set_)
    print(f"{'ratio p99':>22}: get {got / base:.1f}x echo, set {sat / base:.1f}x echo")


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(int(args[0]) if args else 200, int(args[1]) if len(args) > 1 else 1))
