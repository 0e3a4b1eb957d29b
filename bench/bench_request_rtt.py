"""Request → response round trip through the gateway, against the broker's own echo round trip measured in
the same run with the same client: publish to a topic the client itself subscribes to (QoS 1), and time
until it comes back. Gateway: `get {"registers": ["1.8.0"]}` and `set/tariff` → `response`. The three are
interleaved (echo, get, set, echo, …) so that all see the same machine. The gateway runs as its own process,
as users run it, with one simulated meter publishing every second, and with `--fleet N` a fleet of N more
meters publishing every second beside it. Prints median and p99 of each and the p99 ratios.

Run: .venv/bin/python bench/bench_request_rtt.py [requests] [--fleet N] [--qos 0|1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import yaml
from broker_port import free_port

from gateway.mqtt_link import no_delay


async def round_trip(client: aiomqtt.Client, messages: AsyncIterator[aiomqtt.Message], topic: str, payload: bytes,
                     reply: str) -> float:
    began = time.perf_counter()
    await client.publish(topic, payload, qos=1)
    while True:
        msg = await messages.__anext__()
        if str(msg.topic) == reply:
            return time.perf_counter() - began


def summary(name: str, values: list[float]) -> float:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    print(f"{name:>22}: median {statistics.median(values) * 1e3:7.2f} ms   p99 {p99 * 1e3:7.2f} ms   (n={len(values)})")
    return p99


async def main(n: int, fleet: int, qos: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        conf = folder / "m.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
                        "max_queued_messages 100000\n" + ("user root\n" if os.geteuid() == 0 else ""))
        broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],  # noqa: ASYNC220
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        doc: dict[str, object] = {"mqtt": {"host": "127.0.0.1", "port": port, "state_qos": qos},
                                  "publish_interval": 1, "data_dir": str(folder / "data"), "log_level": "WARNING",
                                  "meters": [{"id": "m1"}]}
        if fleet:
            doc["fleet"] = {"count": fleet, "id_prefix": "f", "seed": 1}
        (folder / "gateway.yaml").write_text(yaml.safe_dump(doc))
        gateway = subprocess.Popen([sys.executable, "-m", "gateway", "run", "--config", str(folder / "gateway.yaml")])  # noqa: ASYNC220
        try:
            await asyncio.sleep(0.3)
            async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
                no_delay(client)  # the same for baseline and gateway: a client of ours must not add Nagle's waits
                messages = aiomqtt.Client.messages.fget(client).__aiter__()  # type: ignore[attr-defined]
                await client.subscribe("bench/echo", qos=1)
                await client.subscribe("omnipower/m1/response", qos=1)
                await client.subscribe("omnipower/m1/availability", qos=1)
                async with asyncio.timeout(60):
                    while True:
                        msg = await messages.__anext__()
                        if str(msg.topic).endswith("availability") and msg.payload == b'{"state":"online"}':
                            break
                echo: list[float] = []
                get: list[float] = []
                set_: list[float] = []
                for i in range(n + 20):  # the first 20 rounds warm up
                    e = await round_trip(client, messages, "bench/echo", b"x", "bench/echo")
                    g = await round_trip(client, messages, "omnipower/m1/get", b'{"registers":["1.8.0"]}',
                                         "omnipower/m1/response")
                    s = await round_trip(client, messages, "omnipower/m1/set/tariff", b"2" if i % 2 else b"auto",
                                         "omnipower/m1/response")
                    if i >= 20:
                        echo.append(e)
                        get.append(g)
                        set_.append(s)
        finally:
            gateway.terminate()
            gateway.wait(10)
            broker.kill()
    what = f"and a fleet of {fleet} meters (state at QoS {qos}) " if fleet else ""
    print(f"request round trips, gateway process with 1 simulated meter {what}publishing every second:")
    base = summary("broker echo", echo)
    got = summary("get registers", get)
    sat = summary("set tariff", set_)
    print(f"{'ratio p99':>22}: get {got / base:.2f}x echo, set {sat / base:.2f}x echo (goal ≤ 2x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requests", type=int, nargs="?", default=1000)
    parser.add_argument("--fleet", type=int, default=0, help="simulated meters publishing beside the measured one")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1, help="QoS of the state publications")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.fleet, args.qos))
