"""The board: the latest payload of each meter topic the page shows, as the gateway publishes it.

The page shows what MQTT shows: the board watches the messages the gateway queues for the broker (MqttLink's
`watchers`) rather than reading the sources again, so a wire meter is not polled once more for the page, and the
page keeps going while the broker is away. Pure: messages in, payloads and versions out; a change wakes the event
streams.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from gateway.outbox import Outgoing
from gateway.topics import Topics

# The meter topics the page shows (gateway/state_publisher.py publishes them).
LEAVES = ("availability", "state", "display", "breaker", "alarms")


class Board:
    def __init__(self, topics: Topics, meter_ids: Iterable[str]) -> None:
        self.meter_ids = tuple(meter_ids)
        self._where = {topics.meter(mid, leaf): (mid, leaf) for mid in self.meter_ids for leaf in LEAVES}
        self._payloads: dict[tuple[str, str], bytes] = {}
        self.versions = dict.fromkeys(self.meter_ids, 0)
        self._changed = asyncio.Event()  # set (and replaced) at each change: wakes every waiting stream

    def watch(self, msgs: list[Outgoing]) -> None:
        """Called with every batch the gateway queues for the broker (a fleet's too: one dict look-up each)."""
        where = self._where
        changed = False
        for msg in msgs:
            key = where.get(msg.topic)
            if key is not None and self._payloads.get(key) != msg.payload:
                self._payloads[key] = msg.payload
                self.versions[key[0]] += 1
                changed = True
        if changed:
            self._changed.set()
            self._changed = asyncio.Event()

    def payload(self, meter_id: str, leaf: str) -> dict[str, Any] | None:
        """The last published payload of `<base>/<meter>/<leaf>`, decoded; None before the first (or if not JSON)."""
        raw = self._payloads.get((meter_id, leaf))
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    async def wait_changed(self, seen: dict[str, int], timeout: float) -> list[str]:
        """The meters whose version is not the one in `seen` (waiting up to `timeout` s for one); updates `seen`."""
        def fresh() -> list[str]:
            return [mid for mid, v in self.versions.items() if seen.get(mid) != v]

        if not fresh():
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                return []
        out = fresh()
        seen.update({mid: self.versions[mid] for mid in out})
        return out
