"""The gateway service: sources and the MQTT bridge under one TaskGroup."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from typing import TYPE_CHECKING

from gateway import __version__
from gateway.bridge import Bridge
from gateway.broker import EmbeddedBroker, choose
from gateway.config import MeterConfig, Settings
from gateway.firmware_folder import FirmwareFolder
from gateway.sources.base import Source

if TYPE_CHECKING:
    from gateway.web.server import WebServer

log = logging.getLogger(__name__)
STOP_TIMEOUT = 5.0
SWITCH_INTERVAL = 0.0005  # s
# A fleet member's loggers keep only their newest entry in memory (and those not yet saved), the rest on disk: a
# year-old member holds ~1.2 MB of log entries otherwise, and 10,000 members would need 12 GB. One, not a day's
# worth: a billing snapshot is 6.8 kB, and nothing a member does each second reads more than the newest entry
# (docs/performance.md).
FLEET_LOG_ENTRIES_IN_MEMORY = 1


def make_source(config: MeterConfig, settings: Settings) -> Source:
    if config.source == "simulated":
        from gateway.sources.simulated import SimulatedSource  # the only place gateway uses meter_sim

        return SimulatedSource(config, settings.data_dir, firmware=FirmwareFolder(settings.firmware.folder))
    if config.source == "mbus":
        from gateway.sources.mbus import MbusSource

        return MbusSource(config)
    if config.source == "optical":
        from gateway.sources.optical import OpticalSource

        return OpticalSource(config)
    if config.source == "han":
        from gateway.sources.han import HanSource

        return HanSource(config)
    if config.source == "dlms":
        from gateway.sources.dlms import DlmsSource

        return DlmsSource(config, settings.data_dir, FirmwareFolder(settings.firmware.folder))
    if config.source == "wmbus":
        from gateway.sources.wmbus import WmbusSource

        return WmbusSource(config)
    if config.source == "sms":
        from gateway.sources.sms import SmsSource

        return SmsSource(config)
    if config.source == "modbus":
        from gateway.sources.modbus import ModbusSource

        return ModbusSource(config)
    raise ValueError(f"meters[{config.id}].source: unknown source {config.source!r}")


def fleet_sources(settings: Settings) -> list[Source]:
    """This shard's members of the configured fleet (none without a `fleet` block)."""
    fleet = settings.fleet
    if fleet is None:
        return []
    from gateway.fleet_logs import read_fleet_logs
    from gateway.sources.save_batches import SaveBatches
    from gateway.sources.simulated import SimulatedSource, logs_path, step_together

    # Read every second anyway: ticking thousands of meters on their own as well would only add wake-ups.
    tick = None if settings.publish_interval <= 1 else 1.0
    saves = SaveBatches()  # one writer for the fleet's saves: see gateway/sources/save_batches.py
    configs = fleet.member_configs()
    logs = read_fleet_logs([logs_path(settings.data_dir, c.id) for c in configs], FLEET_LOG_ENTRIES_IN_MEMORY)
    sources = [SimulatedSource(config, settings.data_dir, tick, save_interval=fleet.save_interval,
                               save_before_publishing=False, display=fleet.display, saves=saves,
                               log_entries_in_memory=FLEET_LOG_ENTRIES_IN_MEMORY, logs_read=read)
               for config, read in zip(configs, logs, strict=True)]
    if fleet.engine == "columns":
        step_together(sources)
    return list(sources)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or forever); sources save their state on the way out."""
    stop = stop or asyncio.Event()
    # The event loop answers requests; a thread (a meter's save) may hold the interpreter for the whole switch
    # interval before the loop gets it back: 5 ms by default, more than a request's round trip.
    sys.setswitchinterval(SWITCH_INTERVAL)
    sources = [make_source(m, settings) for m in settings.meters] + fleet_sources(settings)
    # The meters are millions of long-lived objects: left to the cyclic collector, each of its full passes
    # walks them all and stops the event loop for tens of milliseconds with a fleet (requests' p99 was 20 ms
    # with 1,000 meters). Move what exists now out of its sight; what comes later is still collected.
    gc.collect()
    gc.freeze()
    choice = await choose(settings.mqtt)
    async with contextlib.AsyncExitStack() as stack:
        if choice.embedded:
            await stack.enter_async_context(EmbeddedBroker(choice.port))
        bridge = Bridge(settings, sources, __version__, choice.host, choice.port, choice.protocol)
        try:
            async with asyncio.TaskGroup() as tg:
                source_tasks = [tg.create_task(s.run()) for s in sources]
                bridge_task = tg.create_task(bridge.run())
                web_tasks = [tg.create_task(web_server(settings, bridge).run())] if settings.web.enabled else []
                await stop.wait()
                log.info("stopping")
                bridge.stop()  # says goodbye on the broker, then returns
                await asyncio.wait([bridge_task], timeout=STOP_TIMEOUT)
                await _cancel([*web_tasks, bridge_task, *source_tasks])
        finally:
            # Side by side: a fleet's thousands of saves then share the thread pool's fsyncs.
            await asyncio.gather(*(source.close() for source in sources))


def web_server(settings: Settings, bridge: Bridge) -> WebServer:
    """The status page (`web.enabled`), imported only then."""
    from gateway.web.server import WebServer

    return WebServer(settings, bridge)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel until done: on Python 3.11 a cancellation can be swallowed inside asyncio.wait_for
    (CPython gh-86296), so one cancel() is not always enough."""
    while pending := [t for t in tasks if not t.done()]:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=1)
