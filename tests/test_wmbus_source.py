"""The gateway's `wmbus` source against a receiver the test plays over real TCP: it keeps only its own meter's
telegrams (other ids, a wrong key and garbage are skipped), learns nothing wrong from them, and goes offline when
the receiver's line is lost."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from conftest import free_port

from gateway.config import MeterConfig
from gateway.sources.base import SourceError
from gateway.sources.wmbus import WmbusSource
from omnipower import wmbus
from omnipower.wmbus_receivers import RECEIVERS

KEY = "0123456789ABCDEF0123456789ABCDEF"
WHEN = datetime(2026, 1, 15, 11, 0, 16, tzinfo=UTC)


def telegram(ident: int, a_plus: float, key: str | None, n: int = 0, compact: bool = False) -> bytes:
    frame = wmbus.omnipower_telegram({"a_plus": a_plus, "p_plus": 100 + n}, id=ident, access_number=n, session=n,
                                     compact=compact)
    return wmbus.encode(frame, bytes.fromhex(key) if key else None)


@pytest.mark.parametrize("receiver", list(RECEIVERS))
async def test_only_its_meter_is_kept(receiver: str) -> None:
    fmt = RECEIVERS[receiver]
    port = free_port()
    sent = asyncio.Event()
    hang_up = asyncio.Event()
    connections = []

    async def receiver_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        if len(connections) > 1:  # the source reconnecting after the hang-up: a receiver that stays silent
            await hang_up.wait()
            return
        writer.write(b"\xa5\x00garbage\nC1;1;1;nonsense\n")
        writer.write(fmt.emit(telegram(11111111, 999.0, None), WHEN, 40))  # another meter
        writer.write(fmt.emit(telegram(22222222, 555.0, "00" * 16, n=1), WHEN, 40))  # ours, but the wrong key
        writer.write(fmt.emit(telegram(22222222, 12.34, KEY, n=2, compact=True), WHEN, 40))  # ours, compact first
        await writer.drain()
        sent.set()
        await hang_up.wait()
        writer.close()

    server = await asyncio.start_server(receiver_line, "127.0.0.1", port)
    source = WmbusSource(MeterConfig(id="house", source="wmbus", transport=f"tcp:127.0.0.1:{port}",
                                     wmbus={"format": receiver, "key": KEY, "id": "22222222"}))
    task = asyncio.create_task(source.run())
    try:
        async with asyncio.timeout(10):
            await sent.wait()
            while source.telegrams < 1:  # noqa: ASYNC110 - the source's counter, polled from outside
                await asyncio.sleep(0.02)
        readings = await source.read()
        assert readings["a_plus"] == 12.34 and readings["p_plus"] == 102.0
        assert source.telegrams == 1 and source.others == 1 and source.online
        if receiver == "rtl_wmbus":  # the receiver's time stamp, in the gateway's zone
            assert datetime.fromisoformat(str(readings["time"])) == WHEN
        hang_up.set()
        async with asyncio.timeout(10):
            while source.online:
                with contextlib.suppress(SourceError):
                    await source.read()
                await asyncio.sleep(0.02)
        with pytest.raises(SourceError, match="no wireless M-Bus telegram from 22222222"):
            await source.read()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server.close()
        await server.wait_closed()
