"""The fleet's state connection: its MQTT codec (gateway/mqtt_wire.py) and the stream itself
(gateway/state_stream.py) against a real Mosquitto — QoS 0 and 1, the latest of a topic only, back after a broker
restart, TLS, and a refused login."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Mosquitto, probe_client
from hypothesis import given
from hypothesis import strategies as st
from tls_ca import make_pki

from gateway import mqtt_wire, state_stream
from gateway.config import MqttSettings, TlsSettings
from gateway.state_stream import StateStream

# --- the codec ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "encoded"), [  # MQTT 3.1.1 §2.2.3, table 2.4: the edges of each length
    (0, "00"), (127, "7f"), (128, "8001"), (16_383, "ff7f"), (16_384, "808001"), (2_097_151, "ffff7f"),
    (2_097_152, "80808001"), (268_435_455, "ffffff7f"),
])
def test_remaining_length_as_the_standard_spells_it(n: int, encoded: str) -> None:
    assert mqtt_wire.remaining_length(n).hex() == encoded


def test_a_publish_packet_byte_by_byte() -> None:
    # Fixed header 0x33 (PUBLISH, QoS 1, retain), remaining length, topic "a/b", packet id 10, payload.
    assert mqtt_wire.publish(b"a/b", b"xy", 1, True, 10).hex() == "3309" "0003612f62" "000a" "7879"
    assert mqtt_wire.publish(b"a/b", b"xy", 0, False).hex() == "3007" "0003612f62" "7879"
    with pytest.raises(ValueError, match="packet id"):
        mqtt_wire.publish(b"a", b"", 1, False, 0)


ACKS = st.lists(st.one_of(st.builds(mqtt_wire.PubAck, st.integers(1, 0xFFFF)), st.just(mqtt_wire.PingResp()),
                          st.builds(mqtt_wire.ConnAck, st.integers(0, 5))), max_size=30)


def _encode(event: mqtt_wire.Event) -> bytes:
    if isinstance(event, mqtt_wire.PubAck):
        return bytes([0x40, 2]) + event.packet_id.to_bytes(2, "big")
    if isinstance(event, mqtt_wire.ConnAck):
        return bytes([0x20, 2, 0, event.return_code])
    return bytes([0xD0, 0])


@given(ACKS, st.lists(st.integers(1, 7), min_size=1))
def test_what_the_broker_says_is_read_whole_however_it_is_cut(events: list[mqtt_wire.Event], cuts: list[int]) -> None:
    data = b"".join(map(_encode, events))
    reader, got, pos, i = mqtt_wire.Reader(), [], 0, 0
    while pos < len(data):
        step = cuts[i % len(cuts)]
        got += reader.feed(data[pos:pos + step])
        pos, i = pos + step, i + 1
    assert got == events


@given(st.binary(max_size=64), st.integers(1, 9))
def test_garbage_from_the_broker_is_a_protocol_error_and_nothing_else(data: bytes, step: int) -> None:
    reader = mqtt_wire.Reader()
    try:
        for pos in range(0, len(data), step):
            reader.feed(data[pos:pos + step])
    except mqtt_wire.ProtocolError:
        pass


def test_a_publish_from_the_broker_is_refused() -> None:
    with pytest.raises(mqtt_wire.ProtocolError, match="type 3"):
        mqtt_wire.Reader().feed(mqtt_wire.publish(b"t", b"x", 0, False))


# --- the stream on a real broker ---------------------------------------------------------------------------

async def _until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - counters of the stream and the probe, polled from outside
            await asyncio.sleep(0.02)


@pytest.mark.integration
@pytest.mark.parametrize("qos", [0, 1])
async def test_every_topic_arrives_with_its_latest_payload(mosquitto: Mosquitto, qos: int) -> None:
    stream = StateStream(MqttSettings(), mosquitto.host, mosquitto.port, qos)
    stream.offer("omnipower/m0/state", b"old", True)  # replaced before it could be written
    stream.offer("omnipower/m0/state", b"new", True)
    async with probe_client(mosquitto, "omnipower/+/state") as probe:
        task = asyncio.create_task(stream.run())
        try:
            await asyncio.wait_for(stream.connected.wait(), 10)
            for n in range(1, 3000):
                stream.offer(f"omnipower/m{n}/state", b"%d" % n, True)
                if n % 500 == 0:
                    await asyncio.sleep(0)
            await _until(lambda: len({m.topic for m in probe.messages}) == 3000)
            payloads = {m.topic: m.payload for m in probe.messages}
            assert payloads["omnipower/m0/state"] == b"new"
            assert all(payloads[f"omnipower/m{n}/state"] == b"%d" % n for n in range(1, 3000))
            assert [m.payload for m in probe.messages if m.topic == "omnipower/m0/state"] == [b"new"]
            await _until(lambda: stream.written == 3000)
        finally:
            task.cancel()
    async with probe_client(mosquitto, "omnipower/m2999/state") as late:  # retained, as state must be
        assert (await late.wait_for("omnipower/m2999/state")).retain


@pytest.mark.integration
@pytest.mark.parametrize("qos", [0, 1])
async def test_states_offered_one_at_a_time_share_writes(mosquitto: Mosquitto, qos: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """As a fleet's round offers them, one meter per pass of the event loop: they go out together (GATHER_S, long
    here so that a slow machine gathers as many), every one of them, each topic's in the order offered."""
    monkeypatch.setattr(state_stream, "GATHER_S", 0.1)
    stream = StateStream(MqttSettings(), mosquitto.host, mosquitto.port, qos)
    async with probe_client(mosquitto, "omnipower/+/state") as probe:
        task = asyncio.create_task(stream.run())
        try:
            await asyncio.wait_for(stream.connected.wait(), 10)
            for n in range(200):
                stream.offer(f"omnipower/m{n % 50}/state", b"%d" % n, True)
                await asyncio.sleep(0)
            await _until(lambda: len({m.topic: m.payload for m in probe.messages}) == 50
                         and all(m.payload == b"%d" % (150 + int(m.topic.split("/")[1][1:])) for m in
                                 {m.topic: m for m in probe.messages}.values()))
            for n in range(50):
                got = [int(m.payload) for m in probe.messages if m.topic == f"omnipower/m{n}/state"]
                assert got == sorted(got) and got[-1] == 150 + n
            assert stream.writes <= len(probe.messages) / 4  # one a state (the code before): half of them
        finally:
            task.cancel()


