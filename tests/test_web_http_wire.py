"""The status page's HTTP/1.1 reader (gateway/web/http_wire.py): requests in any chunks, h11 as an independent judge
of what a request says, and every malformed input refused with its status, never anything else raised."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.web.http_wire import MAX_BODY, HttpError, Request, RequestReader, encode_response, sse_event

GET = b"GET /events?x=1 HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n\r\n"
POST = (b"POST /meters/m1/command HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 32\r\nCookie: a=b\r\n\r\ncommand=breaker&value=disconnect")


def test_a_request_split_at_every_byte_reads_the_same() -> None:
    whole = RequestReader().feed(GET + POST)
    assert [r.method for r in whole] == ["GET", "POST"]
    assert whole[1].body == b"command=breaker&value=disconnect"
    assert whole[0].path == "/events" and whole[0].header("accept") == "text/event-stream"
    for cut in range(1, len(GET + POST)):
        reader = RequestReader()
        assert reader.feed((GET + POST)[:cut]) + reader.feed((GET + POST)[cut:]) == whole


def test_byte_by_byte() -> None:
    reader = RequestReader()
    out: list[Request] = []
    for byte in POST:
        out += reader.feed(bytes([byte]))
    assert out == RequestReader().feed(POST)
    assert not reader.pending


def test_bare_lf_and_leading_empty_lines_are_taken() -> None:
    (request,) = RequestReader().feed(b"\r\n\nGET / HTTP/1.0\nX-A: 1\n\n")
    assert (request.method, request.target, request.version, request.headers) == ("GET", "/", "1.0", (("x-a", "1"),))
    assert not request.keep_alive


@pytest.mark.parametrize(("data", "status", "words"), [
    (b"GET / HTTP/1.1\r\n\r\n", 400, "Host"),
    (b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request line"),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP/2.0"),
    (b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501, "BREW"),
    (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "token"),
    (b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target"),
    (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, "folding"),
    (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400, "NAME: VALUE"),
    (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400, "control"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "Transfer-Encoding"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "conflicting"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "not a number"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1), 413, "longer"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, "request line"),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 100 + b"\r\n", 431, "header fields"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"y" * 30000, 431, "header section"),
])
def test_malformed_requests_get_their_status(data: bytes, status: int, words: str) -> None:
    reader = RequestReader()
    with pytest.raises(HttpError) as caught:
        reader.feed(data)
    assert caught.value.status == status and words in caught.value.reason
    with pytest.raises(HttpError):  # spent: the connection is to be closed
        reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")


def test_identical_content_lengths_are_one() -> None:
    (request,) = RequestReader().feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nok")
    assert request.body == b"ok"


def test_responses_and_events() -> None:
    assert encode_response(200, [("A", "b")], b"hi") == b"HTTP/1.1 200 OK\r\nA: b\r\nContent-Length: 2\r\n\r\nhi"
    assert encode_response(200, [], b"hi", head_only=True).endswith(b"Content-Length: 2\r\n\r\n")
    with pytest.raises(ValueError, match="CR, LF"):
        encode_response(200, [("Location", "/\r\nSet-Cookie: x")])
    assert sse_event("meter", "a\nb") == b"event: meter\ndata: a\ndata: b\n\n"


# --- h11 as the judge -------------------------------------------------------------------------------------------------
TOKEN = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
VALUE = st.text("".join(map(chr, range(0x21, 0x7F))) + " ", max_size=30).map(str.strip)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, str, str, list[tuple[str, str]], bytes]:
    method = draw(st.sampled_from(["GET", "POST", "HEAD", "DELETE"]))
    target = "/" + draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789/?=&%._-", max_size=40))
    names = draw(st.lists(TOKEN.filter(lambda n: n not in ("host", "content-length", "transfer-encoding",
                                                           "connection")), max_size=6))
    headers = [("host", "gw"), *((name, draw(VALUE)) for name in names)]
    body = draw(st.binary(max_size=64)) if method == "POST" else b""
    if body:
        headers.append(("content-length", str(len(body))))
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    head = f"{method} {target} HTTP/1.1{eol}" + "".join(f"{n}: {v}{eol}" for n, v in headers) + eol
    return head.encode() + body, method, target, headers, body


def h11_reads(data: bytes) -> tuple[str, str, list[tuple[str, str]], bytes]:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    event = conn.next_event()
    assert isinstance(event, h11.Request)
    body = b""
    while isinstance(part := conn.next_event(), h11.Data):
        body += part.data
    assert isinstance(part, h11.EndOfMessage)
    return (event.method.decode(), event.target.decode(),
            [(n.decode(), v.decode("latin-1")) for n, v in event.headers], body)


@settings(max_examples=300, deadline=None)
@given(requests(), st.data())
def test_we_read_what_h11_reads(sample: tuple[bytes, str, str, list[tuple[str, str]], bytes],
                                data: st.DataObject) -> None:
    raw = sample[0]
    cut = data.draw(st.integers(0, len(raw)))
    reader = RequestReader()
    (ours,) = reader.feed(raw[:cut]) + reader.feed(raw[cut:])
    method, target, headers, body = h11_reads(raw)
    assert (ours.method, ours.target, list(ours.headers), ours.body) == (method, target, headers, body)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([GET, POST, b"\r\n", b"\n", b": ", b" HTTP/1.1",
                                                                     b"Content-Length: 5\r\n", b"\x00", b"\xff"])),
                max_size=12))
def test_any_bytes_give_requests_or_an_http_error(chunks: list[bytes]) -> None:
    reader = RequestReader()
    try:
        for chunk in chunks:
            for request in reader.feed(chunk):
                assert request.method and request.target and request.version in ("1.0", "1.1")
    except HttpError as exc:
        assert 400 <= exc.status < 600 and exc.reason
