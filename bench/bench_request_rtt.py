"""Request → response round trip through the gateway, against the broker's own echo round trip measured in
the same run with the same client: publish to a topic the client itself subscribes to (QoS 1), and time
until it comes back. Gateway: `get {"registers": ["1.8.0"]}` and `set/tariff` → `response`. The three are
interleaved (echo, relay, get, set, echo, …) so that all see the same machine. The gateway runs as its own process,
as users run it, with one simulated meter publishing every second, and with `--fleet N` a fleet of N more
meters publishing every second beside it. Prints median and p99 of each and the p99 ratios.

A second baseline, for what the ratio can be at best: a *relay*, a bare paho client in a process of its own
(TCP_NODELAY) that publishes back every message it gets from paho's network thread and does nothing else. A
request crosses the broker twice (to the gateway, and its answer back) where the echo crosses it once; the relay
crosses it twice too, with no work between.

`--rounds K` repeats the measurement K times against the same gateway and prints each round's ratios and how many
were within the goal (one round says little on a shared machine).

Run: .venv/bin/python bench/bench_request_rtt.py [requests] [--fleet N] [--qos 0|1] [--rounds K]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import paho.mqtt.client as mqtt
import yaml
from broker_port import free_port
from paho.mqtt.enums import CallbackAPIVersion

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


def relay(port: int) -> None:
    """The relay baseline: every message on `bench/relay/in` published back on `bench/relay/out` from paho's own
    network thread, nothing else (the least a process answering through the broker can do)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        sock = c.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.subscribe("bench/relay/in", qos=1)

    def on_message(c: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        c.publish("bench/relay/out", msg.payload, qos=1)

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_forever()


async def main(n: int, fleet: int, qos: int, rounds: int, engine: str = "columns") -> None:
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
            doc["fleet"] = {"count": fleet, "id_prefix": "f", "seed": 1, "engine": engine}
        (folder / "gateway.yaml").write_text(yaml.safe_dump(doc))
        gateway = subprocess.Popen([sys.executable, "-m", "gateway", "run", "--config", str(folder / "gateway.yaml")])  # noqa: ASYNC220
        await asyncio.sleep(0.3)
        relaying = subprocess.Popen([sys.executable, __file__, "--relay", str(port)])  # noqa: ASYNC220
        try:
            async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
                no_delay(client)  # the same for baseline and gateway: a client of ours must not add Nagle's waits
                messages = aiomqtt.Client.messages.fget(client).__aiter__()  # type: ignore[attr-defined]
                for topic in ("bench/echo", "bench/relay/out", "omnipower/m1/response", "omnipower/m1/availability"):
                    await client.subscribe(topic, qos=1)
                async with asyncio.timeout(60):
                    while True:
                        msg = await messages.__anext__()
                        if str(msg.topic).endswith("availability") and msg.payload == b'{"state":"online"}':
                            break
                    while True:  # the relay is subscribed once it answers
                        try:
                            async with asyncio.timeout(0.5):
                                await round_trip(client, messages, "bench/relay/in", b"x", "bench/relay/out")
                            break
                        except TimeoutError:
                            continue
                what = f"and a fleet of {fleet} meters (state at QoS {qos}) " if fleet else ""
                print(f"request round trips, gateway process with 1 simulated meter {what}publishing every second:")
                within = 0
                for r in range(rounds):
                    echo: list[float] = []
                    relayed: list[float] = []
                    get: list[float] = []
                    set_: list[float] = []
                    for i in range(n + 20):  # the first 20 rounds warm up
                        e = await round_trip(client, messages, "bench/echo", b"x", "bench/echo")
                        y = await round_trip(client, messages, "bench/relay/in", b"x", "bench/relay/out")
                        g = await round_trip(client, messages, "omnipower/m1/get", b'{"registers":["1.8.0"]}',
                                             "omnipower/m1/response")
                        s = await round_trip(client, messages, "omnipower/m1/set/tariff", b"2" if i % 2 else b"auto",
                                             "omnipower/m1/response")
                        if i >= 20:
                            echo.append(e)
                            relayed.append(y)
                            get.append(g)
                            set_.append(s)
                    if rounds > 1:
                        print(f"round {r + 1} of {rounds}:")
                    base = summary("broker echo", echo)
                    floor = summary("relay (no work)", relayed)
                    got = summary("get registers", get)
                    sat = summary("set tariff", set_)
                    print(f"{'ratio p99':>22}: get {got / base:.2f}x echo, set {sat / base:.2f}x echo (goal ≤ 2x); "
                          f"relay {floor / base:.2f}x echo")
                    within += got <= 2 * base and sat <= 2 * base
                if rounds > 1:
                    print(f"rounds with get and set both within 2x the echo's p99: {within} of {rounds}")
        finally:
            relaying.terminate()
            gateway.terminate()
            relaying.wait(10)
            gateway.wait(10)
            broker.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requests", type=int, nargs="?", default=1000)
    parser.add_argument("--fleet", type=int, default=0, help="simulated meters publishing beside the measured one")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1, help="QoS of the state publications")
    parser.add_argument("--rounds", type=int, default=1, help="measure this many times against the same gateway")
    parser.add_argument("--engine", choices=("columns", "per_second"), default="columns", help="the fleet's engine")
    parser.add_argument("--relay", type=int, help=argparse.SUPPRESS)  # the relay's own process (its broker's port)
    args = parser.parse_args()
    if args.relay is not None:
        relay(args.relay)
    else:
        asyncio.run(main(args.requests, args.fleet, args.qos, args.rounds, args.engine))
