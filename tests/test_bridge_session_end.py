"""How a session's TaskGroup ends, unwrapped without `except*` (which on CPython < 3.11.4 re-wraps what
is raised inside it: gh-103590, the Python of Debian 12 and Raspberry Pi OS bookworm)."""

from __future__ import annotations

import aiomqtt
import pytest

from gateway.mqtt_link import _Stopped, raise_session_end


def test_a_stop_ends_the_session_quietly() -> None:
    raise_session_end(BaseExceptionGroup("", [_Stopped()]))
    raise_session_end(BaseExceptionGroup("", [_Stopped(), BaseExceptionGroup("", [_Stopped()])]))


@pytest.mark.parametrize("nested", [False, True])
def test_a_lost_connection_comes_out_bare(nested: bool) -> None:
    lost = aiomqtt.MqttError("Disconnected during message iteration")
    group = BaseExceptionGroup("", [BaseExceptionGroup("", [lost])] if nested else [lost, _Stopped()])
    with pytest.raises(aiomqtt.MqttError) as info:
        raise_session_end(group)
    assert info.value is lost and not isinstance(info.value, BaseExceptionGroup)


def test_anything_else_keeps_its_group() -> None:
    group = ExceptionGroup("", [aiomqtt.MqttError("lost"), KeyError("bug")])
    with pytest.raises(ExceptionGroup) as info:
        raise_session_end(group)
    assert info.value is group
