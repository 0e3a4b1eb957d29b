"""AT command lines (omnipower/at.py) and the terminal's side of the dialogue (omnipower/at_client.py): V.250 syntax,
bytes split at every boundary, and hypothesis fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnipower.at import (
    AtCommand,
    AtSyntaxError,
    CommandLine,
    CommandLineReader,
    LineTooLong,
    TextCancelled,
    TextEntered,
    error_line,
    parse_args,
    parse_command_line,
    quote,
)
from omnipower.at_client import AtClient, AtStateError, Prompt, Response, Unsolicited


@pytest.mark.parametrize(("line", "expected"), [
    ("", []),
    ("Z", [AtCommand("Z", "action")]),
    ("E0V1", [AtCommand("E", "set", (0,)), AtCommand("V", "set", (1,))]),
    ("&F", [AtCommand("&F", "action")]),
    ("+cmgf=1;+CNMI=2,1,0,0,0", [AtCommand("+CMGF", "set", (1,)), AtCommand("+CNMI", "set", (2, 1, 0, 0, 0))]),
    ("+CPIN?", [AtCommand("+CPIN", "read")]),
    ("+CNMI=?", [AtCommand("+CNMI", "test")]),
    ('+CMGS="+4520000001",145', [AtCommand("+CMGS", "set", ("+4520000001", 145))]),
    (' + c p i n = "12 34"', [AtCommand("+CPIN", "set", ("12 34",))]),  # spaces count only inside quotes
    ("+CMGD=1,", [AtCommand("+CMGD", "set", (1, None))]),
    ("+CPIN=0123", [AtCommand("+CPIN", "set", ("0123",))]),  # a leading zero keeps the text
    ('+CSCA="a\\22b"', [AtCommand("+CSCA", "set", ('a"b',))]),  # V.250 §5.4.2.2 escapes
    ("E0;+CMEE=2", [AtCommand("E", "set", (0,)), AtCommand("+CMEE", "set", (2,))]),
])
def test_command_lines(line: str, expected: list[AtCommand]) -> None:
    assert parse_command_line(line) == expected


@pytest.mark.parametrize("line", ['+CPIN="12', "+CMGF=1=2", "1", '+CSCA="a"b', "+"])
def test_malformed_lines(line: str) -> None:
    with pytest.raises(AtSyntaxError):
        parse_command_line(line)


@given(st.text(max_size=60))
def test_any_line_parses_or_says_why(line: str) -> None:
    try:
        commands = parse_command_line(line)
    except AtSyntaxError as exc:
        assert str(exc)
    else:
        assert all(c.name.isupper() or not c.name.isalpha() for c in commands)


@given(st.lists(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=20) | st.integers(
    0, 10**6), min_size=1, max_size=5))
def test_quoted_parameters_round_trip(values: list[str | int]) -> None:
    text = ",".join(quote(v) if isinstance(v, str) else str(v) for v in values)
    assert parse_args(text) == tuple(values)


def test_error_lines_follow_cmee() -> None:
    assert [error_line("CME", 16, n) for n in (0, 1, 2)] == ["ERROR", "+CME ERROR: 16",
                                                             "+CME ERROR: incorrect password"]
    assert error_line("CMS", 311, 2) == "+CMS ERROR: SIM PIN required"


STREAM = b'xx\nAT+CMGF=1\r\nat\rATE\x08Z\rAT+CMGS="+45"\r'


def _events(reader: CommandLineReader, chunks: list[bytes]) -> list[object]:
    """What a modem reads: after each command line it answers (here: the +CMGS prompt) before reading on."""
    out: list[object] = []
    for chunk in chunks:
        events = reader.feed(chunk)
        while events:
            out += events
            if isinstance(events[-1], CommandLine) and events[-1].text.startswith("+CMGS"):
                reader.expect_text()
            events = reader.feed(b"")
    return out


def test_reader_at_every_byte_boundary() -> None:
    data = STREAM + b"hello\x08o\x1aAT\r"
    whole = _events(CommandLineReader(), [data])
    assert [type(e).__name__ for e in whole] == ["CommandLine"] * 4 + ["TextEntered", "CommandLine"]
    assert [e.text for e in whole if isinstance(e, CommandLine | TextEntered)] == [
        "+CMGF=1", "", "Z", '+CMGS="+45"', "hello", ""]
    assert b"".join(e.raw for e in whole if isinstance(e, CommandLine | TextEntered)) == data
    for cut in range(1, len(data)):
        assert _events(CommandLineReader(), [data[:cut], data[cut:]]) == whole
    assert _events(CommandLineReader(), [bytes((b,)) for b in data]) == whole


def test_escape_cancels_and_overlong_lines_are_refused() -> None:
    reader = CommandLineReader()
    reader.expect_text()
    assert reader.feed(b"abc\x1b") == [TextCancelled(b"abc\x1b")]
    events = reader.feed(b"AT" + b"x" * 3000 + b"\rAT\r")
    assert isinstance(events[0], LineTooLong) and isinstance(events[1], CommandLine)
    assert events[1].text == "" and events[1].raw.endswith(b"x\rAT\r")  # the rest of the long line is no command


@given(st.binary(max_size=300), st.booleans())
def test_reader_never_raises(data: bytes, text: bool) -> None:
    reader = CommandLineReader()
    if text:
        reader.expect_text()
    events = reader.feed(data)
    while more := reader.feed(b""):
        events += more
    assert sum(len(e.raw) for e in events) <= len(data)


# --- the terminal's side --------------------------------------------------------------------------------------------
def test_client_response_urc_and_prompt_at_every_boundary() -> None:
    replies = (b'AT+CMGR=1\r\r\n+CMTI: "SM",2\r\n\r\n+CMGR: 0,,5\r\n0011\r\n\r\nOK\r\n'
               b"\r\n> ")
    expected = [Unsolicited(('+CMTI: "SM",2',)), Response("AT+CMGR=1", ("+CMGR: 0,,5", "0011"))]
    for cut in range(replies.index(b"\r\n> ") + 1):
        client = AtClient()
        client.command("AT+CMGR=1")
        events = client.feed(replies[:cut]) + client.feed(replies[cut:replies.index(b"\r\n> ")])
        assert events == expected, cut
        assert client.command("AT+CMGS=5", prompt=True) == b"AT+CMGS=5\r"
        assert client.feed(replies[replies.index(b"\r\n> "):]) == [Prompt("AT+CMGS=5")]
        assert client.text("0011") == b"0011\x1a"
        assert client.feed(b"\r\n+CMGS: 7\r\n\r\nOK\r\n") == [Response("AT+CMGS=5", ("+CMGS: 7",))]


def test_client_errors_and_two_line_codes() -> None:
    client = AtClient()
    client.command('AT+CPIN="1111"')
    (response,) = client.feed(b"\r\n+CME ERROR: incorrect password\r\n")
    assert isinstance(response, Response) and not response.ok and response.error is not None
    assert (response.error.kind, response.error.code, str(response.error)) == (
        "CME", None, "+CME ERROR: incorrect password")
    client.command("AT+CMGS=5", prompt=True)
    (refused,) = client.feed(b"\r\n+CMS ERROR: 311\r\n")
    assert isinstance(refused, Response) and refused.error is not None and refused.error.code == 311
    assert client.feed(b"\r\n+CMT: ,5\r\n0011\r\n") == [Unsolicited(("+CMT: ,5", "0011"))]
    client.command("AT+CREG?")
    assert client.feed(b"\r\n+CREG: 0,1\r\n\r\nOK\r\n") == [Response("AT+CREG?", ("+CREG: 0,1",))]
    assert client.feed(b"\r\n+CREG: 1\r\n") == [Unsolicited(("+CREG: 1",))]


def test_client_state_is_kept() -> None:
    client = AtClient()
    client.command("AT")
    with pytest.raises(AtStateError):
        client.command("AT")
    with pytest.raises(AtStateError):
        client.text("x")
    assert client.abandon() == b"" and not client.busy
    client.command("AT+CMGS=5", prompt=True)
    client.feed(b"\r\n> ")
    assert client.abandon() == b"\x1b"


@given(st.binary(max_size=400), st.booleans())
def test_client_never_raises_on_what_a_modem_says(data: bytes, prompt: bool) -> None:
    client = AtClient()
    client.command("AT+CMGS=5" if prompt else "AT+CSQ", prompt=prompt)
    events = client.feed(data)
    assert sum(isinstance(e, Response) for e in events) <= 1
