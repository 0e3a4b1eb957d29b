"""The ADDR form shared by `omnipower-sim serve` and gateway sources:
`tcp:HOST:PORT`, `pty:PATH` (a pseudo-terminal with a symlink at PATH) or a serial device path.
Serial forms may add `,BAUD` and `,FRAMING` (e.g. `/dev/ttyUSB0,2400,8E1`); each interface has
its own defaults (HAN 2400 8N1, Modbus 9600 8N1, M-Bus 2400 8E1, optical 300 7E1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from omnipower.errors import OmnipowerError


class AddressError(OmnipowerError, ValueError):
    """An ADDR that is none of the three forms."""


@dataclass(frozen=True, slots=True)
class Address:
    kind: Literal["tcp", "pty", "serial"]
    host: str = ""
    port: int = 0
    path: str = ""
    baud: int | None = None
    framing: str | None = None  # data bits, parity N/E/O, stop bits: "8N1", "8E1", "7E1"

    @property
    def bytesize(self) -> int:
        return int((self.framing or "8N1")[0])

    @property
    def parity(self) -> str:
        return (self.framing or "8N1")[1]

    @property
    def stopbits(self) -> int:
        return int((self.framing or "8N1")[2])

    def __str__(self) -> str:
        if self.kind == "tcp":
            return f"tcp:{self.host}:{self.port}"
        base = f"pty:{self.path}" if self.kind == "pty" else self.path
        return ",".join([base, *([str(self.baud)] if self.baud else []), *([self.framing] if self.framing else [])])


_FRAMINGS = {f"{bits}{parity}{stop}" for bits in "78" for parity in "NEO" for stop in "12"}


def parse_address(text: str) -> Address:
    if text.startswith("tcp:"):
        host, sep, port = text[4:].rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise AddressError(f"{text!r}: expected tcp:HOST:PORT with a port 1–65535")
        return Address("tcp", host=host.strip("[]"), port=int(port))
    path, *options = text.split(",")
    baud: int | None = None
    framing: str | None = None
    for option in options:
        if option.isdigit() and 50 <= int(option) <= 4_000_000:
            baud = int(option)
        elif option.upper() in _FRAMINGS:
            framing = option.upper()
        else:
            raise AddressError(f"{text!r}: {option!r} is neither a baud rate nor a framing such as 8N1, 8E1, 7E1")
    if path.startswith("pty:"):
        if len(path) == 4:
            raise AddressError(f"{text!r}: expected pty:PATH (where the pty's symlink goes)")
        return Address("pty", path=path[4:], baud=baud, framing=framing)
    if path.startswith("/"):
        return Address("serial", path=path, baud=baud, framing=framing)
    raise AddressError(f"{text!r}: expected tcp:HOST:PORT, pty:PATH or a serial device path such as /dev/ttyUSB0")
