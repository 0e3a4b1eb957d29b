"""Hypothesis at the wire: the real gateway process against a real Mosquitto, fed hostile requests by a
real MQTT 5 client: random, deeply nested, huge (up to 256 KB) and non-UTF-8 payloads on `set`,
`set/<name>` (every command name and junk) and `get`, with MQTT 5 properties a client may set (a response
topic that is a wildcard, empty, 65 535 bytes, 300 levels deep or inside our own tree; random correlation
data; user properties; a payload-format indicator and content type that lie; message expiry), retained
or not.

Every request is matched to its answer by the correlation data it carries (the gateway echoes it on the
response). Checked per request: exactly one answer on `omnipower/m1/response` (at most one for a retained
one: a live retained publish reaches a subscriber as a plain one), `status` ok or error, an error that
starts with the field it is about and is never an internal error, and one copy on the MQTT 5 response topic
exactly when that topic is a legitimate one. Checked for the whole run: the gateway's session never drops
(its will would say `offline`), it logs no traceback, it still runs and answers a valid request.

The sans-IO version of the same questions (no broker, thousands of inputs) is tests/test_requests_fuzz.py;
this file asks them of what only the wire has: the broker's own checks, MQTT 5 properties, the outbox.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from conftest import Mosquitto, stop_process
from gateway_harness import gateway_config, gateway_process
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.commands import COMMAND_NAMES, transaction_of
from gateway.json_payload import MAX_PAYLOAD

pytestmark = pytest.mark.integration

BASE = "omnipower/m1"
RESPONSE = f"{BASE}/response"
EXAMPLES = 300
WAIT_S = 10.0  # an answer that has not come by then is missing (a failure, not a timing bound)
MAX_TOPIC_LEVELS = 200  # Mosquitto (TOPIC_HIERARCHY_LIMIT) disconnects a client publishing deeper topics
# Fields an error may name besides the keys of the payload itself (see gateway/requests.py, commands.py).
FIELDS = {"payload", "transaction", "registers", "log", "from", "to", "offset", "limit", '""', *COMMAND_NAMES}


# --- a real MQTT 5 client --------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    topic: str
    payload: bytes
    retain: bool
    correlation: bytes | None


@dataclass
class Client:
    """paho's threaded client: it records everything the broker delivers (not its own publications)."""

    broker: Mosquitto
    messages: list[Seen] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # mid → PUBACK reason code ≥ 0x80
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.paho.on_message = self._on_message
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_publish = self._on_publish

    def _on_message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        correlation = getattr(m.properties, "CorrelationData", None) if m.properties is not None else None
        with self._cond:
            self.messages.append(Seen(m.topic, bytes(m.payload), bool(m.retain), correlation))
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._cond:
            self.disconnects.append(str(reason))
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        if getattr(reason, "value", 0) >= 0x80:
            self.refused[mid] = str(reason)

    def __enter__(self) -> Client:
        self.paho.connect(self.broker.host, self.broker.port)
        self.paho.loop_start()
        options = SubscribeOptions(qos=1, noLocal=True)  # our own 256 KB requests need not come back
        self.paho.subscribe("#", options=options)
        return self

    def __exit__(self, *_: object) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()

    def publish(self, topic: str, payload: bytes, props: Properties, retain: bool) -> None:
        info = self.paho.publish(topic, payload, qos=1, retain=retain, properties=props)
        info.wait_for_publish(WAIT_S)
        assert info.is_published(), f"the broker did not acknowledge a publish on {topic!r}"
        assert info.mid not in self.refused, self.refused[info.mid]
        assert not self.disconnects, f"the broker dropped the fuzzing client: {self.disconnects}"

    def wait_for(self, predicate: Callable[[Seen], bool], what: str) -> Seen:
        deadline = time.monotonic() + WAIT_S
        with self._cond:
            while True:
                found = next((m for m in self.messages if predicate(m)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                assert left > 0, f"no {what} within {WAIT_S:.0f} s"
                self._cond.wait(left)

    def snapshot(self) -> list[Seen]:
        with self._cond:
            return list(self.messages)


# --- the requests --------------------------------------------------------------------------------------


def _mqtt_char(c: str) -> bool:
    """Characters Mosquitto lets through in a UTF-8 string (it drops a client sending C0/C1 controls or
    Unicode non-characters); such a client never reaches the gateway."""
    cp = ord(c)
    return (cp > 0x9F and not (0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE)) or 0x20 <= cp < 0x7F


mqtt_text = st.text(st.characters(codec="utf-8").filter(_mqtt_char), max_size=24)
topic_text = st.text(st.characters(codec="utf-8").filter(lambda c: _mqtt_char(c) and c not in "/+#"),
                     max_size=16)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | mqtt_text
    | st.sampled_from(["connect", "disconnect", "release", "auto", "on", "off", "press", "hold", "2", "1.8.0"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from([*COMMAND_NAMES, "transaction", "registers", "log"]) | mqtt_text, children,
                      max_size=4),
    max_leaves=12,
)


def _nest(depth: int, inner: bytes, objects: bool) -> bytes:
    return (b'{"a":' * depth + inner + b"}" * depth) if objects else (b"[" * depth + inner + b"]" * depth)


payloads = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),  # random JSON
    st.builds(lambda d, v, o: _nest(d, json.dumps(v).encode(), o),  # nested around and past the 32-level bound
              st.integers(0, 3000), json_values, st.booleans()),
    st.builds(lambda d, o: _nest(d, b"", o)[: d + 3], st.integers(1, 3000), st.booleans()),  # never closed
    st.builds(lambda n, doc, pad: doc + pad * n,  # huge: at the bound and up to 256 KB
              st.sampled_from([MAX_PAYLOAD - 1, MAX_PAYLOAD, MAX_PAYLOAD + 1, 256 * 1024])
              | st.integers(MAX_PAYLOAD - 64, 256 * 1024),
              st.sampled_from([b'{"tariff": 2, "transaction": "big"}', b'{"registers": []}', b"2", b""]),
              st.sampled_from([b" ", b"\n", b"\xff", b"[", b"x"])),
    st.builds(lambda head, bad, tail: head + bad + tail,  # almost JSON, with bytes that are not UTF-8
              st.sampled_from([b'{"breaker": "', b'{"transaction": "t', b'"', b"", b'{"registers": ["']),
              st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"]),
              st.sampled_from([b'"}', b'"]}', b"", b'"'])),
    st.binary(max_size=300),
    mqtt_text.map(str.encode),  # a plain value, as on set/<name>
)

