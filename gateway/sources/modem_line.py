"""A GSM modem on a line, for the `sms` source: the async adapter around the sans-IO AT client (omnipower/at_client.py).

A reader task feeds the modem's bytes to the client; each command waits for its own response (one at a time, every
wait bounded), and new-message indications (`+CMTI`) are queued by storage index whenever they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from omnipower.at_client import AtClient, Prompt, Response, Unsolicited

log = logging.getLogger(__name__)
_CMTI = re.compile(r'^\+CMTI:\s*"[^"]*",\s*(\d+)$')


class ModemFailure(Exception):
    """The modem answers nothing, or refuses what it must do; the message says which command and how."""


class ModemLine:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.client = AtClient()
        self.new_messages: asyncio.Queue[int] = asyncio.Queue()  # storage indexes of +CMTI
        self._waiting: asyncio.Future[Response | Prompt] | None = None
        self._lock = asyncio.Lock()
        self.closed = asyncio.Event()  # the line is gone: whoever waits for the modem stops waiting
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(4096):
                for event in self.client.feed(data):
                    if isinstance(event, Unsolicited):
                        self._unsolicited(event)
                    elif self._waiting is not None and not self._waiting.done():
                        self._waiting.set_result(event)
        except OSError as exc:  # a serial device unplugged, a pty whose other side went away
            log.debug("modem line lost: %s", exc)
        finally:
            self.closed.set()
            if self._waiting is not None and not self._waiting.done():
                self._waiting.set_exception(ModemFailure("the modem's line closed"))

    async def next_message(self) -> int:
        """The storage index of the next new message; ModemFailure when the line closes first."""
        getter = asyncio.ensure_future(self.new_messages.get())
        closing = asyncio.ensure_future(self.closed.wait())
        taken = False
        try:
            await asyncio.wait((getter, closing), return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                taken = True
                return getter.result()
            raise ModemFailure("the modem's line closed")
        finally:
            closing.cancel()
            if not getter.done():
                getter.cancel()
            elif not taken and not getter.cancelled():  # cancelled ourselves just as it came: keep it
                self.new_messages.put_nowait(getter.result())

    def _unsolicited(self, event: Unsolicited) -> None:
        match = _CMTI.match(event.lines[0])
        if match:
            self.new_messages.put_nowait(int(match.group(1)))
        else:
            log.debug("modem: unsolicited %s", " / ".join(event.lines))

    async def _exchange(self, data: bytes, timeout: float) -> Response | Prompt:
        if self.closed.is_set():
            raise ModemFailure("the modem's line closed")
        self._waiting = asyncio.get_running_loop().create_future()
        self.writer.write(data)
        await self.writer.drain()
        try:
            async with asyncio.timeout(timeout):
                return await self._waiting
        except TimeoutError:
            self.writer.write(self.client.abandon())
            raise

    async def command(self, command: str, timeout: float = 10.0) -> Response:
        """The response to `command` (OK or an error: see `Response.ok`); ModemFailure on silence or a lost line."""
        async with self._lock:
            try:
                event = await self._exchange(self.client.command(command), timeout)
            except TimeoutError:
                raise ModemFailure(f"no answer to {command} within {timeout:g} s") from None
        assert isinstance(event, Response)
        return event

    async def send(self, command: str, text: str, timeout: float = 30.0) -> Response:
        """A command that prompts for text (`AT+CMGS`): the text (and Ctrl-Z) after the prompt; its response."""
        async with self._lock:
            try:
                event = await self._exchange(self.client.command(command, prompt=True), timeout)
                if isinstance(event, Prompt):
                    event = await self._exchange(self.client.text(text), timeout)
            except TimeoutError:
                raise ModemFailure(f"no answer to {command} within {timeout:g} s") from None
        assert isinstance(event, Response)
        return event

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.writer.close()
