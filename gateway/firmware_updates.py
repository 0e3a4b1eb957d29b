"""The firmware topic, `<base>/<meter>/firmware` (retained), of each meter whose source can update (its commands hold
`firmware_update`): what Home Assistant's update entity reads (gateway/discovery.py), in the JSON its MQTT update
platform takes (`FirmwarePayload`: those keys only, no null string).

- installed_version: the meter's `firmware_version`, as its state last carried it;
- latest_version: the newest signed image of the meter's firmware line in `firmware.folder`
  (gateway/firmware_folder.py), or the installed version when there is none newer (no update offered);
- in_progress / update_percentage: a transfer under way and the part of the image sent (the source's
  `FirmwareProgress` events);
- release_summary: after a failed update, why (the meter refused the image, the line broke …), until the next one.

Published when any of it changes, and again on a new broker session (which may have lost the retained message).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.api import FirmwarePayload
from gateway.firmware_folder import FirmwareFolder
from gateway.outbox import Outgoing
from gateway.sources.base import FirmwareProgress, Readings, Source
from gateway.topics import Topics

TITLE = "OMNIPOWER firmware"
MAX_SUMMARY = 255  # Home Assistant cuts a release summary there
COMMAND = "firmware_update"


@dataclass
class _Meter:
    installed: str | None = None
    progress: FirmwareProgress = field(default_factory=lambda: FirmwareProgress(False))
    published: bytes | None = None
    # what the published payload was made of: the same again (each state of a meter carries its version) costs
    # a comparison, not a payload (the folder's offers are the same tuple until it is listed again)
    made_of: tuple[object, ...] = ()


class FirmwareUpdates:
    def __init__(self, topics: Topics, folder: FirmwareFolder, sources: dict[str, Source]) -> None:
        self.topics = topics
        self.folder = folder
        self.sources = sources
        self._meters: dict[str, _Meter] = {}

    def _updatable(self, meter_id: str) -> bool:
        source = self.sources.get(meter_id)
        return source is not None and COMMAND in source.info.commands

    def on_state(self, meter_id: str, readings: Readings) -> list[Outgoing]:
        """A state was read: the installed version it carries (a fleet's rendered state carries none: nothing)."""
        installed = readings.get("firmware_version")
        if not isinstance(installed, str) or not self._updatable(meter_id):
            return []
        meter = self._meters.setdefault(meter_id, _Meter())
        meter.installed = installed
        return self._publish(meter_id, meter)

    def on_progress(self, meter_id: str, progress: FirmwareProgress) -> list[Outgoing]:
        meter = self._meters.setdefault(meter_id, _Meter())
        meter.progress = progress
        return self._publish(meter_id, meter)

    def forget(self) -> None:
        """A new broker session: publish each meter's firmware topic again with its next state."""
        for meter in self._meters.values():
            meter.published, meter.made_of = None, ()

    def payload(self, meter_id: str) -> FirmwarePayload | None:
        meter = self._meters.get(meter_id)
        if meter is None or meter.installed is None:
            return None  # the update entity's versions are strings: wait for the state to name the installed one
        latest = self.folder.latest(meter.installed)
        progress = meter.progress
        summary = f"The last update failed: {progress.error}" if progress.error and not progress.in_progress else ""
        return FirmwarePayload(
            installed_version=meter.installed, latest_version=latest.version if latest else meter.installed,
            title=TITLE, release_summary=summary[:MAX_SUMMARY], in_progress=progress.in_progress,
            update_percentage=progress.percentage if progress.in_progress else None)

    def _publish(self, meter_id: str, meter: _Meter) -> list[Outgoing]:
        made_of = (meter.installed, meter.progress, self.folder.offers())
        if meter.published is not None and made_of == meter.made_of:
            return []
        meter.made_of = made_of
        payload = self.payload(meter_id)
        if payload is None:
            return []
        body = payload.to_bytes()
        if body == meter.published:
            return []
        meter.published = body
        return [Outgoing(self.topics.meter(meter_id, "firmware"), body, retain=True)]