topics = st.one_of(
    st.sampled_from([f"{BASE}/set", f"{BASE}/get", *(f"{BASE}/set/{n}" for n in COMMAND_NAMES)]),
    topic_text.map(lambda name: f"{BASE}/set/{name}"),  # junk names, the empty level included
)
# Requests a user sends, so that the properties also ride on requests that are carried out.
VALID = [
    ("set/tariff", b"2"), ("set/tariff", b"auto"), ("set", b'{"tariff": 3, "transaction": "t"}'),
    ("set/breaker", b"disconnect"), ("set/breaker", b"release"), ("set/push_button", b"hold"),
    ("set/push_button", b"press"), ("set/voltage_l1", b"180"), ("set/voltage_l1", b"auto"),
    ("get", b""), ("get", b'{"registers": ["1.8.0", "u_l1"], "transaction": 7}'),
    ("get", b'{"log": "load_profile", "limit": 2}'), ("set", b'{"breaker": "connect", "tariff": "auto"}'),
]
hostile = st.tuples(topics, payloads)
topics_and_payloads = st.one_of(hostile, hostile, hostile, st.sampled_from([(f"{BASE}/{t}", p) for t, p in VALID]))

response_topics = st.one_of(
    st.none(),
    mqtt_text,
    st.sampled_from(["", "+", "#", "a/+/b", "a/#", "reply/ok", f"{BASE}/state", RESPONSE, f"{BASE}/set",
                     "omnipower", "omnipower/", "homeassistant", "homeassistant/switch/x/config",
                     "omnipower-elsewhere/ok", "$SYS/x", "$share/g/x", "/", "//"]),
    st.integers(1, 20).map(lambda n: "/".join(["r"] * (MAX_TOPIC_LEVELS - 10 + n))),  # around the broker's bound
    st.integers(1, 65535).map(lambda n: "r" * n),  # up to the longest a UTF-8 string can be
)


@dataclass(frozen=True)
class Request:
    topic: str
    payload: bytes
    retain: bool
    response_topic: str | None
    correlation: bytes
    user: tuple[tuple[str, str], ...]
    content_type: str | None
    format_indicator: int | None
    expiry: int | None

    @classmethod
    def plain(cls, topic: str, payload: bytes) -> Request:
        return cls(f"{BASE}/{topic}", payload, False, None, b"", (), None, None, None)

    def properties(self, correlation: bytes) -> Properties:
        """The MQTT 5 properties, with `correlation` (unique per request) as the correlation data."""
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.CorrelationData = correlation
        if self.response_topic is not None:
            props.ResponseTopic = self.response_topic
        if self.user:
            props.UserProperty = list(self.user)
        if self.content_type is not None:
            props.ContentType = self.content_type
        if self.format_indicator is not None:
            props.PayloadFormatIndicator = self.format_indicator
        if self.expiry is not None:
            props.MessageExpiryInterval = self.expiry
        return props


