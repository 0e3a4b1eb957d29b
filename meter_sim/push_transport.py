"""Where a pushing module (HAN) writes its frames: every client of a TCP port, a pty (tools open
the symlink), or a serial device. Like the wire, nobody listening means the frame is gone.

A module that also answers its host (the iM871A stick) gives `on_receive`: what the host writes is handed to
it, and what it returns is sent like a frame (to every TCP client: they share the line, as on one serial
port)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meter_sim.serial_line import open_serial
from omnipower.address import Address


class PushTransport:
    def __init__(self, address: Address, baud: int, framing: str,
                 on_receive: Callable[[bytes], bytes] | None = None) -> None:
        self.address = address
        self.on_receive = on_receive
        self.baud = address.baud or baud
        self.framing = address.framing or framing
        self._clients: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._fd: int | None = None
        self._slave_fd: int | None = None
        self._serial: asyncio.StreamWriter | None = None
        self._serial_reading: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PushTransport:
        a = self.address
        if a.kind == "tcp":
            self._server = await asyncio.start_server(self._accept, a.host, a.port)
        elif a.kind == "pty":
            self._fd, self._slave_fd = _open_pty(a.path)
            if self.on_receive is not None:
                asyncio.get_running_loop().add_reader(self._fd, self._read_pty, self._fd)
        else:
            reader, self._serial = await open_serial(a.path, self.baud, self.framing)
            if self.on_receive is not None:
                self._serial_reading = asyncio.create_task(self._read_stream(reader))
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        with contextlib.suppress(ConnectionError):
            if self.on_receive is None:
                await reader.read()  # a push interface ignores what clients send; wait for them to leave
            else:
                await self._read_stream(reader)
        self._clients.discard(writer)
        writer.close()

    async def _read_stream(self, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(4096):
            self._received(data)

    def _read_pty(self, fd: int) -> None:
        try:
            data = os.read(fd, 4096)
        except (BlockingIOError, OSError):  # nothing after all, or the line went away
            return
        self._received(data)

    def _received(self, data: bytes) -> None:
        assert self.on_receive is not None
        if answer := self.on_receive(data):
            self.send(answer)

    def send(self, frame: bytes) -> None:
        for writer in list(self._clients):
            if writer.is_closing():
                self._clients.discard(writer)
            else:
                writer.write(frame)
        if self._fd is not None:
            with contextlib.suppress(BlockingIOError, OSError):  # no reader: the bytes are lost, as on a wire
                os.write(self._fd, frame)
        if self._serial is not None:
            self._serial.write(frame)

    async def __aexit__(self, *exc: Any) -> None:
        if self._fd is not None and self.on_receive is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
        if self._serial_reading is not None:
            self._serial_reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._serial_reading
        if self._server is not None:
            self._server.close()
            for writer in self._clients:
                writer.close()
        for fd in (self._fd, self._slave_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self.address.kind == "pty":
            _remove_link(self.address.path)
        if self._serial is not None:
            self._serial.close()


def _open_pty(link_path: str) -> tuple[int, int]:
    """A raw pty whose slave is reachable at `link_path`; writes to the master never block."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    link = Path(link_path)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.ttyname(slave))
    return master, slave


def _remove_link(link_path: str) -> None:
    with contextlib.suppress(OSError):
        Path(link_path).unlink()
