"""Every MQTT topic the gateway uses, in one place (the contract of DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    base: str
    discovery_prefix: str = "homeassistant"
    bridge: str = "bridge"  # the shard K of N of a fleet (N > 1): bridge/shard-K-of-N, one state per process

    @property
    def bridge_state(self) -> str:
        return f"{self.base}/{self.bridge}/state"

    @property
    def bridge_info(self) -> str:
        return f"{self.base}/{self.bridge}/info"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def meter(self, meter_id: str, leaf: str) -> str:
        """availability, state, breaker, alarms, alarm, set, get, response, han"""
        return f"{self.base}/{meter_id}/{leaf}"

    def set_named(self, meter_id: str, name: str) -> str:
        return f"{self.base}/{meter_id}/set/{name}"

    def node_id(self, meter_id: str) -> str:
        return f"{self.base}_{meter_id}"

    def discovery(self, component: str, meter_id: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node_id(meter_id)}/{object_id}/config"

    def discovery_device(self, meter_id: str) -> str:
        """The device-based config of one meter (HA 2024.11): its node id is the device's object id."""
        return f"{self.discovery_prefix}/device/{self.node_id(meter_id)}/config"

    def parse_meter_topic(self, topic: str) -> tuple[str, str, str | None] | None:
        """`<base>/<meter>/set[/<name>]` or `<base>/<meter>/get` → (meter, verb, name)."""
        prefix = self.base + "/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix):].split("/")
        if len(parts) == 2 and parts[1] in ("set", "get"):
            return parts[0], parts[1], None
        if len(parts) == 3 and parts[1] == "set":
            return parts[0], "set", parts[2]  # an empty name is answered with an error
        return None
