"""Home Assistant discovery's lifecycle: what is announced, when, and what is retired.

Owns `<prefix>/status` (Home Assistant's birth message: announce everything again) and our retained
configs under `<prefix>/+/<node>/+/config` (one this version no longer has is removed with an empty
retained payload). The configs themselves are built by `gateway.discovery`; they are rebuilt only when a
source replaces its meter info (a reconfiguration switched prepayment on or off, a wire source learned
which functions the meter has).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from gateway import discovery
from gateway.config import MqttSettings
from gateway.mqtt_link import Incoming
from gateway.outbox import Outgoing
from gateway.period_fields import StateField
from gateway.sources.base import Source
from gateway.topics import Topics

log = logging.getLogger(__name__)


class DiscoveryLifecycle:
    def __init__(self, mqtt: MqttSettings, topics: Topics, sources: dict[str, Source], version: str,
                 states: Callable[[], Awaitable[list[Outgoing]]], announced: frozenset[str] | None = None,
                 fields: Mapping[str, tuple[StateField, ...]] | None = None) -> None:
        """`announced`: the meters with discovery (default all; a large fleet's members have none, and their
        configs, ~70 KB a meter, are not even built). `fields`: each meter's computed state fields."""
        self._fields = dict(fields or {})
        self.enabled = mqtt.discovery
        self.topics = topics
        self.sources = {mid: s for mid, s in sources.items() if announced is None or mid in announced}
        self.version = version
        self._states = states  # after a re-announce, the state every entity reads
        self._configs: dict[str, list[tuple[str, bytes]]] = {
            mid: discovery.messages(s.info, topics, version, self._fields.get(mid, ()))
            for mid, s in self.sources.items()
        }
        self._ours = {t for msgs in self._configs.values() for t, _ in msgs}
        self._built_from = {mid: s.info for mid, s in self.sources.items()}

    def routes(self) -> list[tuple[str, Callable[[Incoming], Awaitable[list[Outgoing]]]]]:
        out: list[tuple[str, Callable[[Incoming], Awaitable[list[Outgoing]]]]] = [
            (self.topics.ha_status, self._ha_status)]
        if self.enabled:
            out += [(f"{self.topics.discovery_prefix}/+/{self.topics.node_id(mid)}/+/config", self._config)
                    for mid in self.sources]
        return out

    def messages(self, meter_id: str) -> list[Outgoing]:
        """The meter's configs as retained messages (none with discovery off)."""
        if not self.enabled or meter_id not in self.sources:
            return []
        return [Outgoing(topic, payload, retain=True) for topic, payload in self._configs[meter_id]]

    def refresh(self, meter_id: str) -> list[Outgoing]:
        """When a source's meter info changed: announce the new entities, retire the ones it no longer has."""
        if meter_id not in self.sources:
            return []
        info = self.sources[meter_id].info
        if info is self._built_from[meter_id]:  # a source replaces its info only when the meter changed
            return []
        self._built_from[meter_id] = info
        fresh = discovery.messages(info, self.topics, self.version, self._fields.get(meter_id, ()))
        if fresh == self._configs[meter_id]:
            return []
        retired = {t for t, _ in self._configs[meter_id]} - {t for t, _ in fresh}
        self._configs[meter_id] = fresh
        self._ours = {t for msgs in self._configs.values() for t, _ in msgs}
        if not self.enabled:
            return []
        return [Outgoing(t, b"", retain=True) for t in sorted(retired)] + self.messages(meter_id)

    async def _ha_status(self, msg: Incoming) -> list[Outgoing]:
        if msg.payload.strip().lower() != b"online":
            return []
        log.info("Home Assistant is online: announcing discovery again")
        out = [m for mid in self.sources for m in self.messages(mid)]
        return out + await self._states()

    async def _config(self, msg: Incoming) -> list[Outgoing]:
        """A retained config of ours that this version no longer has: retire the entity."""
        if msg.payload and msg.topic not in self._ours:
            log.info("removing retired discovery config %s", msg.topic)
            return [Outgoing(msg.topic, b"", retain=True)]
        return []