requests = st.builds(
    lambda topic_payload, **kw: Request(*topic_payload, **kw),
    topic_payload=topics_and_payloads,
    retain=st.sampled_from([False, False, False, True]),
    response_topic=response_topics,
    correlation=st.binary(max_size=40),
    user=st.lists(st.tuples(mqtt_text, mqtt_text), max_size=3).map(tuple),
    content_type=st.none() | st.sampled_from(["application/json", "text/plain", ""]) | mqtt_text,
    format_indicator=st.none() | st.sampled_from([0, 1]),  # 1 says UTF-8; the payload may not be
    # A short expiry lets the broker drop a request queued behind others (its right, not a loss of ours);
    # long ones, up to the largest, must not change anything.
    expiry=st.none() | st.integers(60, 2**32 - 1),
)


def publishable_elsewhere(topic: str | None) -> bool:
    """A response topic the gateway must also answer on: publishable, and not in its own tree."""
    if not topic or any(c in topic for c in "+#\0") or len(topic.encode()) >= 65535:
        return False
    if topic.count("/") >= MAX_TOPIC_LEVELS:
        return False
    return not topic.startswith(("omnipower/", "homeassistant/")) and topic not in ("omnipower", "homeassistant")


def field_names(payload: bytes) -> set[str]:
    """The fields an error about this payload may name: ours, and every key in the JSON it holds."""
    names = set(FIELDS)
    try:
        doc = json.loads(payload) if len(payload) <= MAX_PAYLOAD else None
    except (ValueError, RecursionError):
        return names
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            names |= {str(k) for k in value} | {f"configure.{k}" for k in value}
            stack += value.values()
        elif isinstance(value, list):
            stack += value
    return names


def check_body(req: Request, body: dict[str, Any]) -> None:
    assert set(body) == {"transaction", "status", "data", "error"}, body
    assert body["status"] in ("ok", "error"), body
    name = req.topic.removeprefix(f"{BASE}/set/") if req.topic.startswith(f"{BASE}/set/") else None
    expected_txn = None if name is not None else transaction_of(req.payload)
    assert body["transaction"] == expected_txn, body
    if body["status"] == "ok":
        assert body["error"] is None and isinstance(body["data"], dict), body
        return
    error = body["error"]
    assert isinstance(error, str), body
    assert "internal error" not in error, body  # a fault of ours, caught: still a bug
    names = field_names(req.payload) | ({name or '""'} if name is not None else set())
    assert any(error.startswith(f"{n}{sep}") for n in names for sep in (": ", ".")), body


def short(req: Request) -> str:
    rt = req.response_topic if req.response_topic is None or len(req.response_topic) < 60 else (
        f"{req.response_topic[:20]}…({len(req.response_topic)} chars, {req.response_topic.count('/') + 1} levels)")
    return f"{req.topic} {req.payload[:60]!r}{'…' if len(req.payload) > 60 else ''} response_topic={rt!r}"


# --- the test ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def gateway(config: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[str]]]:
    """The gateway as a user runs it; its log is read as it comes (a full pipe would stall it)."""
    proc = gateway_process(config)
    lines: list[str] = []
    assert proc.stderr is not None
    stderr = proc.stderr
    reader = threading.Thread(target=lambda: lines.extend(raw.decode(errors="replace") for raw in stderr),
                              daemon=True)
    reader.start()
    try:
        yield proc, lines
    finally:
        stop_process(proc, 15)
        reader.join(5)


