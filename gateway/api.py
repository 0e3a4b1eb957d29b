"""Payload models of the MQTT topic contract (one module, like Zigbee2MQTT's api types)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JsonScalar = str | int | float | bool | None


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()


class BridgeState(Payload):
    state: Literal["online", "offline"]


class MeterSummary(Payload):
    id: str
    source: str
    model: str
    serial_number: str
    name: str


class BridgeInfo(Payload):
    version: str
    base_topic: str
    discovery_prefix: str | None
    publish_interval: float
    broker: str
    protocol: str
    meters: list[MeterSummary]


class Availability(Payload):
    state: Literal["online", "offline"]


class BreakerPayload(Payload):
    state: Literal["connected", "disconnected", "ready_for_reconnection"]
    reason: str
    time: str


class ActiveAlarm(Payload):
    type: str
    phase: int | None = None
    since: str


class AlarmsPayload(Payload):
    time: str
    active: list[ActiveAlarm]


class AlarmEventPayload(Payload):
    time: str
    type: str
    active: bool
    phase: int | None = None
    detail: dict[str, Any] | None = None


class Response(Payload):
    transaction: JsonScalar = None
    status: Literal["ok", "error"]
    data: dict[str, Any] | None = None
    error: str | None = Field(None, description="names the field and the reason")


class FirmwarePayload(Payload):
    """`<base>/<meter>/firmware`: what Home Assistant's MQTT update entity reads (its JSON state schema: these keys
    only, strings never null), for the meters whose source can update."""

    installed_version: str
    latest_version: str
    title: str
    release_summary: str = Field("", description="empty, or why the last update failed")
    in_progress: bool = False
    update_percentage: int | None = Field(None, ge=0, le=100)
