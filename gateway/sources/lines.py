"""Opening the line to a meter: TCP, a pty, or a serial port (the transports of the wire sources)."""

from __future__ import annotations

import asyncio
import logging
import termios
from collections.abc import Awaitable, Callable

from omnipower.address import Address

log = logging.getLogger(__name__)
Line = tuple[asyncio.StreamReader, asyncio.StreamWriter]
MAX_BACKOFF_S = 60.0


async def open_line(address: Address, baud: int, framing: str) -> Line:
    """`baud` and `framing` are the protocol's defaults; a serial ADDR may override them. ptys run
    8N1 whatever the protocol: they refuse parity and 7 data bits (7-bit characters pass unchanged)."""
    if address.kind == "tcp":
        return await asyncio.open_connection(address.host, address.port)
    import serial_asyncio_fast  # only needed for serial lines

    framing = "8N1" if address.kind == "pty" else address.framing or framing
    try:
        return await serial_asyncio_fast.open_serial_connection(
            url=address.path, baudrate=address.baud or baud, bytesize=int(framing[0]), parity=framing[1],
            stopbits=int(framing[2]),
        )
    except termios.error as exc:  # not an OSError
        raise OSError(f"cannot configure {address.path} as {framing}: {exc}") from None


class LineRefused(Exception):
    """The device on the line answered its greeting wrongly or not at all: the message says what failed."""


def set_baud(writer: asyncio.StreamWriter, rate: int) -> None:
    """Change the rate of a serial line mid-session (IEC 62056-21); a TCP line has none."""
    serial = writer.transport.get_extra_info("serial")
    if serial is not None:
        serial.baudrate = rate


async def keep_listening(address: Address, baud: int, framing: str,
                         listen: Callable[[asyncio.StreamReader], Awaitable[None]], what: str,
                         lost: Callable[[], None], greet: Callable[[Line], Awaitable[None]] | None = None) -> None:
    """For push protocols: keep the line open and hand it to `listen` until cancelled; reopen it with
    back-off (1 s doubling to 60 s) when it cannot be opened, is lost or refuses `greet` (what a receiver
    needs to hear first, e.g. its configuration: it raises LineRefused), calling `lost` each time (so the
    meter goes offline at once rather than after a silence timeout)."""
    delay = 1.0
    while True:
        try:
            reader, writer = await open_line(address, baud, framing)
        except OSError as exc:
            log.warning("%s: cannot open %s: %s", what, address, exc)
            await asyncio.sleep(delay)
            delay = min(MAX_BACKOFF_S, delay * 2)
            continue
        refused = False
        try:
            if greet is not None:
                await greet((reader, writer))
            delay = 1.0
            await listen(reader)
            log.warning("%s: %s closed", what, address)
        except LineRefused as exc:
            refused = True
            log.warning("%s: %s", what, exc)
        except OSError as exc:  # ConnectionError included
            log.warning("%s: %s lost: %s", what, address, exc)
        finally:
            writer.close()
            lost()
        await asyncio.sleep(delay)
        if refused:
            delay = min(MAX_BACKOFF_S, delay * 2)
