"""The status page's routes: one request in, one reply out (a stream for the live events).

| method | path | what |
|---|---|---|
| GET | `/` | the page |
| GET | `/events` | Server-Sent Events: each meter's live part, again whenever what the gateway publishes changes |
| GET | `/live` | every meter's live part at once, for a page whose event stream does not get through (polling) |
| GET | `/static/page.css`, `/static/page.js` | the page's style and script (the only ones the CSP allows) |
| GET, POST | `/login` | the login form; POST opens a session (cookie) |
| POST | `/logout` | closes it |
| POST | `/meters/<id>/command` | `command` (breaker, tariff), `value`: run as MQTT's `set/<command>` with it |

A command goes through the MQTT request handler's own `set` (gateway/requests.py: the command table's parsers, the
source's checks, in turn with MQTT's requests), so the page's answer, error text included, is the `response` MQTT
would have given; the events it causes are published on MQTT as theirs are. POSTs need a session and its CSRF token.

Served under a path prefix (Home Assistant's ingress) the page takes the prefix from `X-Ingress-Path`, which the
Supervisor's proxy sends with every request it forwards (with the prefix already taken off the path): links, form
actions, redirects and the cookie's path then carry it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import parse_qs

from gateway.api import Response
from gateway.outbox import Outgoing
from gateway.sources.base import Source
from gateway.web.board import Board
from gateway.web.http_wire import HttpError, Request, sse_event
from gateway.web.page import PAGE_COMMANDS, PageView, live_part, login_page, page
from gateway.web.sessions import COOKIE, Session, Sessions, csrf_ok

log = logging.getLogger(__name__)

Execute = Callable[[str, bytes, str], Awaitable[tuple[Response, list[Outgoing]]]]
Send = Callable[[list[Outgoing], bool], None]

MAX_STREAMS = 16  # event streams at once (each holds a connection)
KEEPALIVE_S = 15.0  # a comment on an idle stream, so that proxies keep it open
LOGIN_DELAY_S = 1.0  # a failed login is answered this late: guessing a password takes a second a try
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~\-]+){1,16}$")
_METER_COMMAND = re.compile(r"^/meters/([^/]+)/command$")

SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
     "connect-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "SAMEORIGIN"),  # frame-ancestors for old browsers: Home Assistant's panel is same-origin
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
]
_STATIC = {"/static/page.css": "text/css; charset=utf-8", "/static/page.js": "text/javascript; charset=utf-8"}


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncGenerator[bytes, None] | None = None  # sent after the head, until it ends; the connection then closes

    def all_headers(self) -> list[tuple[str, str]]:
        return [("Content-Type", self.content_type), *SECURITY_HEADERS, *self.headers]


def _text(status: int, message: str) -> Reply:
    return Reply(status, (message + "\n").encode())


def _json(status: int, doc: object) -> Reply:
    return Reply(status, json.dumps(doc).encode(), "application/json")


def _refused(status: int, error: str) -> Reply:
    """A refused POST, in the shape of MQTT's response (the page shows `error`)."""
    return _json(status, {"status": "error", "error": error})


def base_path(request: Request) -> str:
    """The prefix the page is served under: Home Assistant ingress's `X-Ingress-Path`, if it is a plain path."""
    prefix = request.header("x-ingress-path") or ""
    return prefix if _PREFIX.match(prefix) and ".." not in prefix else ""


