"""Home Assistant discovery's lifecycle: what is announced, when, and what is retired.

Owns `<prefix>/status` (Home Assistant's birth message: announce everything again) and our retained
configs: `<prefix>/+/<node>/+/config` (per entity) and `<prefix>/device/<node>/config` (per meter), in the mode
`mqtt.discovery_mode` says. A config this version no longer has is removed as HA documents: an empty retained
payload on its topic, or, in a device config, the component reduced to its platform. A switch of mode migrates
(`gateway/discovery_migration.py`), and the configs of a meter no longer configured are cleared at the first
announcement, both from what the gateway remembers in `data_dir`. The configs themselves are built by
`gateway.discovery`; they are rebuilt only when a source replaces its meter info (a reconfiguration switched
prepayment on or off, a wire source learned which functions the meter has).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from gateway import discovery, discovery_migration
from gateway.config import MqttSettings
from gateway.discovery_migration import MIGRATE, Published
from gateway.mqtt_link import Incoming
from gateway.outbox import Outgoing
from gateway.period_fields import StateField
from gateway.sources.base import Source
from gateway.topics import Topics

log = logging.getLogger(__name__)


class DiscoveryLifecycle:
    def __init__(self, mqtt: MqttSettings, topics: Topics, sources: dict[str, Source], version: str,
                 states: Callable[[], Awaitable[list[Outgoing]]], announced: frozenset[str] | None = None,
                 fields: Mapping[str, tuple[StateField, ...]] | None = None, memory: Path | None = None) -> None:
        """`announced`: the meters with discovery (default all; a large fleet's members have none, and their
        configs, ~70 KB a meter, are not even built). `fields`: each meter's computed state fields. `memory`: where
        what was announced is remembered (None: nowhere, as if every start were the first)."""
        self._fields = dict(fields or {})
        self.enabled = mqtt.discovery
        self.mode = mqtt.discovery_mode
        self.topics = topics
        self.sources = {mid: s for mid, s in sources.items() if announced is None or mid in announced}
        self.version = version
        self._states = states  # after a re-announce, the state every entity reads
        self._entities: dict[str, set[tuple[str, str]]] = {}
        self._configs: dict[str, list[tuple[str, bytes]]] = {}
        self._built_from = {mid: s.info for mid, s in self.sources.items()}
        for mid, source in self.sources.items():
            self._build(mid, source)
        self._ours = {t for msgs in self._configs.values() for t, _ in msgs}
        self._memory = memory
        remembered = discovery_migration.load(memory) if memory is not None and self.enabled else None
        self._published: dict[str, Published] = dict(remembered or {})
        self._dirty = False
        # Per meter, the topics of the other mode to migrate from at its first announcement.
        self._pending: dict[str, list[str]] = {}
        for mid, source in self.sources.items():
            before = self._published.get(mid)
            if before is not None and before.mode != self.mode:
                self._pending[mid] = list(before.topics)
            elif before is None and remembered is None and self.mode == "device":
                built = discovery.build(source.info, topics, version, self._fields.get(mid, ()))  # as announced before
                self._pending[mid] = [t for t, _ in discovery.entity_messages(built, source.info, topics)]
        self._migrated: set[str] = {t for old in self._pending.values() for t in old}
        # A device config of ours found retained in entity mode that no memory announced: rolled back on arrival.
        self._rollback = {topics.discovery_device(mid): mid for mid in self.sources} if self.mode == "entity" else {}

    def _build(self, mid: str, source: Source) -> list[tuple[str, bytes]]:
        built = discovery.build(source.info, self.topics, self.version, self._fields.get(mid, ()))
        retired = self._entities.get(mid, set()) - {(c, o) for c, o, _ in built}
        self._entities[mid] = {(c, o) for c, o, _ in built}
        if self.mode == "device":
            fresh = discovery.device_messages(built, source.info, self.topics, sorted(retired))
        else:
            fresh = discovery.entity_messages(built, source.info, self.topics)
        self._configs[mid] = fresh
        return fresh

    def routes(self) -> list[tuple[str, Callable[[Incoming], Awaitable[list[Outgoing]]]]]:
        out: list[tuple[str, Callable[[Incoming], Awaitable[list[Outgoing]]]]] = [
            (self.topics.ha_status, self._ha_status)]
        if self.enabled:
            for mid in self.sources:
                node = self.topics.node_id(mid)
                out += [(f"{self.topics.discovery_prefix}/+/{node}/+/config", self._config),
                        (self.topics.discovery_device(mid), self._config)]
        return out

    def forgotten(self) -> list[Outgoing]:
        """At an announcement: clear the configs of remembered meters that are no longer announced."""
        if not self.enabled:
            return []
        gone = [mid for mid in self._published if mid not in self.sources]
        out = [Outgoing(t, b"", retain=True) for mid in gone for t in self._published[mid].topics]
        for mid in gone:
            log.info("removing the discovery configs of meter %s, no longer configured", mid)
            del self._published[mid]
            self._dirty = True
        return out

    def messages(self, meter_id: str) -> list[Outgoing]:
        """The meter's configs as retained messages (none with discovery off); the first time after a switch of
        mode, the migration from the old configs."""
        if not self.enabled or meter_id not in self.sources:
            return []
        configs = self._configs[meter_id]
        old = self._pending.pop(meter_id, None)
        if old is not None:
            log.info("migrating the discovery of meter %s to discovery_mode %s", meter_id, self.mode)
            out = discovery_migration.switch(old, configs)
        else:
            out = [Outgoing(topic, payload, retain=True) for topic, payload in configs]
        self._remember(meter_id, configs)
        return out

    def remember(self) -> None:
        """Write down what was announced (after an announcement: the retained configs the broker now holds)."""
        if self._dirty and self._memory is not None:
            try:
                discovery_migration.save(self._memory, self._published)
                self._dirty = False
            except OSError as exc:
                log.warning("cannot remember the discovery configs in %s: %s", self._memory, exc)

    def _remember(self, meter_id: str, configs: list[tuple[str, bytes]]) -> None:
        now = Published(self.mode, tuple(t for t, _ in configs))
        if self._published.get(meter_id) != now:
            self._published[meter_id] = now
            self._dirty = True

    def refresh(self, meter_id: str) -> list[Outgoing]:
        """When a source's meter info changed: announce the new entities, retire the ones it no longer has."""
        if meter_id not in self.sources:
            return []
        source = self.sources[meter_id]
        if source.info is self._built_from[meter_id]:  # a source replaces its info only when the meter changed
            return []
        self._built_from[meter_id] = source.info
        before = self._configs[meter_id]
        fresh = self._build(meter_id, source)
        if fresh == before:
            return []
        retired = {t for t, _ in before} - {t for t, _ in fresh}
        self._ours = {t for msgs in self._configs.values() for t, _ in msgs}
        if not self.enabled:
            return []
        out = [Outgoing(t, b"", retain=True) for t in sorted(retired)] + self.messages(meter_id)
        self.remember()
        return out

    async def _ha_status(self, msg: Incoming) -> list[Outgoing]:
        if msg.payload.strip().lower() != b"online":
            return []
        log.info("Home Assistant is online: announcing discovery again")
        out = [m for mid in self.sources for m in self.messages(mid)]
        return out + await self._states()

    async def _config(self, msg: Incoming) -> list[Outgoing]:
        """A retained config of ours that this version (or this mode) no longer has: retire it, or roll a device
        config back to per-entity configs when no memory announced the switch."""
        if not msg.payload or msg.topic in self._ours or msg.topic in self._migrated:
            return []  # a migration clears it, in HA's order (an answer here would overtake it: urgent)
        mid = self._rollback.get(msg.topic)
        if mid is not None and msg.payload != MIGRATE:
            self._migrated.add(msg.topic)
            log.info("rolling back the device discovery config %s to per-entity configs", msg.topic)
            return discovery_migration.switch([msg.topic], self._configs[mid])
        log.info("removing retired discovery config %s", msg.topic)
        return [Outgoing(msg.topic, b"", retain=True)]
