"""Back after a broker outage: seconds from the moment a killed Mosquitto listens again to the first message
the broker acknowledges, over N outages (SIGKILL, down `down` s each), for the gateway and, measured in the
same run against the same broker, a bare paho client with paho's own reconnect (loop_start, its default
back-off of 1 s doubling to 120 s) publishing QoS 1 every 50 ms. Prints median and p95 of both and the ratio.

Run: .venv/bin/python bench/bench_reconnect.py [outages] [down_s] [--tls]
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
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from broker_port import free_port

from gateway.bridge import Bridge
from gateway.config import load_settings
from gateway.outbox import Outbox
from gateway.service import make_source


class Broker:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             + ("user root\n" if os.geteuid() == 0 else ""))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return time.monotonic()
            except OSError:
                time.sleep(0.002)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


def first_after(acks: list[float], t: float) -> float:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        later = [a for a in acks if a >= t]
        if later:
            return later[0] - t
        time.sleep(0.005)
    raise TimeoutError("no message within 180 s")


def bare_paho(broker: Broker, outages: int, down: float) -> list[float]:
    acks: list[float] = []
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_publish = lambda *_: acks.append(time.monotonic())
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    stop = threading.Event()

    def publish() -> None:
        while not stop.is_set():
            client.publish("bench/x", b"x", qos=1)
            time.sleep(0.05)

    threading.Thread(target=publish, daemon=True).start()
    out = []
    for _ in range(outages):
        time.sleep(0.3)
        broker.kill()
        time.sleep(down)
        out.append(first_after(acks, broker.start()))
    stop.set()
    client.loop_stop()
    return out


async def gateway(broker: Broker, folder: Path, outages: int, down: float) -> list[float]:
    acks: list[float] = []
    original = Outbox.sent

    def sent(self: Outbox) -> None:  # the sender calls it when the broker acknowledged the front message
        original(self)
        acks.append(time.monotonic())

    Outbox.sent = sent  # type: ignore[method-assign]
    settings = load_settings(None, data_dir=folder / "data", publish_interval=0.5,
                             mqtt={"host": "127.0.0.1", "port": broker.port}, meters=[{"id": "m1"}])
    sources = [make_source(m, settings) for m in settings.meters]
    bridge = Bridge(settings, sources, "bench", "127.0.0.1", broker.port, "auto")
    tasks = [asyncio.create_task(s.run()) for s in sources]
    run = asyncio.create_task(bridge.run())
    await asyncio.sleep(1)
    out = []
    for _ in range(outages):
        broker.kill()
        await asyncio.sleep(down)
        out.append(await asyncio.to_thread(first_after, acks, broker.start()))
        await asyncio.sleep(0.3)
    bridge.stop()
    await asyncio.wait([run], timeout=5)
    for task in [*tasks, run]:
        task.cancel()
    await asyncio.gather(*tasks, run, return_exceptions=True)
    return out


def summary(name: str, values: list[float]) -> tuple[float, float]:
    p95 = statistics.quantiles(values, n=20, method="inclusive")[-1]
    median = statistics.median(values)
    print(f"{name:>12}: median {median:6.3f} s   p95 {p95:6.3f} s   max {max(values):6.3f} s   (n={len(values)})")
    return median, p95


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    outages = int(args[0]) if args else 10
    down = float(args[1]) if len(args) > 1 else 2.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = Broker(folder)
        broker.start()
        try:
            base = bare_paho(broker, outages, down)
            ours = asyncio.run(gateway(broker, folder, outages, down))
        finally:
            broker.kill()
    print(f"first acknowledged message after the broker returns ({outages} outages of {down} s, SIGKILL):")
    _, base_p95 = summary("bare paho", base)
    _, our_p95 = summary("gateway", ours)
    print(f"{'ratio':>12}: p95 gateway / bare paho = {our_p95 / base_p95:.2f}")


if __name__ == "__main__":
    main()