class App:
    def __init__(self, board: Board, sources: dict[str, Source], sessions: Sessions, execute: Execute, send: Send,
                 clock: Callable[[], float]) -> None:
        self.board = board
        self.sources = {mid: sources[mid] for mid in board.meter_ids}
        self.sessions = sessions
        self.execute = execute
        self.send = send
        self.clock = clock
        self.streams = 0
        self._live: dict[str, tuple[int, str]] = {}  # meter → (board version, its live part): one render per change
        self._static = {path: resources.files("gateway.web").joinpath(path.lstrip("/")).read_bytes()
                        for path in _STATIC}

    async def handle(self, request: Request) -> Reply:
        """Never raises for what a client sends: each refusal is a reply with its status and reason."""
        method = "GET" if request.method == "HEAD" else request.method
        path = request.path
        if path in _STATIC or path in ("/", "/events", "/live"):
            if method != "GET":
                return Reply(405, b"GET only\n", headers=[("Allow", "GET, HEAD")])
            if path == "/":
                return self._page(request)
            if path == "/events":
                return self._events()
            if path == "/live":
                return _json(200, {"meters": [{"id": mid, "html": self.live(mid)} for mid in self.sources]})
            return Reply(200, self._static[path], _STATIC[path], [("Cache-Control", "no-cache")])
        if path == "/login":
            if method == "GET":
                return Reply(200, login_page(base_path(request), None, self.sessions.read_only).encode(),
                             "text/html; charset=utf-8")
            return await self._login(request) if method == "POST" else Reply(405, headers=[("Allow", "GET, POST")])
        if path == "/logout":
            return self._logout(request) if method == "POST" else Reply(405, headers=[("Allow", "POST")])
        match = _METER_COMMAND.match(path)
        if match is not None:
            if method != "POST":
                return Reply(405, b"POST only\n", headers=[("Allow", "POST")])
            return await self._command(request, match.group(1))
        return _text(404, f"no page at {path[:100]}")

    # --- pages ------------------------------------------------------------------------------------------------------
    def _page(self, request: Request) -> Reply:
        session = self.sessions.find(request.header("cookie"), self.clock())
        view = PageView(base_path(request), tuple(s.info for s in self.sources.values()),
                        session.username if session else None, session.csrf if session else None,
                        self.sessions.read_only)
        return Reply(200, page(view, self.board).encode(), "text/html; charset=utf-8")

    def live(self, meter_id: str) -> str:
        version = self.board.versions[meter_id]
        cached = self._live.get(meter_id)
        if cached is None or cached[0] != version:
            cached = version, live_part(self.sources[meter_id].info, self.board)
            self._live[meter_id] = cached
        return cached[1]

    def _events(self) -> Reply:
        if self.streams >= MAX_STREAMS:
            return _text(503, f"at most {MAX_STREAMS} pages follow the meters at once; try again later")
        # X-Accel-Buffering: proxies (nginx, the Supervisor's) pass the events on as they come
        return Reply(200, content_type="text/event-stream; charset=utf-8", stream=self._stream(),
                     headers=[("X-Accel-Buffering", "no")])

    async def _stream(self) -> AsyncGenerator[bytes, None]:
        self.streams += 1
        try:
            seen: dict[str, int] = {}
            yield b"retry: 3000\n\n"
            changed = list(self.board.meter_ids)
            while True:
                for mid in changed:
                    seen[mid] = self.board.versions[mid]
                    yield sse_event("meter", json.dumps({"id": mid, "html": self.live(mid)}))
                changed = await self.board.wait_changed(seen, KEEPALIVE_S)
                if not changed:
                    yield b": keep-alive\n\n"
        finally:
            self.streams -= 1

    # --- sessions ---------------------------------------------------------------------------------------------------
    async def _login(self, request: Request) -> Reply:
        form = _form(request)
        base = base_path(request)
        if self.sessions.check(form.get("username", ""), form.get("password", "")):
            session = self.sessions.open(form["username"], self.clock())
            cookie = f"{COOKIE}={session.token}; Path={base}/; HttpOnly; SameSite=Strict"
            return Reply(303, b"", headers=[("Location", f"{base}/"), ("Set-Cookie", cookie)])
        await asyncio.sleep(LOGIN_DELAY_S)
        error = "This page is read-only: nobody can log in." if self.sessions.read_only else \
            "Wrong user name or password."
        return Reply(403, login_page(base, error, self.sessions.read_only).encode(), "text/html; charset=utf-8")

    def _logout(self, request: Request) -> Reply:
        session, refusal = self._authorised(request, _form(request))
        if session is None:
            return refusal or _refused(403, "not logged in")
        self.sessions.close(session)
        base = base_path(request)
        cookie = f"{COOKIE}=; Path={base}/; HttpOnly; SameSite=Strict; Max-Age=0"
        return Reply(303, b"", headers=[("Location", f"{base}/"), ("Set-Cookie", cookie)])

    def _authorised(self, request: Request, form: dict[str, str]) -> tuple[Session | None, Reply | None]:
        """The session a POST is made in, or the refusal: read-only (403), no session (401), no CSRF token (403)."""
        if self.sessions.read_only:
            return None, _refused(403, "read-only: no web.username and web.password are configured")
        session = self.sessions.find(request.header("cookie"), self.clock())
        if session is None:
            return None, Reply(401, json.dumps({"status": "error", "error": "log in first"}).encode(),
                               "application/json", [("WWW-Authenticate", 'FormLogin realm="omnipower", path="/login"')])
        if not csrf_ok(session, form.get("csrf")):
            return None, _refused(403, "the form's CSRF token is missing or stale: reload the page")
        return session, None

    # --- commands ---------------------------------------------------------------------------------------------------
    async def _command(self, request: Request, meter_id: str) -> Reply:
        if meter_id not in self.sources:
            return _refused(404, f"no meter {meter_id[:64]!r} on this page")
        form = _form(request)
        session, refusal = self._authorised(request, form)
        if session is None:
            return refusal or _refused(403, "not logged in")
        name = form.get("command", "")
        if name not in PAGE_COMMANDS:
            return _refused(400, f"command: the page operates {', '.join(PAGE_COMMANDS)}")
        value = form.get("value", "")
        log.info("status page: %s sends %s=%r to meter %s", session.username, name, value[:64], meter_id)
        try:
            response, events = await self.execute(meter_id, value.encode(), name)
        except Exception as exc:  # as MQTT's handler: a fault of ours is logged and answered, never a dead page
            log.exception("status page: command %s on meter %s failed", name, meter_id)
            return _refused(500, f"set: internal error ({type(exc).__name__}); logged by the gateway")
        self.send(events, True)
        return Reply(200, response.to_bytes(), "application/json")


def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the first value of each name); anything else is no form."""
    kind = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "the form is not UTF-8") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=16)
    except ValueError as exc:  # more fields than any form of the page has
        raise HttpError(400, f"the form: {exc}") from None
    return {k: v[0] for k, v in fields.items()}
