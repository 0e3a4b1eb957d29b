"""Random bytes and random JSON on every command topic: the gateway's real message handler never
raises and always answers with an error response naming a field (no broker needed: the handler is
sans-IO, it returns the messages to publish)."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.bridge import Bridge
from gateway.commands import COMMAND_NAMES

TOPICS = ["omnipower/m1/set", "omnipower/m1/get",
          *(f"omnipower/m1/set/{n}" for n in (*COMMAND_NAMES, "unknown", ""))]




def answer(bridge: Bridge, loop: asyncio.AbstractEventLoop, topic: str, payload: bytes) -> dict[str, object]:
    out = loop.run_until_complete(bridge.handle_message(topic, payload, response_topic="reply/here",
                                                        correlation=b"c"))
    responses = [m for m in out if m.topic == "omnipower/m1/response"]
    assert len(responses) == 1, out
    assert [m.topic for m in out if m.topic == "reply/here"] == ["reply/here"]  # MQTT 5 response topic
    assert all("+" not in m.topic and "#" not in m.topic for m in out)
    body: dict[str, object] = json.loads(responses[0].payload)
    assert body["status"] in ("ok", "error")
    return body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(topic=st.sampled_from(TOPICS), payload=st.binary(max_size=200))
@FUZZ
def test_random_bytes_get_an_error(bridge: tuple[Bridge, asyncio.AbstractEventLoop], topic: str,
                                   payload: bytes) -> None:
    body = answer(*bridge, topic, payload)
    if body["status"] == "error":
        assert isinstance(body["error"], str) and ": " in body["error"]
    else:  # only a payload that happens to spell a valid command or request may succeed
        assert topic.endswith("/get") or payload.strip()


@given(doc=st.dictionaries(st.text(max_size=10).filter(lambda k: k not in (*COMMAND_NAMES, "transaction")),
                           json_values, min_size=1, max_size=3),
       txn=st.none() | st.text(max_size=10) | st.integers())
@FUZZ
def test_random_json_gets_an_error_with_the_transaction(bridge: tuple[Bridge, asyncio.AbstractEventLoop],
                                                         doc: dict[str, object], txn: object) -> None:
    for topic in ("omnipower/m1/set", "omnipower/m1/get"):
        body = answer(*bridge, topic, json.dumps({**doc, "transaction": txn}).encode())
        assert body["status"] == "error" and body["transaction"] == txn
        assert isinstance(body["error"], str) and ": " in body["error"]


@given(name=st.sampled_from(COMMAND_NAMES), value=json_values)
@FUZZ
def test_random_values_never_crash(bridge: tuple[Bridge, asyncio.AbstractEventLoop], name: str,
                                   value: object) -> None:
    body = answer(*bridge, "omnipower/m1/set", json.dumps({name: value}).encode())
    if body["status"] == "error":
        assert str(body["error"]).startswith((f"{name}:", f"{name}."))  # the command, or a key within it


CONTRACT = {"omnipower/m1/response", "omnipower/m1/state", "omnipower/m1/availability", "omnipower/m1/display",
            "omnipower/m1/breaker", "omnipower/m1/alarms", "omnipower/m1/alarm"}


@given(response_topic=st.text(max_size=40) | st.sampled_from(
    ["a/+/b", "#", "+", "omnipower/m1/state", "omnipower/m1/breaker", "omnipower", "homeassistant/switch/x/config",
     "homeassistant", "x\0y", "reply/ok", "omnipower-elsewhere/ok"]))
@FUZZ
def test_publishes_only_its_contract_and_a_valid_response_topic(
        bridge: tuple[Bridge, asyncio.AbstractEventLoop], response_topic: str) -> None:
    """Whatever response topic a client names, nothing goes to a wildcard topic or into the gateway's own tree
    beyond the topics of its contract (an MQTT 5 response topic there would let a client fake its state)."""
    b, loop = bridge
    out = loop.run_until_complete(b.handle_message("omnipower/m1/set/tariff", b"2", response_topic=response_topic))
    extra = {m.topic for m in out} - CONTRACT
    owned = response_topic.startswith(("omnipower/", "homeassistant/")) or response_topic in ("omnipower",
                                                                                              "homeassistant")
    publishable = bool(response_topic) and not any(c in response_topic for c in "+#\0")
    assert extra == ({response_topic} if publishable and not owned else set())
    assert "omnipower/m1/response" in {m.topic for m in out}


def test_get_registers(bridge: tuple[Bridge, asyncio.AbstractEventLoop]) -> None:
    body = answer(*bridge, "omnipower/m1/get", b'{"registers": ["1.8.0", "u_l1"], "transaction": 1}')
    assert body["status"] == "ok" and set(body["data"]["registers"]) == {"1.8.0", "u_l1"}  # type: ignore[index]
    body = answer(*bridge, "omnipower/m1/get", b'{"registers": ["99.99.99"]}')
    assert body["status"] == "error" and body["error"] == "registers: '99.99.99' is not a register of this meter"
    body = answer(*bridge, "omnipower/m1/get", b"")
    assert body["status"] == "ok" and "a_plus" in body["data"]["registers"]  # type: ignore[index, operator]


def test_retained_commands_are_ignored(bridge: tuple[Bridge, asyncio.AbstractEventLoop]) -> None:
    b, loop = bridge
    assert loop.run_until_complete(b.handle_message("omnipower/m1/set/breaker", b"disconnect", retain=True)) == []


def test_a_faulty_source_is_marked_offline_not_fatal(bridge: tuple[Bridge, asyncio.AbstractEventLoop],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    b, loop = bridge
    source = b.sources["m1"]

    async def broken(*_: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(source, "read", broken)
    monkeypatch.setattr(source, "execute", broken)
    out = loop.run_until_complete(b.publisher.state_messages("m1"))
    assert [(m.topic, json.loads(m.payload)) for m in out] == [("omnipower/m1/availability", {"state": "offline"})]
    body = answer(b, loop, "omnipower/m1/set/tariff", b"2")
    assert body["status"] == "error"
    assert body["error"] == "tariff: internal error in the simulated source (RuntimeError)"


def test_log_fields_without_a_log_are_refused(bridge: tuple[Bridge, asyncio.AbstractEventLoop]) -> None:
    """Found by hypothesis: `{"from": null}` on get used to answer ok with every reading."""
    body = answer(*bridge, "omnipower/m1/get", b'{"from": null, "transaction": 5}')
    assert body == {"transaction": 5, "status": "error", "data": None,
                    "error": 'from: only with a log request (add "log": NAME)'}
