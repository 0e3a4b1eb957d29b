"""Command parsing: every malformed or refused command names the field and the reason; random input
never raises anything but CommandError (hypothesis)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.commands import COMMAND_NAMES, Command, CommandError, parse_set, transaction_of


@pytest.mark.parametrize(
    ("payload", "name", "expected"),
    [
        (b'{"breaker": "disconnect"}', None, (Command("breaker", "disconnect"),)),
        (b'{"breaker": " Connect "}', None, (Command("breaker", "connect"),)),
        (b'{"tariff": 3, "breaker": "release"}', None, (Command("tariff", 3), Command("breaker", "release"))),
        (b'{"tariff": "auto"}', None, (Command("tariff", None),)),
        (b'{"tariff": "2"}', None, (Command("tariff", 2),)),
        (b"2", "tariff", (Command("tariff", 2),)),
        (b'{"tariff": 8}', None, (Command("tariff", 8),)),  # §2.8: up to 8 tariffs (the meter checks its own)
        (b'{"tariff_plan": 2}', None, (Command("tariff_plan", 2),)),
        (b"3", "tariff_plan", (Command("tariff_plan", 3),)),
        (b'"1"', "tariff_plan", (Command("tariff_plan", 1),)),
        (b"2.0", "tariff", (Command("tariff", 2),)),
        (b"AUTO", "tariff", (Command("tariff", None),)),
        (b"disconnect", "breaker", (Command("breaker", "disconnect"),)),
        (b'"release"', "breaker", (Command("breaker", "release"),)),
        (b"hold", "push_button", (Command("push_button", "hold"),)),
        (b"185.5", "voltage_l3", (Command("voltage_l3", 185.5),)),
        (b"null", "voltage_l1", (Command("voltage_l1", None),)),
        (b"ON", "load_control_1", (Command("load_control_1", "on"),)),
        (b'{"load_control_2": false}', None, (Command("load_control_2", "off"),)),
    ],
)
def test_valid_commands(payload: bytes, name: str | None, expected: tuple[Command, ...]) -> None:
    assert parse_set(payload, name).commands == expected


def test_transaction_is_kept() -> None:
    assert parse_set(b'{"breaker": "connect", "transaction": "abc"}').transaction == "abc"
    assert transaction_of(b'{"bogus": 1, "transaction": 17}') == 17
    assert transaction_of(b"not json") is None
    assert transaction_of(b'{"transaction": {"nested": 1}}') is None


@pytest.mark.parametrize(
    ("payload", "name", "field", "reason"),
    [
        (b"", None, "payload", "malformed JSON"),
        (b"{", None, "payload", "malformed JSON"),
        (b'"breaker"', None, "payload", "expected a JSON object"),
        (b"{}", None, "payload", "no command given"),
        (b'{"transaction": [1]}', None, "transaction", "string or a number"),
        (b'{"fly": true}', None, "fly", "unknown command"),
        (b'{"tariff": 9}', None, "tariff", "out of range (allowed: 1–8 or 'auto')"),
        (b'{"tariff": 0}', None, "tariff", "out of range"),
        (b'{"tariff_plan": 4}', None, "tariff_plan", "out of range (allowed: 1–3)"),
        (b'{"tariff_plan": 0}', None, "tariff_plan", "out of range"),
        (b'{"tariff_plan": 1.5}', None, "tariff_plan", "out of range"),
        (b'{"tariff_plan": "auto"}', None, "tariff_plan", "invalid value 'auto' (allowed: a plan 1–3)"),
        (b"null", "tariff_plan", "tariff_plan", "invalid value"),
        (b'{"tariff": 2.5}', None, "tariff", "out of range"),
        (b'{"tariff": true}', None, "tariff", "invalid value"),
        (b'{"tariff": 1e400}', None, "tariff", "invalid value"),
        (b'{"tariff": 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000}', None, "tariff", "out of range"),  # noqa: E501
        (b'{"tariff": NaN}', None, "payload", "malformed JSON"),
        (b'{"breaker": "on"}', None, "breaker", "allowed: connect, disconnect, release"),
        (b'{"breaker": 1}', None, "breaker", "invalid value"),
        (b"tap", "push_button", "push_button", "allowed: press, hold"),
        (b"500", "voltage_l2", "voltage_l2", "0–400 V"),
        (b"1", "load_control_1", "load_control_1", "allowed: on, off"),
        (b"on", "load_control_3", "load_control_3", "unknown command"),
        (b"x", "volume", "volume", "unknown command"),
        (b"\xc3\x28", "tariff", "payload", "UTF-8"),
        (b"1" * 5000, None, "payload", "too large"),
    ],
)
def test_invalid_commands_name_the_field(payload: bytes, name: str | None, field: str, reason: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_set(payload, name)
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{field}: ")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@given(payload=st.binary(max_size=300), name=st.none() | st.sampled_from([*COMMAND_NAMES, "x", ""]))
@settings(max_examples=400, deadline=None)
def test_random_bytes_never_crash(payload: bytes, name: str | None) -> None:
    try:
        request = parse_set(payload, name)
    except CommandError as exc:
        assert exc.field and exc.reason
    else:  # random bytes can form a valid command only by spelling one
        assert all(c.name in COMMAND_NAMES for c in request.commands)


@given(doc=st.dictionaries(st.text(max_size=12).filter(lambda k: k not in (*COMMAND_NAMES, "transaction")),
                           json_values, min_size=1, max_size=4))
@settings(max_examples=300, deadline=None)
def test_random_json_objects_are_refused_with_the_key_named(doc: dict[str, object]) -> None:
    with pytest.raises(CommandError) as info:
        parse_set(json.dumps(doc).encode())
    assert info.value.field in (*doc, '""') and "unknown command" in info.value.reason


@given(value=json_values, name=st.sampled_from(COMMAND_NAMES))
@settings(max_examples=400, deadline=None)
def test_random_values_for_known_commands(value: object, name: str) -> None:
    try:
        request = parse_set(json.dumps({name: value}).encode())
    except CommandError as exc:
        assert exc.field == name or exc.field.startswith(f"{name}.")  # the command, or a key within it
    else:
        (command,) = request.commands
        assert command.name == name
