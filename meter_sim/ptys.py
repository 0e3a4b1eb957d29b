"""A pty pair for tools that want a tty, relayed to a second pty that our own serial server opens.

Like `socat pty,link=A pty,link=B`: pymodbus (or any pyserial user) opens the inner pty's slave as
if it were a serial port, a third-party tool opens the outer one at PATH, and this relay copies
bytes between the two masters. Parity is not enforced by ptys (and they refuse even parity), so
both ends run 8N1 here; a real serial device path takes the configured parity.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path


class PtyRelay:
    """`expose=False` leaves PATH absent until `expose()`: a server opens `inner_path` first, so that
    no tool can write before the line is open (pyserial flushes a port's input when it opens it)."""

    def __init__(self, link: str, expose: bool = True) -> None:
        self.link = Path(link)
        self._fds: list[int] = []
        self.inner_path = ""
        self._expose = expose

    def __enter__(self) -> PtyRelay:
        outer_master, outer_slave = os.openpty()
        inner_master, inner_slave = os.openpty()
        for fd in (outer_slave, inner_slave):
            tty.setraw(fd)
        self._fds = [outer_master, outer_slave, inner_master, inner_slave]
        self.inner_path = os.ttyname(inner_slave)
        if self._expose:
            self.expose()
        loop = asyncio.get_running_loop()
        loop.add_reader(outer_master, self._copy, outer_master, inner_master)
        loop.add_reader(inner_master, self._copy, inner_master, outer_master)
        return self

    def expose(self) -> None:
        """Make the outer pty reachable at PATH."""
        if self.link.is_symlink() or self.link.exists():
            self.link.unlink()
        self.link.parent.mkdir(parents=True, exist_ok=True)
        self.link.symlink_to(os.ttyname(self._fds[1]))

    @staticmethod
    def _copy(src: int, dst: int) -> None:
        with contextlib.suppress(OSError):  # EIO while no one has the other side open
            data = os.read(src, 4096)
            if data:
                os.write(dst, data)

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for fd in (self._fds[0], self._fds[2]):
            loop.remove_reader(fd)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            self.link.unlink()
