"""Hostile meters and noisy lines: every wire source against a peer that the test plays over real TCP.

For each source (HAN, optical mode D push, optical mode C readout, M-Bus, Modbus TCP) one source runs for
the whole test with its `run()` task, as in the gateway; hypothesis plays episodes against it: line noise,
real frames truncated or corrupted (from our own encoders and the simulator's device sides), frames with
valid check sums around damaged content, oversized frames and false starts, random chunking, a peer that
hangs up or falls silent. After every episode the meter behaves again and the source must read it right.
Checked throughout: nothing but a `SourceError` leaves `read()` (a bad answer is the meter's fault and is
reported as such, never as a fault of ours), the `run()` task stays alive, each reader's pending buffer
stays within its bound, and the next good answer gives exactly the readings the meter sent.

The well-behaved meter is the simulator's own device side (`meter_sim.modules`): MbusSlave, OpticalPort
and, behind a line that can mangle its answers, pymodbus's server with our ModbusSlave. A silent meter costs
QUICK_S here instead of 3 s, through the sources' own timeout parameters.

Then sans-IO: random bytes in random chunks into each streaming reader (only CodecErrors, the same frames
however the bytes are cut, a bounded buffer; tests/test_hdlc_dlms.py, test_mbus.py and test_iec62056_21.py
fuzz the codecs with single feeds), and random registers into the Modbus map's decoders.

Each `test_regression_…` holds an input the fuzzing found, with the fix it needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_harness import START

from gateway.config import MeterConfig, load_settings
from gateway.service import make_source
from gateway.sources import han as han_source
from gateway.sources import mbus as mbus_source
from gateway.sources import optical as optical_source
from gateway.sources.base import Readings, Source, SourceError
from gateway.sources.modbus import ModbusSource
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.mbus_slave import MbusSlave
from meter_sim.modules.optical import OpticalPort
from omnipower import iec62056_21, mbus
from omnipower import modbus_map as mm
from omnipower.crc import crc16_x25
from omnipower.dlms import CosemDateTime, parse_glo_keys
from omnipower.errors import CodecError
from omnipower.han import HanListKind, decode_han, encode_han_push
from omnipower.hdlc import MAX_LENGTH, HdlcReader, encode_ui_frame
from omnipower.registers import REGISTERS_BY_OBIS

T = TypeVar("T")
SETTLE_S = 10.0  # the most a recovery may take before the test calls it lost (a failure, not a timing bound)
# How long a source waits for a silent meter here (3 s in service): far above what the in-process meter needs.
QUICK_S = 0.5


def episodes(count: int) -> settings:
    """Hypothesis settings for episodes against one long-running source (the examples share it)."""
    return settings(max_examples=count, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


KEYS = "00112233445566778899AABBCCDDEEFF:0F0E0D0C0B0A09080706050403020100"
OTHER_KEYS = "FFEEDDCCBBAA99887766554433221100:000102030405060708090A0B0C0D0E0F"


# --- the machinery: one event loop for the whole test, a scriptable peer, watched readers -------------------


class LoopThread:
    """An event loop in a thread, so that a source runs across hypothesis examples (which are synchronous)."""

    def __enter__(self) -> LoopThread:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *_: object) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


Conversation = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Peer:
    """The meter's end of the line, on a TCP port: each connection holds the next scripted conversation
    (a hostile one), or, when none is queued, the well-behaved meter's."""

    def __init__(self, meter: Conversation) -> None:
        self.meter = meter
        self.scripts: deque[Conversation] = deque()
        self.connections = 0
        self.writer: asyncio.StreamWriter | None = None  # the latest connection, for push protocols
        self.connected = asyncio.Event()

    async def start(self) -> Peer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port: int = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writer = writer
        self.connected.set()
        conversation = self.scripts.popleft() if self.scripts else self.meter
        try:
            await conversation(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def send(writer: asyncio.StreamWriter, data: bytes, cuts: list[int]) -> None:
    """Write `data` in pieces cut at `cuts`, letting the line carry each piece on its own."""
    start = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        if cut > start:
            writer.write(data[start:cut])
            await writer.drain()
            await asyncio.sleep(0.002)
            start = cut


async def silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A meter that takes the connection and never answers."""
    while await reader.read(1024):
        pass


def watch(reader_class: type[Any]) -> tuple[type[Any], list[int]]:
    """A subclass of a streaming reader that records its pending bytes after every feed."""
    held: list[int] = [0]

    class Watched(reader_class):  # type: ignore[misc]
        def feed(self, data: bytes | bytearray | memoryview) -> Any:
            out = super().feed(data)
            pending = self.pending
            held[0] = max(held[0], pending if isinstance(pending, int) else len(pending))
            return out

    return Watched, held


def meter_config(tmp_path: Path, **meter: Any) -> tuple[MeterConfig, Any]:
    settings_ = load_settings(None, data_dir=tmp_path / "data", meters=[{"id": "wire", **meter}])
    return settings_.meters[0], settings_


def sim_meter() -> tuple[Meter, SteppedClock]:
    """The simulated meter the well-behaved peer speaks for; its clock moves only when the test says."""
    clock = SteppedClock(datetime.fromisoformat(START).timestamp())
    return Meter("wire", MeterSimSettings(seed=1, start=START), clock), clock


def tick(meter: Meter, clock: SteppedClock) -> None:
    """Ten meter seconds on: a new time stamp, so that the next good frame is recognisable."""
    clock.advance(10)
    meter.update()


def alive(task: asyncio.Task[None]) -> None:
    assert not task.done(), f"the source's run() ended: {task.exception() if not task.cancelled() else 'cancelled'}"


def push(lt: LoopThread, peer: Peer, task: asyncio.Task[None], data: bytes, cuts: list[int]) -> None:
    """Send on the push line; a line the source dropped is reported as the source's failure it is."""
    alive(task)
    assert peer.writer is not None
    try:
        lt.run(send(peer.writer, data, cuts))
    except ConnectionError:
        alive(task)
        raise


async def read_or_source_error(source: Source) -> Readings | SourceError:
    """One poll: the readings, or the SourceError that says the meter failed; anything else escapes."""
    try:
        return await asyncio.wait_for(source.read(), 30)
    except SourceError as exc:
        return exc


def pieces(frames: list[bytes], extra: list[st.SearchStrategy[bytes]]) -> st.SearchStrategy[bytes]:
    """What a hostile line carries: noise, and real frames truncated, corrupted or repeated."""
    frame = st.sampled_from(frames)
    return st.one_of(
        st.binary(max_size=120),  # line noise
        st.tuples(frame, st.integers(1, 10**6)).map(lambda t: t[0][: t[1] % len(t[0])]),  # cut short
        st.tuples(frame, st.integers(0, 10**6), st.integers(1, 255)).map(  # one byte changed
            lambda t: t[0][: t[1] % len(t[0])] + bytes([t[0][t[1] % len(t[0])] ^ t[2]]) + t[0][t[1] % len(t[0]) + 1:]),
        st.tuples(frame, st.integers(0, 10**6), st.binary(min_size=1, max_size=6)).map(  # bytes inserted
            lambda t: t[0][: t[1] % len(t[0])] + t[2] + t[0][t[1] % len(t[0]):]),
        frame,  # a good frame among the bad ones
        *extra,
    )


async def started(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    return asyncio.create_task(coro)


async def built(make: Callable[[], T]) -> T:
    """Build inside the loop, as the gateway does (pymodbus binds its objects to the running loop)."""
    return make()


async def until(source: Source, done: Callable[[Readings], bool]) -> Readings:
    """Poll the source until its readings satisfy `done` (SETTLE_S at most)."""
    last: Readings | SourceError | None = None
    try:
        async with asyncio.timeout(SETTLE_S):
            while True:
                last = await read_or_source_error(source)
                if not isinstance(last, SourceError) and done(last):
                    return last
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"the source did not recover within {SETTLE_S:.0f} s; last read: {last!r}") from None


def scripted(replies: list[bytes], cuts: list[int] | None = None, then_silent: bool = False,
             request_end: bytes | None = None) -> Conversation:
    """A meter that answers each request (a chunk ending in `request_end`, or any bytes) with the next
    reply, then falls silent or hangs up."""

    async def conversation(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for reply in replies:
            if request_end is None:
                if not await reader.read(1024):
                    return
            else:
                await reader.readuntil(request_end)
            await send(writer, reply, cuts or [])
        if then_silent:
            await silence(reader, writer)

    return conversation


@dataclass
class Rig:
    """A source reading a simulated meter through a peer the test controls, in a loop of its own."""

    lt: LoopThread
    peer: Peer
    source: Source
    task: asyncio.Task[None]
    meter: Meter
    clock: SteppedClock

    def read(self) -> Readings | SourceError:
        return self.lt.run(read_or_source_error(self.source))


# --- HAN: pushes in HDLC frames --------------------------------------------------------------------------


def han_frame(meter: Meter, kind: HanListKind, keys: str | None, **kw: Any) -> bytes:
    """A push as the simulator's HAN module sends it (meter_sim/modules/han_push.py)."""
    rtc = meter.rtc
    when = CosemDateTime.from_datetime(rtc.wall_time(meter.t).replace(tzinfo=None),
                                       clock_status=0x80 if rtc.dst_active(meter.t) else 0)
    return encode_han_push(meter.readings(), kind, when, "5706567012345678", "6841131BN243101040",
                           encryption=parse_glo_keys(keys) if keys else None, frame_counter=7, **kw)


def reframed(frame: bytes, at: int, junk: bytes) -> bytes:
    """The frame's information damaged, wrapped again with valid HCS and FCS: only the DLMS layer can tell."""
    info = bytearray(frame[8:-3])
    at %= len(info)
    info[at : at + len(junk)] = junk
    return encode_ui_frame(bytes(info))


def false_start(length: int) -> bytes:
    """A type-3 header with a valid HCS announcing `length` bytes that never come as a frame."""
    header = bytes([0xA0 | (length >> 8) & 0x07, length & 0xFF, 0x2B, 0x21, 0x13])
    return b"\x7e" + header + crc16_x25(header).to_bytes(2, "little")


@pytest.mark.parametrize("layout", ["nve", "dk"])
def test_han_source_survives_a_hostile_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    watched, held = watch(HdlcReader)
    monkeypatch.setattr(han_source, "HdlcReader", watched)
    keys = KEYS if layout == "dk" else None
    kinds = [HanListKind.DK_PUSH_1] if layout == "dk" else [HanListKind.LIST_1, HanListKind.LIST_2]
    meter, clock = sim_meter()
    base = [han_frame(meter, kind, keys) for kind in kinds]
    if keys:
        base.append(han_frame(meter, kinds[0], OTHER_KEYS))  # encrypted with keys we do not have
    extra = [
        st.binary(max_size=60).map(lambda b: b"\x7e\xa0" + b),  # false starts of every kind
        st.integers(12, MAX_LENGTH).map(false_start),  # … and one that holds the reader for up to 2 KB
        st.tuples(st.sampled_from(base), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)).map(
            lambda t: reframed(*t)),
        st.binary(min_size=1, max_size=2000).map(encode_ui_frame),  # oversized: garbage information
        st.sampled_from(base).map(lambda f: encode_ui_frame(f[8:-3], segmented=True)),
    ]

    with LoopThread() as lt:
        peer = lt.run(Peer(silence).start())
        config, settings_ = meter_config(tmp_path, source="han", transport=f"tcp:127.0.0.1:{peer.port}",
                                         han={"layout": layout, "keys": keys})
        source = make_source(config, settings_)
        task = lt.run(started(source.run()))
        lt.run(asyncio.wait_for(peer.connected.wait(), SETTLE_S))

        @episodes(100)
        @given(hostile=st.lists(pieces(base, extra), max_size=8), noise=st.lists(st.binary(max_size=40), max_size=3),
               cuts=st.lists(st.integers(0, 10**6), max_size=12))
        def episode(hostile: list[bytes], noise: list[bytes], cuts: list[int]) -> None:
            tick(meter, clock)
            good = han_frame(meter, kinds[-1], keys)
            # Noise between good frames, then good frames enough to complete any false start (2 KB at most).
            tail = b"".join(good + n for n in noise) + good * (2 * (MAX_LENGTH + 2) // len(good) + 2)
            push(lt, peer, task, b"".join(hostile) + tail, cuts)
            expected = meter.rtc.iso(meter.t)
            readings = lt.run(until(source, lambda r: r.get("time") == expected))
            message = decode_han(good, keys=parse_glo_keys(keys) if keys else None)
            assert {k: readings[k] for k in message.registers} == message.registers
            alive(task)
            assert held[0] <= MAX_LENGTH + 2, held[0]

        episode()
        assert peer.connections == 1  # the source never dropped the line over what it read


# --- IEC 62056-21: the optical port ----------------------------------------------------------------------


def readout_block(lines: list[bytes]) -> bytes:
    """A data readout with a valid BCC around whatever lines it is given."""
    body = b"".join(line + b"\r\n" for line in lines) + b"!\r\n\x03"
    return b"\x02" + body + bytes([iec62056_21.bcc(body)])


# Data lines a confused or hostile meter might send: a register twice, a unit that does not fit, numbers
# too long, a date and time that do not exist, values that are not numbers.
data_lines = st.lists(st.sampled_from([
    b"1.8.0(0001234.567*kWh)", b"1.8.0(0001234.568*kWh)", b"1.8.0(12*V)", b"32.7.0(230.1*kWh)",
    b"1.7.0(" + b"9" * 32 + b"*kW)", b"31.7.0(-1.00*A)", b"2.8.0(.*kWh)", b"0.9.2(991399)", b"0.9.1(256199)",
    b"0.9.2(260115)", b"0.9.1(120010)", b"F.F(00000000)", b"1.8.0()", b"C.1.0(x)", b"1-0:1.8.0*255(1*kWh)",
    b"1.8.0(1*kWh)2.8.0(2*kWh)", b"72.7.0(0231.0*V)", b"1.8.0(1*XYZ)", b"1.1.1.8.0.255(5*kWh)",
]), min_size=1, max_size=8)
identifications = st.sampled_from([b"/KAM3\\2OMNIPOWER\r\n", b"/KAM5\\2OMNIPOWER\r\n", b"/KAM3OMNIPOWER\r\n",
                                   b"/KAM:OMNIPOWER\r\n", b"/KA", b"/?!\r\n", b"/KAM3" + b"X" * 40 + b"\r\n"])


def iec_extra(base: list[bytes]) -> list[st.SearchStrategy[bytes]]:
    return [
        st.tuples(identifications, data_lines).map(lambda t: t[0] + readout_block(t[1])),  # valid BCC, bad data
        st.just(b"\x02" + b"1" * (iec62056_21.MAX_READOUT_LEN + 100)),  # a readout without end: oversized
        st.binary(max_size=40).map(lambda b: bytes(c | 0x80 for c in b)),  # parity bits set
        st.sampled_from(base).map(lambda f: f.replace(b"\x03", b"\x03\x03", 1)),  # ETX inside
        st.sampled_from([b"\x01B0\x03q", b"\x06050\r\n", b"\x15", b"\x01P0\x02(1)\x03"]),  # other messages
    ]


def test_optical_push_source_survives_a_hostile_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watched, held = watch(iec62056_21.Iec62056Reader)
    monkeypatch.setattr(optical_source, "Iec62056Reader", watched)
    meter, clock = sim_meter()
    port = OpticalPort(meter)
    base = [port.mode_d_push()]

    with LoopThread() as lt:
        peer = lt.run(Peer(silence).start())
        config, settings_ = meter_config(tmp_path, source="optical", transport=f"tcp:127.0.0.1:{peer.port}",
                                         optical={"mode": "push"})
        source = make_source(config, settings_)
        task = lt.run(started(source.run()))
        lt.run(asyncio.wait_for(peer.connected.wait(), SETTLE_S))

        @episodes(100)
        @given(hostile=st.lists(pieces(base, iec_extra(base)), max_size=8),
               noise=st.lists(st.binary(max_size=40), max_size=3), cuts=st.lists(st.integers(0, 10**6), max_size=12))
        def episode(hostile: list[bytes], noise: list[bytes], cuts: list[int]) -> None:
            tick(meter, clock)
            good = port.mode_d_push()
            push(lt, peer, task, b"".join(hostile) + b"".join(good + n for n in noise) + good * 2, cuts)
            readings = lt.run(until(source, lambda r: r.get("time") == meter.rtc.iso(meter.t)))
            assert {k: readings[k] for k in expected_optical(port)} == expected_optical(port)
            alive(task)
            assert held[0] <= iec62056_21.MAX_READOUT_LEN, held[0]

        episode()
        assert peer.connections == 1


def expected_optical(port: OpticalPort) -> dict[str, float]:
    values = iec62056_21.readings_from_readout(port.readout())
    return {REGISTERS_BY_OBIS[code].key: v for code, v in values.items() if code in REGISTERS_BY_OBIS}


@contextlib.contextmanager
def optical_rig(tmp_path: Path) -> Iterator[tuple[Rig, OpticalPort]]:
    meter, clock = sim_meter()
    port = OpticalPort(meter)

    async def well_behaved(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await port.converse(reader, writer.write)

    with LoopThread() as lt:
        peer = lt.run(Peer(well_behaved).start())
        config, _ = meter_config(tmp_path, source="optical", transport=f"tcp:127.0.0.1:{peer.port}")
        source = optical_source.OpticalSource(config, response_timeout=QUICK_S)  # silence costs QUICK_S, not 3 s
        yield Rig(lt, peer, source, lt.run(started(source.run())), meter, clock), port


def test_optical_readout_source_survives_a_hostile_meter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watched, held = watch(iec62056_21.Iec62056Reader)
    monkeypatch.setattr(iec62056_21, "Iec62056Reader", watched)  # the one ClientSession reads with
    with optical_rig(tmp_path) as (rig, port):
        base = [port.identification.encode(), port.readout().encode()]

        @episodes(40)
        @given(replies=st.lists(st.lists(pieces(base, iec_extra(base)), min_size=1, max_size=4).map(b"".join),
                                min_size=1, max_size=2),
               cuts=st.lists(st.integers(0, 10**6), max_size=6), then_silent=st.booleans())
        def episode(replies: list[bytes], cuts: list[int], then_silent: bool) -> None:
            rig.peer.scripts.append(scripted(replies, cuts, then_silent, request_end=b"\n"))
            rig.read()  # whatever the meter said: readings, or a SourceError (anything else fails the test)
            tick(rig.meter, rig.clock)
            readings = rig.read()
            assert not isinstance(readings, SourceError), readings
            assert readings["time"] == rig.meter.rtc.iso(rig.meter.t)
            assert {k: readings[k] for k in expected_optical(port)} == expected_optical(port)
            alive(rig.task)
            assert held[0] <= iec62056_21.MAX_READOUT_LEN, held[0]

        episode()


def test_regression_optical_readout_with_a_register_twice_is_the_meters_fault(tmp_path: Path) -> None:
    """Found by the fuzzing above (the answer exactly as it came): a readout with a valid BCC naming 1.8.0
    twice. The CodecError of its values left `read()` as it was, outside the `SourceError` the bridge expects
    of a meter: a traceback in the log, `get` answered "internal error"."""
    with optical_rig(tmp_path) as (rig, _):
        answer = b"/AAA \r\n\x021.8.0(.0001012345*kWh)\r\n1.8.0(*.0001012345Whk)\r\n!\r\n\x03%"
        rig.peer.scripts.append(scripted([answer], request_end=b"\n"))
        failure = rig.read()
        assert isinstance(failure, SourceError)
        assert str(failure).endswith("register 1.8.0 appears twice in the readout"), failure
        assert not rig.source.online
        assert not isinstance(rig.read(), SourceError) and rig.source.online  # and the next poll is fine


# --- M-Bus -------------------------------------------------------------------------------------------------


def long_frame(c: int, ci: int, data: bytes) -> bytes:
    """A long frame with a valid checksum around `data` (the link layer cannot tell it is nonsense)."""
    body = bytes([c, 1, ci]) + data[:252]
    return bytes([0x68, len(body), len(body), 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])


def mbus_extra(base: list[bytes]) -> list[st.SearchStrategy[bytes]]:
    header = base[0][7:19]  # the long header of our meter's telegram
    rsp = st.sampled_from([0x08, 0x18, 0x28, 0x38])
    return [
        st.tuples(rsp, st.binary(max_size=200)).map(lambda t: long_frame(t[0], 0x72, header + t[1])),  # records
        st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=60)).map(lambda t: long_frame(*t)),
        st.binary(max_size=200).map(lambda b: long_frame(0x08, 0x72, header[:4] + b"\x2d\x2c" + header[6:] + b)),
        st.sampled_from(base).map(lambda f: long_frame(f[4], 0x72, f[7:-2].rstrip(b"\x1f") + b"\x1f")),  # more…
        st.binary(max_size=10).map(lambda b: long_frame(0x08, 0x72, bytes(4) + header[4:] + b + b"\x1f")),
        st.sampled_from([b"\xe5", b"\x10\x7b\x01\x7c\x16", b"\x68\xff\xff\x68", b"\x68\x03\x03\x68\x08\x01\x72"]),
    ]


def multi_telegram_mixups(base: list[bytes]) -> st.SearchStrategy[list[bytes]]:
    """A readout in several telegrams that goes wrong: the next telegram from another meter, more announced
    by the last one, or more telegrams than a readout may take."""
    def telegram(ident: bytes, more: bool, records: bytes = b"") -> bytes:
        data = base[0][7:-2].rstrip(b"\x1f")
        return long_frame(0x08, 0x72, ident + data[4:] + records + (b"\x1f" if more else b""))

    ident = base[0][7:11]
    other = st.binary(min_size=4, max_size=4).filter(lambda b: b != ident)
    return st.one_of(
        st.tuples(other, st.booleans()).map(lambda t: [telegram(ident, True), telegram(t[0], t[1])]),
        st.integers(1, 20).map(lambda n: [telegram(ident, True)] * n),
        st.binary(max_size=20).map(lambda r: [telegram(ident, True), telegram(ident, False, r)]),
    )


@contextlib.contextmanager
def mbus_rig(tmp_path: Path) -> Iterator[tuple[Rig, MbusSlave, list[bytes]]]:
    """The rig, the simulator's M-Bus slave, and what the slave sent in its latest conversation."""
    meter, clock = sim_meter()
    slave = MbusSlave(meter, primary_address=1)
    told: list[bytes] = []

    async def well_behaved(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        told.clear()

        def write(data: bytes) -> None:
            told.append(data)
            writer.write(data)

        await slave.converse(reader, write)

    with LoopThread() as lt:
        peer = lt.run(Peer(well_behaved).start())
        config, settings_ = meter_config(tmp_path, source="mbus", transport=f"tcp:127.0.0.1:{peer.port}")
        source = make_source(config, settings_)
        yield Rig(lt, peer, source, lt.run(started(source.run())), meter, clock), slave, told


def test_mbus_source_survives_a_hostile_meter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watched, held = watch(mbus.MbusReader)
    monkeypatch.setattr(mbus, "MbusReader", watched)
    monkeypatch.setattr(mbus_source, "REPLY_TIMEOUT_S", QUICK_S)  # a silent meter costs QUICK_S, not 3 s
    with mbus_rig(tmp_path) as (rig, slave, told):
        base = slave._telegrams()  # the readout as the slave would send it, its FCB state untouched

        @episodes(30)
        @given(replies=st.lists(st.lists(pieces(base, mbus_extra(base)), min_size=1, max_size=3).map(b"".join),
                                min_size=1, max_size=3) | multi_telegram_mixups(base),
               cuts=st.lists(st.integers(0, 10**6), max_size=6), then_silent=st.booleans())
        def episode(replies: list[bytes], cuts: list[int], then_silent: bool) -> None:
            rig.peer.scripts.append(scripted(replies, cuts, then_silent))
            rig.read()  # whatever the meter said: readings, or a SourceError (anything else fails the test)
            tick(rig.meter, rig.clock)
            now = mbus_readings(slave._telegrams(), rig.meter)
            # The meter answers the first poll after a request it never got with its previous answer (the FCB
            # says "repeat"); each poll must give exactly what the meter sent, the second at the latest now.
            for _ in range(2):
                readings = rig.read()
                assert not isinstance(readings, SourceError), readings
                assert readings == mbus_readings(told, rig.meter), told
                if readings == now:
                    break
            else:
                raise AssertionError(f"two polls after the noise, the readings are still not the meter's: {readings}")
            alive(rig.task)
            assert held[0] <= 6 + 255, held[0]  # one long frame at most

        episode()


def test_regression_mbus_telegram_from_another_meter_is_the_meters_fault(tmp_path: Path) -> None:
    """Found by the fuzzing above (the answers exactly as they came): a first telegram announcing more
    records (DIF 1F), then one from meter 00000000. Reassembling them raised a CodecError outside the
    exchange's error handling, so it left `read()` (and a command's `execute`) instead of a SourceError."""
    with mbus_rig(tmp_path) as (rig, slave, _):
        first = slave._telegrams()[0]
        records = first[19:-2]
        answers = [long_frame(0x08, 0x72, first[7:19] + records + b"\x1f"),
                   long_frame(0x08, 0x72, bytes(4) + first[11:19] + records)]
        rig.peer.scripts.append(scripted(answers))
        failure = rig.read()
        assert isinstance(failure, SourceError)
        assert str(failure).endswith(f"telegram 2 comes from meter 00000000, not {first[10]:02x}{first[9]:02x}"
                                     f"{first[8]:02x}{first[7]:02x}"), failure
        assert not rig.source.online
        assert not isinstance(rig.read(), SourceError) and rig.source.online


def mbus_readings(telegrams: list[bytes], meter: Meter) -> Readings:
    """The readings in the telegrams a meter sent, decoded by the codec (its correctness is test_mbus.py's)."""
    response = mbus.reassemble([mbus.decode_rsp_ud(mbus.decode(t)) for t in telegrams])
    status = mbus.decode_status(response)
    assert status.time is not None and status.breaker is not None and status.relays is not None
    offset = meter.rtc.standard_offset + (3600 if status.summer else 0)
    expected: Readings = {"time": status.time.replace(tzinfo=timezone(timedelta(seconds=offset))).isoformat()}
    values = mbus.decode_to_readings(response)
    expected.update({REGISTERS_BY_OBIS[code].key: v for code, v in values.items() if code in REGISTERS_BY_OBIS})
    return expected | {"breaker": status.breaker, **status.relays}


# --- Modbus TCP --------------------------------------------------------------------------------------------

Mangle = tuple[str, int, bytes]  # what the line does to one answer: kind, a number, some bytes
UNCHANGED: Mangle = ("as_sent", 0, b"")
mangles = st.tuples(
    st.sampled_from(["noise", "flip", "cut", "tid", "word", "short", "long", "exception", "silence", "hangup",
                     "twice", "trail", "no_bits"]),
    st.integers(0, 2**16 - 1), st.binary(min_size=2, max_size=20))


def mangled(reply: bytes, how: Mangle) -> bytes | None:
    """The meter's genuine answer (MBAP + PDU) as the line delivers it; None: nothing comes."""
    kind, n, data = how
    header, fc, body = reply[:7], reply[7], reply[8:]

    def framed(pdu: bytes) -> bytes:  # a well-formed frame around whatever PDU
        return header[:4] + (len(pdu) + 1).to_bytes(2, "big") + header[6:7] + pdu

    words = body[1:] if fc in (3, 4) else b""
    if kind == "noise":
        return data
    if kind == "flip":
        i = n % len(reply)
        return reply[:i] + bytes([reply[i] ^ (data[0] | 1)]) + reply[i + 1:]
    if kind == "cut":
        return reply[: n % len(reply)]
    if kind == "tid":
        return (reply[:2] if n == int.from_bytes(reply[:2], "big") else n.to_bytes(2, "big")) + reply[2:]
    if kind == "word" and words:  # one register says something else
        i = 2 * (n % (len(words) // 2))
        return framed(bytes([fc, body[0]]) + words[:i] + data[:2] + words[i + 2:])
    if kind == "short" and words:  # fewer registers than asked for, consistently framed
        kept = words[: 2 * (n % (len(words) // 2))]
        return framed(bytes([fc, len(kept)]) + kept)
    if kind == "long":
        extra = data[: len(data) // 2 * 2]
        return framed(bytes([fc, (body[0] + len(extra)) & 0xFF]) + body[1:] + extra)
    if kind == "exception":
        return framed(bytes([fc | 0x80, n & 0xFF]))
    if kind == "silence":
        return None
    if kind == "hangup":
        raise ConnectionResetError("the line dropped")
    if kind == "twice":
        return reply + reply
    if kind == "trail":
        return reply + data
    if kind == "no_bits" and fc in (1, 2):
        return framed(bytes([fc, 0]))
    return reply


@dataclass
class ModbusRig(Rig):
    line: deque[Mangle]  # what the line does to the meter's next answers
    pristine: ModbusSource  # the same meter, read straight


@contextlib.contextmanager
def modbus_rig(tmp_path: Path) -> Iterator[ModbusRig]:
    """pymodbus's server with the simulator's ModbusSlave, behind a line the test can make mangle answers."""
    from pymodbus.server import ModbusTcpServer

    from meter_sim.modules.modbus_slave import ModbusSlave

    meter, clock = sim_meter()
    line: deque[Mangle] = deque()
    meter_port = free_port()

    async def line_to_the_meter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Every request reaches the meter; its answer crosses the line, which may mangle it."""
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", meter_port)
        try:
            while True:
                head = await reader.readexactly(7)
                up_writer.write(head + await reader.readexactly(int.from_bytes(head[4:6], "big") - 1))
                head = await up_reader.readexactly(7)
                reply = head + await up_reader.readexactly(int.from_bytes(head[4:6], "big") - 1)
                out = mangled(reply, line.popleft()) if line else reply
                if out is not None:
                    writer.write(out)
        finally:
            up_writer.close()

    with LoopThread() as lt:
        server = lt.run(built(lambda: ModbusTcpServer(ModbusSlave(meter).device(), address=("127.0.0.1", meter_port))))
        lt.run(server.serve_forever(background=True))
        peer = lt.run(Peer(line_to_the_meter).start())
        config, _ = meter_config(tmp_path, source="modbus", transport=f"tcp:127.0.0.1:{peer.port}")
        source = lt.run(built(lambda: ModbusSource(config, timeout=QUICK_S)))  # silence: QUICK_S and a retry
        straight, _ = meter_config(tmp_path, source="modbus", transport=f"tcp:127.0.0.1:{meter_port}")
        pristine = lt.run(built(lambda: ModbusSource(straight, timeout=2.0)))
        try:
            yield ModbusRig(lt, peer, source, lt.run(started(source.run())), meter, clock, line, pristine)
        finally:
            source.client.close()
            pristine.client.close()
            lt.run(server.shutdown())  # type: ignore[no-untyped-call]


def test_modbus_source_survives_a_hostile_line(tmp_path: Path) -> None:
    with modbus_rig(tmp_path) as rig:

        @episodes(20)
        @given(st.lists(st.tuples(st.integers(0, 6), mangles), min_size=1, max_size=3))
        def episode(troubles: list[tuple[int, Mangle]]) -> None:
            for passed, trouble in troubles:  # so many answers cross unharmed, then one does not
                rig.line.extend([UNCHANGED] * passed + [trouble])
            for _ in range(len(rig.line)):  # each poll meets at least one of them
                if not rig.line:
                    break
                rig.read()  # readings, or a SourceError (anything else fails the test)
            rig.line.clear()
            tick(rig.meter, rig.clock)
            readings = rig.read()
            assert not isinstance(readings, SourceError), readings
            assert readings == rig.lt.run(rig.pristine.read())
            alive(rig.task)

        episode()


FOUND_ON_MODBUS = {  # the kinds of answer the fuzzing above found, each in its smallest form (the UTC offset
    # came from test_modbus_map_decoders_take_any_registers). A poll reads the functions (4 registers), the
    # readings in two blocks (124 + 110), the holding registers (2), discrete inputs (9) and coils (3).
    "readings_block_with_125_registers_for_124": ([UNCHANGED, ("long", 0, b"\x00\x01")],
                                                  "125 registers for 124"),
    "holding_registers_missing": ([UNCHANGED] * 3 + [("short", 0, b"\x00\x00")], "0 registers for 2"),
    "discrete_inputs_missing": ([UNCHANGED] * 4 + [("no_bits", 0, b"\x00\x00")], "0 bits for 9"),
    "coils_missing": ([UNCHANGED] * 5 + [("no_bits", 0, b"\x00\x00")], "0 bits for 3"),
    "utc_offset_of_a_day_and_more": ([UNCHANGED] * 2 + [("word", 0x94 - 124, b"\x00\x02")],
                                     "UTC offset 134672 s"),
}


@pytest.mark.parametrize("case", list(FOUND_ON_MODBUS))
def test_regression_modbus_answers_that_do_not_fit_the_request_are_the_meters_fault(tmp_path: Path,
                                                                                    case: str) -> None:
    """A well-framed answer whose content does not fit what was asked (a register more or fewer, no bits, a UTC
    offset past a day) raised LengthError, IndexError or ValueError out of `read()`, where the bridge expects
    a SourceError of a meter: a traceback in the log as a fault of ours, `get` answered "internal error".
    Now a SourceError naming the problem."""
    troubles, reason = FOUND_ON_MODBUS[case]
    with modbus_rig(tmp_path) as rig:
        rig.line.extend(troubles)
        failure = rig.read()
        assert isinstance(failure, SourceError) and reason in str(failure), failure
        assert not rig.source.online
        assert rig.read() == rig.lt.run(rig.pristine.read()) and rig.source.online


# --- sans-IO: the streaming readers, in random chunks --------------------------------------------------------

READERS: dict[str, tuple[Callable[[], Any], int]] = {  # a fresh reader, and the most it may hold back
    "hdlc": (HdlcReader, MAX_LENGTH + 2),
    "mbus": (mbus.MbusReader, 6 + 255),
    "iec62056_21": (lambda: iec62056_21.Iec62056Reader(max_readout_len=512), 512),
}
stream_bytes = st.lists(st.binary(max_size=80) | st.sampled_from(
    [b"\x7e\xa0", b"\x7e", b"\x68\x20\x20\x68", b"\x10", b"\xe5", b"\x16", b"/", b"\x02", b"\x03", b"\x01", b"\x06",
     b"\r\n", b"/KAM5\\2X\r\n", b"\x021.8.0(1*kWh)\r\n!\r\n\x03"]), max_size=30).map(b"".join)


@pytest.mark.parametrize("name", list(READERS))
@settings(max_examples=200, deadline=None)
@given(data=stream_bytes, cuts=st.lists(st.integers(0, 3000), max_size=12))
def test_readers_take_random_bytes_in_random_chunks(name: str, data: bytes, cuts: list[int]) -> None:
    """Only the codec's own errors, the same frames however the bytes are cut, and a bounded buffer."""
    make, bound = READERS[name]
    whole, chunked = make(), make()
    expected = whole.feed(data)
    got: list[Any] = []
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        got += chunked.feed(data[start:cut])
        start = cut
        held = chunked.pending
        assert (held if isinstance(held, int) else len(held)) <= bound
    assert got == expected
    for reader in (whole, chunked):
        if hasattr(reader, "take_errors"):
            assert all(isinstance(e, CodecError) for e in reader.take_errors())
        else:
            reader.idle()  # M-Bus: the line went quiet


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.integers(0, 0xFFFF) | st.sampled_from([0, 0xFFFF, 0x8000, 0x7FFF, 1]), max_size=130),
       start=st.integers(0, mm.INPUT_COUNT + 4) | st.sampled_from([mm.TIME_ADDRESS, mm.TIME_ADDRESS + 2]))
def test_modbus_map_decoders_take_any_registers(words: list[int], start: int) -> None:
    """Whatever words a meter answers, the map's decoders give values or a CodecError."""
    with contextlib.suppress(CodecError):
        mm.decode_inputs(words, start)
    with contextlib.suppress(CodecError):
        mm.decode_features(words[:mm.FEATURES_COUNT])


def test_regression_a_utc_offset_past_a_day_is_a_codec_error() -> None:
    """Found by the test above (the words exactly as it found them): the clock registers' offset word pair
    read 0x0002_0000 s (36 h); `datetime.timezone` raised ValueError, which is no CodecError."""
    with pytest.raises(CodecError, match=r"UTC offset 131072 s in input registers 0x0094–0x0095 is not within ±24 h"):
        mm.decode_inputs([0, 0, 2, 0], mm.TIME_ADDRESS)
    assert mm.decode_inputs([0, 0, 0, 3600], mm.TIME_ADDRESS) == {"time": "1970-01-01T01:00:00+01:00"}
