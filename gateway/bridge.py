"""The bridge between the meters' sources and MQTT: the parts, and the table that routes topics to them.

Each part owns its topics, as a Zigbee2MQTT extension does:

| part | module | owns |
|---|---|---|
| MQTT link | `mqtt_link.py` | the connection, back-off, the outbox; `bridge/state` (will) |
| discovery lifecycle | `discovery_lifecycle.py` | `<prefix>/status`, our `<prefix>/…/config` |
| state publishing | `state_publisher.py` | `availability`, `state`, `display`, `breaker`, `alarms`, `alarm`, `han` |
| firmware updates | `firmware_updates.py` | `firmware` (fed by the state publisher) |
| request handling | `requests.py` | `set`, `set/<name>`, `get` → `response` |

The bridge itself holds `bridge/info`, builds the routing table from the parts' routes (the subscriptions are
exactly its patterns) and hands each incoming message to the handler its topic routes to. `handle_message`
has no socket inside, so the whole incoming path can be fuzzed without a broker.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from gateway.api import BridgeInfo, BridgeState, MeterSummary
from gateway.config import Settings
from gateway.discovery_lifecycle import DiscoveryLifecycle
from gateway.firmware_folder import FirmwareFolder
from gateway.firmware_updates import FirmwareUpdates
from gateway.mqtt_link import Incoming, MqttLink
from gateway.outbox import EVENT_LIMIT, Outbox, Outgoing
from gateway.period_tracker import trackers_for
from gateway.requests import Handler, RequestHandler
from gateway.sources.base import Source
from gateway.state_publisher import StatePublisher
from gateway.state_stream import StateStream
from gateway.topic_router import TopicRouter
from gateway.topics import Topics

log = logging.getLogger(__name__)


class Bridge:
    def __init__(
        self, settings: Settings, sources: list[Source], version: str, host: str, port: int, protocol: str
    ) -> None:
        self.settings = settings
        self.mqtt = settings.mqtt
        self.topics = Topics(self.mqtt.base_topic, self.mqtt.discovery_prefix, bridge_name(settings))
        self.sources = {s.info.meter_id: s for s in sources}
        self.version = version
        self.link = MqttLink(self.mqtt, host, port, protocol, will=Outgoing(
            self.topics.bridge_state, BridgeState(state="offline").to_bytes(), retain=True),
            outbox=Outbox(outbox_path(settings), outbox_limit(settings, len(sources))),
            stream=StateStream(self.mqtt, host, port, self.mqtt.state_qos)
            if settings.fleet is not None and settings.fleet.state_connection else None)
        trackers = trackers_for(settings.meters, {mid: any(r.key == "a_minus" for r in s.info.registers)
                                                  for mid, s in self.sources.items()}, settings.data_dir)
        self.discovery = DiscoveryLifecycle(self.mqtt, self.topics, self.sources, version, self._all_states,
                                            announced(settings, self.sources),
                                            {mid: t.fields for mid, t in trackers.items()},
                                            discovery_memory_path(settings))
        firmware = FirmwareUpdates(self.topics, FirmwareFolder(settings.firmware.folder), self.sources)
        self.publisher = StatePublisher(self.topics, self.sources, settings.publish_interval, self.discovery,
                                        self.link.queue, self.mqtt.state_qos, self.link.answering, firmware,
                                        trackers)
        self.requests = RequestHandler(self.topics, self.sources, self.publisher, self.link.queue)
        self.router: TopicRouter[Handler] = TopicRouter()
        for pattern, handler in self.discovery.routes() + self.requests.routes():
            self.router.add(pattern, handler)

    @property
    def connected(self) -> asyncio.Event:
        return self.link.connected

    def stop(self) -> None:
        """Ask `run` to say goodbye (bridge and meters offline) and return."""
        self.link.stop()

    async def run(self) -> None:
        """The link, and beside it (whether or not the broker is there) the publisher's tasks."""
        tasks = [asyncio.create_task(c) for c in self.publisher.tasks()]
        try:
            await self.link.run(self)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.requests.close()
            self.link.outbox.close()
            self.publisher.save_trackers()

    # --- what the link asks of us -----------------------------------------------------------------
    def subscriptions(self) -> list[str]:
        return self.router.patterns()

    async def announcements(self) -> list[Outgoing]:
        """Everything a (re)connected broker must hold: bridge state/info, then per meter discovery,
        availability, state, breaker and alarms."""
        t = self.topics
        out = [
            Outgoing(t.bridge_state, BridgeState(state="online").to_bytes(), retain=True),
            Outgoing(t.bridge_info, self.bridge_info().to_bytes(), retain=True),
            *self.discovery.forgotten(),
        ]
        self.publisher.new_session()
        for mid in self.sources:
            out += self.discovery.messages(mid) + await self.publisher.announcements(mid)
        self.discovery.remember()
        return out

    async def handle(self, message: Incoming) -> list[Outgoing]:
        """One incoming message → the messages to publish in answer; never raises (a fault of a part is
        logged with its traceback, and a request is still answered: see RequestHandler.handle)."""
        handler = self.router.match(message.topic)
        if handler is None:
            return []
        try:
            return await handler(message)
        except Exception:
            log.exception("internal error handling a message on %s", message.topic)
            return []

    def goodbye(self) -> list[Outgoing]:
        offline = Outgoing(self.topics.bridge_state, BridgeState(state="offline").to_bytes(), retain=True)
        return [*self.publisher.goodbye(), offline]

    # ------------------------------------------------------------------------------------------------
    async def handle_message(self, topic: str, payload: bytes, retain: bool = False,
                             response_topic: str | None = None, correlation: bytes | None = None) -> list[Outgoing]:
        return await self.handle(Incoming(topic, payload, retain, response_topic, correlation))

    async def _all_states(self) -> list[Outgoing]:
        return [m for mid in self.sources for m in await self.publisher.state_messages(mid)]

    def bridge_info(self) -> BridgeInfo:
        return BridgeInfo(
            version=self.version,
            base_topic=self.mqtt.base_topic,
            discovery_prefix=self.mqtt.discovery_prefix if self.mqtt.discovery else None,
            publish_interval=self.settings.publish_interval,
            broker=f"{self.link.host}:{self.link.port}",
            protocol="5" if self.link.v5 else "3.1.1",
            meters=[
                MeterSummary(id=mid, source=s.info.source, model=s.info.model,
                             serial_number=s.info.serial_number, name=s.info.name)
                for mid, s in self.sources.items()
            ],
        )


