"""Opening a serial line for the simulated meter's modules (a real port, or the inner end of a pty relay)."""

from __future__ import annotations

import asyncio


async def open_serial(path: str, baud: int, framing: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """`framing` is data bits, parity, stop bits, e.g. "8E1"."""
    import serial_asyncio_fast  # only needed for serial lines

    return await serial_asyncio_fast.open_serial_connection(
        url=path, baudrate=baud, bytesize=int(framing[0]), parity=framing[1], stopbits=int(framing[2]),
    )


def set_baud(writer: asyncio.StreamWriter, rate: int) -> None:
    """Change the line's rate mid-session (IEC 62056-21 option select)."""
    serial = writer.transport.get_extra_info("serial")
    if serial is not None:
        serial.baudrate = rate
