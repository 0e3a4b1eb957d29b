"""Switching discovery between one config per entity and one per device, as Home Assistant documents it.

HA (mqtt/discovery.py, 2024.11) moves entities from one discovery topic to another without losing them only when it
is told: `{"migrate_discovery": true}` on the old topic unloads the entity but keeps its registry entry (entity id,
history, customisations); a config with the same discovery id (`<node_id> <object_id>`, which both faces of
`gateway/discovery.py` give) and the same unique id then loads it again; the old topic is cleared last (HA ignores
that once migrated). The same three steps roll a device config back to per-entity configs. Without the marker HA
logs a conflicting discovery and keeps the old entities; clearing the old topic first would remove them.

The gateway must know what it published before: it remembers it in `data_dir` (`discovery.json`: per meter, the mode
and the topics), because the retained topics arrive only after the first announcement, too late to order the
switch. With no memory (a first start of a version that has it), an older version published per-entity configs:
device mode then migrates from the topics this version's per-entity face gives (markers on topics HA does not know
are ignored). A device config found retained in entity mode that the memory did not mention is rolled back when it
arrives (`DiscoveryLifecycle._config`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from gateway.discovery import DiscoveryMode
from gateway.outbox import Outgoing
from meter_sim.persistence import replace_file

log = logging.getLogger(__name__)

MIGRATE = b'{"migrate_discovery":true}'
_MODES: tuple[DiscoveryMode, ...] = ("entity", "device")


def switch(old_topics: list[str], new: list[tuple[str, bytes]]) -> list[Outgoing]:
    """The migration (or rollback) from configs on `old_topics` to `new`, in HA's order: the marker on every old
    topic, the new configs (retained), then every old topic cleared (retained). The markers are not retained: HA
    acts on them as they pass, and the outbox keeps only the latest retained message of a topic waiting to be sent,
    which would let the clear take the marker's place (gateway/outbox.py)."""
    new_topics = {t for t, _ in new}
    old = [t for t in old_topics if t not in new_topics]
    return ([Outgoing(t, MIGRATE) for t in old]
            + [Outgoing(t, payload, retain=True) for t, payload in new]
            + [Outgoing(t, b"", retain=True) for t in old])


@dataclass(frozen=True)
class Published:
    """What the gateway last announced for one meter."""

    mode: DiscoveryMode
    topics: tuple[str, ...]


def load(path: Path) -> dict[str, Published] | None:
    """The remembered announcements, or None when there are none (or they cannot be read: then it is as if the
    gateway had never remembered, which the migration handles)."""
    try:
        doc = json.loads(path.read_text())
        return {mid: Published(entry["mode"], tuple(entry["topics"])) for mid, entry in doc["meters"].items()
                if entry["mode"] in _MODES and all(isinstance(t, str) for t in entry["topics"])}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return None


def save(path: Path, published: dict[str, Published]) -> None:
    """Write atomically: a crash leaves the old memory or the new one."""
    doc = {"meters": {mid: {"mode": p.mode, "topics": list(p.topics)} for mid, p in sorted(published.items())}}
    replace_file(path, json.dumps(doc, indent=1).encode(), sync=False)
