"""Payloads meant to kill the gateway: deep nesting, huge, not UTF-8, and faults of our own.

Before the bounds, `[` × 1000 on `set`, `set/<name>` or `get` raised RecursionError out of
`json.loads`, through the session's TaskGroup, and ended the process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Mosquitto, probe_client, stop_process
from gateway_harness import gateway_config, gateway_process, running_gateway
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import json_payload
from gateway.bridge import Bridge
from gateway.json_payload import MAX_DEPTH, MAX_PAYLOAD, PayloadError
from gateway.requests import RequestHandler

DEEP = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"transaction": "t", "breaker": ' + b'{"a":' * 600 + b"1" + b"}" * 600 + b"}"
TOPICS = ("omnipower/m1/set", "omnipower/m1/set/tariff", "omnipower/m1/set/configure", "omnipower/m1/get")




def response(bridge: tuple[Bridge, asyncio.AbstractEventLoop], topic: str, payload: bytes) -> dict[str, Any]:
    b, loop = bridge
    out = loop.run_until_complete(b.handle_message(topic, payload))
    bodies = [json.loads(m.payload) for m in out if m.topic == "omnipower/m1/response"]
    assert len(bodies) == 1, out
    body: dict[str, Any] = bodies[0]
    return body


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\ab'), children,
                                                                      max_size=3),
    max_leaves=30,
)


@given(json_values)
@settings(max_examples=300, deadline=None)
def test_the_flat_scan_measures_the_nesting_json_has(value: Any) -> None:
    """Brackets inside strings (escaped quotes included) do not count."""
    assert json_payload.nesting_depth(json.dumps(value)) == depth(value)


def test_limits_are_refused_with_their_number() -> None:
    with pytest.raises(PayloadError, match=f"nested too deeply \\(1000 levels, at most {MAX_DEPTH}\\)"):
        json_payload.load_bytes(DEEP)
    with pytest.raises(PayloadError, match=f"too large \\({MAX_PAYLOAD + 1} bytes, at most {MAX_PAYLOAD}\\)"):
        json_payload.load_bytes(b" " * (MAX_PAYLOAD + 1))
    with pytest.raises(PayloadError, match="not valid UTF-8"):
        json_payload.load_bytes(b'{"a": "\xff"}')
    nested_ok = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert depth(json_payload.load_bytes(nested_ok)) == MAX_DEPTH


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("payload", [DEEP, DEEP_OBJECT, b"{" * 3000], ids=["arrays", "objects", "unclosed"])
def test_deep_nesting_is_refused_on_every_topic(bridge: tuple[Bridge, asyncio.AbstractEventLoop], topic: str,
                                                 payload: bytes) -> None:
    body = response(bridge, topic, payload)
    assert body["status"] == "error"
    assert body["error"].startswith("payload: nested too deeply (") and f"at most {MAX_DEPTH}" in body["error"]


@pytest.mark.parametrize("topic", TOPICS)
def test_huge_payloads_are_refused_on_every_topic(bridge: tuple[Bridge, asyncio.AbstractEventLoop],
                                                  topic: str) -> None:
    payload = json.dumps({"transaction": 7, "registers": ["1.8.0"] * 20_000}).encode()
    body = response(bridge, topic, payload)
    assert body == {"transaction": None, "status": "error", "data": None,
                    "error": f"payload: too large ({len(payload)} bytes, at most {MAX_PAYLOAD})"}


@given(st.binary(max_size=64), st.integers(min_value=0, max_value=3000), st.sampled_from(TOPICS))
@settings(max_examples=150, deadline=None)
def test_nested_junk_never_escapes(bridge: tuple[Bridge, asyncio.AbstractEventLoop], junk: bytes, n: int,
                                   topic: str) -> None:
    body = response(bridge, topic, b"[" * n + junk + b"]" * n)
    assert body["status"] in ("ok", "error")


def test_a_fault_of_ours_is_answered_and_logged_not_fatal(bridge: tuple[Bridge, asyncio.AbstractEventLoop],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    b, _ = bridge

    async def broken(*_: object) -> Any:
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(b.requests, "set", broken)
    body = response(bridge, "omnipower/m1/set", b'{"tariff": 2, "transaction": "t9"}')
    assert body == {"transaction": "t9", "status": "error", "data": None,
                    "error": "set: internal error (ZeroDivisionError); logged by the gateway"}
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)
    monkeypatch.undo()
    assert response(bridge, "omnipower/m1/set", b'{"tariff": 2}')["status"] == "ok"  # and it goes on


def test_response_topics_inside_the_gateways_own_tree_are_not_written(
        bridge: tuple[Bridge, asyncio.AbstractEventLoop]) -> None:
    """Otherwise a client allowed to send commands could make the gateway overwrite its state or a discovery
    config through the MQTT 5 response topic."""
    b, loop = bridge
    for target in ("omnipower/m1/breaker", "omnipower/m1/state", "homeassistant/switch/x/config", "omnipower"):
        out = loop.run_until_complete(b.handle_message("omnipower/m1/get", b"", response_topic=target))
        assert [m.topic for m in out] == ["omnipower/m1/response"], target
    out = loop.run_until_complete(b.handle_message("omnipower/m1/get", b"", response_topic="app/replies"))
    assert [m.topic for m in out] == ["omnipower/m1/response", "app/replies"]


# --- the same over a real broker --------------------------------------------------------------------------


@pytest.mark.integration
async def test_the_gateway_process_answers_a_hostile_flood_and_lives(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, mosquitto.port)
    proc = gateway_process(config)
    try:
        async with probe_client(mosquitto, "omnipower/m1/#") as probe:
            await probe.wait_for("omnipower/m1/state", timeout=20)
            hostile = [DEEP, DEEP_OBJECT, b"{" * 3000, b"\xff\xfe" * 10, b"[" * 5000 + b"]" * 5000,
                       b'{"registers": [' + b'"1.8.0",' * 2000 + b'"x"]}']
            mark = probe.mark()
            sent = 0
            for payload in hostile:
                for topic in TOPICS:
                    await probe.publish(topic, payload)
                    sent += 1
            await probe.publish("omnipower/m1/set", b'{"tariff": 3, "transaction": "after"}')
            last = await probe.wait_for("omnipower/m1/response", lambda m: m.json()["transaction"] == "after",
                                        after=mark, timeout=20)
            assert last.json()["status"] == "ok"
            errors = [m.json() for m in probe.messages[mark:]
                      if m.topic == "omnipower/m1/response" and m.json()["transaction"] != "after"]
            assert len(errors) == sent and all(e["status"] == "error" for e in errors)
            assert all(e["error"].startswith("payload: ") for e in errors), errors
        assert proc.poll() is None  # still running
    finally:
        stop_process(proc, 15)


@pytest.mark.integration
async def test_an_injected_fault_over_mqtt_is_answered_and_the_session_goes_on(
        mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = RequestHandler.get

    async def faulty_get(self: RequestHandler, meter_id: str, payload: bytes) -> Any:
        if b"boom" in payload:
            raise RuntimeError("injected")
        return await original(self, meter_id, payload)

    monkeypatch.setattr(RequestHandler, "get", faulty_get)
    config = gateway_config(tmp_path, mosquitto.port)
    async with running_gateway(config), probe_client(mosquitto, "omnipower/m1/#") as probe:
        await probe.wait_for("omnipower/m1/state", timeout=20)
        mark = probe.mark()
        await probe.publish("omnipower/m1/get", b'{"transaction": "boom"}')
        await probe.publish("omnipower/m1/get", b'{"transaction": "fine", "registers": ["1.8.0"]}')
        fault = await probe.wait_for("omnipower/m1/response", lambda m: m.json()["transaction"] == "boom",
                                     after=mark)
        assert fault.json()["error"] == "get: internal error (RuntimeError); logged by the gateway"
        fine = await probe.wait_for("omnipower/m1/response", lambda m: m.json()["transaction"] == "fine",
                                    after=mark)
        assert fine.json()["status"] == "ok" and "1.8.0" in fine.json()["data"]["registers"]