def bridge_name(settings: Settings) -> str:
    """`bridge`, or for a shard of a fleet split in N > 1 parts `bridge/shard-K-of-N`: each process has its own
    state (online, or offline by its will) and info, and one shard's death does not mark the others offline."""
    fleet = settings.fleet
    if fleet is None or fleet.part.count == 1:
        return "bridge"
    return f"bridge/shard-{fleet.part.index}-of-{fleet.part.count}"


def announced(settings: Settings, sources: dict[str, Source]) -> frozenset[str]:
    """The meters announced to Home Assistant: the listed ones, and a fleet's members when it says so."""
    fleet = settings.fleet
    members = set(fleet.member_ids()) if fleet is not None and not fleet.announced else set()
    return frozenset(mid for mid in sources if mid not in members)


# Each meter publishes its breaker as an event when the gateway starts: a process with a fleet of 25,000 meters
# dropped 15,000 of them from an outbox of 10,000 before its first connection.
EVENTS_PER_METER = 10


def outbox_limit(settings: Settings, meters: int) -> int:
    """`mqtt.outbox_limit`, or by default 10,000 events or 10 per meter of this process, whichever is more."""
    configured = settings.mqtt.outbox_limit
    return configured if configured is not None else max(EVENT_LIMIT, EVENTS_PER_METER * meters)


def discovery_memory_path(settings: Settings) -> Path:
    """What this process announced to Home Assistant (one file per shard, like the outbox)."""
    return settings.data_dir / f"discovery{bridge_name(settings).removeprefix('bridge').replace('/', '-')}.json"


def outbox_path(settings: Settings) -> Path:
    """One outbox per gateway process: the data folder may be shared by the shards of a fleet."""
    return settings.data_dir / f"outbox{bridge_name(settings).removeprefix('bridge').replace('/', '-')}.sqlite3"
