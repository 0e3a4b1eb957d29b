"""The status page's pure parts: its settings, the board of published payloads, and sessions on an injected clock."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from gateway.config import ConfigError, load_settings
from gateway.outbox import Outgoing
from gateway.topics import Topics
from gateway.web.board import Board
from gateway.web.sessions import IDLE_S, MAX_SESSIONS, Sessions, cookie_value, csrf_ok


def test_web_is_off_on_localhost_and_read_only_by_default() -> None:
    web = load_settings(None).web
    assert (web.enabled, web.host, web.port, web.read_only) == (False, "127.0.0.1", 8099, True)


@pytest.mark.parametrize(("web", "words"), [
    ({"username": "admin"}, "username and password go together"),
    ({"password": "long enough"}, "username and password go together"),
    ({"username": "admin", "password": "short"}, "at least 8 characters"),
    ({"port": 0}, "web.port"),
    ({"enabled": True, "colour": "red"}, "web.colour"),
])
def test_bad_web_settings_are_named_and_secrets_never_echoed(web: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, web=web)
    assert words in str(caught.value)
    assert "long enough" not in str(caught.value) and "short" not in str(caught.value)


def test_the_password_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIPOWER_WEB__PASSWORD", "from the environment")
    web = load_settings(None, web={"enabled": True, "username": "admin"}).web
    assert web.password is not None and web.password.get_secret_value() == "from the environment"
    assert not web.read_only


async def test_the_board_keeps_the_last_payload_of_the_shown_topics() -> None:
    board = Board(Topics("omnipower"), ["m1", "m2"])
    seen: dict[str, int] = {}
    assert await board.wait_changed(seen, 0) == ["m1", "m2"]  # unseen versions count as changes
    waiting = asyncio.create_task(board.wait_changed(seen, 5))
    await asyncio.sleep(0)
    board.watch([Outgoing("omnipower/m2/state", b'{"p_plus": 5}'), Outgoing("omnipower/m3/state", b"{}"),
                 Outgoing("omnipower/m1/response", b"{}")])
    assert await waiting == ["m2"]
    assert board.payload("m2", "state") == {"p_plus": 5} and board.payload("m1", "state") is None
    board.watch([Outgoing("omnipower/m2/state", b'{"p_plus": 5}')])  # the same again: no change
    assert await board.wait_changed(seen, 0.01) == []
    board.watch([Outgoing("omnipower/m1/display", b"not json")])
    assert await board.wait_changed(seen, 0) == ["m1"] and board.payload("m1", "display") is None


def test_sessions_expire_and_are_bounded() -> None:
    sessions = Sessions("admin", SecretStr("correct horse"))
    assert sessions.check("admin", "correct horse") and not sessions.check("admin", "correct hors")
    assert not sessions.check("Admin", "correct horse")
    first = sessions.open("admin", 0.0)
    header = f"other=1; omnipower_session={first.token}"
    assert sessions.find(header, IDLE_S) is first  # used: its idle time starts again
    assert sessions.find(header, 2 * IDLE_S + 1) is None  # idle too long
    opened = [sessions.open("admin", float(n)) for n in range(MAX_SESSIONS + 1)]
    assert sessions.find(f"omnipower_session={opened[0].token}", MAX_SESSIONS) is None  # the oldest made room
    assert sessions.find(f"omnipower_session={opened[-1].token}", MAX_SESSIONS) is opened[-1]
    assert csrf_ok(opened[-1], opened[-1].csrf) and not csrf_ok(opened[-1], opened[0].csrf)
    assert not csrf_ok(opened[-1], None)
    assert Sessions(None, None).read_only and not Sessions(None, None).check("", "")
    assert cookie_value('a=1; b="2"', "b") == "2" and cookie_value(None, "b") is None
