"""The master side of the wireless M-Bus module: listen to a receiver, keep what one meter's telegrams say.

The receiver is an IMST iM871A stick (HCI frames on its USB serial port, 57600 8N1, or a pty) or rtl_wmbus (its
text lines on TCP, e.g. `rtl_sdr -f 868.95M -s 1.6e6 - | rtl_wmbus | nc -lk 7000`, or on a named pipe it writes
into: `mkfifo /run/wmbus; rtl_sdr … | rtl_wmbus > /run/wmbus`); `wmbus.format` says which. A receiver hears every
meter around: telegrams from other identification numbers are skipped, this meter's are decrypted with
`wmbus.key` and decoded (compact frames through the OMNIPOWER's known format, or one learnt from a full frame).

An iM871A is set up first, each time its line opens (omnipower/im871a.py's `start_up`): PING, GET_DEVICEINFO
(logged; a module other than an iM871A is refused), SET_CONFIG to a C1-TF-B collector with RSSI attached (in
RAM: the stick's saved settings stay as they are), GET_CONFIG to check it took. A stick that answers wrongly
or not at all is named with what failed ("the stick on /dev/ttyUSB0 answered no PING: is it an iM871A …?"),
in the log and as the source's error, and tried again with back-off. rtl_wmbus needs nothing said.

Push-only and one-way: no commands, no breaker state, no alarms, no meter clock. The state's `time` is when the
receiver heard the telegram (rtl_wmbus prints its UTC time), or when the gateway read it (iM871A). The meter is
offline after three intervals (`wmbus.interval_s`) without a telegram, and at least a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NoReturn

from gateway.config import MeterConfig
from gateway.sources.base import MeterInfo, Readings, ReadOnlySource, SourceError
from gateway.sources.lines import MAX_BACKOFF_S, Line, LineRefused, keep_listening
from omnipower import wmbus
from omnipower.address import parse_address
from omnipower.errors import CodecError
from omnipower.im871a import DEVMGMT, MESSAGES, HciMessage, Im871aReader, encode_hci
from omnipower.registers import REGISTERS_BY_OBIS
from omnipower.wmbus_receivers import RECEIVERS, Reception, RtlWmbusReader

log = logging.getLogger(__name__)
MIN_SILENCE_S = 60.0
ANSWER_TIMEOUT_S = 2.0  # a stick answers within milliseconds; this allows a loaded host and a USB hub


class WmbusSource(ReadOnlySource):
    why_no_commands = "the wireless M-Bus module only transmits"

    def __init__(self, config: MeterConfig) -> None:
        super().__init__()
        if config.transport is None:
            raise ValueError(f"meter {config.id}: a wmbus source needs a transport")
        self.config = config
        self.options = config.wmbus
        self.address = parse_address(config.transport)
        self.receiver = RECEIVERS[self.options.format]
        self.radio_id = self.options.radio_id(config.id)
        key = self.options.key_bytes
        self.decoder = wmbus.TelegramDecoder({self.radio_id: key} if key else None)
        self.silence_s = max(MIN_SILENCE_S, 3.0 * self.options.interval_s)
        self.info = MeterInfo(
            meter_id=config.id,
            name=config.name or f"OMNIPOWER {config.id}",
            source="wmbus",
            model="OMNIPOWER (Wireless M-Bus module, C1)",
            serial_number=f"{self.radio_id:08d}",
            sw_version="unknown",
            registers=tuple(REGISTERS_BY_OBIS[obis] for obis in wmbus.DATAGRAM),
            commands=frozenset(),
        )
        self._values: dict[str, float] = {}
        self._time: str | None = None
        self._last_telegram = -1e9
        self.telegrams = 0
        self.others = 0  # telegrams from other meters
        self.problem: str | None = None  # why the receiver is not listening, when its start-up failed
        self._stream: Im871aReader | RtlWmbusReader | None = None  # the start-up's reader, with what it holds

    async def run(self) -> None:
        what = f"meter {self.config.id}"
        if self.address.kind == "serial" and _is_fifo(self.address.path):
            await self._listen_to_pipe(what)
        else:
            await keep_listening(self.address, self.receiver.baud, self.receiver.framing, self._listen, what,
                                 self._line_lost, self._start_up if self.receiver.start_up else None)

    async def _listen_to_pipe(self, what: str) -> None:
        """A named pipe, opened read-write so that opening does not wait for the writer and its going away
        (rtl_wmbus restarted) is no end of file."""
        delay = 1.0
        while True:
            try:
                reader, transport = await _open_pipe(self.address.path)
            except OSError as exc:
                log.warning("%s: cannot open %s: %s", what, self.address.path, exc)
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)
                continue
            try:
                await self._listen(reader)
            finally:
                transport.close()
                self._line_lost()
            await asyncio.sleep(delay)

    def _line_lost(self) -> None:
        self._last_telegram = -1e9

    async def _start_up(self, line: Line) -> None:
        """Say the receiver's start-up requests one by one, each answer checked (telegrams that come meanwhile
        are kept); raises LineRefused naming what failed."""
        reader, writer = line
        stream = Im871aReader()
        self._stream = stream
        for step in self.receiver.start_up:
            writer.write(encode_hci(step.request))
            answer = await self._answer(reader, writer, stream, step.answer)
            if answer is None:
                self._refuse(f"the stick on {self.address} {step.silence}")
            if problem := step.check(answer.payload):
                self._refuse(f"the stick on {self.address} {problem}")
            log.info("meter %s: %s on %s: %s", self.config.id, MESSAGES[(DEVMGMT, step.answer)], self.address,
                     step.describe(answer.payload))
        self.problem = None

    def _refuse(self, problem: str) -> NoReturn:
        self.problem = problem
        raise LineRefused(problem)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: Im871aReader,
                      message_id: int) -> HciMessage | None:
        """The device management answer `message_id`, or None after ANSWER_TIMEOUT_S."""
        convert: Callable[[HciMessage], Reception | None] = self.receiver.reception  # type: ignore[assignment]
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                await writer.drain()
                while data := await reader.read(4096):
                    answer = None
                    for message in stream.feed(data):
                        if answer is None and (message.endpoint, message.message_id) == (DEVMGMT, message_id):
                            answer = message
                        elif (reception := convert(message)) is not None:
                            self._accept(reception)
                    if answer is not None:
                        return answer
        except TimeoutError:
            return None
        raise ConnectionResetError(f"{self.address} closed during the receiver's start-up")

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        stream, self._stream = self._stream or self.receiver.reader(), None
        while data := await reader.read(4096):
            for reception in self.receiver.receptions(stream, data):
                self._accept(reception)
            for skipped in stream.take_errors():
                log.debug("meter %s: receiver output skipped: %s", self.config.id, skipped)

    def _accept(self, reception: Reception) -> None:
        try:
            sender = wmbus.peek_address(reception.frame)
        except CodecError:
            return
        if sender.id != self.radio_id:
            self.others += 1
            return
        try:
            telegram = self.decoder.decode(reception.frame)
        except CodecError as exc:
            log.warning("meter %s: telegram rejected: %s", self.config.id, exc)
            return
        values = telegram.readings
        self._values.update({REGISTERS_BY_OBIS[obis].key: v for obis, v in values.items() if obis in wmbus.DATAGRAM})
        heard = reception.time or datetime.now(UTC)
        self._time = heard.astimezone().isoformat(timespec="seconds")
        self._last_telegram = time.monotonic()
        self.telegrams += 1
        self.online = True

    async def read(self) -> Readings:
        silent = time.monotonic() - self._last_telegram
        if silent > self.silence_s or self._time is None:
            self.online = False
            raise SourceError(self.problem or f"no wireless M-Bus telegram from {self.radio_id:08d} for "
                              f"{min(silent, 1e6):.0f} s on {self.address}")
        readings: Readings = {"time": self._time}
        readings.update(self._values)
        return readings


async def _open_pipe(path: str) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # a FIFO: returns at once, even with no writer yet
    reader = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    return reader, transport


def _is_fifo(path: str) -> bool:
    with contextlib.suppress(OSError):
        return stat.S_ISFIFO(os.stat(path).st_mode)
    return False
