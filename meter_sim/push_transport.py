"""Where a pushing module (HAN) writes its frames: every client of a TCP port, a pty (tools open
the symlink), or a serial device. Like the wire, nobody listening means the frame is gone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path
from typing import Any

from meter_sim.serial_line import open_serial
from omnipower.address import Address


class PushTransport:
    def __init__(self, address: Address, baud: int, framing: str) -> None:
        self.address = address
        self.baud = address.baud or baud
        self.framing = address.framing or framing
        self._clients: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._fd: int | None = None
        self._slave_fd: int | None = None
        self._serial: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> PushTransport:
        a = self.address
        if a.kind == "tcp":
            self._server = await asyncio.start_server(self._accept, a.host, a.port)
        elif a.kind == "pty":
            self._fd, self._slave_fd = _open_pty(a.path)
        else:
            _, self._serial = await open_serial(a.path, self.baud, self.framing)
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        with contextlib.suppress(ConnectionError):
            await reader.read()  # a push interface ignores what clients send; wait for them to leave
        self._clients.discard(writer)
        writer.close()

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