def test_hostile_requests_over_a_real_broker(mosquitto: Mosquitto, tmp_path: Path) -> None:
    numbers = itertools.count()
    with gateway(gateway_config(tmp_path, mosquitto.port)) as (proc, log), Client(mosquitto) as client:
        client.wait_for(lambda m: m.topic == f"{BASE}/state", "state from the gateway")
        sent: list[tuple[Request, bytes]] = []

        # No shrinking: the examples share one gateway, so a failure is about the run so far, not one input
        # (the message names the requests before it); and a wedged gateway makes every shrink step time out.
        @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(requests)
        def one_request(req: Request) -> None:
            correlation = req.correlation + b"#%d" % next(numbers)  # unique, so the answer can be found
            client.publish(req.topic, req.payload, req.properties(correlation), req.retain)
            sent.append((req, correlation))
            if req.retain:
                return  # answered at most once: counted at the end
            before = [short(r) for r, _ in sent[-4:-1]]
            answer = client.wait_for(lambda m: m.topic == RESPONSE and m.correlation == correlation,
                                     f"answer to {short(req)}; the requests before it: {before}")
            check_body(req, json.loads(answer.payload))

        one_request()

        # A valid request still works, and once it is answered every earlier answer is in (one session,
        # in order), so the counts below are final.
        final = Request.plain("get", b'{"registers": ["1.8.0"], "transaction": "last"}')
        client.publish(final.topic, final.payload, final.properties(b"last"), retain=False)
        last = client.wait_for(lambda m: m.topic == RESPONSE and m.correlation == b"last", "answer to the last get")
        assert json.loads(last.payload)["status"] == "ok" and "1.8.0" in json.loads(last.payload)["data"]["registers"]

        seen = client.snapshot()
        for req, correlation in sent:
            answers = [m for m in seen if m.topic == RESPONSE and m.correlation == correlation]
            assert len(answers) <= 1 if req.retain else len(answers) == 1, (req, answers)
            for answer in answers:
                check_body(req, json.loads(answer.payload))
            elsewhere = [m for m in seen if m.topic != RESPONSE and m.correlation == correlation]
            if answers and publishable_elsewhere(req.response_topic) and not str(req.response_topic).startswith("$"):
                assert [(m.topic, m.payload) for m in elsewhere] == [(req.response_topic, answers[0].payload)]
            else:  # nowhere else; a `$` topic is not delivered to `#`, and Mosquitto refuses $SYS
                assert elsewhere == [], (req, elsewhere)
        assert not any("+" in m.topic or "#" in m.topic for m in seen)
        dropped = [m for m in seen if m.topic == "omnipower/bridge/state" and b"offline" in m.payload]
        assert dropped == [], "the gateway lost its MQTT session (its will was published)"
        assert proc.poll() is None, "the gateway process ended"
    trouble = [line for line in log if any(w in line for w in ("Traceback", "ERROR", "lost or failed", "failed;"))]
    assert trouble == [], "".join(trouble)


# --- what the fuzzing found ----------------------------------------------------------------------------


def test_regression_a_response_topic_of_206_levels_does_not_wedge_the_gateway(mosquitto: Mosquitto,
                                                                               tmp_path: Path) -> None:
    """Found by the test above (the request exactly as it came): the gateway published its response on the
    MQTT 5 response topic `r/r/…/r` of 206 levels; Mosquitto disconnects a client publishing to more than
    200 `/`, and the response, kept in the outbox, went out again at every reconnect: the gateway reconnected
    in a loop, answered nothing more and published its will, for as long as the outbox kept the response."""
    poison = Request(
        topic=f"{BASE}/set/\U000f0db1Û࿃Â»😍",
        payload=b"+\xc3\xb0\xc3\xac\xc2\xbe\xf0\x9f\x98\x8d\xc3\xafs\xf3\xab\xbb\xb2",
        retain=False, response_topic="/".join(["r"] * 206), correlation=b"", user=(), content_type=None,
        format_indicator=None, expiry=None,
    )
    with gateway(gateway_config(tmp_path, mosquitto.port)) as (proc, log), Client(mosquitto) as client:
        client.wait_for(lambda m: m.topic == f"{BASE}/state", "state from the gateway")
        client.publish(poison.topic, poison.payload, poison.properties(b"poison"), retain=False)
        answer = client.wait_for(lambda m: m.topic == RESPONSE and m.correlation == b"poison", "the answer")
        check_body(poison, json.loads(answer.payload))
        after_it = Request.plain("set/tariff", b"2")
        client.publish(after_it.topic, after_it.payload, after_it.properties(b"after"), retain=False)
        after = client.wait_for(lambda m: m.topic == RESPONSE and m.correlation == b"after", "an answer after it")
        assert json.loads(after.payload)["status"] == "ok"
        seen = client.snapshot()
        assert [m for m in seen if m.topic == "omnipower/bridge/state" and b"offline" in m.payload] == []
        assert [m.topic for m in seen if m.correlation == b"poison"] == [RESPONSE]
        assert proc.poll() is None
    assert [line for line in log if "lost or failed" in line] == []
