"""The status page's transport: an asyncio TCP server moving bytes between sockets, the request reader
(http_wire.py) and the routes (app.py). A connection is served one request at a time (keep-alive); a bad request is
answered with its status and the connection closed; nothing a client sends ends the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway.bridge import Bridge
from gateway.config import Settings
from gateway.web.app import App, Reply
from gateway.web.board import Board
from gateway.web.http_wire import HttpError, Request, RequestReader, encode_response
from gateway.web.sessions import Sessions

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 64
REQUEST_TIMEOUT_S = 10.0  # a request must arrive whole within this (slow-loris)
IDLE_TIMEOUT_S = 60.0  # a kept-alive connection with nothing to say is closed
WRITE_TIMEOUT_S = 10.0  # a client that does not read what it asked for is dropped


class WebServer:
    """`run()` serves until cancelled. The page shows the meters listed in `meters` (not a fleet's members)."""

    def __init__(self, settings: Settings, bridge: Bridge) -> None:
        web = self.settings = settings.web
        self.board = Board(bridge.topics, [m.id for m in settings.meters])
        bridge.link.watchers.append(self.board.watch)  # what the gateway publishes, the board shows
        self.app = App(self.board, bridge.sources, Sessions(web.username, web.password), bridge.requests.set_locked,
                       bridge.link.queue, asyncio.get_running_loop().time)
        self.connections = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the connections' handlers, ended with the server
        self.port: int | None = None  # the port listened on (known once `started` is set)
        self.started = asyncio.Event()

    async def run(self) -> None:
        server = await asyncio.start_server(self._serve, self.settings.host, self.settings.port,
                                            limit=65536, reuse_address=True)
        self.port = server.sockets[0].getsockname()[1]
        mode = "read-only" if self.settings.read_only else "controls after login"
        log.info("status page on http://%s:%d/ (%s)", self.settings.host, self.port, mode)
        self.started.set()
        try:
            async with server:
                await server.serve_forever()
        finally:
            for task in self._tasks:  # an event stream would outlive the server (serve_forever leaves them be)
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if self.connections > MAX_CONNECTIONS:
                await _write(writer, encode_response(503, [("Connection", "close"), ("Content-Type", "text/plain")],
                                                     b"too many connections\n"))
                return
            await self._requests(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled: nothing to answer
        except Exception:  # a fault of ours ends this connection only
            log.exception("status page: a connection failed")
        finally:
            self.connections -= 1
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        wire = RequestReader()
        while True:
            timeout = REQUEST_TIMEOUT_S if wire.pending else IDLE_TIMEOUT_S
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout)
            except TimeoutError:
                if wire.pending:
                    await _write(writer, _error(HttpError(408, "the request did not arrive in time")))
                return
            if not data:
                return
            try:
                requests = wire.feed(data)
            except HttpError as exc:
                await _write(writer, _error(exc))
                return
            for request in requests:
                if not await self._answer(request, writer):
                    return

    async def _answer(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether the connection goes on."""
        try:
            reply = await self.app.handle(request)
        except HttpError as exc:
            await _write(writer, _error(exc))
            return False
        keep = request.keep_alive and reply.stream is None
        headers = [*reply.all_headers(), ("Connection", "keep-alive" if keep else "close")]
        head_only = request.method == "HEAD"
        if reply.stream is None or head_only:
            await _write(writer, encode_response(reply.status, headers, reply.body, head_only=head_only))
            return keep
        await _write(writer, encode_response(reply.status, headers, length=False))
        async with contextlib.aclosing(reply.stream) as stream:  # ends only with the connection
            async for chunk in stream:
                await _write(writer, chunk)
        return False


def _error(exc: HttpError) -> bytes:
    reply = Reply(exc.status, (exc.reason + "\n").encode())
    return encode_response(exc.status, [*reply.all_headers(), ("Connection", "close")], reply.body)


async def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT_S)
