"""`omnipower-sim serve`: one simulated meter exposing its interfaces on TCP ports, ptys or serial
devices, for the gateway or any third-party tool to read over the wire."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from meter_sim.clock import ScaledClock
from meter_sim.config import MeterSimSettings
from meter_sim.gsm_line import ModemLine
from meter_sim.meter import Meter
from meter_sim.modules.dlms_hdlc import converse_hdlc
from meter_sim.modules.dlms_server import ServerSecurity, converse_wrapper
from meter_sim.modules.han_push import HanPush, HanSettings
from meter_sim.modules.mbus_slave import MbusSlave
from meter_sim.modules.modbus_slave import ModbusSlave
from meter_sim.modules.optical import ModeDPush, OpticalPort, serve_serial, serve_tcp
from meter_sim.modules.wmbus_radio import WmbusRadio
from meter_sim.ptys import PtyRelay
from meter_sim.push_transport import PushTransport
from meter_sim.serial_line import open_serial
from omnipower.address import Address

log = logging.getLogger(__name__)

DEFAULT_SERIAL = {
    "modbus-rtu": (9600, "8N1"), "han": (2400, "8N1"), "optical": (300, "7E1"), "optical-push": (2400, "7E1"),
    "mbus": (2400, "8E1"), "wmbus": (57600, "8N1"),  # wmbus: the receiver's serial line (an iM871A: 57600 8N1)
}
SUPPORTED = ("dlms", "dlms-hdlc", "gprs", "gsm", "han", "mbus", "modbus", "modbus-rtu", "optical", "optical-push",
             "wmbus")
MODEM_LINE = (115200, "8N1")  # the head-end modem's serial line (--gsm)


Converse = Callable[[asyncio.StreamReader, Callable[[bytes], None]], Awaitable[None]]


async def _line_server(converse: Converse, addr: Address) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await converse(reader, writer.write)
        writer.close()

    return await asyncio.start_server(handle, addr.host, addr.port)


async def _open_line(stack: contextlib.AsyncExitStack, addr: Address, baud: int, framing: str,
                     baud_from_addr: bool = True) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A serial device, or a pty whose PATH appears only once our end is open (pyserial flushes the
    input on open, which would drop a request a tool sent first). ptys refuse parity and 7 data bits."""
    if baud_from_addr:
        baud = addr.baud or baud
    if addr.kind != "pty":
        return await open_serial(addr.path, baud, addr.framing or framing)
    relay = stack.enter_context(PtyRelay(addr.path, expose=False))
    line = await open_serial(relay.inner_path, baud, "8N1")
    relay.expose()
    return line


