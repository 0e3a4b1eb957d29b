"""The routing table against paho's own MQTT topic matcher (the independent reference)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from gateway.topic_router import TopicRouter

LEVELS = st.sampled_from(["omnipower", "m1", "m2", "set", "get", "tariff", "", "$SYS", "homeassistant"])
topics = st.lists(LEVELS, min_size=1, max_size=5).map("/".join)
SUB_LEVELS = st.sampled_from(["omnipower", "m1", "set", "get", "+", "", "$SYS"])
patterns = st.lists(SUB_LEVELS, min_size=1, max_size=4).flatmap(
    lambda levels: st.sampled_from(["/".join(levels), "/".join([*levels, "#"]), "#"]))


@given(st.lists(patterns, min_size=1, max_size=6, unique=True), topics)
@settings(max_examples=500, deadline=None)
def test_matches_like_mqtt(subs: list[str], topic: str) -> None:
    router: TopicRouter[str] = TopicRouter()
    for sub in subs:
        router.add(sub, sub)
    found = router.match(topic)
    matching = [s for s in subs if topic_matches_sub(s, topic)]
    if found is None:
        assert matching == []
    else:
        assert found in matching  # one of the matching patterns answers


def test_the_bridge_routes() -> None:
    router: TopicRouter[str] = TopicRouter()
    for sub in ("homeassistant/status", "omnipower/m1/set", "omnipower/m1/set/+", "omnipower/m1/get",
                "homeassistant/+/omnipower_m1/+/config"):
        router.add(sub, sub)
    assert router.patterns()[0] == "homeassistant/status"
    assert router.match("omnipower/m1/set") == "omnipower/m1/set"
    assert router.match("omnipower/m1/set/breaker") == "omnipower/m1/set/+"
    assert router.match("omnipower/m1/set/") == "omnipower/m1/set/+"  # an empty name is still a set
    assert router.match("omnipower/m2/set") is None
    assert router.match("homeassistant/switch/omnipower_m1/breaker_switch/config") == (
        "homeassistant/+/omnipower_m1/+/config")
    assert router.match("homeassistant/status/x") is None


@pytest.mark.parametrize("bad", ["a/#/b", "a/b#", "a+/b"])
def test_refuses_what_is_no_subscription(bad: str) -> None:
    with pytest.raises(ValueError, match="not an MQTT subscription pattern"):
        TopicRouter[str]().add(bad, bad)
