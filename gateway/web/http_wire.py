"""HTTP/1.1 for the status page, sans-IO in the h11 spirit: bytes in, typed requests out; responses out as bytes.

Only what the page needs (RFC 9112): requests with a Content-Length body or none, persistent connections, no
chunked request bodies (`Transfer-Encoding` is answered 501), no obsolete line folding (400). Every malformed or
oversized request raises `HttpError` with the status to answer and a reason naming what was wrong; the connection
is then closed, as the framing can no longer be trusted. Limits are small: the page's requests are a few hundred
bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["HttpError", "Request", "RequestReader", "encode_response", "sse_event"]

MAX_LINE = 8192  # request line (414 beyond)
MAX_HEADER_BYTES = 16384  # the whole header section (431 beyond)
MAX_HEADERS = 64
MAX_BODY = 16384  # a login or command form (413 beyond)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"})

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 §5.6.2
_TARGET = re.compile(rb"^[\x21-\x7e]+$")  # visible ASCII, no blanks
_FIELD_VALUE = re.compile(rb"^[\t\x20-\x7e\x80-\xff]*$")  # no control characters but HTAB
_VERSION = re.compile(rb"^HTTP/(\d)\.(\d)$")

REASONS = {
    200: "OK", 204: "No Content", 303: "See Other", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    413: "Content Too Large", 414: "URI Too Long", 415: "Unsupported Media Type", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable", 505: "HTTP Version Not Supported",
}


class HttpError(Exception):
    """A request that cannot be served: answer `status`, then close the connection."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {REASONS.get(status, '')}: {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str  # as sent: path and query
    version: str  # "1.1" or "1.0"
    headers: tuple[tuple[str, str], ...]  # names lower-cased, in order
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of the header `name` (lower case); several are joined with ", " (RFC 9110 §5.3)."""
        values = [v for n, v in self.headers if n == name]
        return ", ".join(values) if values else None

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        if self.version == "1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class RequestReader:
    """Feed bytes as they come (any chunks); get the complete requests they finish. After an `HttpError` the
    reader is spent: close the connection."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._head: tuple[str, str, str, tuple[tuple[str, str], ...]] | None = None
        self._body_length = 0
        self._failed: HttpError | None = None

    @property
    def pending(self) -> bool:
        """Whether part of a request has arrived (a half-read request may be timed out; an idle connection is
        only closed)."""
        return bool(self._buffer) or self._head is not None

    def feed(self, data: bytes) -> list[Request]:
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        out: list[Request] = []
        try:
            while (request := self._next()) is not None:
                out.append(request)
        except HttpError as exc:
            self._failed = exc
            raise
        return out

    def _next(self) -> Request | None:
        if self._head is None:
            while self._buffer[:2] == b"\r\n" or self._buffer[:1] == b"\n":  # RFC 9112 §2.2: ignore empty lines
                del self._buffer[:2 if self._buffer[:1] == b"\r" else 1]
            end = self._buffer.find(b"\n\r\n"), self._buffer.find(b"\n\n")
            ends = [(i, n) for i, n in zip(end, (3, 2), strict=True) if i >= 0]
            if not ends:
                self._check_incomplete_head()
                return None
            at, skip = min(ends)
            if at + skip > MAX_HEADER_BYTES + MAX_LINE:
                raise HttpError(431, f"the header section is longer than {MAX_HEADER_BYTES} bytes")
            head = bytes(self._buffer[:at + 1])
            del self._buffer[:at + skip]
            self._head = _parse_head(head)
            self._body_length = _body_length(self._head[3])
        if len(self._buffer) < self._body_length:
            return None
        body = bytes(self._buffer[:self._body_length])
        del self._buffer[:self._body_length]
        method, target, version, headers = self._head
        self._head = None
        return Request(method, target, version, headers, body)

    def _check_incomplete_head(self) -> None:
        """Refuse a head that is already too long, or starts with something no request starts with, before it ends."""
        first = self._buffer.split(b"\n", 1)
        if len(first) == 1 and len(first[0]) > MAX_LINE:
            raise HttpError(414, f"the request line is longer than {MAX_LINE} bytes")
        if len(self._buffer) > MAX_HEADER_BYTES + MAX_LINE:
            raise HttpError(431, f"the header section is longer than {MAX_HEADER_BYTES} bytes")


