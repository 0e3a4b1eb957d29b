"""Fleet throughput: simulated meters publishing `state` through the gateway, against a bare paho loop measured in
the same run on the same broker (one process, 1,000 messages in flight, the same QoS, the same ~2.4 KB state
payload, retained, one topic per meter). Both are counted the same way: by the broker's own counter of packets
received, nearly all PUBLISH (`--count broker`, the default; a subscriber follows only a sample of meters), or
by a Python subscriber of every state (`--count subscriber`, which on two cores takes CPU from what it
measures).

Two measurements, each over a steady window after a warm-up:
- **sustained**: a fleet of `--meters` at 1 Hz split into `--shards` gateway processes (`--shard K/N`): the
  states published per second, each process's CPU and peak RSS, and a sample of meters (spread over
  the shards) checked to publish every second.
- **capacity**: the most meters one gateway process keeps at 1 Hz (runs of growing fleets, see `capacity`): their
  rate against the bare loop's, the ratio the goal is about (≥ 0.8). Not a run flat out: a process that falls
  behind steps each meter several simulated seconds per state it publishes, so its rate of states understates what
  it sustains at 1 Hz.

`--age-days D` starts the sustained fleet aged: every member from the saved state of a meter time-warped D days to
now (one meter per type number the fleet draws, its files copied to each member of that type: time-warping 10,000
meters would take hours), so that its loggers hold D days of entries, as a fleet left running does.

Run: .venv/bin/python bench/bench_fleet.py [--meters 10000] [--shards 2] [--qos 1] [--seconds 30]
     [--capacity-meters N] [--capacity-max N] [--skip-sustained] [--skip-capacity] [--count broker|subscriber]
     [--age-days D]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from broker_port import free_port

from gateway.config import load_settings
from gateway.sources.simulated import logs_path
from gateway.state_json import StateJson
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.log_journal import LogJournal
from meter_sim.meter import Meter
from meter_sim.persistence import MeterStore
from meter_sim.warp import warp_to

WARM_UP_S = 8.0
ENGINE = "columns"  # fleet.engine of the gateway processes (--engine)
# Every packet clients sent the broker: here PUBLISH but for a few pings and (un)subscriptions. (Mosquitto
# 2.0.11's own count of PUBLISH received, $SYS/broker/publish/messages/received, stays at 0 under this load.)
SYS_RECEIVED = "$SYS/broker/messages/received"


def state_payload() -> bytes:
    """A real member's state (what the gateway publishes), for the bare loop."""
    meter = Meter("f00001", MeterSimSettings(), SteppedClock(1.8e9))
    meter.advance_to(1.8e9 + 3600)
    return StateJson(meter.registers).render(meter.rtc.iso(meter.t), meter.base_values(), {"tariff_control": "auto"})


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Broker:
    """Our own Mosquitto."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        conf = folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "set_tcp_nodelay true\nmax_queued_messages 1000000\nmax_inflight_messages 0\nsys_interval 1\n"
                        + ("user root\n" if os.geteuid() == 0 else ""))
        self.proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Watcher:
    """Counts the states published, and when each sampled meter published. By default the count is the broker's own
    (`$SYS/broker/messages/received`, every second), and only the sampled meters are subscribed to: a
    Python subscriber of every state would take as much CPU as a gateway process on this two-core machine and so
    measure itself. `everything` counts deliveries to a subscriber of every state instead (`--count subscriber`)."""

    def __init__(self, port: int, sample: list[str], everything: bool = False) -> None:
        self.count = 0
        self.everything = everything
        self.sample = set(sample)
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        if everything:
            self.client.subscribe("omnipower/+/state", 0)  # the bare loop's topics too (omnipower/bNNNNN/state)
        else:
            self.client.subscribe(SYS_RECEIVED, 0)
            for meter in sample:
                self.client.subscribe(f"omnipower/{meter}/state", 0)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == SYS_RECEIVED:
            self.count = int(msg.payload)
            return
        if self.everything:
            self.count += 1
        meter = msg.topic.split("/")[1]
        if meter in self.sample:
            self.arrivals[meter].append(time.monotonic())

    def rate_over(self, seconds: float) -> float:
        """States per second over the next `seconds` (the broker's counter moves once a second)."""
        t0, n0 = self._tick()
        time.sleep(seconds)
        t1, n1 = self._tick()
        return (n1 - n0) / (t1 - t0)

    def _tick(self) -> tuple[float, int]:
        if self.everything:
            return time.monotonic(), self.count
        last = self.count
        while self.count == last:  # wait for the counter's next second
            time.sleep(0.01)
        return time.monotonic(), self.count

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def bare_loop(port: int, qos: int, seconds: float, payload: bytes, meters: int) -> None:
    """The baseline, run as its own process (`--bare`): paho's own network thread, the main thread publishing
    one state per topic in turn with at most 1,000 unacknowledged; prints messages acknowledged per second."""
    window = threading.Semaphore(1000)
    done = [0]

    def on_publish(*_: object) -> None:
        done[0] += 1
        window.release()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.max_inflight_messages_set(1000)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    topics = [f"omnipower/b{i:05d}/state" for i in range(meters)]
    began = time.monotonic()
    i = 0
    start_count, start_cpu, start_t = 0, 0.0, 0.0
    while (now := time.monotonic()) - began < WARM_UP_S + seconds:
        if not start_t and now - began >= WARM_UP_S:
            start_count, start_cpu, start_t = done[0], time.process_time(), now
        window.acquire()
        client.publish(topics[i % meters], payload, qos, retain=True)
        i += 1
    rate = (done[0] - start_count) / (time.monotonic() - start_t)
    cpu = (time.process_time() - start_cpu) / (time.monotonic() - start_t)
    client.loop_stop()
    print(f"{rate:.1f} {cpu:.3f}")


def run_bare(port: int, qos: int, seconds: float, everything: bool) -> tuple[float, float, float]:
    """The bare loop's rate as it counts its own acknowledgements, its CPU, and its rate counted as the fleets'
    are (by the broker, or by a subscriber of every state)."""
    watcher = Watcher(port, [], everything)
    proc = subprocess.Popen([sys.executable, __file__, "--bare", str(port), str(qos), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(WARM_UP_S)
    counted = watcher.rate_over(seconds - 2)
    out, _ = proc.communicate()
    watcher.stop()
    if proc.returncode:
        raise RuntimeError("the bare loop failed")
    rate, cpu = out.split()
    return float(rate), float(cpu), counted


def gateway_config(folder: Path, port: int, meters: int, qos: int, interval: float, engine: str) -> Path:
    """The members' clocks run at 1/interval: every publication is a new simulated second, as at 1 Hz (at 0.5 s
    and real time, every other state would be the same second again, which costs no meter step)."""
    doc = {"mqtt": {"host": "127.0.0.1", "port": port, "state_qos": qos}, "publish_interval": interval,
           "data_dir": str(folder / "data"), "log_level": "WARNING",
           "fleet": {"count": meters, "id_prefix": "f", "seed": 1, "speed": 1.0 / interval, "engine": engine}}
    path = folder / f"fleet-{meters}-{interval}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def age_fleet(config: Path, days: float) -> float:
    """Each member's saved state and loggers as a meter of its type number time-warped `days` to now: one meter a
    type number, its files copied. Returns the bytes of loggers on disk per member, on average."""
    settings = load_settings(config)
    assert settings.fleet is not None
    folder = settings.data_dir
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}
    logs_bytes = 0
    for member in settings.fleet.member_configs():
        kind = member.type_number
        if kind not in made:
            now = int(time.time())
            meter = Meter("proto", member, SteppedClock(now - round(days * 86_400)))
            warp_to(meter, now)
            made[kind] = folder / f"proto-{len(made)}"
            MeterStore(made[kind].with_suffix(".json")).save(meter.to_state())
            journal = LogJournal(MeterStore(made[kind].with_suffix(".logs.json")))
            journal.save(journal.take(meter))
        for suffix in (".json", ".logs.json"):
            shutil.copyfile(made[kind].with_suffix(suffix), folder / f"{member.id}{suffix}")
        logs_bytes += logs_path(folder, member.id).stat().st_size
    return logs_bytes / settings.fleet.count


def run_fleet(folder: Path, broker: Broker, meters: int, shards: int, qos: int, interval: float,
              seconds: float, everything: bool, age_days: float = 0.0) -> dict[str, object]:
    config = gateway_config(folder, broker.port, meters, qos, interval, ENGINE)
    if age_days:
        print(f"  aged {age_days:g} days: {age_fleet(config, age_days) / 1e6:.2f} MB of loggers on disk per member")
    width = len(str(meters))
    sample = [f"f{n:0{width}d}" for n in range(1, meters + 1, max(1, meters // 24))]
    watcher = Watcher(broker.port, sample, everything)
    began = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "gateway", "run", "--config", str(config), "--shard",
                               f"{k}/{shards}"]) for k in range(1, shards + 1)]
    try:
        # Ready when every sampled meter has published twice (start-up builds thousands of meters).
        while not all(len(watcher.arrivals[m]) >= 2 for m in sample):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a gateway process ended")
            time.sleep(0.2)
        ready = time.monotonic() - began
        time.sleep(WARM_UP_S)
        t0, cpu0 = time.monotonic(), [cpu_seconds(p.pid) for p in procs]
        rate = watcher.rate_over(seconds)
        t1, cpu1 = time.monotonic(), [cpu_seconds(p.pid) for p in procs]
        rss = [peak_rss_mb(p.pid) for p in procs]
        gaps = [b - a for m in sample for a, b in zip(watcher.arrivals[m], watcher.arrivals[m][1:], strict=False)
                if a >= t0]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(600)  # a fleet saves every member on the way out
        watcher.stop()
    return {"rate": rate, "cpu": [(b - a) / (t1 - t0) for a, b in zip(cpu0, cpu1, strict=True)], "rss": rss,
            "ready": ready, "gap_p50": statistics.median(gaps) if gaps else float("nan"),
            "gap_max": max(gaps) if gaps else float("nan")}


def capacity(folder: Path, broker: Broker, args: argparse.Namespace, bare: float, everything: bool) -> None:
    """The most meters one process keeps at 1 Hz: runs of growing fleets (×1.15 from `--capacity-meters`, by
    default 0.25× the bare loop's rate), each kept up when it published at least 97% of a state per meter a second
    and its sampled meters' median gap was at most 1.05 s; it ends at the first run that did not keep up."""
    meters = args.capacity_meters or max(1_000, round(bare * 0.25 / 1000) * 1000)
    kept: tuple[int, float, float] | None = None
    while True:
        r = run_fleet(folder, broker, meters, 1, args.qos, 1.0, args.seconds, everything)
        rate, cpu, gap = r["rate"], r["cpu"], r["gap_p50"]
        assert isinstance(rate, float) and isinstance(cpu, list) and isinstance(gap, float)
        up = rate >= 0.97 * meters and gap <= 1.05
        print(f"  {meters:,} meters at 1 Hz in one process: {rate:,.0f} msg/s, {cpu[0]:.2f} cores, median gap "
              f"{gap:.2f} s: {'kept up' if up else 'did not keep up'}")
        if not up:
            break
        kept = (meters, rate, cpu[0])
        if meters >= args.capacity_max:
            print(f"capacity: one process keeps {meters:,} meters at 1 Hz ({rate:,.0f} msg/s, {cpu[0]:.2f} cores), "
                  f"the most tried (--capacity-max); bare paho {bare:,.0f} msg/s: ratio {rate / bare:.2f} at least")
            return
        meters = min(args.capacity_max, max(meters + 100, round(meters * 1.15 / 100) * 100))
    if kept is None:
        print(f"capacity: one process did not keep {meters:,} meters at 1 Hz: start lower (--capacity-meters)")
        return
    print(f"capacity: one process keeps {kept[0]:,} meters at 1 Hz ({kept[1]:,.0f} msg/s, {kept[2]:.2f} cores), "
          f"not {meters:,}; bare paho {bare:,.0f} msg/s: ratio {kept[1] / bare:.2f} (goal ≥ 0.8)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--capacity-meters", type=int, default=0,
                        help="the capacity search's first fleet (default: 0.25x the bare loop's rate)")
    parser.add_argument("--capacity-max", type=int, default=200_000, help="the capacity search's largest fleet")
    parser.add_argument("--skip-sustained", action="store_true")
    parser.add_argument("--engine", choices=("columns", "per_second"), default="columns",
                        help="fleet.engine of the gateway processes")
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument("--count", choices=("broker", "subscriber"), default="broker",
                        help="count states at the broker ($SYS, default) or with a subscriber of every state")
    parser.add_argument("--age-days", type=float, default=0.0,
                        help="start the sustained fleet's members this many days old (see above)")
    args = parser.parse_args()
    global ENGINE
    ENGINE = args.engine
    print(f"fleet.engine: {ENGINE}")
    everything = args.count == "subscriber"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = Broker(folder)
        try:
            acked, bare_cpu, bare = run_bare(broker.port, args.qos, args.seconds, everything)
            print(f"bare paho loop, QoS {args.qos}, 1,000 in flight, {len(state_payload())} B retained: {bare:,.0f} "
                  f"msg/s counted by the {args.count} ({acked:,.0f} acknowledged to it; {bare_cpu:.2f} cores)")
            if not args.skip_sustained:
                r = run_fleet(folder, broker, args.meters, args.shards, args.qos, 1.0, args.seconds, everything,
                              args.age_days)
                cpu, rss = r["cpu"], r["rss"]
                assert isinstance(cpu, list) and isinstance(rss, list)
                aged = f", {args.age_days:g} days old" if args.age_days else ""
                print(f"sustained: {args.meters:,} meters{aged} at 1 Hz in {args.shards} process(es), "
                      f"state QoS {args.qos}: {r['rate']:,.0f} msg/s counted by the {args.count} "
                      f"(goal {args.meters:,}); ready after {r['ready']:.0f} s")
                print(f"  per process: CPU {', '.join(f'{c:.2f}' for c in cpu)} cores; peak RSS "
                      f"{', '.join(f'{m:.0f}' for m in rss)} MB (total {sum(rss):.0f} MB, "
                      f"{sum(rss) / args.meters * 1000:.0f} MB per 1,000 meters)")
                print(f"  sampled meters: median gap {r['gap_p50']:.2f} s, longest {r['gap_max']:.2f} s")
            if not args.skip_capacity:
                capacity(folder, broker, args, bare, everything)
        finally:
            broker.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bare":
        bare_loop(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), state_payload(), 5000)
    else:
        main()
