"""A fleet on a real Mosquitto: two shard processes of one fleet, every member publishing its own state, commands
reaching the shard that runs the member (wildcard subscriptions above a few meters), no discovery for a large
fleet, and each shard's own bridge state."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from conftest import Mosquitto, probe_client, stop_process
from gateway_harness import START, gateway_config, gateway_process, request, running_gateway

from gateway import state_publisher
from gateway.service import FLEET_LOG_ENTRIES_IN_MEMORY
from meter_sim.fleet import member_id, members, parse_shard

pytestmark = pytest.mark.integration
COUNT = 50  # 25 a shard: above the per-meter subscriptions' limit (gateway.requests.WILDCARD_ABOVE)


def ids(shard: str) -> list[str]:
    return [member_id("f", n, COUNT) for n in members(COUNT, parse_shard(shard))]


async def test_two_shards_publish_every_member_and_answer_for_their_own(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port, fleet={
        "count": COUNT, "id_prefix": "f", "seed": 11,
        "template": {"start": START, "breaker": {"min_reconnect_delay_s": 0}}})
    async with probe_client(mosquitto, "omnipower/#", "homeassistant/#") as probe:
        procs = [gateway_process(config, "--shard", shard) for shard in ("1/2", "2/2")]
        try:
            for shard in ("1/2", "2/2"):
                await probe.wait_for(f"omnipower/bridge/shard-{shard.replace('/', '-of-')}/state",
                                     lambda m: m.json() == {"state": "online"}, timeout=30)
            for mid in ids("1/2") + ids("2/2"):
                state = (await probe.wait_for(f"omnipower/{mid}/state", timeout=30)).json()
                assert state["a_plus"] >= 0 and state["tariff_control"] == "auto" and "time" in state
            # One command for a member of each shard: answered once, by its shard.
            for mid in (ids("1/2")[3], ids("2/2")[-1]):
                mark = probe.mark()
                answer = await request(probe, f"omnipower/{mid}/set", json.dumps(
                    {"breaker": "disconnect", "transaction": f"t-{mid}"}), meter=mid)
                assert answer["status"] == "ok" and answer["data"]["breaker"] == "disconnected", answer
                got = await request(probe, f"omnipower/{mid}/get", json.dumps(
                    {"registers": ["breaker", "1.8.0"], "transaction": f"g-{mid}"}), meter=mid)
                assert got["data"]["registers"]["breaker"] == "disconnected"
                breaker = await probe.wait_for(f"omnipower/{mid}/breaker", after=mark)
                assert breaker.json()["state"] == "disconnected"
                responses = [m.json()["transaction"] for m in probe.messages[mark:]
                             if m.topic == f"omnipower/{mid}/response"]
                assert responses == [f"t-{mid}", f"g-{mid}"], responses
            # A meter no shard has is nobody's to answer.
            mark = probe.mark()
            await probe.publish("omnipower/f99/get", b"{}")
            await probe.publish("omnipower/bridge/state", b"nonsense")  # nor is a topic of theirs a request
            with pytest.raises(TimeoutError):
                await probe.wait_for("omnipower/f99/response", after=mark, timeout=2)
            # 50 members: no Home Assistant discovery unless the fleet asks for it.
            assert not [m.topic for m in probe.messages if m.topic.startswith("homeassistant/")]
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                stop_process(proc)
        for shard in ("1/2", "2/2"):  # each said goodbye for itself
            await probe.wait_for(f"omnipower/bridge/shard-{shard.replace('/', '-of-')}/state",
                                 lambda m: m.json() == {"state": "offline"}, timeout=10)


async def test_a_fleet_s_round_is_spread_over_the_interval(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """A fleet's states of one round go out across the publish interval, not in one burst at its start (a burst
    shares the cores with the broker and any client at once, and requests answered then wait: see
    docs/performance.md); each member still publishes once a round. Without the spreading, the 40 states of a
    round leave within a few milliseconds."""
    count = 40
    config = gateway_config(tmp_path, mosquitto.port, publish_interval=1.0, fleet={
        "count": count, "id_prefix": "f", "seed": 5, "template": {"start": START}})
    loop = asyncio.get_running_loop()
    arrivals: defaultdict[str, list[float]] = defaultdict(list)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.subscribe("omnipower/+/state")
        async with running_gateway(config), asyncio.timeout(60):
            async for message in client.messages:
                if str(message.topic) != "omnipower/bridge/state":
                    arrivals[str(message.topic)].append(loop.time())
                if len(arrivals) == count and all(len(times) >= 3 for times in arrivals.values()):
                    break
    third_round = sorted(times[2] for times in arrivals.values())
    assert third_round[-1] - third_round[0] > 0.4, third_round


async def test_a_fleet_says_a_summary_a_minute_not_a_line_per_state(mosquitto: Mosquitto, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A few meters narrate each publication on the console (the demo); a fleet's members would flood the journal
    with thousands of lines a second, so a fleet says how many states it published, once a minute (here a second)."""
    monkeypatch.setattr(state_publisher, "SUMMARY_EVERY_S", 1.0)
    count = state_publisher.PACED_FROM + 5
    config = gateway_config(tmp_path, mosquitto.port, publish_interval=0.5, fleet={
        "count": count, "id_prefix": "f", "seed": 5, "template": {"start": START}})
    with caplog.at_level(logging.INFO, logger="gateway.state_publisher"):
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.subscribe("omnipower/+/state")
            async with running_gateway(config), asyncio.timeout(60):
                seen: set[str] = set()
                async for message in client.messages:
                    seen.add(str(message.topic))
                    if len(seen) > count and "states published" in caplog.text:
                        break
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.state_publisher"]
    assert not [line for line in lines if " kWh " in line]  # no line per state
    summary = next(line for line in lines if "states published" in line)
    assert summary.startswith(f"{count} meters: ")
    assert int(summary.split(": ")[1].split()[0]) >= count  # at least a round's states counted