@pytest.mark.integration
async def test_back_after_a_broker_restart(mosquitto: Mosquitto) -> None:
    stream = StateStream(MqttSettings(), mosquitto.host, mosquitto.port, 1)
    task = asyncio.create_task(stream.run())
    try:
        await asyncio.wait_for(stream.connected.wait(), 10)
        mosquitto.stop()
        await _until(lambda: not stream.connected.is_set())
        stream.offer("omnipower/m1/state", b"during", True)  # waits for the connection
        mosquitto.start()
        await asyncio.wait_for(stream.connected.wait(), 10)
        async with probe_client(mosquitto, "omnipower/m1/state") as probe:
            assert (await probe.wait_for("omnipower/m1/state")).payload == b"during"
    finally:
        task.cancel()


@pytest.mark.integration
async def test_over_tls_with_our_own_ca(tmp_path: Path, mosquitto: Mosquitto) -> None:
    pki = make_pki(tmp_path / "pki")
    mosquitto.stop()
    mosquitto.conf.write_text(mosquitto.conf.read_text() + f"cafile {pki.ca_file}\ncertfile {pki.cert_file}\n"
                              f"keyfile {pki.key_file}\n")
    mosquitto.start()
    stream = StateStream(MqttSettings(tls=TlsSettings(ca_file=pki.ca_file)), "127.0.0.1", mosquitto.port, 1)
    task = asyncio.create_task(stream.run())
    try:
        stream.offer("omnipower/m1/state", b"secret", True)
        await _until(lambda: stream.written == 1)
    finally:
        task.cancel()
    wrong = StateStream(MqttSettings(tls=True), "127.0.0.1", mosquitto.port, 1)  # the system's CAs: not ours
    task = asyncio.create_task(wrong.run())
    await asyncio.sleep(1)
    task.cancel()
    assert not wrong.connected.is_set() and wrong.written == 0


@pytest.mark.integration
async def test_a_refused_login_is_said_once_and_never_connects(mosquitto: Mosquitto,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    mosquitto.stop()
    mosquitto.conf.write_text(mosquitto.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    mosquitto.start()
    stream = StateStream(MqttSettings(), mosquitto.host, mosquitto.port, 1)
    with caplog.at_level(logging.WARNING, "gateway.state_stream"):
        task = asyncio.create_task(stream.run())
        await asyncio.sleep(2)
        task.cancel()
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "not authorized" in refusals[0].getMessage()
    assert not stream.connected.is_set()


@pytest.mark.integration
async def test_a_fault_of_ours_is_logged_and_the_stream_goes_on(mosquitto: Mosquitto,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    stream = StateStream(MqttSettings(), mosquitto.host, mosquitto.port, 1)
    task = asyncio.create_task(stream.run())
    try:
        await asyncio.wait_for(stream.connected.wait(), 10)
        stream.offer("omnipower/m1/state", "not bytes", True)  # type: ignore[arg-type]  # encoding it fails
        await _until(lambda: not stream.connected.is_set())
        stream.offer("omnipower/m2/state", b"fine", True)
        await _until(lambda: stream.written == 1)
    finally:
        task.cancel()
    assert any("state connection failed" in r.getMessage() for r in caplog.records)