def _lines(head: bytes) -> list[bytes]:
    """The lines of a head ending in LF; CRLF or a bare LF end a line (RFC 9112 §2.2)."""
    lines = head.split(b"\n")[:-1]
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _parse_head(head: bytes) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    lines = _lines(head)
    method, target, version = _request_line(lines[0])
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header fields")
    headers = tuple(_header(line) for line in lines[1:])
    if version == "1.1" and not any(name == "host" for name, _ in headers):
        raise HttpError(400, "an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)")
    return method, target, version, headers


def _request_line(line: bytes) -> tuple[str, str, str]:
    if len(line) > MAX_LINE:
        raise HttpError(414, f"the request line is longer than {MAX_LINE} bytes")
    parts = line.split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "the request line must be METHOD SP TARGET SP HTTP-VERSION")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise HttpError(400, "the method is not a token")
    if not _TARGET.match(target):
        raise HttpError(400, "the request target has blanks, control or non-ASCII characters")
    match = _VERSION.match(version)
    if match is None:
        raise HttpError(400, "the HTTP version must be HTTP/d.d")
    if match.group(1) != b"1":
        raise HttpError(505, f"{version.decode('ascii')} (this server speaks HTTP/1.0 and HTTP/1.1)")
    if method.decode("ascii") not in METHODS:
        raise HttpError(501, f"method {method.decode('ascii')!r} is not implemented")
    return method.decode("ascii"), target.decode("ascii"), "1.1" if match.group(2) != b"0" else "1.0"


def _header(line: bytes) -> tuple[str, str]:
    if line[:1] in (b" ", b"\t"):
        raise HttpError(400, "obsolete line folding is not accepted (RFC 9112 §5.2)")
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.match(name):
        raise HttpError(400, "a header line must be NAME: VALUE with a token for the name")
    value = value.strip(b" \t")
    if not _FIELD_VALUE.match(value):
        raise HttpError(400, f"header {name.decode('ascii')!r} has control characters")
    return name.decode("ascii").lower(), value.decode("latin-1")


def _body_length(headers: tuple[tuple[str, str], ...]) -> int:
    if any(name == "transfer-encoding" for name, _ in headers):
        raise HttpError(501, "Transfer-Encoding in a request is not implemented (send Content-Length)")
    lengths = {value.strip() for name, value in headers if name == "content-length"}
    # RFC 9110 §8.6: a list of identical values may be taken as one
    values = {part.strip() for value in lengths for part in value.split(",")}
    if not values:
        return 0
    if len(values) > 1:
        raise HttpError(400, "conflicting Content-Length values")
    text = values.pop()
    if not text.isdigit() or not text.isascii():
        raise HttpError(400, f"Content-Length {text[:20]!r} is not a number")
    if len(text) > 9 or int(text) > MAX_BODY:
        raise HttpError(413, f"the body is longer than {MAX_BODY} bytes")
    return int(text)


def encode_response(status: int, headers: list[tuple[str, str]], body: bytes = b"", *, head_only: bool = False,
                    length: bool = True) -> bytes:
    """A response: status line, headers (Content-Length added unless `length` is False: a stream), body.
    `head_only`: the answer to HEAD, the length of the body without it."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    for name, value in headers:
        if any(c in name + value for c in "\r\n\0"):
            raise ValueError(f"header {name!r}: CR, LF and NUL cannot be sent")
        lines.append(f"{name}: {value}")
    if length:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


def sse_event(event: str, data: str) -> bytes:
    """One Server-Sent Event (HTML Living Standard §9.2): each line of `data` on a `data:` line."""
    lines = [f"event: {event}", *(f"data: {line}" for line in data.split("\n"))]
    return ("\n".join(lines) + "\n\n").encode()