async def _on_line(converse: Converse, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await converse(reader, writer.write)
    finally:
        writer.close()


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


def _until_next_second() -> float:
    """Tick on whole wall seconds, so that pushes leave at seconds x0 like the meter's."""
    return 1.0 - (time.time() % 1.0) + 0.001


async def serve(meter_id: str, settings: MeterSimSettings, speed: float, interfaces: Mapping[str, Address],
                stop: asyncio.Event, han: HanSettings | None = None, optical_push_every: int = 10,
                wmbus_format: str | None = None) -> None:
    han = han or HanSettings()
    if han.layout is not None:  # --han-layout: what the meter pushes, so also what its DLMS Push Setups name
        settings = settings.model_copy(update={"han_layout": han.layout})
    start = settings.start.timestamp() if settings.start is not None else time.time()
    meter = Meter(meter_id, settings, ScaledClock(speed, start))
    dlms_security = ServerSecurity(meter_id, settings.dlms)  # one per meter: its counters, whatever the interface
    async with contextlib.AsyncExitStack() as stack:
        tasks: list[asyncio.Task[None]] = []
        pushers: list[tuple[HanPush | ModeDPush | WmbusRadio, PushTransport]] = []
        modem_lines: list[ModemLine] = []
        for name, addr in interfaces.items():
            server: ModbusTcpServer | ModbusSerialServer
            if name == "han":
                transport = await stack.enter_async_context(PushTransport(addr, *DEFAULT_SERIAL["han"]))
                han_push = HanPush(meter, meter.settings.type.code, settings=han)
                pushers.append((han_push, transport))
                log.info("han (%s) of meter %s on %s", han_push.settings.layout, meter_id, addr)
                continue
            if name == "optical-push":
                transport = await stack.enter_async_context(PushTransport(addr, *DEFAULT_SERIAL[name]))
                pushers.append((ModeDPush(OpticalPort(meter), optical_push_every), transport))
                log.info("optical mode D push (every %d s) of meter %s on %s", optical_push_every, meter_id, addr)
                continue
            if name == "wmbus":
                radio = WmbusRadio(meter, receiver=wmbus_format)
                transport = await stack.enter_async_context(PushTransport(addr, *DEFAULT_SERIAL[name],
                                                                          on_receive=radio.host))
                pushers.append((radio, transport))
                log.info("wmbus (C1, id %08d, %s, every %d s%s) of meter %s on %s", radio.id, radio.receiver,
                         radio.settings.interval_s, ", AES-128-CTR" if radio.key else "", meter_id, addr)
                continue
            if name == "mbus":
                slave = MbusSlave(meter, primary_address=1)
                if addr.kind == "tcp":
                    tcp = await _line_server(slave.converse, addr)
                    stack.push_async_callback(_close_server, tcp)
                else:
                    reader, writer = await _open_line(stack, addr, *DEFAULT_SERIAL[name])
                    tasks.append(asyncio.create_task(_on_line(slave.converse, reader, writer)))
                log.info("mbus (primary address 1, id %08d) of meter %s on %s", slave.id, meter_id, addr)
                continue
            if name == "gsm":
                if settings.gsm is None:
                    raise ValueError("--gsm needs the meter's GSM8i module: `gsm: {number, pin, whitelist}` in its "
                                     "configuration")
                modem_line = ModemLine(meter, settings.gsm)
                modem_lines.append(modem_line)
                stack.callback(modem_line.close)
                if addr.kind == "tcp":
                    tcp = await _line_server(modem_line.converse, addr)
                    stack.push_async_callback(_close_server, tcp)
                else:
                    reader, writer = await _open_line(stack, addr, *MODEM_LINE)
                    tasks.append(asyncio.create_task(_on_line(modem_line.converse, reader, writer)))
                log.info("gsm: head-end modem %s on %s, meter %s's GSM8i module at %s", settings.gsm.head_end.number,
                         addr, meter_id, settings.gsm.number)
                continue
            if name in ("dlms", "gprs"):
                if addr.kind != "tcp":
                    raise ValueError(f"--{name} takes tcp:HOST:PORT (the IEC 62056-47 wrapper; got {addr})")

                async def dlms(reader: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
                    await converse_wrapper(meter, reader, write, security=dlms_security)

                tcp = await _line_server(dlms, addr)
                stack.push_async_callback(_close_server, tcp)
                log.info("%s (IEC 62056-47 wrapper, logical device 1) of meter %s on %s",
                         "gprs: the GSM8i module's dlms" if name == "gprs" else "dlms", meter_id, addr)
                continue
            if name == "dlms-hdlc":
                async def dlms_hdlc(reader: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
                    await converse_hdlc(meter, reader, write, security=dlms_security)

                if addr.kind == "tcp":
                    tcp = await _line_server(dlms_hdlc, addr)
                    stack.push_async_callback(_close_server, tcp)
                else:
                    reader, writer = await _open_line(stack, addr, 9600, "8N1")  # IEC 62056-46 lines: 9600 8N1
                    tasks.append(asyncio.create_task(_on_line(dlms_hdlc, reader, writer)))
                log.info("dlms (IEC 62056-46 HDLC, logical device 1) of meter %s on %s", meter_id, addr)
                continue
            if name == "optical":
                optical = OpticalPort(meter)
                if addr.kind == "tcp":
                    tcp = await serve_tcp(optical, addr.host, addr.port)
                    stack.push_async_callback(_close_server, tcp)
                else:
                    # mode C always signs on at 300 Bd, whatever ADDR says
                    reader, writer = await _open_line(stack, addr, *DEFAULT_SERIAL[name], baud_from_addr=False)
                    tasks.append(asyncio.create_task(serve_serial(optical, reader, writer)))
                log.info("optical (IEC 62056-21 mode C) of meter %s on %s", meter_id, addr)
                continue
            relay: PtyRelay | None = None
            if name == "modbus":
                if addr.kind != "tcp":
                    raise ValueError(f"--modbus takes tcp:HOST:PORT (got {addr}); use --modbus-rtu for serial/pty")
                server = ModbusTcpServer(ModbusSlave(meter).device(), address=(addr.host, addr.port))
            elif name == "modbus-rtu":
                if addr.kind == "tcp":
                    raise ValueError(f"--modbus-rtu takes pty:PATH or a serial device path (got {addr})")
                path = addr.path
                baud, framing = DEFAULT_SERIAL[name]
                baud = addr.baud or baud
                framing = addr.framing or framing
                if addr.kind == "pty":
                    relay = stack.enter_context(PtyRelay(addr.path, expose=False))
                    path, framing = relay.inner_path, framing[0] + "N" + framing[2]  # ptys refuse parity
                server = ModbusSerialServer(
                    ModbusSlave(meter).device(), framer=FramerType.RTU, port=path, baudrate=baud,
                    bytesize=int(framing[0]), parity=framing[1], stopbits=int(framing[2]),
                )
            else:
                raise ValueError(f"interface {name!r} is not available yet (available: {', '.join(SUPPORTED)})")
            # Returns once the port is open (and flushed by pyserial) or the socket listens; only then is
            # a pty's PATH made, so a tool that opens it at once cannot lose its first request.
            try:
                await server.serve_forever(background=True)
            except RuntimeError as exc:  # pymodbus logs the OS error itself and says only that it failed
                raise OSError(f"--{name} {addr}: {exc}") from None
            stack.push_async_callback(server.shutdown)
            if relay is not None:
                relay.expose()
            log.info("%s of meter %s on %s", name, meter_id, addr)
        try:
            while not stop.is_set():
                meter.update()
                for push, transport in pushers:
                    for frame in push.due():
                        transport.send(frame)
                for modem_line in modem_lines:
                    modem_line.pump()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_until_next_second()):
                        await stop.wait()
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