async def test_a_member_answers_for_the_log_entries_it_left_on_disk(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """A fleet member keeps only its loggers' newest entries in memory (gateway.service.FLEET_LOG_ENTRIES_IN_MEMORY)
    and reads the rest back from disk: `get {"log"}` gives every load-profile period, before a restart and after
    one (when the member starts from the newest entries only), the older ones the same both times."""
    config = gateway_config(tmp_path, mosquitto.port, fleet={
        "count": 2, "id_prefix": "f", "seed": 3, "save_interval": 1,
        "speed": 3600, "template": {"start": START}})  # 4 periods of 15 minutes a second
    mid = member_id("f", 1, 2)

    async def load_profile(probe: Any, transaction: str) -> list[dict[str, Any]]:
        answer = await request(probe, f"omnipower/{mid}/get", json.dumps(
            {"log": "load_profile", "limit": 1000, "transaction": transaction}), meter=mid)
        assert answer["status"] == "ok", answer
        entries: list[dict[str, Any]] = answer["data"]["entries"]
        assert answer["data"]["total"] == len(entries)
        return entries

    async with probe_client(mosquitto, "omnipower/#") as probe:
        before: list[dict[str, Any]] = []
        for run in ("first", "again"):
            proc = gateway_process(config)
            try:
                await probe.wait_for(f"omnipower/{mid}/state", timeout=30, after=probe.mark())
                await asyncio.sleep(6)  # ~24 periods, saved every second
                entries = await load_profile(probe, run)
            finally:
                proc.send_signal(signal.SIGTERM)
                stop_process(proc)
            assert len(entries) > FLEET_LOG_ENTRIES_IN_MEMORY + 8  # most of them read back from disk
            times = [e["time"] for e in entries]
            assert len(set(times)) == len(times)
            assert entries[: len(before)] == before  # the older entries, from disk, as they were
            before = entries
